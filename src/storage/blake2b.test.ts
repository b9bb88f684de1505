import test from 'ava';
import { createHash } from 'node:crypto';
import { blake2b, blake2b256 } from './blake2b.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const abc = new TextEncoder().encode('abc');

test('RFC 7693 Appendix A: BLAKE2b-512("abc")', (t) => {
  t.is(
    hex(blake2b(abc)),
    'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1' +
      '7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
  );
});

test('BLAKE2b-256 known answers (as Python hashlib / libsodium give them)', (t) => {
  t.is(
    hex(blake2b256(new Uint8Array())),
    '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8',
  );
  t.is(hex(blake2b256(abc)), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319');
  // BLAKE2b-256 is its own parameterisation, not a truncated BLAKE2b-512.
  t.not(hex(blake2b256(abc)), hex(blake2b(abc)).slice(0, 64));
});

test('agrees with OpenSSL BLAKE2b-512 on every block-boundary length', (t) => {
  for (const n of [0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4097]) {
    const input = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    t.is(hex(blake2b(input)), createHash('blake2b512').update(input).digest('hex'), `length ${n}`);
  }
});

test('refuses digest lengths outside 1..64', (t) => {
  t.throws(() => blake2b(abc, 0), { instanceOf: RangeError });
  t.throws(() => blake2b(abc, 65), { instanceOf: RangeError });
  t.is(blake2b(abc, 1).length, 1);
});
