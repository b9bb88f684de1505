// Structure-only parsing and packing: prefixes, and a typed error for every malformation.
import test from 'ava';
import {
  HEADER_SIZE,
  packShare,
  packSignedPrefix,
  parseShare,
  parseSharePrefix,
  SdmfParameterError,
  ShareFormatError,
  type ShareFields,
} from './index.js';
import { interopVector } from './test-support/fixtures.js';

const real = interopVector().shares.get(4)!;

function fieldsOf(bytes: Uint8Array): ShareFields {
  const s = parseShare(bytes);
  return {
    seqnum: s.seqnum,
    rootHash: s.rootHash,
    salt: s.salt,
    k: s.k,
    N: s.N,
    segsize: s.segsize,
    datalen: s.datalen,
    verificationKey: s.verificationKey,
    signature: s.signature,
    shareHashChain: s.shareHashChain,
    blockHashTree: s.blockHashTree,
    shareData: s.shareData,
    encryptedPrivateKey: s.encryptedPrivateKey,
  };
}

function formatError(t: import('ava').ExecutionContext, bytes: Uint8Array) {
  return t.throws(() => parseShare(bytes), { instanceOf: ShareFormatError });
}

/** A copy of the real share with a u32 (or u64 when wide) written at `at`. */
function withInt(at: number, value: number, wide = false): Uint8Array {
  const copy = real.slice();
  const dv = new DataView(copy.buffer);
  if (wide) dv.setBigUint64(at, BigInt(value));
  else dv.setUint32(at, value);
  return copy;
}

test('packShare(parseShare(x)) reproduces x', (t) => {
  t.deepEqual(packShare(fieldsOf(real)), real);
});

test('a prefix reveals the header and each field once it is complete', (t) => {
  const full = parseShare(real);
  const o = full.offsets;
  const at = (n: number) => parseSharePrefix(real.subarray(0, n));
  const header = at(HEADER_SIZE);
  t.like(header, { seqnum: 1, k: 3, N: 10, datalen: 21, complete: false });
  t.deepEqual(header.offsets, o);
  t.deepEqual(header.checkstring, real.subarray(0, 57));
  t.deepEqual(header.signedPrefix, real.subarray(0, 75));
  t.is(header.verificationKey, undefined);
  t.deepEqual(at(o.signature).verificationKey, full.verificationKey);
  t.is(at(o.shareHashChain - 1).signature, undefined);
  t.deepEqual(at(o.shareHashChain).signature, full.signature);
  t.is(at(o.blockHashTree - 1).shareHashChain, undefined);
  t.deepEqual(at(o.blockHashTree).shareHashChain, full.shareHashChain);
  t.deepEqual(at(o.shareData).blockHashTree, full.blockHashTree);
  t.deepEqual(at(o.encryptedPrivateKey).shareData, full.shareData);
  t.is(at(o.eof - 1).encryptedPrivateKey, undefined);
  const whole = at(o.eof);
  t.true(whole.complete);
  t.deepEqual(whole.encryptedPrivateKey, full.encryptedPrivateKey);
  t.deepEqual(parseSharePrefix(real).shareData, full.shareData, 'a whole share is a prefix too');
});

test('bytes past EOF (left by an older, longer version) are ignored', (t) => {
  const longer = new Uint8Array(real.length + 100);
  longer.set(real);
  const s = parseShare(longer);
  t.is(s.trailingBytes, 100);
  t.deepEqual(s.encryptedPrivateKey, parseShare(real).encryptedPrivateKey);
});

test('too short for the header', (t) => {
  const e = t.throws(() => parseSharePrefix(real.subarray(0, HEADER_SIZE - 1)), {
    instanceOf: ShareFormatError,
  });
  t.like(e, { code: 'ERR_SDMF_TRUNCATED', field: 'header' });
  t.regex(e.message, /106 bytes, shorter than the 107-byte/);
});

