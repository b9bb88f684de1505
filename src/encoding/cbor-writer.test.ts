import test from 'ava';
import { testProp } from '@fast-check/ava';
import { encode } from 'cbor2';
import { encodeCborFast } from './cbor-writer.js';
import { cborValue } from './test-support/cbor-values.js';

testProp('the same bytes as cbor2 for every supported value', [cborValue], (t, v) => {
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
