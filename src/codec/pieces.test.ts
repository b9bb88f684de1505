import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { joinPieces, splitIntoPieces } from './index.js';

test('k pieces of ceil(len/k) bytes, the last ones zero-padded', (t) => {
  const data = Uint8Array.from([1, 2, 3, 4, 5, 6, 7]);
  const pieces = splitIntoPieces(data, 3);
  t.deepEqual(
    pieces.map((p) => [...p]),
    [
      [1, 2, 3],
      [4, 5, 6],
      [7, 0, 0],
    ],
  );
  // Pieces past the end of the data are all zeros.
  t.deepEqual(
    splitIntoPieces(Uint8Array.from([9, 8]), 4).map((p) => [...p]),
    [[9], [8], [0], [0]],
  );
});

test('empty data gives k empty pieces', (t) => {
  const pieces = splitIntoPieces(new Uint8Array(0), 3);
  t.is(pieces.length, 3);
  for (const p of pieces) t.is(p.length, 0);
  t.deepEqual(joinPieces(pieces, 0), new Uint8Array(0));
});

test('pieces are copies, not views of the data', (t) => {
  const data = Uint8Array.from([1, 2, 3, 4]);
  const [first] = splitIntoPieces(data, 2);
  first[0] = 99;
  t.is(data[0], 1);
});

testProp(
  'join(split(data, k), data.length) returns data',
  [fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 256 })],
  (t, data, k) => {
    const pieces = splitIntoPieces(data, k);
    t.is(pieces.length, k);
    for (const p of pieces) t.is(p.length, Math.ceil(data.length / k));
    t.deepEqual(joinPieces(pieces, data.length), data);
  },
  { numRuns: 200 },
);
