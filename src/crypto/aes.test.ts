import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { createCipheriv } from 'node:crypto';
import { aesCtr } from './aes.js';
import { fromHex, toHex, utf8 } from '../encoding/bytes.js';

const KEY = fromHex('000102030405060708090a0b0c0d0e0f');
const PLAINTEXT = 'Tahoe-LAFS uses AES-128-CTR with a zero IV, counter over all 128 bits.';
// Computed independently when this test was written:
//   printf '%s' "$PLAINTEXT" | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f \
//     -iv 00000000000000000000000000000000 | xxd -p     (OpenSSL 3.0.19)
const OPENSSL_CIPHERTEXT =
  '92c05358e2a217c3291ca117d2adab59320340b8a4f28c330a2fefc3129d596269b7a729fce9c9acaadf56' +
  '4803eec5f3cdc8590e5b1ca74a703c5a32bc86ce6e1001dfab7902';

test('known answer from openssl enc -aes-128-ctr with a zero IV', (t) => {
  t.is(toHex(aesCtr(KEY, utf8(PLAINTEXT))), OPENSSL_CIPHERTEXT);
  t.deepEqual(aesCtr(KEY, fromHex(OPENSSL_CIPHERTEXT)), utf8(PLAINTEXT));
});

test('keystream block i = AES_K(i as a 128-bit big-endian counter) (§3.1)', (t) => {
  const blocks = 5;
  const keystream = aesCtr(KEY, new Uint8Array(16 * blocks));
  const ecb = createCipheriv('aes-128-ecb', KEY, null).setAutoPadding(false);
  for (let i = 0; i < blocks; i++) {
    const counter = new Uint8Array(16);
    counter[15] = i;
    t.deepEqual(
      keystream.subarray(16 * i, 16 * (i + 1)),
      new Uint8Array(ecb.update(counter)),
      `block ${i}`,
    );
  }
});

testProp(
  'round trip: decrypting the ciphertext gives the plaintext, same length',
  [fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 200 })],
  (t, key, data) => {
    const ciphertext = aesCtr(key, data);
    t.is(ciphertext.length, data.length);
    t.deepEqual(aesCtr(key, ciphertext), data);
  },
);

test('empty input gives empty output', (t) => {
  t.is(aesCtr(KEY, new Uint8Array(0)).length, 0);
});

test('a key that is not 16 bytes is refused', (t) => {
  t.throws(() => aesCtr(new Uint8Array(32), utf8('x')), {
    instanceOf: RangeError,
    message: /16 bytes, got 32/,
  });
});
