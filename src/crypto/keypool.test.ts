import test from 'ava';
import { KeyPool, KeyPoolError } from './keypool.js';
import { publicKeyInfo, signPss, verifyPss, type RsaKeyPair } from './rsa.js';
import { utf8 } from '../encoding/bytes.js';

// A generator the test drives by hand: each call returns a promise that settles only
// when the test says so, so every assertion is about order, never about time.
function manualGenerator() {
  const pending: Array<{
    id: number;
    resolve: (k: RsaKeyPair) => void;
    reject: (e: Error) => void;
  }> = [];
  let calls = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const bitsSeen: number[] = [];
  const generate = (bits: number) => {
    const id = ++calls;
    bitsSeen.push(bits);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return new Promise<RsaKeyPair>((resolve, reject) => {
      pending.push({
        id,
        resolve: (k) => {
          inFlight--;
          resolve(k);
        },
        reject: (e) => {
          inFlight--;
          reject(e);
        },
      });
    });
  };
  return {
    generate,
    get calls() {
      return calls;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    bitsSeen,
    pending,
    /** Settles the oldest pending generation with key #id and lets its callbacks run. */
    async finishOne(): Promise<number> {
      const next = pending.shift();
      if (!next) throw new Error('no generation pending');
      next.resolve(fakeKey(next.id));
      await flush();
      return next.id;
    },
    async failOne(message = 'boom'): Promise<void> {
      const next = pending.shift();
      if (!next) throw new Error('no generation pending');
      next.reject(new Error(message));
      await flush();
    },
  };
}

const fakeKey = (id: number): RsaKeyPair => ({
  privateKeyDer: new Uint8Array([id]),
  publicKeyDer: new Uint8Array([id, id]),
});
const idOf = (k: RsaKeyPair) => k.privateKeyDer[0];
// Lets every queued promise callback run (settling goes through a few microtask hops).
const flush = () => new Promise<void>((r) => setImmediate(r));
// Resolves to 'later' after the current macrotask: a promise that wins the race against
// it settled without waiting for any generation.
const later = () => new Promise<'later'>((r) => setImmediate(() => r('later')));

async function warmPool(size: number, concurrency = 1) {
  const gen = manualGenerator();
  const pool = new KeyPool({ size, bits: 2048, concurrency, generate: gen.generate });
  const warmed = pool.warm();
  while (gen.pending.length > 0) await gen.finishOne();
  await warmed;
  return { gen, pool };
}

test('starts filling at construction, at most `concurrency` at a time', async (t) => {
  const gen = manualGenerator();
  const pool = new KeyPool({ size: 4, concurrency: 2, generate: gen.generate });
  t.is(gen.calls, 2);
  t.deepEqual(pool.stats.inFlight, 2);
  await gen.finishOne();
  t.is(gen.calls, 3);
  while (gen.pending.length > 0) await gen.finishOne();
  t.is(gen.calls, 4);
  t.is(pool.stats.ready, 4);
  t.is(gen.maxInFlight, 2);
  t.deepEqual(gen.bitsSeen, [2048, 2048, 2048, 2048]);
  await pool.close();
});

test('warm pool: take() resolves at once, without waiting for the generator', async (t) => {
  const { gen, pool } = await warmPool(2);
  t.is(gen.calls, 2);
  const winner = await Promise.race([pool.take(), later()]);
  t.not(winner, 'later');
  t.is(idOf(winner as RsaKeyPair), 1, 'oldest key first');
  // The refill started, but its key is not what take() returned.
  t.is(gen.calls, 3);
  t.is(gen.pending.length, 1);
  t.like(pool.stats, { hits: 1, misses: 0, ready: 1, inFlight: 1 });
  await gen.finishOne();
  t.like(pool.stats, { ready: 2, inFlight: 0, generated: 3 });
  await pool.close();
});

test('refills back to size after several takes', async (t) => {
  const { gen, pool } = await warmPool(3);
  await pool.take();
  await pool.take();
  t.is(pool.stats.ready, 1);
  t.is(gen.pending.length, 1, 'concurrency 1: one refill at a time');
  while (gen.pending.length > 0) await gen.finishOne();
  t.is(pool.stats.ready, 3);
  t.is(gen.calls, 5);
  t.is(gen.maxInFlight, 1);
  await pool.close();
});

test('concurrent takes beyond size all resolve, in order, then the pool refills', async (t) => {
  const { gen, pool } = await warmPool(2, 2);
  const takes = Array.from({ length: 5 }, () => pool.take());
  let settled = 0;
  for (const p of takes) void p.then(() => settled++);
  await flush();
  t.is(settled, 2, 'the two ready keys are handed out at once');
  t.like(pool.stats, { hits: 2, misses: 3, waiting: 3 });
  while (gen.pending.length > 0) {
    t.true(gen.pending.length <= 2);
    await gen.finishOne();
  }
  const keys = await Promise.all(takes);
  t.deepEqual(keys.map(idOf), [1, 2, 3, 4, 5]);
  t.like(pool.stats, { ready: 2, waiting: 0, generated: 7 });
  t.is(gen.maxInFlight, 2);
  await pool.close();
});

test('a pool of size 0 generates on demand', async (t) => {
  const gen = manualGenerator();
  const pool = new KeyPool({ size: 0, generate: gen.generate });
  t.is(gen.calls, 0);
  await pool.warm();
  const key = pool.take();
  t.is(gen.calls, 1);
  await gen.finishOne();
  t.is(idOf(await key), 1);
  t.is(gen.calls, 1);
  await pool.close();
});

test('close: rejects waiting takes, refuses new ones, waits for running generations', async (t) => {
  const gen = manualGenerator();
  const pool = new KeyPool({ size: 1, generate: gen.generate });
  const waiting = pool.take();
  const warming = pool.warm();
  let closed = false;
  const closing = pool.close().then(() => (closed = true));
  const err = await t.throwsAsync(waiting, { instanceOf: KeyPoolError });
  t.is(err?.code, 'ERR_KEY_POOL_CLOSED');
  await t.throwsAsync(warming, { instanceOf: KeyPoolError });
  await t.throwsAsync(pool.take(), { message: /closed key pool/ });
  await t.throwsAsync(pool.warm(), { instanceOf: KeyPoolError });
  await flush();
  t.false(closed, 'a generation is still running');
  await gen.finishOne();
  await closing;
  t.true(closed);
  t.true(pool.closed);
  t.is(gen.calls, 1, 'no refill after close');
  t.is(pool.stats.ready, 0, 'the late key was discarded');
  await pool.close();
});

test('close of an idle pool resolves at once and drops ready keys', async (t) => {
  const { pool } = await warmPool(2);
  const winner = await Promise.race([pool.close().then(() => 'closed'), later()]);
  t.is(winner, 'closed');
  t.is(pool.stats.ready, 0);
});

test('a failed generation rejects the oldest waiter; the next take retries', async (t) => {
  const gen = manualGenerator();
  const pool = new KeyPool({ size: 0, generate: gen.generate });
  const first = pool.take();
  const second = pool.take();
  await gen.failOne('no entropy');
  await t.throwsAsync(first, { message: 'no entropy' });
  t.is(gen.pending.length, 1, 'retried for the second waiter');
  await gen.finishOne();
  t.is(idOf(await second), 2);
  t.like(pool.stats, { failures: 1, generated: 1 });
  await pool.close();
});

test('a failed generation rejects warm() and stops refilling until asked again', async (t) => {
  const gen = manualGenerator();
  const pool = new KeyPool({ size: 1, generate: gen.generate });
  const warming = pool.warm();
  await gen.failOne();
  await t.throwsAsync(warming, { message: 'boom' });
  t.is(gen.pending.length, 0, 'no retry loop');
  const key = pool.take();
  t.is(gen.pending.length, 1);
  await gen.finishOne();
  t.is(idOf(await key), 2);
  // The pool refills behind the take; close waits for that generation.
  t.is(gen.pending.length, 1);
  const closing = pool.close();
  await gen.finishOne();
  await closing;
});

test('a generator that throws synchronously is handled like a rejection', async (t) => {
  const pool = new KeyPool({
    size: 0,
    generate: () => {
      throw new Error('sync failure');
    },
  });
  await t.throwsAsync(pool.take(), { message: 'sync failure' });
  await pool.close();
});

test('bad options are refused', (t) => {
  for (const options of [{ size: -1 }, { size: 1.5 }, { size: 1, concurrency: 0 }]) {
    const err = t.throws(() => new KeyPool({ ...options, generate: manualGenerator().generate }), {
      instanceOf: KeyPoolError,
    });
    t.is(err?.code, 'ERR_KEY_POOL_OPTIONS');
  }
});

test('with the real generator: warm, take a working key, close', async (t) => {
  const pool = new KeyPool({ size: 1, bits: 1024 });
  await pool.warm();
  const key = await pool.take();
  t.is(publicKeyInfo(key.publicKeyDer).modulusBits, 1024);
  const message = utf8('pool key');
  t.true(verifyPss(key.publicKeyDer, message, signPss(key.privateKeyDer, message)));
  await pool.close();
  t.like(pool.stats, { hits: 1, inFlight: 0 });
});
