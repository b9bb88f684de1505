import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { CapError, type CapErrorCode } from './errors.js';
import { capKindName, formatCap, parseCap } from './parse.js';
import type { Cap, MutableCap } from './types.js';
import {
  readkeyFromWritekey,
  storageIndexFromImmutableKey,
  storageIndexFromReadkey,
} from '../crypto/derive.js';
import { fromBase32, toBase32 } from '../encoding/base32.js';
import { utf8 } from '../encoding/bytes.js';

// The §4 example: real shares written by Tahoe (see vectors/README.md).
const WK = 'gmjgofw6gan57gwpsow6gtrz3e';
const FP = '5adm6fayxmu3e4lkmfvt6lkkfix34ai2wop2ioqr4bgvvhiol3kq';
const RK = 'mwn7uhppzsx62wgyls3mbqvl4a';
const SI = 'nxq4vhp7ifntsc4ycuciy5lxt4';
// CHK caps from Tahoe's own tests (test_client.py, test_dirnode.py).
const CHK =
  'URI:CHK:6nmrpsubgbe57udnexlkiwzmlu:bjt7j6hshrlmadjyr7otq3dc24end5meo5xcr5xe5r663po6itmq:3:10:7277';
const CHK2 =
  'URI:CHK:n7r3m6wmomelk4sep3kw5cvduq:os7ijw5c3maek7pg65e5254k2fzjflavtpejjyhshpsxuqzhcwwq:3:20:14861';

test('every mutable prefix: kind, format, directory', (t) => {
  const table: Array<[string, MutableCap['kind'], 'sdmf' | 'mdmf', boolean, string]> = [
    ['SSK', 'ssk-write', 'sdmf', false, WK],
    ['SSK-RO', 'ssk-read', 'sdmf', false, RK],
    ['SSK-Verifier', 'ssk-verify', 'sdmf', false, SI],
    ['MDMF', 'ssk-write', 'mdmf', false, WK],
    ['MDMF-RO', 'ssk-read', 'mdmf', false, RK],
    ['MDMF-Verifier', 'ssk-verify', 'mdmf', false, SI],
    ['DIR2', 'ssk-write', 'sdmf', true, WK],
    ['DIR2-RO', 'ssk-read', 'sdmf', true, RK],
    ['DIR2-Verifier', 'ssk-verify', 'sdmf', true, SI],
    ['DIR2-MDMF', 'ssk-write', 'mdmf', true, WK],
    ['DIR2-MDMF-RO', 'ssk-read', 'mdmf', true, RK],
    ['DIR2-MDMF-Verifier', 'ssk-verify', 'mdmf', true, SI],
  ];
  for (const [name, kind, format, directory, key] of table) {
    const text = `URI:${name}:${key}:${FP}`;
    const cap = parseCap(text) as MutableCap;
    t.like(cap, { kind, format, directory }, name);
    t.is(capKindName(cap), name);
    t.is(formatCap(cap), text);
    // Whatever the kind, the storage index comes out the same (§4 example).
    t.is(toBase32(cap.storageIndex), SI, name);
    t.deepEqual(cap.fingerprint, fromBase32(FP));
    t.deepEqual(cap.extraFields, []);
    if (cap.kind === 'ssk-write') {
      t.deepEqual(cap.writekey, fromBase32(WK));
      t.is(toBase32(cap.readkey), RK);
    }
    if (cap.kind === 'ssk-read') t.deepEqual(cap.readkey, fromBase32(RK));
  }
});

test('MDMF caps keep extra trailing fields verbatim; SDMF caps refuse them', (t) => {
  for (const name of ['MDMF', 'MDMF-RO', 'DIR2-MDMF-Verifier']) {
    const key = name.endsWith('RO') ? RK : name.endsWith('Verifier') ? SI : WK;
    for (const extra of [':3:131073', ':', ':anything-at-all:x']) {
      const text = `URI:${name}:${key}:${FP}${extra}`;
      const cap = parseCap(text) as MutableCap;
      t.deepEqual(cap.extraFields, extra.slice(1).split(':'));
      t.is(formatCap(cap), text);
    }
  }
  expectError(t, `URI:SSK:${WK}:${FP}:3:131073`, 'ERR_CAP_FIELD_COUNT', /expected 2/);
});

