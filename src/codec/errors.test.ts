// Every CodecError code is provoked here, and its message names the problem.
import test from 'ava';
import {
  CodecError,
  type CodecErrorCode,
  codecWith,
  decode,
  encode,
  joinPieces,
  splitIntoPieces,
} from './index.js';

const block = (n: number) => new Uint8Array(n).fill(n);

function throwsCode(
  t: import('ava').ExecutionContext,
  fn: () => unknown,
  code: CodecErrorCode,
  re: RegExp,
) {
  const err = t.throws(fn, { instanceOf: CodecError });
  t.is(err?.code, code);
  t.regex(err?.message ?? '', re);
}

test('k out of range', (t) => {
  throwsCode(t, () => encode(0, 3, []), 'ERR_CODEC_K_RANGE', /k=0 is out of range/);
  throwsCode(t, () => encode(257, 257, []), 'ERR_CODEC_K_RANGE', /k=257/);
  throwsCode(t, () => encode(1.5, 3, []), 'ERR_CODEC_K_RANGE', /integer 1…256/);
  throwsCode(t, () => decode(0, 3, [], []), 'ERR_CODEC_K_RANGE', /k=0/);
  throwsCode(t, () => splitIntoPieces(block(3), 0), 'ERR_CODEC_K_RANGE', /k=0/);
});

test('m out of range', (t) => {
  throwsCode(t, () => encode(1, 257, [block(1)]), 'ERR_CODEC_M_RANGE', /m=257 is out of range/);
  throwsCode(t, () => decode(1, 0, [], []), 'ERR_CODEC_M_RANGE', /m=0/);
});

test('k greater than m', (t) => {
  throwsCode(t, () => encode(4, 3, []), 'ERR_CODEC_K_GREATER_THAN_M', /k=4 is greater than m=3/);
  throwsCode(t, () => decode(4, 3, [], []), 'ERR_CODEC_K_GREATER_THAN_M', /k=4/);
});

test('wrong number of input blocks', (t) => {
  throwsCode(
    t,
    () => encode(3, 5, [block(2), block(2)]),
    'ERR_CODEC_BLOCK_COUNT',
    /needs exactly k=3 input blocks, got 2/,
  );
});

test('input that is not bytes', (t) => {
  const notBytes = [block(2), 'ab' as unknown as Uint8Array];
  throwsCode(t, () => encode(2, 3, notBytes), 'ERR_CODEC_NOT_BYTES', /input block 1 is string/);
  throwsCode(
    t,
    () => splitIntoPieces([1, 2] as unknown as Uint8Array, 2),
    'ERR_CODEC_NOT_BYTES',
    /data/,
  );
});

test('unequal lengths', (t) => {
  throwsCode(
    t,
    () => encode(2, 3, [block(4), block(5)]),
    'ERR_CODEC_UNEQUAL_LENGTHS',
    /input block 1 is 5 bytes but input block 0 is 4/,
  );
  const shares = encode(2, 3, [block(4), block(4)]);
  throwsCode(
    t,
    () => decode(2, 3, [shares[0], shares[2].subarray(1)], [0, 2]),
    'ERR_CODEC_UNEQUAL_LENGTHS',
    /share 1 is 3 bytes/,
  );
});

test('shares and share numbers of different counts', (t) => {
  const shares = encode(2, 3, [block(4), block(4)]);
  throwsCode(
    t,
    () => decode(2, 3, shares.slice(0, 2), [0, 1, 2]),
    'ERR_CODEC_SHARE_COUNT_MISMATCH',
    /2 shares but 3 share numbers/,
  );
});

test('fewer than k shares', (t) => {
  const shares = encode(3, 5, [block(4), block(4), block(4)]);
  throwsCode(
    t,
    () => decode(3, 5, [shares[0], shares[4]], [0, 4]),
    'ERR_CODEC_TOO_FEW_SHARES',
    /at least k=3 distinct shares, got 2/,
  );
});

test('share number out of range', (t) => {
  const shares = encode(2, 4, [block(4), block(4)]);
  throwsCode(
    t,
    () => decode(2, 4, [shares[0], shares[1]], [0, 4]),
    'ERR_CODEC_SHARE_NUMBER_RANGE',
    /share number 4 \(position 1\) is out of range for m=4/,
  );
  throwsCode(
    t,
    () => decode(2, 4, [shares[0], shares[1]], [-1, 1]),
    'ERR_CODEC_SHARE_NUMBER_RANGE',
    /share number -1/,
  );
});

test('duplicate share numbers', (t) => {
  const shares = encode(2, 4, [block(4), block(4)]);
  throwsCode(
    t,
    () => decode(2, 4, [shares[3], shares[1], shares[3]], [3, 1, 3]),
    'ERR_CODEC_DUPLICATE_SHARE',
    /share number 3 appears twice \(positions 0 and 2\)/,
  );
});

test('joinPieces with a length the pieces cannot hold', (t) => {
  const pieces = splitIntoPieces(block(5), 2);
  throwsCode(t, () => joinPieces(pieces, 7), 'ERR_CODEC_JOIN_LENGTH', /length 7 .* hold 6 bytes/);
  throwsCode(t, () => joinPieces(pieces, -1), 'ERR_CODEC_JOIN_LENGTH', /length -1/);
});

test("asking for the native backend when it isn't there", (t) => {
  // Only provokable without the addon (e.g. SLOTFS_CODEC=ts); otherwise check it works.
  let codec;
  try {
    codec = codecWith('native');
  } catch (err) {
    t.true(err instanceof CodecError);
    t.is((err as CodecError).code, 'ERR_CODEC_NATIVE_UNAVAILABLE');
    t.regex((err as CodecError).message, /native codec is not available/);
    return;
  }
  t.is(codec.backend, 'native');
});
