// buildShares → decodeShares round trips, version selection and writer-side errors.
import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { generateRsaKeyPair } from '../crypto/rsa.js';
import { fingerprintFromPublicKey, writekeyFromPrivateKey } from '../crypto/derive.js';
import {
  buildShares,
  decodeShares,
  decodeSharesDetailed,
  decryptPrivateKey,
  MAX_SDMF_FILE_SIZE,
  NotEnoughSharesError,
  parseShare,
  SdmfCapError,
  SdmfParameterError,
  verifyShare,
  type CapKeys,
} from './index.js';
import { interopVector } from './test-support/fixtures.js';

// One RSA key for the whole file: generation is the slow part.
const keys = await generateRsaKeyPair();
const writeCap: CapKeys = {
  writekey: writekeyFromPrivateKey(keys.privateKeyDer),
  fingerprint: fingerprintFromPublicKey(keys.publicKeyDer),
};

function bytesOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const pick = (shares: Uint8Array[], numbers: number[]) =>
  new Map(numbers.map((n) => [n, shares[n]]));

for (const size of [0, 1, 2, 3, 1000, 100 * 1024]) {
  test(`round trip of ${size} bytes with k=3, N=10`, (t) => {
    const plaintext = bytesOf(size, size + 7);
    const built = buildShares(plaintext, keys, 1, 3, 10);
    t.is(built.shares.length, 10);
    t.is(built.segsize, Math.ceil(size / 3) * 3);
    t.is(built.datalen, size);
    t.is(built.salt.length, 16);
    for (const [n, share] of built.shares.entries()) {
      const parsed = parseShare(share);
      t.is(parsed.shareData.length, Math.ceil(size / 3));
      t.deepEqual(parsed.checkstring, built.checkstring);
      t.is(verifyShare(share, writeCap, n).shareNumber, n);
    }
    t.deepEqual(decodeShares(writeCap, pick(built.shares, [7, 8, 9])), plaintext);
    t.deepEqual(decodeShares(writeCap, pick(built.shares, [0, 5, 9])), plaintext);
    t.deepEqual(decryptPrivateKey(built.shares[4], writeCap), keys.privateKeyDer);
  });
}

test('two builds of the same file differ only through the random salt', (t) => {
  const a = buildShares(bytesOf(50), keys, 1, 3, 10);
  const b = buildShares(bytesOf(50), keys, 1, 3, 10);
  t.notDeepEqual(a.salt, b.salt);
  t.notDeepEqual(a.rootHash, b.rootHash);
  const salt = new Uint8Array(16).fill(9);
  const c = buildShares(bytesOf(50), keys, 1, 3, 10, salt);
  t.deepEqual(c.salt, salt, 'salt may be passed positionally');
});

testProp(
  'any k of N shares decode, for random k, N and data',
  [
    fc
      .integer({ min: 1, max: 40 })
      .chain((N) =>
        fc
          .integer({ min: 1, max: N })
          .chain((k) =>
            fc.tuple(
              fc.constant(N),
              fc.constant(k),
              fc.shuffledSubarray([...Array(N).keys()], { minLength: k, maxLength: k }),
            ),
          ),
      ),
    fc.uint8Array({ maxLength: 3000 }),
    fc.integer({ min: 1, max: 1000 }),
  ],
  (t, [N, k, chosen], plaintext, seqnum) => {
    const built = buildShares(plaintext, keys, seqnum, k, N);
    const decoded = decodeSharesDetailed(writeCap, pick(built.shares, chosen));
    t.deepEqual(decoded.plaintext, plaintext);
    t.is(decoded.version.seqnum, seqnum);
    t.deepEqual(
      decoded.sharesUsed,
      [...chosen].sort((a, b) => a - b),
    );
  },
  { numRuns: 40 },
);

test('extreme encodings: 1-of-1, 1-of-255 and 255-of-255', (t) => {
  const plaintext = bytesOf(600);
  for (const [k, N, use] of [
    [1, 1, [0]],
    [1, 255, [254]],
    [255, 255, [...Array(255).keys()]],
  ] as const) {
    const built = buildShares(plaintext, keys, 1, k, N);
    t.deepEqual(decodeShares(writeCap, pick(built.shares, [...use])), plaintext, `${k}-of-${N}`);
  }
});

