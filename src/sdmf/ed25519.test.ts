// Ed25519 shares (docs/formats.md §4–§5): round trips, every byte flip caught, the
// verification key checked against the cap before the signature, and the two formats
// never mistaken for each other.
import test from 'ava';
import { capsFromSeed } from '../caps/index.js';
import { generateEd25519KeyPair, generateRsaKeyPair } from '../crypto/index.js';
import { fingerprintFromPublicKey, writekeyFromPrivateKey } from '../crypto/derive.js';
import {
  buildShares,
  decodeShares,
  decodeSharesDetailed,
  decryptPrivateKey,
  ED25519_VERSION,
  NotEnoughSharesError,
  packShare,
  parseShare,
  SdmfCapError,
  SdmfParameterError,
  ShareError,
  ShareVerificationError,
  verifyShare,
} from './index.js';

const pair = generateEd25519KeyPair();
const { writeCap, readCap, verifyCap } = capsFromSeed(pair.seed);
const text = (s: string) => new TextEncoder().encode(s);

test('round trips of several sizes and encodings, with the read, write and verify caps', (t) => {
  for (const [size, k, N] of [
    [0, 3, 10],
    [1, 1, 1],
    [1000, 3, 10],
    [70_000, 25, 100],
  ] as const) {
    const plaintext = new Uint8Array(size).map((_, i) => i * 7);
    const built = buildShares(plaintext, pair, 4, k, N);
    t.is(built.shares[0][0], ED25519_VERSION);
    t.is(built.signature.length, 64);
    const shares = new Map(built.shares.map((s, i) => [i, s] as const));
    t.deepEqual(decodeShares(readCap, shares), plaintext);
    t.deepEqual(decodeShares(writeCap, shares), plaintext);
    for (const [i, s] of shares) t.is(verifyShare(s, verifyCap, i).shareNumber, i);
    const parsed = parseShare(built.shares[0]);
    t.is(parsed.verificationKey.length, 32);
    t.is(parsed.encryptedPrivateKey.length, 0);
    t.is(parsed.offsets.signature, 139);
  }
});

test('signatures are deterministic: a rebuild with the same salt is byte-identical', (t) => {
  const a = buildShares(text('same'), pair, 2, 3, 10);
  const b = buildShares(text('same'), pair, 2, 3, 10, { salt: a.salt });
  t.deepEqual(a.shares, b.shares);
  const c = buildShares(text('same'), pair, 2, 3, 10, { salt: a.salt, signature: a.signature });
  t.deepEqual(c.shares, a.shares);
});

test('every byte flip in an Ed25519 share is caught', (t) => {
  const built = buildShares(text('hello, corrupted Ed25519 world'), pair, 3, 3, 10);
  for (const n of [0, 7]) {
    const share = built.shares[n];
    const missed: number[] = [];
    for (let at = 0; at < share.length; at++) {
      for (const mask of at < 107 ? [0x01, 0x80] : [0x01]) {
        const bad = share.slice();
        bad[at] ^= mask;
        try {
          verifyShare(bad, readCap, n);
          missed.push(at);
        } catch (e) {
          if (!(e instanceof ShareError)) throw e;
        }
      }
    }
    t.deepEqual(missed, []);
  }
});

test('the share’s verification key must be the cap’s, checked before the signature', (t) => {
  const other = generateEd25519KeyPair();
  // A share signed correctly, but by another key: valid on its own, not this file's.
  const foreign = buildShares(text('forged'), other, 9, 3, 10).shares[0];
  const e = t.throws(() => verifyShare(foreign, readCap, 0), {
    instanceOf: ShareVerificationError,
  });
  t.is(e.code, 'ERR_SDMF_VERIFICATION_KEY');
  t.is(e.field, 'verificationKey');
  const flipped = buildShares(text('x'), pair, 1, 3, 10).shares[0].slice();
  flipped[110] ^= 4;
  t.is(
    t.throws(() => verifyShare(flipped, readCap, 0), { instanceOf: ShareError }).code,
    'ERR_SDMF_VERIFICATION_KEY',
  );
});

test('an Ed25519 share carries no private key; one that does is refused', (t) => {
  const built = buildShares(text('no key here'), pair, 1, 3, 10);
  const e = t.throws(() => decryptPrivateKey(built.shares[0], writeCap), {
    instanceOf: SdmfCapError,
  });
  t.is(e.code, 'ERR_SDMF_NO_PRIVATE_KEY');
  const p = parseShare(built.shares[1]);
  const withKey = packShare({ ...p, encryptedPrivateKey: new Uint8Array(16) });
  const v = t.throws(() => verifyShare(withKey, readCap, 1), {
    instanceOf: ShareVerificationError,
  });
  t.is(v.code, 'ERR_SDMF_UNEXPECTED_PRIVATE_KEY');
  t.is(v.field, 'encryptedPrivateKey');
});

test('SDMF and Ed25519 shares are never taken for each other', async (t) => {
  const rsa = await generateRsaKeyPair();
  const sdmfCap = {
    writekey: writekeyFromPrivateKey(rsa.privateKeyDer),
    fingerprint: fingerprintFromPublicKey(rsa.publicKeyDer),
  };
  const sdmfShare = buildShares(text('rsa'), rsa, 1, 3, 10).shares[0];
  const edShare = buildShares(text('ed'), pair, 1, 3, 10).shares[0];
  const a = t.throws(() => verifyShare(sdmfShare, readCap, 0), {
    instanceOf: ShareVerificationError,
  });
  t.is(a.code, 'ERR_SDMF_SHARE_FORMAT');
  t.is(a.field, 'version');
  const b = t.throws(() => verifyShare(edShare, sdmfCap, 0), {
    instanceOf: ShareVerificationError,
  });
  t.is(b.code, 'ERR_SDMF_SHARE_FORMAT');
  // decodeShares reports them as rejected, not as a version
  const err = t.throws(() => decodeSharesDetailed(readCap, new Map([[0, sdmfShare]])), {
    instanceOf: NotEnoughSharesError,
  });
  t.is(err.rejected[0].error.code, 'ERR_SDMF_SHARE_FORMAT');
});

test('a seed and public key that do not belong together are refused', (t) => {
  const other = generateEd25519KeyPair();
  const e = t.throws(
    () => buildShares(text('x'), { seed: pair.seed, publicKey: other.publicKey }, 1, 3, 10),
    {
      instanceOf: SdmfParameterError,
    },
  );
  t.is(e.code, 'ERR_SDMF_SIGNATURE');
  const f = t.throws(
    () => buildShares(text('x'), pair, 1, 3, 10, { signature: new Uint8Array(64) }),
    {
      instanceOf: SdmfParameterError,
    },
  );
  t.is(f.code, 'ERR_SDMF_SIGNATURE');
});
