// Random values of the plain CBOR subset the storage protocol uses (null, booleans, safe
// integers with every head length, text, bytes, arrays, maps with text or integer keys),
// for the fast writer's and reader's tests against cbor2.
import { fc } from '@fast-check/ava';

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

export const { value: cborValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .array(fc.tuple(fc.oneof(fc.string(), fc.integer({ min: -300, max: 300 })), tie('value')), {
        maxLength: 5,
      })
      .map((entries) => new Map(entries)),
  ),
}));
