import test from 'ava';
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
} from 'node:crypto';
import {
  KeyFormatError,
  generateRsaKeyPair,
  keyPairFromPrivateKey,
  loadPrivateKey,
  loadPublicKey,
  publicKeyInfo,
  signPss,
  verifyPss,
  type RsaKeyPair,
} from './rsa.js';
import { concatBytes, utf8 } from '../encoding/bytes.js';

let keys: RsaKeyPair;
test.before(async () => {
  keys = await generateRsaKeyPair(2048);
});

const message = utf8('the 75-byte signed prefix of an SDMF share, more or less.........');

test('generated key: 2048 bits, e = 65537, SPKI is 294 bytes', (t) => {
  t.deepEqual(publicKeyInfo(keys.publicKeyDer), { modulusBits: 2048, publicExponent: 65537n });
  t.is(keys.publicKeyDer.length, 294);
  t.true(keys.privateKeyDer.length > 1200 && keys.privateKeyDer.length < 1230);
});

test('PSS sign and verify; signature is 256 bytes and randomised', (t) => {
  const sig = signPss(keys.privateKeyDer, message);
  t.is(sig.length, 256);
  t.true(verifyPss(keys.publicKeyDer, message, sig));
  t.true(verifyPss(loadPublicKey(keys.publicKeyDer), message, sig));
  const again = signPss(loadPrivateKey(keys.privateKeyDer), message);
  t.notDeepEqual(again, sig);
  t.true(verifyPss(keys.publicKeyDer, message, again));
});

test('verify rejects a tampered message, a tampered signature and another key', (t) => {
  const sig = signPss(keys.privateKeyDer, message);
  const badMessage = message.slice();
  badMessage[10] ^= 1;
  t.false(verifyPss(keys.publicKeyDer, badMessage, sig));
  const badSig = sig.slice();
  badSig[100] ^= 1;
  t.false(verifyPss(keys.publicKeyDer, message, badSig));
  t.false(verifyPss(keys.publicKeyDer, message, sig.subarray(0, 255)));
  const other = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const otherSpki = new Uint8Array(other.publicKey.export({ type: 'spki', format: 'der' }));
  t.false(verifyPss(otherSpki, message, sig));
});

test('verify never throws: an unreadable key is just false', (t) => {
  const sig = signPss(keys.privateKeyDer, message);
  t.false(verifyPss(utf8('not a key'), message, sig));
  t.false(verifyPss(keys.publicKeyDer.subarray(0, 100), message, sig));
});

test('salt length is exactly 32: PKCS#1 v1.5 and other PSS salt lengths are refused', (t) => {
  const key = createPrivateKey({
    key: Buffer.from(keys.privateKeyDer),
    format: 'der',
    type: 'pkcs8',
  });
  const pss = (saltLength: number) =>
    new Uint8Array(
      nodeSign('sha256', message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }),
    );
  t.true(verifyPss(keys.publicKeyDer, message, pss(32)));
  t.false(verifyPss(keys.publicKeyDer, message, pss(20)));
  t.false(verifyPss(keys.publicKeyDer, message, pss(222))); // "max length"
  t.false(verifyPss(keys.publicKeyDer, message, new Uint8Array(nodeSign('sha256', message, key))));
});

test('reads PKCS#1 and PKCS#8, PEM and DER, to the same PKCS#8 DER pair', (t) => {
  const key = createPrivateKey({
    key: Buffer.from(keys.privateKeyDer),
    format: 'der',
    type: 'pkcs8',
  });
  const forms: Array<[string, Uint8Array | string]> = [
    ['PKCS#8 DER', keys.privateKeyDer],
    ['PKCS#8 PEM', key.export({ type: 'pkcs8', format: 'pem' }) as string],
    ['PKCS#1 DER', new Uint8Array(key.export({ type: 'pkcs1', format: 'der' }))],
    ['PKCS#1 PEM', key.export({ type: 'pkcs1', format: 'pem' }) as string],
  ];
  for (const [name, form] of forms) {
    const pair = keyPairFromPrivateKey(form);
    t.deepEqual(pair.privateKeyDer, keys.privateKeyDer, name);
    t.deepEqual(pair.publicKeyDer, keys.publicKeyDer, name);
  }
  t.true(
    (forms[3][1] as string).startsWith('-----BEGIN RSA PRIVATE KEY-----'),
    'the PKCS#1 PEM form really is PKCS#1',
  );
});

test('a PKCS#8 DER input is kept byte for byte, in a copy (also from a Buffer)', (t) => {
  for (const input of [keys.privateKeyDer.slice(), Buffer.from(keys.privateKeyDer)]) {
    const pair = keyPairFromPrivateKey(input);
    t.deepEqual(pair.privateKeyDer, keys.privateKeyDer);
    input[0] ^= 0xff;
    t.deepEqual(pair.privateKeyDer, keys.privateKeyDer, 'not sharing memory with the input');
  }
});

function refused(t: import('ava').ExecutionContext, fn: () => unknown, message: RegExp) {
  const err = t.throws(fn, { instanceOf: KeyFormatError, message });
  t.is(err?.code, 'ERR_KEY_FORMAT');
}

test('KeyFormatError: garbage, truncated DER, trailing bytes', (t) => {
  refused(t, () => keyPairFromPrivateKey(utf8('not a key')), /PKCS#8 or PKCS#1, PEM or DER/);
  refused(t, () => keyPairFromPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n'), /PKCS#8/);
  refused(t, () => keyPairFromPrivateKey(keys.privateKeyDer.subarray(0, 600)), /truncated/);
  refused(
    t,
    () => keyPairFromPrivateKey(concatBytes(keys.privateKeyDer, new Uint8Array([0, 0]))),
    /2 trailing bytes/,
  );
  refused(t, () => loadPrivateKey(utf8('nope')), /could not read/);
});

test('KeyFormatError: a non-RSA key', (t) => {
  const ed = generateKeyPairSync('ed25519');
  const pem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  refused(t, () => keyPairFromPrivateKey(pem), /expected an RSA private key, got ed25519/);
  refused(t, () => loadPrivateKey(pem), /got ed25519/);
  const spki = new Uint8Array(ed.publicKey.export({ type: 'spki', format: 'der' }));
  refused(t, () => loadPublicKey(spki), /expected an RSA public key, got ed25519/);
});

test('KeyFormatError: unreadable or padded public keys', (t) => {
  refused(t, () => loadPublicKey(utf8('not a key')), /SubjectPublicKeyInfo/);
  refused(t, () => publicKeyInfo(concatBytes(keys.publicKeyDer, new Uint8Array(1))), /trailing/);
});

test('a PKCS#1 RSAPublicKey is not an SPKI (the share stores SPKI)', (t) => {
  const pkcs1 = new Uint8Array(
    createPublicKey({ key: Buffer.from(keys.publicKeyDer), format: 'der', type: 'spki' }).export({
      type: 'pkcs1',
      format: 'der',
    }),
  );
  t.throws(() => loadPublicKey(pkcs1), { instanceOf: KeyFormatError });
});

test('generateRsaKeyPair honours bits and exponent', async (t) => {
  const small = await generateRsaKeyPair(1024, 17);
  t.deepEqual(publicKeyInfo(small.publicKeyDer), { modulusBits: 1024, publicExponent: 17n });
  const sig = signPss(small.privateKeyDer, message);
  t.is(sig.length, 128);
  t.true(verifyPss(small.publicKeyDer, message, sig));
});
