// The crypto primitives against real SDMF shares written by an old Tahoe-LAFS release
// (vectors/README.md). Only the crypto is checked here; share parsing lives in src/sdmf.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { aesCtr } from './aes.js';
import {
  blockHash,
  fingerprintFromPublicKey,
  readkeyFromWritekey,
  storageIndexFromReadkey,
  writeEnabler,
  writekeyFromPrivateKey,
} from './derive.js';
import { verifyChain } from './merkle.js';
import { keyPairFromPrivateKey, loadPublicKey, publicKeyInfo, verifyPss } from './rsa.js';
import { fromBase32, toBase32 } from '../encoding/base32.js';

interface InteropVector {
  writeCap: string;
  derivedWithDigestRules: {
    readCap: string;
    storageIndexBase32: string;
    containerWriteEnablerNodeIdBase32: string;
  };
  containersBase64: Record<string, string>;
}

const vector = JSON.parse(
  readFileSync(new URL('./vectors/tahoe-sdmf-interop-shares.json', import.meta.url), 'utf8'),
) as InteropVector;

const [, , writekeyText, fingerprintText] = vector.writeCap.split(':');
const writekey = fromBase32(writekeyText);
const fingerprint = fromBase32(fingerprintText);

// Container (§9.1): nodeid at 32, write enabler at 52, data length at 84, share at 468.
// Share (§5.4): offsets at 75…107, verification key from 107 to the signature offset.
function unwrap(base64: string) {
  const container = new Uint8Array(Buffer.from(base64, 'base64'));
  const view = new DataView(container.buffer, container.byteOffset, container.byteLength);
  const length = Number(view.getBigUint64(84));
  const share = container.subarray(468, 468 + length);
  const sv = new DataView(share.buffer, share.byteOffset, share.byteLength);
  const o = {
    signature: sv.getUint32(75),
    chain: sv.getUint32(79),
    blockTree: sv.getUint32(83),
    data: sv.getUint32(87),
    encPrivKey: Number(sv.getBigUint64(91)),
    eof: Number(sv.getBigUint64(99)),
  };
  const chain = new Map<number, Uint8Array>();
  for (let p = o.chain; p < o.blockTree; p += 34) {
    chain.set(sv.getUint16(p), share.subarray(p + 2, p + 34));
  }
  return {
    nodeId: container.subarray(32, 52),
    storedWriteEnabler: container.subarray(52, 84),
    share,
    rootHash: share.subarray(9, 41),
    signedPrefix: share.subarray(0, 75),
    n: share[58],
    verificationKey: share.subarray(107, o.signature),
    signature: share.subarray(o.signature, o.chain),
    chain,
    blockTree: share.subarray(o.blockTree, o.data),
    shareData: share.subarray(o.data, o.encPrivKey),
    encPrivKey: share.subarray(o.encPrivKey, o.eof),
  };
}

const shares = Object.entries(vector.containersBase64).map(
  ([n, b64]) => [Number(n), unwrap(b64)] as const,
);

test('three shares are present', (t) => {
  t.deepEqual(
    shares.map(([n]) => n),
    [1, 4, 8],
  );
});

test('e = 17 verification key: 292-byte SPKI, 2048 bits, fingerprint matches the cap', (t) => {
  for (const [, s] of shares) {
    t.is(s.verificationKey.length, 292);
    t.deepEqual(publicKeyInfo(s.verificationKey), { modulusBits: 2048, publicExponent: 17n });
    t.deepEqual(fingerprintFromPublicKey(s.verificationKey), fingerprint);
  }
});

test('PSS signature over the 75-byte signed prefix verifies; a flipped prefix fails', (t) => {
  for (const [n, s] of shares) {
    t.is(s.signature.length, 256);
    t.true(verifyPss(s.verificationKey, s.signedPrefix, s.signature), `share ${n}`);
    const key = loadPublicKey(s.verificationKey);
    const bad = s.signedPrefix.slice();
    bad[74] ^= 1;
    t.false(verifyPss(key, bad, s.signature));
  }
});

test('block hash and share hash chain fold up to the signed root hash', (t) => {
  for (const [n, s] of shares) {
    t.is(s.chain.size, 4);
    t.deepEqual(s.blockTree, blockHash(s.shareData));
    t.true(verifyChain(s.rootHash, s.n, n, blockHash(s.shareData), s.chain), `share ${n}`);
    t.false(verifyChain(s.rootHash, s.n, (n + 1) % s.n, blockHash(s.shareData), s.chain));
  }
});

test('encrypted private key decrypts with the writekey to a PKCS#8 key that hashes to it', (t) => {
  const [, s] = shares[0];
  const der = aesCtr(writekey, s.encPrivKey);
  t.deepEqual(writekeyFromPrivateKey(der), writekey);
  const pair = keyPairFromPrivateKey(der);
  t.deepEqual(pair.privateKeyDer, der);
  t.deepEqual(pair.publicKeyDer, s.verificationKey);
  for (const [, other] of shares) t.deepEqual(other.encPrivKey, s.encPrivKey);
  // The same e = 17 key given as PKCS#1 PEM comes back as the same PKCS#8 DER.
  const pkcs1Pem = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs1', format: 'pem' })
    .toString();
  t.deepEqual(keyPairFromPrivateKey(pkcs1Pem), pair);
});

test('readkey, storage index and the stored write enabler follow from the writekey', (t) => {
  const d = vector.derivedWithDigestRules;
  const readkey = readkeyFromWritekey(writekey);
  t.is(d.readCap, `URI:SSK-RO:${toBase32(readkey)}:${fingerprintText}`);
  t.is(toBase32(storageIndexFromReadkey(readkey)), d.storageIndexBase32);
  t.is(d.storageIndexBase32, 'nxq4vhp7ifntsc4ycuciy5lxt4');
  for (const [n, s] of shares) {
    t.is(toBase32(s.nodeId), d.containerWriteEnablerNodeIdBase32);
    t.deepEqual(writeEnabler(writekey, s.nodeId), s.storedWriteEnabler, `share ${n}`);
  }
});