test('truncated body names the field it ends in', (t) => {
  const o = parseShare(real).offsets;
  for (const [length, field] of [
    [HEADER_SIZE + 5, 'verificationKey'],
    [o.signature + 5, 'signature'],
    [o.shareHashChain + 5, 'shareHashChain'],
    [o.blockHashTree + 5, 'blockHashTree'],
    [o.shareData + 5, 'shareData'],
    [o.eof - 1, 'encryptedPrivateKey'],
  ] as const) {
    t.like(formatError(t, real.subarray(0, length)), { code: 'ERR_SDMF_TRUNCATED', field });
  }
});

test('version byte other than 0', (t) => {
  for (const version of [1, 2, 255]) {
    const copy = real.slice();
    copy[0] = version;
    const e = formatError(t, copy);
    t.like(e, { code: 'ERR_SDMF_VERSION', field: 'version' });
    if (version === 1) t.regex(e.message, /MDMF/);
  }
});

test('offsets out of order, each named', (t) => {
  const o = parseShare(real).offsets;
  const cases: Array<[Uint8Array, string]> = [
    [withInt(75, HEADER_SIZE), 'offsets.signature'],
    [withInt(79, o.signature), 'offsets.shareHashChain'],
    [withInt(83, o.shareHashChain - 34), 'offsets.blockHashTree'],
    [withInt(87, o.blockHashTree), 'offsets.shareData'],
    [withInt(91, o.shareData - 1, true), 'offsets.encryptedPrivateKey'],
    [withInt(99, o.encryptedPrivateKey - 1, true), 'offsets.eof'],
  ];
  for (const [bytes, field] of cases) {
    t.like(formatError(t, bytes), { code: 'ERR_SDMF_OFFSETS', field }, field);
  }
});

test('EOF beyond the bytes is a truncated share; a prefix parse accepts it', (t) => {
  const bytes = withInt(99, real.length + 1, true);
  t.like(formatError(t, bytes), { code: 'ERR_SDMF_TRUNCATED', field: 'encryptedPrivateKey' });
  t.false(parseSharePrefix(bytes).complete);
});

test('share hash chain not a multiple of 34 bytes', (t) => {
  const o = parseShare(real).offsets;
  t.like(formatError(t, withInt(79, o.shareHashChain + 1)), {
    code: 'ERR_SDMF_CHAIN_LENGTH',
    field: 'shareHashChain',
  });
});

test('block hash tree not a multiple of 32 bytes', (t) => {
  const o = parseShare(real).offsets;
  t.like(formatError(t, withInt(87, o.shareData + 1)), {
    code: 'ERR_SDMF_TREE_LENGTH',
    field: 'blockHashTree',
  });
});

test('share hash chain entries out of order', (t) => {
  const o = parseShare(real).offsets;
  const copy = real.slice();
  copy.copyWithin(o.shareHashChain, o.shareHashChain + 34, o.shareHashChain + 36); // index 4 twice
  t.like(formatError(t, copy), { code: 'ERR_SDMF_CHAIN_ORDER', field: 'shareHashChain' });
});

test('u64 fields beyond 2^53 − 1', (t) => {
  for (const [at, field] of [
    [1, 'seqnum'],
    [59, 'segsize'],
    [67, 'datalen'],
    [91, 'offsets.encryptedPrivateKey'],
    [99, 'offsets.eof'],
  ] as const) {
    const copy = real.slice();
    copy[at] = 0x80;
    t.like(formatError(t, copy), { code: 'ERR_SDMF_INTEGER_RANGE', field });
  }
});

test('packing refuses wrong field sizes', (t) => {
  const f = fieldsOf(real);
  const code = (fn: () => unknown) => t.throws(fn, { instanceOf: SdmfParameterError }).code;
  t.is(
    code(() => packSignedPrefix({ ...f, salt: new Uint8Array(15) })),
    'ERR_SDMF_FIELD_SIZE',
  );
  t.is(
    code(() => packSignedPrefix({ ...f, rootHash: new Uint8Array(31) })),
    'ERR_SDMF_FIELD_SIZE',
  );
  t.is(
    code(() => packShare({ ...f, shareHashChain: [{ index: 2, hash: new Uint8Array(31) }] })),
    'ERR_SDMF_FIELD_SIZE',
  );
  t.is(
    code(() => packShare({ ...f, blockHashTree: [new Uint8Array(33)] })),
    'ERR_SDMF_FIELD_SIZE',
  );
});
