import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdleQueue } from './idle-queue.js';

function harness(
  o: { concurrency?: number; busyConcurrency?: number; holdMs?: number; rampMs?: number } = {},
) {
  let clock = 0;
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const q = new IdleQueue<string>({
    concurrency: o.concurrency ?? 4,
    busyConcurrency: o.busyConcurrency ?? 1,
    idleMs: 20,
    holdMs: o.holdMs ?? 50,
    rampMs: o.rampMs,
    now: () => clock,
    start: (item) => {
      started.push(item);
      return new Promise<void>((done) => finish.set(item, done));
    },
  });
  return {
    q,
    started,
    advance: (ms: number) => (clock += ms),
    done: async (item: string) => {
      finish.get(item)!();
      await sleep(0);
    },
  };
}

test('an idle mount starts up to `concurrency` items at once, the rest as they finish', async (t) => {
  const h = harness({ concurrency: 2 });
  for (const x of ['a', 'b', 'c']) h.q.add(x);
  t.deepEqual(h.started, ['a', 'b']);
  await h.done('a');
  t.deepEqual(h.started, ['a', 'b', 'c']);
  t.is(h.q.size, 0);
  h.q.close();
});

test('while calls arrive, one item at a time, and only items queued holdMs ago', async (t) => {
  const h = harness({ concurrency: 4, holdMs: 50 });
  h.q.call();
  h.q.add('a');
  h.q.add('b');
  t.deepEqual(h.started, [], 'just queued: held');
  h.advance(60);
  h.q.call(); // still busy
  h.q.add('c');
  t.deepEqual(h.started, ['a'], 'old enough, but one at a time');
  await h.done('a');
  t.deepEqual(h.started, ['a', 'b'], 'c is still too new');
  await h.done('b');
  t.deepEqual(h.started, ['a', 'b']);
  h.advance(25); // no call for 25 ms: idle, everything goes
  h.q.add('d');
  t.deepEqual(h.started, ['a', 'b', 'c', 'd']);
  h.q.close();
});

test('delete takes an item out (someone runs it directly); adding twice keeps one place', async (t) => {
  const h = harness();
  h.q.call();
  h.q.add('a');
  h.q.add('b');
  h.q.add('a');
  h.q.delete('b');
  t.is(h.q.size, 1);
  h.advance(100);
  h.q.add('c');
  t.deepEqual(h.started, ['a', 'c']);
  h.q.close();
});

test('the queue wakes by itself when the callers pause', async (t) => {
  let started = 0;
  const q = new IdleQueue<number>({
    concurrency: 4,
    busyConcurrency: 0,
    idleMs: 15,
    holdMs: 0,
    start: async () => {
      started++;
    },
  });
  q.call();
  q.add(1);
  q.add(2);
  t.is(started, 0);
  await sleep(60);
  t.is(started, 2);
  q.close();
});

test('while someone waits (hurry), calls do not hold the queue back', async (t) => {
  const h = harness({ concurrency: 3, holdMs: 50 });
  h.q.call();
  h.q.add('a');
  h.q.add('b');
  t.deepEqual(h.started, [], 'busy: held');
  h.q.hurry(true);
  t.deepEqual(h.started, ['a', 'b'], 'someone waits: all at once, however new');
  h.q.call();
  h.q.add('c');
  t.deepEqual(h.started, ['a', 'b', 'c']);
  h.q.hurry(false);
  h.q.call();
  h.q.add('d');
  t.deepEqual(h.started, ['a', 'b', 'c'], 'busy again: held');
  h.q.close();
});

test('start learns whether the item was started while calls kept arriving', async (t) => {
  const seen: Array<[string, boolean]> = [];
  let clock = 0;
  const q = new IdleQueue<string>({
    concurrency: 4,
    busyConcurrency: 1,
    idleMs: 20,
    holdMs: 0,
    now: () => clock,
    start: async (item, busy) => {
      seen.push([item, busy]);
    },
  });
  q.call();
  q.add('busy');
  clock += 30;
  q.add('idle');
  t.deepEqual(seen, [
    ['busy', true],
    ['idle', false],
  ]);
  q.close();
});

test('after calls pause, the number running doubles every rampMs up to concurrency', async (t) => {
  const h = harness({ concurrency: 8, busyConcurrency: 1, holdMs: 0, rampMs: 100 });
  h.q.call();
  for (const x of 'abcdefghij') h.q.add(x);
  t.is(h.started.length, 1, 'busy: one');
  h.advance(20); // idle for idleMs: twice the busy number
  h.q.add('k');
  t.is(h.started.length, 2);
  h.advance(100);
  h.q.add('l');
  t.is(h.started.length, 4);
  h.advance(100);
  h.q.add('m');
  t.is(h.started.length, 8);
  h.advance(1000);
  await h.done('a');
  t.is(h.started.length, 9, 'never beyond concurrency');
  // A call starts the ramp again from the busy number.
  h.q.call();
  h.advance(20);
  for (const x of 'bcdefgh') await h.done(x);
  t.is(h.started.length, 10, 'two running (i and j), not eight');
  h.q.close();
});

test('someone waiting (hurry) skips the ramp', async (t) => {
  const h = harness({ concurrency: 4, busyConcurrency: 1, holdMs: 0, rampMs: 100 });
  h.q.call();
  h.advance(20);
  for (const x of 'abcdef') h.q.add(x);
  t.is(h.started.length, 2);
  h.q.hurry(true);
  t.is(h.started.length, 4);
  h.q.close();
});