test('CHK and CHK-Verifier caps are recognised as immutable', (t) => {
  const cap = parseCap(CHK);
  if (cap.kind !== 'immutable') return t.fail();
  t.like(cap, { directory: false, needed: 3, total: 10, size: 7277 });
  t.deepEqual(cap.key, fromBase32('6nmrpsubgbe57udnexlkiwzmlu'));
  t.deepEqual(cap.storageIndex, storageIndexFromImmutableKey(cap.key));
  t.is(formatCap(cap), CHK);
  const two = parseCap(CHK2);
  t.like(two, { kind: 'immutable', needed: 3, total: 20, size: 14861 });
  const verifier = `URI:CHK-Verifier:${SI}:${FP}:3:10:7277`;
  t.like(parseCap(verifier), { kind: 'immutable-verify', directory: false, size: 7277 });
  t.is(formatCap(parseCap(verifier)), verifier);
  const dir = 'URI:DIR2-CHK:' + CHK.slice('URI:CHK:'.length);
  t.like(parseCap(dir), { kind: 'immutable', directory: true });
  t.is(formatCap(parseCap(dir)), dir);
  const dirVerifier = `URI:DIR2-CHK-Verifier:${SI}:${FP}:1:1:0`;
  t.like(parseCap(dirVerifier), { kind: 'immutable-verify', directory: true, size: 0 });
});

test('LIT caps decode their data', (t) => {
  t.deepEqual(parseCap('URI:LIT:nbswy3dp'), {
    kind: 'literal',
    directory: false,
    data: utf8('hello'),
  });
  t.deepEqual(parseCap('URI:LIT:'), { kind: 'literal', directory: false, data: new Uint8Array(0) });
  t.deepEqual(parseCap('URI:LIT:n5xgk'), { kind: 'literal', directory: false, data: utf8('one') });
  t.like(parseCap('URI:DIR2-LIT:'), { kind: 'literal', directory: true });
  t.is(formatCap(parseCap('URI:DIR2-LIT:nbswy3dp')), 'URI:DIR2-LIT:nbswy3dp');
});

test('ro. and imm. prefixes are accepted where Tahoe accepts them, and kept', (t) => {
  for (const text of [
    `ro.URI:SSK-RO:${RK}:${FP}`,
    `ro.URI:DIR2-RO:${RK}:${FP}`,
    `ro.URI:SSK-Verifier:${SI}:${FP}`,
    `ro.${CHK}`,
    `imm.${CHK}`,
    'imm.URI:LIT:nbswy3dp',
    'ro.URI:DIR2-LIT:',
    `imm.URI:DIR2-Verifier:${SI}:${FP}`,
  ]) {
    const cap = parseCap(text);
    t.is(cap.alleged, text.startsWith('ro.') ? 'ro' : 'imm', text);
    t.is(formatCap(cap), text);
  }
  t.is(parseCap(`URI:SSK:${WK}:${FP}`).alleged, undefined);
});

type Ctx = import('ava').ExecutionContext;

function expectError(t: Ctx, text: string, code: CapErrorCode, message?: RegExp) {
  const err = t.throws(() => parseCap(text), { instanceOf: CapError }, text);
  t.is(err?.code, code, err?.message);
  if (message) t.regex(err!.message, message);
  return err as CapError;
}

test('ERR_CAP_MUST_BE_READONLY: ro. in front of a write cap', (t) => {
  for (const name of ['SSK', 'MDMF', 'DIR2', 'DIR2-MDMF']) {
    expectError(t, `ro.URI:${name}:${WK}:${FP}`, 'ERR_CAP_MUST_BE_READONLY', /read-only/);
  }
});

test('ERR_CAP_MUST_BE_IMMUTABLE: imm. in front of a mutable read or write cap', (t) => {
  expectError(t, `imm.URI:SSK:${WK}:${FP}`, 'ERR_CAP_MUST_BE_IMMUTABLE');
  expectError(t, `imm.URI:DIR2-RO:${RK}:${FP}`, 'ERR_CAP_MUST_BE_IMMUTABLE', /mutable read cap/);
  expectError(t, `imm.URI:MDMF-RO:${RK}:${FP}`, 'ERR_CAP_MUST_BE_IMMUTABLE');
});

test('ERR_CAP_UNKNOWN_PREFIX: not URI:, unknown kind, wrong case', (t) => {
  expectError(t, '', 'ERR_CAP_UNKNOWN_PREFIX', /expected "URI:"/);
  expectError(t, 'hello world', 'ERR_CAP_UNKNOWN_PREFIX');
  expectError(t, `uri:ssk:${WK}:${FP}`, 'ERR_CAP_UNKNOWN_PREFIX');
  expectError(t, `URI:SSK-RW:${WK}:${FP}`, 'ERR_CAP_UNKNOWN_PREFIX', /"URI:SSK-RW"/);
  expectError(t, `URI:ssk:${WK}:${FP}`, 'ERR_CAP_UNKNOWN_PREFIX', /slotfs knows URI:SSK/);
  expectError(t, `URI:DIR2-Verify:${SI}:${FP}`, 'ERR_CAP_UNKNOWN_PREFIX');
  expectError(t, `xro.URI:SSK-RO:${RK}:${FP}`, 'ERR_CAP_UNKNOWN_PREFIX');
  expectError(t, `ro.ro.URI:SSK-RO:${RK}:${FP}`, 'ERR_CAP_UNKNOWN_PREFIX');
});