test('the best version with enough shares wins; a newer partial version is reported', (t) => {
  const v1 = buildShares(bytesOf(100, 1), keys, 1, 3, 10);
  const v2 = buildShares(bytesOf(100, 2), keys, 2, 3, 10);
  const mixed = new Map([
    [0, v2.shares[0]],
    [1, v2.shares[1]],
    [2, v2.shares[2]],
    [3, v1.shares[3]],
    [4, v1.shares[4]],
    [5, v1.shares[5]],
  ]);
  t.deepEqual(decodeShares(writeCap, mixed), bytesOf(100, 2));
  mixed.delete(2);
  const fallback = decodeSharesDetailed(writeCap, mixed);
  t.deepEqual(fallback.plaintext, bytesOf(100, 1), 'v2 has only 2 shares');
  t.deepEqual(
    fallback.versions.map((v) => [v.seqnum, v.shareNumbers]),
    [
      [2, [0, 1]],
      [1, [3, 4, 5]],
    ],
  );
});

test('equal seqnums: the higher root hash wins, as in Tahoe', (t) => {
  const a = buildShares(bytesOf(30, 5), keys, 7, 2, 3);
  const b = buildShares(bytesOf(30, 6), keys, 7, 2, 3);
  const [hi, lo] = Buffer.compare(a.rootHash, b.rootHash) > 0 ? [a, b] : [b, a];
  const shares = new Map([
    [0, lo.shares[0]],
    [1, lo.shares[1]],
    [2, hi.shares[2]],
  ]);
  t.deepEqual(decodeSharesDetailed(writeCap, shares).version.rootHash, lo.rootHash);
  const both = new Map([
    [0, hi.shares[0]],
    [1, lo.shares[1]],
    [2, hi.shares[2]],
  ]);
  t.deepEqual(decodeSharesDetailed(writeCap, both).version.rootHash, hi.rootHash);
});

test('NotEnoughSharesError says which versions had how many shares and why others failed', (t) => {
  const v1 = buildShares(bytesOf(100), keys, 1, 3, 10);
  const badData = v1.shares[6].slice();
  badData[parseShare(badData).offsets.shareData] ^= 1;
  const shares = new Map([
    [2, v1.shares[2]],
    [5, v1.shares[5]],
    [6, badData],
    [7, new Uint8Array(10)],
    [8, v1.shares[9]], // filed under the wrong number
  ]);
  const e = t.throws(() => decodeShares(writeCap, shares), { instanceOf: NotEnoughSharesError });
  t.is(e.code, 'ERR_SDMF_NOT_ENOUGH_SHARES');
  t.deepEqual(e.versions[0].shareNumbers, [2, 5]);
  t.deepEqual(
    e.rejected.map((r) => [r.shareNumber, r.error.code, r.error.field]),
    [
      [6, 'ERR_SDMF_BLOCK_HASH', 'shareData'],
      [7, 'ERR_SDMF_TRUNCATED', 'header'],
      [8, 'ERR_SDMF_SHARE_NUMBER', 'shareNumber'],
    ],
  );
  t.regex(e.message, /seqnum 1 .* 2 valid of k=3: shares \[2, 5\]/);
  t.regex(e.message, /share 6: ERR_SDMF_BLOCK_HASH in shareData/);
  const none = t.throws(() => decodeShares(writeCap, new Map()), {
    instanceOf: NotEnoughSharesError,
  });
  t.regex(none.message, /No valid share at all/);
});

test('shares of another file are rejected by fingerprint', (t) => {
  const other = interopVector();
  const e = t.throws(() => decodeShares(writeCap, other.shares), {
    instanceOf: NotEnoughSharesError,
  });
  t.true(e.rejected.every((r) => r.error.code === 'ERR_SDMF_FINGERPRINT'));
  t.is(e.rejected.length, 10);
});

