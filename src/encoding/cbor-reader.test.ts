import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { decode, encode } from 'cbor2';
import { tryDecodeCbor } from './cbor-reader.js';
import { cborValue } from './test-support/cbor-values.js';
import { decodeCbor, ProtocolError } from '../storage/protocol.js';

// What the storage protocol decodes with (src/storage/protocol.ts).
const OPTIONS = {
  preferMap: true,
  rejectDuplicateKeys: true,
  rejectBigInts: true,
  rejectFloats: true,
} as const;

/** cbor2's answer: the value, or that it refused the bytes. */
function slow(bytes: Uint8Array): { value: unknown } | 'refused' {
  try {
    return { value: decode(bytes, OPTIONS) };
  } catch {
    return 'refused';
  }
}

testProp('every value of the subset: the value cbor2 decodes', [cborValue], (t, v) => {
  const bytes = encode(v);
  const fast = tryDecodeCbor(bytes);
  t.truthy(fast, 'taken by the fast path');
  t.deepEqual(fast, slow(bytes));
});

testProp(
  'damaged input: either what cbor2 decodes, or left to cbor2',
  [cborValue, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.nat(), fc.boolean()],
  (t, v, changes, cut, truncate) => {
    let bytes = new Uint8Array(encode(v));
    for (const [at, byte] of changes) if (bytes.length > 0) bytes[at % bytes.length] = byte;
    if (truncate) bytes = bytes.subarray(0, cut % (bytes.length + 1));
    const fast = tryDecodeCbor(bytes);
    if (fast) t.deepEqual(fast, slow(bytes));
    else t.pass();
  },
);

testProp(
  'random bytes: either what cbor2 decodes, or left to cbor2',
  [fc.uint8Array()],
  (t, bytes) => {
    const fast = tryDecodeCbor(bytes);
    if (fast) t.deepEqual(fast, slow(bytes));
    else t.pass();
  },
);

test('outside the subset: left to cbor2 (which may accept it)', (t) => {
  const hex = (h: string) => new Uint8Array(Buffer.from(h.replace(/ /g, ''), 'hex'));
  for (const [h, why] of [
    ['f9 3c00', 'a half float'],
    ['d9 0102 80', 'a tag (258, a set)'],
    ['9f 01 ff', 'an indefinite-length array'],
    ['18 05', 'an integer in a longer head than needed'],
    ['1b 0020000000000000', 'an integer beyond 2^53'],
    ['f7', 'undefined'],
    ['a2 6161 01 6161 02', 'a duplicate map key'],
    ['a1 41 00 01', 'a byte-string map key'],
    ['62 c328', 'bad UTF-8'],
    ['01 00', 'trailing bytes'],
    ['83 01 02', 'a truncated array'],
    ['', 'nothing'],
  ] as const) {
    t.is(tryDecodeCbor(hex(h)), undefined, why);
  }
  t.deepEqual(tryDecodeCbor(hex('9f 01 ff')) ?? slow(hex('9f 01 ff')), { value: [1] });
});

test('decodeCbor: malformed input is still a clear ERR_PROTOCOL_CBOR', (t) => {
  for (const bytes of [
    new Uint8Array([0x83, 0x01, 0x02]),
    new Uint8Array([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]),
  ]) {
    const err = t.throws(() => decodeCbor(bytes), { instanceOf: ProtocolError });
    t.is(err?.code, 'ERR_PROTOCOL_CBOR');
    t.regex(err?.message ?? '', /^malformed CBOR: /);
  }
  t.deepEqual(decodeCbor(encode(new Map([['a', [1, null]]]))), new Map([['a', [1, null]]]));
});