test('ERR_CAP_FIELD_COUNT: too few or too many fields', (t) => {
  expectError(t, 'URI:SSK', 'ERR_CAP_FIELD_COUNT', /0 fields/);
  expectError(t, `URI:SSK:${WK}`, 'ERR_CAP_FIELD_COUNT', /1 field after the kind; expected 2/);
  expectError(t, `URI:SSK-RO:${RK}:${FP}:`, 'ERR_CAP_FIELD_COUNT', /3 fields/);
  expectError(t, `URI:MDMF:${WK}`, 'ERR_CAP_FIELD_COUNT', /at least 2/);
  expectError(t, `URI:CHK:${WK}:${FP}:3:10`, 'ERR_CAP_FIELD_COUNT', /expected 5/);
  expectError(t, `${CHK}:1`, 'ERR_CAP_FIELD_COUNT');
  expectError(t, 'URI:LIT:nbswy3dp:x', 'ERR_CAP_FIELD_COUNT');
  expectError(t, 'URI:LIT', 'ERR_CAP_FIELD_COUNT');
});

test('ERR_CAP_BASE32: a bad character, named with its field and position', (t) => {
  const upper = `URI:SSK:${WK.toUpperCase()}:${FP}`;
  const err = expectError(t, upper, 'ERR_CAP_BASE32', /writekey: invalid base32 character "G"/);
  t.is(err.field, 'writekey');
  t.is(err.position, 8);
  const one = `URI:SSK-RO:${RK}:${FP.slice(0, 10)}1${FP.slice(11)}`;
  const e2 = expectError(t, one, 'ERR_CAP_BASE32', /fingerprint/);
  t.is(e2.position, one.indexOf('1'));
  expectError(t, `URI:SSK:${WK}:${FP}\n`, 'ERR_CAP_BASE32', /"\\n"/);
  expectError(t, `URI:SSK: ${WK.slice(1)}:${FP}`, 'ERR_CAP_BASE32');
  expectError(t, 'URI:LIT:NBSWY3DP', 'ERR_CAP_BASE32', /URI:LIT data/);
  expectError(t, `URI:CHK-Verifier:${SI}:${FP}:3:10:72=7`, 'ERR_CAP_NUMBER');
});

test('ERR_CAP_FIELD_LENGTH: fields that are too short or too long', (t) => {
  const short = expectError(
    t,
    `URI:SSK:${WK.slice(0, 25)}:${FP}`,
    'ERR_CAP_FIELD_LENGTH',
    /writekey is 25 characters; a 16-byte field is 26/,
  );
  t.is(short.field, 'writekey');
  expectError(t, `URI:SSK:${WK}:${FP}a`, 'ERR_CAP_FIELD_LENGTH', /fingerprint is 53/);
  expectError(t, `URI:SSK-Verifier:${SI}aa:${FP}`, 'ERR_CAP_FIELD_LENGTH');
  expectError(t, `URI:SSK:${WK}:`, 'ERR_CAP_FIELD_LENGTH', /fingerprint is 0/);
  expectError(t, 'URI:LIT:nbswy3', 'ERR_CAP_FIELD_LENGTH', /whole number of bytes/);
});

test('ERR_CAP_TRAILING_BITS: last character with non-zero unused bits', (t) => {
  // 'b' = 1: a 16-byte field may end only in a e i m q u y 4.
  const err = expectError(
    t,
    `URI:SSK:${WK.slice(0, 25)}b:${FP}`,
    'ERR_CAP_TRAILING_BITS',
    /writekey: last character "b" at position 33/,
  );
  t.is(err.position, 33);
  expectError(t, `URI:SSK-RO:${RK}:${FP.slice(0, 51)}r`, 'ERR_CAP_TRAILING_BITS', /fingerprint/);
  expectError(t, `URI:CHK:${CHK.slice(8, 33)}z${CHK.slice(34)}`, 'ERR_CAP_TRAILING_BITS', /key/);
  expectError(t, 'URI:LIT:mz', 'ERR_CAP_TRAILING_BITS'); // 'f' is 'my'
});

test('ERR_CAP_NUMBER: leading zeros, signs, empty, unsafe integers', (t) => {
  const body = CHK.slice('URI:CHK:'.length).split(':').slice(0, 2).join(':');
  for (const numbers of [
    '03:10:7277',
    '3:+10:7277',
    '3::7277',
    '3:10:1e3',
    '3:10:99999999999999999',
  ]) {
    expectError(t, `URI:CHK:${body}:${numbers}`, 'ERR_CAP_NUMBER', /decimal integer/);
  }
});

