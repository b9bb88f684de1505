import test from 'ava';
import { createHash, createHmac } from 'node:crypto';
import { sha1, sha256, sha256d, tahoeHmac, taggedHash, taggedPairHash } from './hash.js';
import { fromBase32, toBase32 } from '../encoding/base32.js';
import { concatBytes, fromHex, toHex, utf8 } from '../encoding/bytes.js';

const empty = new Uint8Array(0);

// Known answers from tahoe-formats.md §1.6 (made by Tahoe's hashutil).
test('§1.6 H(tag, "hello world")', (t) => {
  t.is(
    toBase32(taggedHash('tag', 'hello world')),
    'yra322btzoqjp4ts2jon5dztgnilcdg6jgztgk7joi6qpjkitg2q',
  );
});

test('§1.6 H2(tag, "hello", "world")', (t) => {
  t.is(
    toBase32(taggedPairHash('tag', 'hello', 'world')),
    'wmto44q3shtezwggku2fxztfkwibvznkfu6clatnvfog527sb6dq',
  );
});

test('§1.6 Tahoe hmac(key "tag", empty data)', (t) => {
  t.is(
    toBase32(tahoeHmac(utf8('tag'), empty)),
    'c54ypfi6pevb3nvo6ba42jtglpkry2kbdopqsi7dgrm4r7tw5sra',
  );
});

test('§1.6 permutation SHA-1(SI ‖ a2b(seed))', (t) => {
  t.is(
    toBase32(sha1(utf8('SI'), fromBase32('u33m4y7klhz3bypswqkozwetvabelhxt'))),
    'kb4354zeeurpo3ze5e275wzbynm6hlap',
  );
});

test('sha256d hashes the digest a second time (FIPS 180 "abc")', (t) => {
  const once = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
  t.is(toHex(sha256(utf8('abc'))), once);
  t.is(toHex(sha256d(utf8('abc'))), toHex(sha256(fromHex(once))));
  t.is(toHex(sha256d(utf8('a'), utf8('bc'))), toHex(sha256d(utf8('abc'))));
});

test('tagged hash = SHA256d(netstring(tag) ‖ value), value not wrapped', (t) => {
  const expected = sha256d(utf8('3:tag,hello world'));
  t.deepEqual(taggedHash('tag', 'hello world'), expected);
  t.deepEqual(taggedHash(utf8('tag'), utf8('hello world')), expected);
});

test('tagged pair hash wraps both values in netstrings', (t) => {
  t.deepEqual(taggedPairHash('tag', 'hello', 'world'), sha256d(utf8('3:tag,5:hello,5:world,')));
  // Wrapping makes ("ab","c") and ("a","bc") different.
  t.notDeepEqual(taggedPairHash('t', 'ab', 'c'), taggedPairHash('t', 'a', 'bc'));
});

test('truncation keeps the first bytes of the full digest', (t) => {
  const full = taggedHash('tag', 'v');
  t.is(full.length, 32);
  t.deepEqual(taggedHash('tag', 'v', 16), full.subarray(0, 16));
  t.deepEqual(taggedPairHash('tag', 'a', 'b', 16), taggedPairHash('tag', 'a', 'b').subarray(0, 16));
});

test('Tahoe hmac is not RFC 2104 (no padding of the key to 64 bytes)', (t) => {
  const key = fromHex('000102030405060708090a0b0c0d0e0f');
  const data = utf8('dirnode contents');
  const mine = tahoeHmac(key, data);
  const ipad = key.map((b) => b ^ 0x36);
  const opad = key.map((b) => b ^ 0x5c);
  const inner = createHash('sha256').update(concatBytes(ipad, data)).digest();
  t.deepEqual(mine, new Uint8Array(createHash('sha256').update(opad).update(inner).digest()));
  t.notDeepEqual(mine, new Uint8Array(createHmac('sha256', key).update(data).digest()));
});

test('sha1 of empty (FIPS 180)', (t) => {
  t.is(toHex(sha1(empty)), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
});

// The tagged hashes write their framed input into one buffer: check them against the
// definition (netstrings joined, SHA-256 twice) across every length of the length digits,
// and past the one-shot limit.
test('tagged hashes equal the definition for values of any length', (t) => {
  const reference = (...parts: Uint8Array[]) => {
    const once = createHash('sha256')
      .update(concatBytes(...parts))
      .digest();
    return new Uint8Array(createHash('sha256').update(once).digest());
  };
  const ns = (v: Uint8Array) => concatBytes(utf8(`${v.length}:`), v, utf8(','));
  const tag = utf8('allmydata_test_tag_v1');
  for (const n of [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 4095, 4096, 4097, 10_000]) {
    const a = new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);
    const b = new Uint8Array((n * 3) % 1234).map((_, i) => i & 0xff);
    t.deepEqual(taggedHash(tag, a), reference(ns(tag), a), `taggedHash, ${n} bytes`);
    t.deepEqual(taggedHash('allmydata_test_tag_v1', a, 16), reference(ns(tag), a).slice(0, 16));
    t.deepEqual(taggedPairHash(tag, a, b), reference(ns(tag), ns(a), ns(b)), `pair, ${n} bytes`);
    t.deepEqual(taggedPairHash(tag, b, a, 16), reference(ns(tag), ns(b), ns(a)).slice(0, 16));
    t.deepEqual(sha256d(a), reference(a));
  }
});

test('hash results are plain Uint8Arrays of their own, safe to modify', (t) => {
  const h = taggedHash('tag', 'v', 16);
  t.is(Object.getPrototypeOf(h), Uint8Array.prototype);
  t.is(h.buffer.byteLength, 16);
  h.fill(0);
  t.notDeepEqual(taggedHash('tag', 'v', 16), h);
  t.is(Object.getPrototypeOf(sha256d(utf8('x'))), Uint8Array.prototype);
});
