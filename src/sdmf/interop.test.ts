// Real Tahoe-LAFS shares: parse, verify, decode, decrypt, and rebuild byte for byte.
import test from 'ava';
import { parseCap } from '../caps/index.js';
import { keyPairFromPrivateKey } from '../crypto/rsa.js';
import { writekeyFromPrivateKey } from '../crypto/derive.js';
import { equalBytes, toHex } from '../encoding/bytes.js';
import {
  buildShares,
  decodeShares,
  decodeSharesDetailed,
  decryptPrivateKey,
  parseShare,
  SdmfCapError,
  verifyShare,
} from './index.js';
import { capKeysOf, gridSample, interopVector, subsets } from './test-support/fixtures.js';

const v = interopVector();

test('the 10 real shares parse with the documented layout', (t) => {
  t.is(v.shares.size, 10);
  for (const [n, bytes] of v.shares) {
    const s = parseShare(bytes);
    t.deepEqual(
      [
        s.offsets.signature,
        s.offsets.shareHashChain,
        s.offsets.blockHashTree,
        s.offsets.shareData,
        s.offsets.encryptedPrivateKey,
        s.offsets.eof,
      ],
      [399, 655, 791, 823, 830, 2044],
      `share ${n}`,
    );
    t.like(s, { version: 0, seqnum: 1, k: 3, N: 10, segsize: 21, datalen: 21, trailingBytes: 0 });
    t.is(s.verificationKey.length, 292); // e = 17
    t.is(s.signature.length, 256);
    t.is(s.shareHashChain.length, 4);
    t.is(s.blockHashTree.length, 1);
    t.is(s.shareData.length, 7);
    t.deepEqual(s.checkstring, bytes.subarray(0, 57));
    t.deepEqual(s.signedPrefix, bytes.subarray(0, 75));
  }
  // Share 0's chain holds nodes 2, 4, 8, 16 (§5.3).
  t.deepEqual(
    parseShare(v.shares.get(0)!).shareHashChain.map((e) => e.index),
    [2, 4, 8, 16],
  );
});

test('every real share verifies against the write, read and verify caps, in every form', (t) => {
  for (const text of [v.writeCap, v.readCap, v.verifyCap]) {
    for (const cap of [text, parseCap(text), capKeysOf(text)]) {
      for (const [n, bytes] of v.shares) {
        t.is(verifyShare(bytes, cap, n).shareNumber, n);
        t.is(verifyShare(bytes, cap).shareNumber, n, 'number read from the chain');
      }
    }
  }
});

test('the real shares decode to the plaintext from every 3 of the 10', (t) => {
  const expected = new TextDecoder().decode(v.plaintext);
  t.is(expected, 'This is a test file.\n');
  for (const subset of subsets(10, 3)) {
    const some = new Map(subset.map((n) => [n, v.shares.get(n)!]));
    const plain = decodeShares(v.readCap, some);
    t.is(new TextDecoder().decode(plain), expected, `shares ${subset}`);
  }
  const all = decodeSharesDetailed(v.writeCap, v.shares);
  t.deepEqual(all.sharesUsed, [0, 1, 2], 'lowest share numbers first');
  t.is(all.rejected.length, 0);
  t.deepEqual(all.versions[0].shareNumbers, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const mixed = decodeSharesDetailed(
    capKeysOf(v.readCap),
    new Map([1, 4, 8].map((n) => [n, v.shares.get(n)!])),
  );
  t.deepEqual(mixed.sharesUsed, [1, 4, 8]);
  t.deepEqual(mixed.plaintext, v.plaintext);
});

test('a verify cap can check shares but not decode them', (t) => {
  const e = t.throws(() => decodeShares(v.verifyCap, v.shares), {
    instanceOf: SdmfCapError,
  });
  t.is(e.code, 'ERR_SDMF_NEED_READKEY');
});

test('the private key decrypts from every share and hashes back to the writekey', (t) => {
  const { writekey } = capKeysOf(v.writeCap);
  const ders = [...v.shares.values()].map((s) => decryptPrivateKey(s, writekey!));
  for (const der of ders) t.deepEqual(der, ders[0]);
  t.true(equalBytes(writekeyFromPrivateKey(ders[0]), writekey!));
  t.deepEqual(decryptPrivateKey(parseShare(v.shares.get(5)!), v.writeCap), ders[0]);
});

test('all 10 real shares are rebuilt byte for byte from plaintext, salt, keys and signature', (t) => {
  const first = parseShare(v.shares.get(0)!);
  const privateKeyDer = decryptPrivateKey(first, capKeysOf(v.writeCap).writekey!);
  const keys = keyPairFromPrivateKey(privateKeyDer);
  t.deepEqual(keys.privateKeyDer, privateKeyDer, 'DER is canonical');
  t.deepEqual(keys.publicKeyDer, first.verificationKey);
  const built = buildShares(v.plaintext, keys, 1, 3, 10, {
    salt: first.salt,
    signature: first.signature,
  });
  t.is(built.shares.length, 10);
  for (const [n, bytes] of v.shares) t.is(toHex(built.shares[n]), toHex(bytes), `share ${n}`);
  t.deepEqual(built.rootHash, first.rootHash);
  t.deepEqual(built.checkstring, first.checkstring);
});

for (const which of ['file', 'dir'] as const) {
  test(`the Tahoe 1.20 grid sample ${which} decodes, verifies and rebuilds`, (t) => {
    const g = gridSample(which);
    const keys = capKeysOf(g.writeCap);
    for (const pair of subsets(4, 2)) {
      const some = new Map(pair.map((n) => [n, g.shares.get(n)!]));
      t.deepEqual(decodeShares(g.writeCap, some), g.plaintext, `shares ${pair}`);
    }
    const first = parseShare(g.shares.get(0)!);
    t.like(first, { k: 2, N: 4, datalen: g.plaintext.length });
    t.is(first.verificationKey.length, 294); // e = 65537
    const pair = keyPairFromPrivateKey(decryptPrivateKey(first, keys.writekey!));
    const built = buildShares(g.plaintext, pair, first.seqnum, 2, 4, {
      salt: first.salt,
      signature: first.signature,
    });
    for (const [n, bytes] of g.shares) t.is(toHex(built.shares[n]), toHex(bytes), `share ${n}`);
  });
}
