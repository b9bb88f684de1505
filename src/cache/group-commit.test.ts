import test from 'ava';
import { GroupCommit } from './group-commit.js';

/** A batch writer whose writes finish when the test says so. */
function manualWriter() {
  const batches: number[][] = [];
  const finish: Array<(err?: Error) => void> = [];
  const write = (ops: number[]) => {
    batches.push([...ops]);
    return new Promise<void>((resolve, reject) =>
      finish.push((err) => (err ? reject(err) : resolve())),
    );
  };
  return { batches, finish, write };
}

test('the first write goes at once; those asked for meanwhile go together next', async (t) => {
  const w = manualWriter();
  const seen: number[][] = [];
  const commits = new GroupCommit<number>(w.write, 'test', (ops) => seen.push(ops));
  const order: string[] = [];
  const a = commits.add([1]).then(() => order.push('a'));
  const b = commits.add([2, 3]).then(() => order.push('b'));
  const c = commits.add([4]).then(() => order.push('c'));
  t.deepEqual(w.batches, [[1]]);
  w.finish[0]();
  await a;
  t.deepEqual(w.batches, [[1], [2, 3, 4]]);
  t.deepEqual(order, ['a']);
  w.finish[1]();
  await Promise.all([b, c]);
  t.deepEqual(order, ['a', 'b', 'c']);
  t.deepEqual(seen, [[1], [2, 3, 4]]);
  await commits.settled();
});

test('a failed batch fails its own callers only, with a named error when none is given', async (t) => {
  const w = manualWriter();
  const failed: unknown[] = [];
  const commits = new GroupCommit<number>(
    (ops) => w.write(ops).catch(() => Promise.reject(undefined)),
    'test store',
    (_ops, err) => failed.push(err),
  );
  const first = commits.add([1]);
  const second = commits.add([2]);
  w.finish[0](new Error('disk full'));
  const err = await t.throwsAsync(first);
  t.is(err?.message, 'test store write failed');
  t.is(w.batches.length, 2, 'the next batch still goes out');
  w.finish[1]();
  await t.notThrowsAsync(second);
  t.is(failed.length, 2);
  t.truthy(failed[0]);
  t.is(failed[1], undefined);
});

test('settled() waits for writes asked for while it waits', async (t) => {
  const w = manualWriter();
  const commits = new GroupCommit<number>(w.write, 'test');
  void commits.add([1]);
  void commits.add([2]);
  let settled = false;
  const waiting = commits.settled().then(() => (settled = true));
  w.finish[0]();
  await new Promise((resolve) => setImmediate(resolve));
  t.false(settled, 'the second batch is still being written');
  w.finish[1]();
  await waiting;
  t.true(settled);
});
