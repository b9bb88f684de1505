import test from 'ava';
import { statArray } from './fuse-attr-replies.js';

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
