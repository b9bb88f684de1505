import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { decode, encode } from './index.js';
import { encodingMatrix } from './matrix.js';
import { referenceShare } from './test-support/reference.js';

/** k random blocks of one length, with m and a random choice of k share numbers. */
const codecCase = (maxM: number, maxLength: number) =>
  fc.integer({ min: 1, max: maxM }).chain((m) =>
    fc.integer({ min: 1, max: m }).chain((k) =>
      fc.integer({ min: 0, max: maxLength }).chain((length) =>
        fc.record({
          k: fc.constant(k),
          m: fc.constant(m),
          blocks: fc.array(fc.uint8Array({ minLength: length, maxLength: length }), {
            minLength: k,
            maxLength: k,
          }),
          // shuffledSubarray picks k distinct numbers in a random order
          chosen: fc.shuffledSubarray(
            Array.from({ length: m }, (_, i) => i),
            { minLength: k, maxLength: k },
          ),
        }),
      ),
    ),
  );

testProp(
  'decode(any k shares) returns the input (k, m ≤ 64)',
  [codecCase(64, 40)],
  (t, { k, m, blocks, chosen }) => {
    const shares = encode(k, m, blocks);
    t.is(shares.length, m);
    t.deepEqual(
      decode(
        k,
        m,
        chosen.map((n) => shares[n]),
        chosen,
      ),
      blocks,
    );
  },
  { numRuns: 150 },
);

testProp(
  'decode(any k shares) returns the input (k, m ≤ 256)',
  [codecCase(256, 9)],
  (t, { k, m, blocks, chosen }) => {
    const shares = encode(k, m, blocks);
    t.deepEqual(
      decode(
        k,
        m,
        chosen.map((n) => shares[n]),
        chosen,
      ),
      blocks,
    );
  },
  { numRuns: 25 },
);

testProp(
  'every share equals the interpolating polynomial at its point (independent model)',
  [codecCase(24, 12)],
  (t, { k, m, blocks }) => {
    const shares = encode(k, m, blocks);
    for (let r = 0; r < m; r++) t.deepEqual(shares[r], referenceShare(blocks, r), `share ${r}`);
  },
  { numRuns: 60 },
);

const bytes = (length: number, seed: number) =>
  Uint8Array.from({ length }, (_, i) => (i * 131 + seed * 29 + ((i * seed) >>> 3)) & 255);

test('the encoding matrix is systematic: its top k rows are the identity', (t) => {
  for (const [k, m] of [
    [1, 1],
    [3, 10],
    [25, 100],
    [200, 256],
  ]) {
    const e = encodingMatrix(k, m);
    t.is(e.length, m * k);
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) if (e[r * k + c] !== (r === c ? 1 : 0)) t.fail(`k=${k} r=${r}`);
    }
  }
  t.pass();
});

test('k = 1: every share is a copy of the one block', (t) => {
  const block = bytes(33, 1);
  const shares = encode(1, 7, [block]);
  t.is(shares.length, 7);
  for (const s of shares) t.deepEqual(s, block);
  t.deepEqual(decode(1, 7, [shares[5]], [5]), [block]);
});

test('k = m: the shares are the blocks and decoding needs all of them', (t) => {
  const blocks = [bytes(10, 1), bytes(10, 2), bytes(10, 3)];
  const shares = encode(3, 3, blocks);
  t.deepEqual(shares, blocks);
  t.deepEqual(decode(3, 3, [shares[2], shares[0], shares[1]], [2, 0, 1]), blocks);
});

test('m = 256 with k = 256 and with k = 1, 128, 255 round trip from the last shares', (t) => {
  for (const k of [1, 128, 255, 256]) {
    const blocks = Array.from({ length: k }, (_, i) => bytes(5, i));
    const shares = encode(k, 256, blocks);
    t.is(shares.length, 256);
    const chosen = Array.from({ length: k }, (_, i) => 255 - i);
    t.deepEqual(
      decode(
        k,
        256,
        chosen.map((n) => shares[n]),
        chosen,
      ),
      blocks,
      `k=${k}`,
    );
  }
});

test('zero-length blocks give zero-length shares and decode to zero-length blocks', (t) => {
  const blocks = [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)];
  const shares = encode(3, 10, blocks);
  t.is(shares.length, 10);
  for (const s of shares) t.is(s.length, 0);
  t.deepEqual(decode(3, 10, [shares[9], shares[4], shares[7]], [9, 4, 7]), blocks);
});

test('outputs are new arrays: changing them leaves the inputs alone and vice versa', (t) => {
  const blocks = [bytes(8, 1), bytes(8, 2)];
  const original = blocks.map((b) => b.slice());
  const shares = encode(2, 4, blocks);
  t.not(shares[0], blocks[0]);
  shares[0][0] ^= 0xff;
  t.deepEqual(blocks, original);
  const fresh = encode(2, 4, blocks);
  const decoded = decode(2, 4, [fresh[0], fresh[3]], [0, 3]);
  t.not(decoded[0], fresh[0]);
  decoded[0][1] ^= 0xff;
  t.deepEqual(fresh[0], original[0]);
});

test('inputs at odd byte offsets (subarrays) encode and decode the same', (t) => {
  const length = 1001; // not a multiple of 4, so the tail loop runs too
  const backing = new Uint8Array(3 * length + 3);
  backing.forEach((_, i) => (backing[i] = (i * 7 + 3) & 255));
  const blocks = [0, 1, 2].map((i) => backing.subarray(1 + i * length, 1 + (i + 1) * length));
  const copies = blocks.map((b) => b.slice());
  const shares = encode(3, 10, blocks);
  t.deepEqual(shares, encode(3, 10, copies));
  const share = new Uint8Array(length + 1);
  share.set(shares[8], 1);
  t.deepEqual(decode(3, 10, [share.subarray(1), shares[5], shares[9]], [8, 5, 9]), copies);
});

test('with more than k shares, decode uses the primaries and ignores the rest', (t) => {
  const blocks = [bytes(16, 1), bytes(16, 2), bytes(16, 3)];
  const shares = encode(3, 10, blocks);
  const garbage = new Uint8Array(16).fill(0xaa);
  // Shares 0 and 2 are primary; with share 6 that makes k; shares 8 and 9 (garbage here)
  // come later and must not be used.
  const out = decode(3, 10, [shares[6], shares[2], garbage, shares[0], garbage], [6, 2, 8, 0, 9]);
  t.deepEqual(out, blocks);
});