test('formatCap refuses objects that no string could parse to', (t) => {
  const good = parseCap(`URI:MDMF:${WK}:${FP}`) as MutableCap;
  const refuse = (cap: Cap, code: CapErrorCode) => {
    const err = t.throws(() => formatCap(cap), { instanceOf: CapError });
    t.is(err?.code, code, err?.message);
  };
  refuse({ ...good, fingerprint: new Uint8Array(31) }, 'ERR_CAP_FIELD_LENGTH');
  refuse(
    { ...good, kind: 'ssk-write', writekey: new Uint8Array(32) } as Cap,
    'ERR_CAP_FIELD_LENGTH',
  );
  refuse({ ...good, format: 'sdmf', extraFields: ['3'] }, 'ERR_CAP_FIELD_COUNT');
  refuse({ ...good, extraFields: ['a:b'] }, 'ERR_CAP_FIELD_COUNT');
  refuse({ ...good, alleged: 'ro' }, 'ERR_CAP_MUST_BE_READONLY');
  refuse({ ...(parseCap(CHK) as Cap & { kind: 'immutable' }), needed: -1 }, 'ERR_CAP_NUMBER');
});

// Random caps of every kind → string → parse → same object and same string.
const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const flags = { directory: fc.boolean(), alleged: fc.constantFrom(undefined, 'ro', 'imm') };

const mutableCap = fc
  .record({
    kind: fc.constantFrom('ssk-write' as const, 'ssk-read' as const, 'ssk-verify' as const),
    format: fc.constantFrom('sdmf' as const, 'mdmf' as const),
    key: bytesOf(16),
    fingerprint: bytesOf(32),
    extra: fc.array(fc.stringMatching(/^[a-z0-9]{0,8}$/), { maxLength: 3 }),
    ...flags,
  })
  .map(({ kind, format, key, fingerprint, extra, directory, alleged }): Cap => {
    const common = {
      format,
      directory,
      fingerprint,
      extraFields: format === 'mdmf' ? extra : [],
    };
    // Only prefixes Tahoe allows: none on write caps, no imm. on read caps.
    if (kind === 'ssk-write') {
      const readkey = readkeyFromWritekey(key);
      return {
        kind,
        ...common,
        writekey: key,
        readkey,
        storageIndex: storageIndexFromReadkey(readkey),
      };
    }
    const allegedOk = alleged && !(alleged === 'imm' && kind === 'ssk-read') ? { alleged } : {};
    return kind === 'ssk-read'
      ? { kind, ...common, ...allegedOk, readkey: key, storageIndex: storageIndexFromReadkey(key) }
      : { kind, ...common, ...allegedOk, storageIndex: key };
  });

const immutableCap = fc
  .record({
    verify: fc.boolean(),
    key: bytesOf(16),
    ueb: bytesOf(32),
    needed: fc.integer({ min: 1, max: 255 }),
    total: fc.integer({ min: 1, max: 256 }),
    size: fc.maxSafeNat(),
    ...flags,
  })
  .map(({ verify, key, ueb, needed, total, size, directory, alleged }): Cap => {
    const rest = {
      directory,
      ...(alleged ? { alleged } : {}),
      uriExtensionHash: ueb,
      needed,
      total,
      size,
    };
    return verify
      ? { kind: 'immutable-verify', ...rest, storageIndex: key }
      : { kind: 'immutable', ...rest, key, storageIndex: storageIndexFromImmutableKey(key) };
  });

const literalCap = fc
  .record({ data: fc.uint8Array({ maxLength: 60 }), ...flags })
  .map(({ data, directory, alleged }): Cap => ({
    kind: 'literal',
    directory,
    ...(alleged ? { alleged } : {}),
    data,
  }));

testProp(
  'round trip: parse(format(cap)) equals cap, format(parse(text)) === text',
  [fc.oneof(mutableCap, immutableCap, literalCap)],
  (t, cap) => {
    const text = formatCap(cap);
    const parsed = parseCap(text);
    t.deepEqual(parsed, cap);
    t.is(formatCap(parsed), text);
  },
  { numRuns: 300 },
);

testProp(
  'a single flipped character in a write cap never parses to the same cap',
  [bytesOf(16), bytesOf(32), fc.nat(), fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz234567')],
  (t, writekey, fingerprint, where, replacement) => {
    const text = `URI:SSK:${toBase32(writekey)}:${toBase32(fingerprint)}`;
    const i = 8 + (where % (text.length - 8));
    if (text[i] === ':' || text[i] === replacement) return t.pass();
    const mutated = text.slice(0, i) + replacement + text.slice(i + 1);
    try {
      t.not(formatCap(parseCap(mutated)), text);
    } catch (err) {
      t.true(err instanceof CapError);
    }
  },
);