test('writer parameter errors are typed', (t) => {
  const data = bytesOf(10);
  const code = (fn: () => unknown) => t.throws(fn, { instanceOf: SdmfParameterError }).code;
  t.is(
    code(() => buildShares(data, keys, 1, 0, 10)),
    'ERR_SDMF_PARAMS',
  );
  t.is(
    code(() => buildShares(data, keys, 1, 4, 3)),
    'ERR_SDMF_PARAMS',
  );
  t.is(
    code(() => buildShares(data, keys, 1, 3, 256)),
    'ERR_SDMF_PARAMS',
  );
  t.is(
    code(() => buildShares(data, keys, -1, 3, 10)),
    'ERR_SDMF_SEQNUM',
  );
  t.is(
    code(() => buildShares(data, keys, 1.5, 3, 10)),
    'ERR_SDMF_SEQNUM',
  );
  t.is(
    code(() => buildShares(data, keys, 1, 3, 10, new Uint8Array(15))),
    'ERR_SDMF_SALT',
  );
  t.is(
    code(() => buildShares(new Uint8Array(MAX_SDMF_FILE_SIZE + 1), keys, 1, 3, 10)),
    'ERR_SDMF_FILE_TOO_LARGE',
  );
  t.is(
    code(() => buildShares(data, keys, 1, 3, 10, { signature: new Uint8Array(256) })),
    'ERR_SDMF_SIGNATURE',
  );
  // A public key from another key pair (the Tahoe vector's).
  const foreign = parseShare(interopVector().shares.get(0)!).verificationKey;
  t.is(
    code(() => buildShares(data, { ...keys, publicKeyDer: foreign }, 1, 3, 10)),
    'ERR_SDMF_SIGNATURE',
  );
});

test('the maximum file size is accepted', (t) => {
  // Only the size check matters here; 1-of-1 keeps the encode trivial.
  const built = buildShares(new Uint8Array(MAX_SDMF_FILE_SIZE), keys, 1, 1, 1);
  t.is(built.datalen, MAX_SDMF_FILE_SIZE);
});

test('cap errors are typed', (t) => {
  const built = buildShares(bytesOf(10), keys, 1, 3, 10);
  const readOnly: CapKeys = { readkey: new Uint8Array(16), fingerprint: writeCap.fingerprint };
  t.is(
    t.throws(() => decryptPrivateKey(built.shares[0], readOnly), { instanceOf: SdmfCapError }).code,
    'ERR_SDMF_NEED_WRITEKEY',
  );
  t.is(
    t.throws(() => verifyShare(built.shares[0], { fingerprint: new Uint8Array(31) }), {
      instanceOf: SdmfCapError,
    }).code,
    'ERR_SDMF_CAP',
  );
  t.is(
    t.throws(() => verifyShare(built.shares[0], { fingerprint: writeCap.fingerprint }), {
      instanceOf: SdmfCapError,
    }).code,
    'ERR_SDMF_CAP',
  );
});

test('cap strings that are not SDMF caps are refused', (t) => {
  const built = buildShares(bytesOf(10), keys, 1, 3, 10);
  const shares = new Map([[0, built.shares[0]]]);
  const fp = '5adm6fayxmu3e4lkmfvt6lkkfix34ai2wop2ioqr4bgvvhiol3kq';
  for (const [cap, expected] of [
    ['URI:SSK:not-base32:xyz', 'ERR_SDMF_CAP'],
    ['hello', 'ERR_SDMF_CAP'],
    ['URI:LIT:nbswy3dp', 'ERR_SDMF_CAP_KIND'],
    [`URI:MDMF:gmjgofw6gan57gwpsow6gtrz3e:${fp}`, 'ERR_SDMF_CAP_KIND'],
  ] as const) {
    const e = t.throws(() => decodeShares(cap, shares), { instanceOf: SdmfCapError });
    t.is(e.code, expected, cap);
    t.throws(() => verifyShare(built.shares[0], cap), { instanceOf: SdmfCapError });
  }
});
