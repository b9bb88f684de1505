import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { Base32Error, base32Length, fromBase32, toBase32 } from './base32.js';
import { utf8 } from './bytes.js';

// RFC 4648 §10 vectors, lowercased and unpadded (Tahoe's form).
const RFC4648: Array<[string, string]> = [
  ['', ''],
  ['f', 'my'],
  ['fo', 'mzxq'],
  ['foo', 'mzxw6'],
  ['foob', 'mzxw6yq'],
  ['fooba', 'mzxw6ytb'],
  ['foobar', 'mzxw6ytboi'],
];

for (const [plain, encoded] of RFC4648) {
  test(`RFC 4648 vector ${JSON.stringify(plain)}`, (t) => {
    t.is(toBase32(utf8(plain)), encoded);
    t.deepEqual(fromBase32(encoded), utf8(plain));
  });
}

test('Tahoe sizes: 16 → 26, 20 → 32, 32 → 52 characters', (t) => {
  for (const [bytes, chars] of [
    [16, 26],
    [20, 32],
    [32, 52],
  ]) {
    t.is(toBase32(new Uint8Array(bytes).fill(0xff)).length, chars);
    t.is(base32Length(bytes), chars);
  }
});

test('last character of a 16-byte value carries 2 zero bits', (t) => {
  // 0xff… sets all 3 data bits of the last character: 0b11100 = 28 = '4'.
  t.is(toBase32(new Uint8Array(16).fill(0xff)).at(-1), '4');
  t.is(toBase32(new Uint8Array(16)).at(-1), 'a');
});

testProp('round trip bytes → text → bytes', [fc.uint8Array({ maxLength: 100 })], (t, bytes) => {
  const text = toBase32(bytes);
  t.is(text.length, base32Length(bytes.length));
  t.regex(text, /^[a-z2-7]*$/);
  t.deepEqual(fromBase32(text), bytes);
});

testProp(
  'decoding then encoding a valid text gives the same text',
  [fc.uint8Array({ maxLength: 64 })],
  (t, bytes) => {
    const text = toBase32(bytes);
    t.is(toBase32(fromBase32(text)), text);
  },
);

function refused(t: import('ava').ExecutionContext, text: string) {
  const err = t.throws(() => fromBase32(text), { instanceOf: Base32Error });
  t.is(err?.code, 'ERR_BASE32');
  return err as Base32Error;
}

test('bad character: names the character and its position', (t) => {
  const err = refused(t, 'mzx1');
  t.is(err.reason, 'character');
  t.is(err.position, 3);
  t.regex(err.message, /"1" at position 3/);
});

test('bad character: uppercase is refused', (t) => {
  const err = refused(t, 'MZXQ');
  t.is(err.reason, 'character');
  t.is(err.position, 0);
});

test('bad character: padding and non-ASCII are refused', (t) => {
  t.is(refused(t, 'my======').position, 2);
  t.is(refused(t, 'mzé5').reason, 'character');
});

test('bad length: lengths no byte count produces', (t) => {
  for (const n of [1, 3, 6, 9]) {
    const err = refused(t, 'a'.repeat(n));
    t.is(err.reason, 'length');
    t.regex(err.message, new RegExp(`length ${n}`));
  }
});

test('non-zero trailing bits in the last character are refused', (t) => {
  // 'mz' decodes to 'f' with 2 spare bits: 'z' = 25 = 0b11001 has the low bit set.
  const err = refused(t, 'mz');
  t.is(err.reason, 'trailing-bits');
  t.is(err.position, 1);
  // A 26-character field may only end in a e i m q u y 4 (§1.1 says '3': a typo).
  const sixteen = toBase32(new Uint8Array(16));
  t.notThrows(() => fromBase32(sixteen.slice(0, 25) + 'e'));
  t.is(refused(t, sixteen.slice(0, 25) + 'b').reason, 'trailing-bits');
  // A 52-character field may only end in a or q.
  const thirtyTwo = toBase32(new Uint8Array(32));
  t.notThrows(() => fromBase32(thirtyTwo.slice(0, 51) + 'q'));
  t.is(refused(t, thirtyTwo.slice(0, 51) + 'c').reason, 'trailing-bits');
});

// The low bits the last character does not use must be zero: 2 of its 5 for 16 bytes, 4 for 32.
for (const [bytes, legalLast] of [
  [16, 'aeimquy4'],
  [32, 'aq'],
] as const) {
  const chars = Math.ceil((bytes * 8) / 5);
  test(`every legal last character of a ${chars}-character field decodes`, (t) => {
    const body = toBase32(new Uint8Array(bytes)).slice(0, chars - 1);
    const legal = [...'abcdefghijklmnopqrstuvwxyz234567'].filter((c) => {
      try {
        fromBase32(body + c);
        return true;
      } catch {
        return false;
      }
    });
    t.deepEqual(legal.join(''), legalLast);
  });
}
