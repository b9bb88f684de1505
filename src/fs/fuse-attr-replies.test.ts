import test from 'ava';
import { statArray, withAttrReplies } from './fuse-attr-replies.js';

test('statArray: the binding’s layout, 64-bit values split low word first', (t) => {
  const big = 2 ** 40 + 7; // beyond 32 bits
  const ints = statArray({
    mode: 0o100644,
    uid: 1000,
    gid: 100,
    size: big,
    nlink: 2,
    blksize: 4096,
    blocks: 9,
    atime: 1_700_000_000_123,
    mtime: 1_600_000_000_456,
    ctime: 1_650_000_000_789,
  });
  t.is(ints.length, 18);
  t.deepEqual([ints[0], ints[1], ints[2]], [0o100644, 1000, 100]);
  const joined = (at: number) => ints[at]! + ints[at + 1]! * 2 ** 32;
  t.is(joined(3), big);
  t.is(ints[6], 2);
  t.is(ints[9], 4096);
  t.is(joined(10), 9);
  t.is(joined(12), 1_700_000_000_123);
  t.is(joined(14), 1_600_000_000_456);
  t.is(joined(16), 1_650_000_000_789);
});

test('getattr passes on how long its answer stays good, also with "no such file"', (t) => {
  class Base {
    constructor(public ops: Record<string, (...args: unknown[]) => void>) {}
  }
  const st = { mode: 0o100600, uid: 1, gid: 2, size: 5, nlink: 1, blksize: 4096, blocks: 1 };
  const answers: Record<string, [number, unknown?]> = {
    '/a': [0, 2500],
    '/gone': [-2, 900],
    '/plain': [0],
  };
  const Replying = withAttrReplies(Base);
  const fuse = new Replying({
    getattr: (path: unknown, cb: unknown) => {
      const [err, ms] = answers[path as string]!;
      (cb as (...a: unknown[]) => void)(
        err,
        err ? undefined : { ...st, atime: 1, mtime: 2, ctime: 3 },
        ms,
      );
    },
  }) as unknown as { _op_getattr(signal: (...a: unknown[]) => void, path: string): void };
  const signalled: unknown[][] = [];
  for (const path of Object.keys(answers)) fuse._op_getattr((...a) => signalled.push(a), path);
  t.is(signalled[0]![0], 0);
  t.is((signalled[0]![1] as Uint32Array)[0], 0o100600);
  t.is(signalled[0]![2], 2500);
  // An error still hands the binding a stat buffer (it reads one) and the time.
  t.deepEqual(
    [signalled[1]![0], (signalled[1]![1] as Uint32Array).length, signalled[1]![2]],
    [-2, 18, 900],
  );
  t.is(signalled[2]![2], 0); // not said: not kept
});
