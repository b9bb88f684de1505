import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { encode } from 'cbor2';
import { encodeCborFast } from './cbor-writer.js';

const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.constantFrom(-1, -24, -25, -256, -257, -65537, -(2 ** 32) - 1, Number.MIN_SAFE_INTEGER),
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.uint8Array({ maxLength: 300 }),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .array(fc.tuple(fc.oneof(fc.string(), fc.nat(300)), tie('value')), { maxLength: 5 })
      .map((entries) => new Map(entries)),
  ),
}));

testProp('the same bytes as cbor2 for every supported value', [value], (t, v) => {
  t.deepEqual(encodeCborFast(v), encode(v));
});

test('lengths at every head size, and what it refuses', (t) => {
  for (const n of [0, 23, 24, 255, 256, 65535, 65536, 70000]) {
    const bytes = new Uint8Array(n).fill(7);
    t.deepEqual(encodeCborFast(bytes), encode(bytes));
    const text = 'x'.repeat(n);
    t.deepEqual(encodeCborFast(text), encode(text));
  }
  t.throws(() => encodeCborFast(1.5), { instanceOf: TypeError });
  t.throws(() => encodeCborFast({ a: 1 }), { instanceOf: TypeError });
  t.throws(() => encodeCborFast(undefined), { instanceOf: TypeError });
});
