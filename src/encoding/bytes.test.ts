import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { compareBytes, concatBytes, equalBytes, fromHex, fromUtf8, toHex, utf8 } from './bytes.js';

test('utf8 round trip and strict decoding', (t) => {
  t.deepEqual(utf8('é€'), new Uint8Array([0xc3, 0xa9, 0xe2, 0x82, 0xac]));
  t.is(fromUtf8(utf8('é€😀')), 'é€😀');
  t.throws(() => fromUtf8(new Uint8Array([0xc3])), { instanceOf: TypeError });
});

test('concatBytes', (t) => {
  t.deepEqual(concatBytes(), new Uint8Array(0));
  t.deepEqual(
    concatBytes(new Uint8Array([1]), new Uint8Array(0), new Uint8Array([2, 3])),
    new Uint8Array([1, 2, 3]),
  );
});

test('equalBytes', (t) => {
  t.true(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  t.false(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  t.false(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0])));
});

test('compareBytes is unsigned lexicographic', (t) => {
  t.true(compareBytes(new Uint8Array([0x7f]), new Uint8Array([0x80])) < 0);
  t.true(compareBytes(new Uint8Array([1, 2]), new Uint8Array([1])) > 0);
  t.is(compareBytes(new Uint8Array([5]), new Uint8Array([5])), 0);
});

testProp(
  'compareBytes agrees with Buffer.compare',
  [fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 })],
  (t, a, b) => {
    t.is(Math.sign(compareBytes(a, b)), Buffer.compare(Buffer.from(a), Buffer.from(b)));
  },
);

test('hex', (t) => {
  t.is(toHex(new Uint8Array([0, 0xab, 0xff])), '00abff');
  t.is(toHex(new Uint8Array([9, 1, 2, 3]).subarray(1, 3)), '0102');
  t.deepEqual(fromHex('00ABff'), new Uint8Array([0, 0xab, 0xff]));
  t.throws(() => fromHex('abc'), { instanceOf: TypeError });
  t.throws(() => fromHex('zz'), { instanceOf: TypeError });
});
