import test from 'ava';
import { Limit } from './limit.js';

/** A task that runs until released, recording that it started. */
function gate(started: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return {
    task: async () => {
      started.push(name);
      await done;
      return name;
    },
    release,
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('at most n tasks at once, the rest in order as places free', async (t) => {
  const limit = new Limit(2);
  const started: string[] = [];
  const gates = ['a', 'b', 'c', 'd'].map((n) => gate(started, n));
  const runs = gates.map((g) => limit.run(g.task));
  await tick();
  t.deepEqual(started, ['a', 'b']);
  gates[1].release();
  await tick();
  t.deepEqual(started, ['a', 'b', 'c']);
  gates[0].release();
  gates[2].release();
  gates[3].release();
  t.deepEqual(await Promise.all(runs), ['a', 'b', 'c', 'd']);
});

test('at most maxWeight at once; a task heavier than that runs alone', async (t) => {
  const limit = new Limit(10, 100);
  const started: string[] = [];
  const [a, b, big, c] = ['a', 'b', 'big', 'c'].map((n) => gate(started, n));
  const runs = [
    limit.run(a.task, undefined, 60),
    limit.run(b.task, undefined, 60), // 120 > 100: waits for a
    limit.run(big.task, undefined, 500), // waits until nothing else runs
    limit.run(c.task, undefined, 1), // behind big, in order
  ];
  await tick();
  t.deepEqual(started, ['a']);
  a.release();
  await tick();
  t.deepEqual(started, ['a', 'b']);
  b.release();
  await tick();
  t.deepEqual(started, ['a', 'b', 'big']);
  big.release();
  await tick();
  t.deepEqual(started, ['a', 'b', 'big', 'c']);
  c.release();
  await Promise.all(runs);
});

test('an urgent task starts at once beyond both bounds, and hurry() starts waiting ones', async (t) => {
  const limit = new Limit(1, 10);
  const started: string[] = [];
  const [a, now, later] = ['a', 'now', 'later'].map((n) => gate(started, n));
  let urgent = false;
  const runs = [
    limit.run(a.task, undefined, 10),
    limit.run(now.task, () => true, 50),
    limit.run(later.task, () => urgent, 5),
  ];
  await tick();
  t.deepEqual(started, ['a', 'now']);
  urgent = true;
  limit.hurry();
  await tick();
  t.deepEqual(started, ['a', 'now', 'later']);
  for (const g of [a, now, later]) g.release();
  await Promise.all(runs);
});
