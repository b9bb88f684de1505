// Dirnode packing: Tahoe's own packed bytes reproduced, a real grid directory unpacked and
// repacked, and a typed error for every kind of damage.
import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromBase32 } from '../encoding/base32.js';
import { concatBytes, fromHex, toHex, utf8 } from '../encoding/bytes.js';
import { netstring, splitNetstrings } from '../encoding/netstring.js';
import {
  DirnodeFormatError,
  packChildren,
  pythonFloatRepr,
  pythonJsonString,
  serializeMetadata,
  unpackChildren,
  unpackChildrenReadOnly,
  type DirChild,
  type DirnodeErrorCode,
  type JsonObject,
} from './index.js';

const vectorPath = (name: string) => fileURLToPath(new URL(`./vectors/${name}`, import.meta.url));
const readJson = (name: string) => JSON.parse(readFileSync(vectorPath(name), 'utf8'));

interface PackVector {
  writekeyHex: string;
  children: Array<{
    name: string;
    rwCap: string | null;
    roCap: string;
    metadata: JsonObject;
    metadataJsonExact: string;
    rwcapdataHex: string;
  }>;
  packedHex: string;
}
const VECTORS: Array<[string, PackVector]> = [
  ['tahoe-dirnode-pack.json', readJson('tahoe-dirnode-pack.json')],
  ['tahoe-dirnode-pack-sorting.json', readJson('tahoe-dirnode-pack-sorting.json')],
];

const asChildren = (v: PackVector): DirChild[] =>
  v.children.map((c) => ({
    name: c.name,
    ...(c.rwCap ? { rwCap: c.rwCap } : {}),
    roCap: c.roCap,
    metadata: c.metadata,
  }));

const WK = new Uint8Array(16).map((_, i) => i * 7);

function code(t: import('ava').ExecutionContext, fn: () => unknown): DirnodeErrorCode {
  return t.throws(fn, { instanceOf: DirnodeFormatError }).code;
}

for (const [file, v] of VECTORS) {
  test(`${file}: packing reproduces Tahoe's bytes`, (t) => {
    const packed = packChildren(fromHex(v.writekeyHex), asChildren(v));
    t.is(toHex(packed), v.packedHex);
  });

  test(`${file}: metadata JSON and rwcapdata match each child`, (t) => {
    const entries = splitNetstrings(fromHex(v.packedHex)).map((e) => splitNetstrings(e, 4));
    for (const c of v.children) {
      t.is(serializeMetadata(c.metadata), c.metadataJsonExact, c.name);
      const name = c.name.normalize('NFC');
      const entry = entries.find((e) => new TextDecoder().decode(e[0]) === name)!;
      t.is(toHex(entry[2]), c.rwcapdataHex, c.name);
      t.is(new TextDecoder().decode(entry[3]), c.metadataJsonExact);
    }
  });

  test(`${file}: unpacking with the writekey gives back every child`, (t) => {
    const unpacked = unpackChildren(fromHex(v.writekeyHex), fromHex(v.packedHex));
    const expected = asChildren(v)
      .map((c) => ({ ...c, name: c.name.normalize('NFC') }))
      .sort((a, b) => Buffer.compare(utf8(a.name), utf8(b.name)));
    t.deepEqual(unpacked, expected);
    t.is(toHex(packChildren(fromHex(v.writekeyHex), unpacked)), v.packedHex);
  });

  test(`${file}: read-only unpacking exposes read-only caps only`, (t) => {
    const unpacked = unpackChildrenReadOnly(fromHex(v.packedHex));
    t.is(unpacked.length, v.children.length);
    for (const c of unpacked) {
      t.false('rwCap' in c, c.name);
      t.regex(c.roCap, /^URI:(SSK-RO|DIR2-RO|LIT):/);
    }
  });
}

test('names are ordered by code point, not by UTF-16 code unit', (t) => {
  const v = VECTORS[1][1];
  const names = unpackChildren(fromHex(v.writekeyHex), fromHex(v.packedHex)).map((c) => c.name);
  t.deepEqual(names, ['z', 'été', '\uff5e wide', '\u{1f600} smile']);
  t.notDeepEqual([...names].sort(), names, 'JavaScript’s default sort would differ');
});

test('a real Tahoe 1.20 directory unpacks to its web listing and repacks byte for byte', (t) => {
  const writekey = fromBase32(
    readFileSync(vectorPath('grid-dir-cap.txt'), 'utf8').trim().split(':')[2],
  );
  const plaintext = new Uint8Array(readFileSync(vectorPath('grid-dir-plaintext.bin')));
  const listing = readJson('grid-dir-listing.json')[1].children as Record<
    string,
    [string, { rw_uri?: string; ro_uri: string; metadata: JsonObject }]
  >;
  const children = unpackChildren(writekey, plaintext);
  t.deepEqual(
    children.map((c) => c.name),
    Object.keys(listing),
  );
  for (const c of children) {
    const [, info] = listing[c.name];
    t.is(c.rwCap, info.rw_uri, c.name);
    t.is(c.roCap, info.ro_uri, c.name);
    t.deepEqual(c.metadata, info.metadata, c.name);
  }
  t.is(toHex(packChildren(writekey, children)), toHex(plaintext));
  const readOnly = unpackChildrenReadOnly(plaintext);
  t.deepEqual(
    readOnly,
    children.map(({ rwCap: _rw, ...rest }) => rest),
  );
});

test('an empty directory is the empty string', (t) => {
  t.is(packChildren(WK, []).length, 0);
  t.deepEqual(unpackChildren(WK, new Uint8Array(0)), []);
  t.deepEqual(unpackChildrenReadOnly(new Uint8Array(0)), []);
});

/** A packed directory from raw entry fields (for damaged inputs). */
const rawDir = (...entries: Uint8Array[][]) =>
  concatBytes(
    ...entries.map((fields) => netstring(concatBytes(...fields.map((f) => netstring(f))))),
  );

const oneChild: DirChild = {
  name: 'doc',
  rwCap: 'URI:SSK:gmjgofw6gan57gwpsow6gtrz3e:5adm6fayxmu3e4lkmfvt6lkkfix34ai2wop2ioqr4bgvvhiol3kq',
  roCap:
    'URI:SSK-RO:mwn7uhppzsx62wgyls3mbqvl4a:5adm6fayxmu3e4lkmfvt6lkkfix34ai2wop2ioqr4bgvvhiol3kq',
  metadata: { tahoe: { linkcrtime: 1, linkmotime: 2 } },
};

test('a tampered rwcapdata or a wrong writekey fails the MAC check', (t) => {
  const packed = packChildren(WK, [oneChild]);
  const [, , rwcapdata] = splitNetstrings(splitNetstrings(packed)[0], 4);
  const offset = Buffer.from(packed).indexOf(Buffer.from(rwcapdata));
  for (const at of [0, 16, 20, rwcapdata.length - 1]) {
    const bad = packed.slice();
    bad[offset + at] ^= 1;
    const e = t.throws(() => unpackChildren(WK, bad), { instanceOf: DirnodeFormatError });
    t.like(e, { code: 'ERR_DIRNODE_MAC', child: 0 });
    t.regex(e.message, /MAC/);
    t.notThrows(() => unpackChildrenReadOnly(bad), 'read-only readers cannot check it');
  }
  const other = WK.map((b) => b ^ 0xff);
  t.is(
    code(t, () => unpackChildren(other, packed)),
    'ERR_DIRNODE_MAC',
  );
  const readOnlyChild = packChildren(WK, [{ ...oneChild, rwCap: undefined }]);
  t.is(
    code(t, () => unpackChildren(other, readOnlyChild)),
    'ERR_DIRNODE_MAC',
    'the empty write cap is MACed too',
  );
});

test('duplicate names are refused, also when equal only after NFC', (t) => {
  const a = { ...oneChild, name: '\u00e9' };
  const b = { ...oneChild, name: 'e\u0301' };
  t.is(
    code(t, () => packChildren(WK, [a, b])),
    'ERR_DIRNODE_DUPLICATE_NAME',
  );
  const one = splitNetstrings(packChildren(WK, [a]))[0];
  const dup = concatBytes(netstring(one), netstring(one));
  const e = t.throws(() => unpackChildren(WK, dup), { instanceOf: DirnodeFormatError });
  t.like(e, { code: 'ERR_DIRNODE_DUPLICATE_NAME', child: 1 });
  t.is(
    code(t, () => unpackChildrenReadOnly(dup)),
    'ERR_DIRNODE_DUPLICATE_NAME',
  );
});

test('malformed netstrings and wrong field counts', (t) => {
  const good = packChildren(WK, [oneChild]);
  t.is(
    code(t, () => unpackChildren(WK, good.subarray(0, good.length - 1))),
    'ERR_DIRNODE_NETSTRING',
  );
  t.is(
    code(t, () => unpackChildren(WK, utf8('12:abc,'))),
    'ERR_DIRNODE_NETSTRING',
  );
  t.is(
    code(t, () => unpackChildren(WK, netstring('5:abc,'))),
    'ERR_DIRNODE_NETSTRING',
  );
  const three = rawDir([utf8('x'), utf8('URI:LIT:'), utf8('{}')]);
  const e = t.throws(() => unpackChildren(WK, three), { instanceOf: DirnodeFormatError });
  t.like(e, { code: 'ERR_DIRNODE_ENTRY_FIELDS', child: 0 });
});

test('bad UTF-8 in the name, ro cap or metadata', (t) => {
  const rw = fromHex(
    'd05f738a043b8404b7495ccb5d5501866971af5bc2acc121f3a8c3c9e4c67eaa2cf628b320d73bc02284aa976c0018c7',
  );
  const bad = new Uint8Array([0x61, 0xff]);
  for (const fields of [
    [bad, utf8('URI:LIT:'), rw, utf8('{}')],
    [utf8('a'), bad, rw, utf8('{}')],
    [utf8('a'), utf8('URI:LIT:'), rw, bad],
  ]) {
    t.is(
      code(t, () => unpackChildrenReadOnly(rawDir(fields))),
      'ERR_DIRNODE_UTF8',
    );
  }
});

test('metadata that is not JSON, or not an object', (t) => {
  const rw = new Uint8Array(0);
  for (const json of ['{', '[1, 2]', 'null', '"x"', 'NaN']) {
    const dir = rawDir([utf8('a'), utf8('URI:LIT:'), rw, utf8(json)]);
    t.is(
      code(t, () => unpackChildren(WK, dir)),
      'ERR_DIRNODE_METADATA',
      json,
    );
  }
});

test('rwcapdata: empty means no write cap, 1–47 bytes is an error', (t) => {
  const empty = rawDir([utf8('a'), utf8('URI:LIT:'), new Uint8Array(0), utf8('{}')]);
  t.deepEqual(unpackChildren(WK, empty), [{ name: 'a', roCap: 'URI:LIT:', metadata: {} }]);
  const short = rawDir([utf8('a'), utf8('URI:LIT:'), new Uint8Array(47), utf8('{}')]);
  t.is(
    code(t, () => unpackChildren(WK, short)),
    'ERR_DIRNODE_RWCAPDATA',
  );
});

test('trailing spaces are stripped from both caps on unpack; blank caps are absent', (t) => {
  const padded = packChildren(WK, [
    { name: 'p', rwCap: `${oneChild.rwCap}   `, roCap: `${oneChild.roCap}  `, metadata: {} },
    { name: 'q', rwCap: '   ', roCap: 'URI:LIT:', metadata: {} },
  ]);
  t.deepEqual(unpackChildren(WK, padded), [
    { name: 'p', rwCap: oneChild.rwCap, roCap: oneChild.roCap, metadata: {} },
    { name: 'q', roCap: 'URI:LIT:', metadata: {} },
  ]);
});

test('ro. is stripped from read caps, imm. kept; a prefixed write cap is refused', (t) => {
  const packed = packChildren(WK, [
    { name: 'r', roCap: `ro.${oneChild.roCap}`, metadata: {} },
    { name: 'i', roCap: 'imm.URI:LIT:nbswy3dp', metadata: {} },
  ]);
  t.deepEqual(
    unpackChildrenReadOnly(packed).map((c) => c.roCap),
    ['imm.URI:LIT:nbswy3dp', oneChild.roCap],
  );
  for (const prefix of ['ro.', 'imm.']) {
    t.is(
      code(t, () => packChildren(WK, [{ ...oneChild, rwCap: prefix + oneChild.rwCap }])),
      'ERR_DIRNODE_CAP',
    );
  }
  t.is(
    code(t, () =>
      packChildren(WK, [{ name: 'x', roCap: undefined as unknown as string, metadata: {} }]),
    ),
    'ERR_DIRNODE_CAP',
  );
});

test('packing refuses bad writekeys, names and metadata', (t) => {
  t.is(
    code(t, () => packChildren(new Uint8Array(15), [oneChild])),
    'ERR_DIRNODE_WRITEKEY',
  );
  t.is(
    code(t, () => unpackChildren(new Uint8Array(32), new Uint8Array(0))),
    'ERR_DIRNODE_WRITEKEY',
  );
  t.is(
    code(t, () => packChildren(WK, [{ ...oneChild, name: 'bad \ud800 name' }])),
    'ERR_DIRNODE_NAME',
  );
  t.is(
    code(t, () => packChildren(WK, [{ ...oneChild, name: 7 as unknown as string }])),
    'ERR_DIRNODE_NAME',
  );
  for (const metadata of [
    { x: Number.NaN },
    { x: Infinity },
    { x: undefined },
    { x: new Date(0) },
    { x: () => 1 },
    { x: 1n },
    [] as unknown,
    null,
  ]) {
    const e = t.throws(
      () => packChildren(WK, [{ ...oneChild, metadata: metadata as JsonObject }]),
      { instanceOf: DirnodeFormatError },
    );
    t.is(e.code, 'ERR_DIRNODE_METADATA');
    t.is(e.child, 0);
  }
});

test('Python json.dumps formatting of floats and strings', (t) => {
  // Expected values printed by CPython 3's repr/json.dumps.
  const floats: Array<[number, string]> = [
    [1, '1.0'],
    [1700000000.25, '1700000000.25'],
    [0.1, '0.1'],
    [1e16, '1e+16'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [123456789012345680, '1.2345678901234568e+17'],
    [-2.5, '-2.5'],
    [1e22, '1e+22'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [9999999999999998, '9999999999999998.0'],
    [0, '0.0'],
    [-0, '-0.0'],
    [1795555297.8578668, '1795555297.8578668'],
    [1e15, '1000000000000000.0'],
    [123.456, '123.456'],
    [1.5e-7, '1.5e-07'],
    [2 ** 53, '9007199254740992.0'],
  ];
  for (const [x, repr] of floats) t.is(pythonFloatRepr(x), repr, String(x));
  t.is(
    serializeMetadata({
      a: [1, 2.5, null, true, false, 'é😀\x7f"\\\n\t\x01\b\f\r/'],
      b: {},
      c: [],
    }),
    '{"a": [1, 2.5, null, true, false, "\\u00e9\\ud83d\\ude00\\u007f\\"\\\\\\n\\t\\u0001\\b\\f\\r/"], "b": {}, "c": []}',
  );
  t.is(pythonJsonString('tab\there'), '"tab\\there"');
  t.is(
    serializeMetadata({ tahoe: { linkcrtime: 5, nested: [1] }, mtime: 1e21 }),
    '{"tahoe": {"linkcrtime": 5.0, "nested": [1.0]}, "mtime": 1000000000000000000000}',
    'numbers under tahoe are floats; other integers are Python ints',
  );
});

const childArb = fc.record({
  name: fc.string({ unit: 'binary', maxLength: 12 }),
  rwCap: fc.option(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), { nil: undefined }),
  roCap: fc.string({ unit: 'binary', maxLength: 40 }),
  metadata: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
    maxKeys: 4,
  }) as fc.Arbitrary<JsonObject>,
});

testProp(
  'pack → unpack → pack is stable and keeps every child',
  [fc.uniqueArray(childArb, { selector: (c) => c.name.normalize('NFC'), maxLength: 8 })],
  (t, children) => {
    const clean = (s: string) => s.replace(/ +$/, '');
    const packed = packChildren(WK, children);
    const back = unpackChildren(WK, packed);
    t.is(back.length, children.length);
    for (const c of children) {
      const found = back.find((b) => b.name === c.name.normalize('NFC'))!;
      t.truthy(found);
      t.is(found.rwCap, clean(c.rwCap ?? '') || undefined);
      t.is(found.roCap, clean(c.roCap.startsWith('ro.') ? c.roCap.slice(3) : c.roCap));
      // Through JSON on both sides: a -0 in metadata comes back as -0, which JSON.stringify
      // prints as 0 (the packing keeps the sign; the comparison need not).
      t.deepEqual(
        JSON.parse(JSON.stringify(found.metadata)),
        JSON.parse(JSON.stringify(c.metadata)),
      );
    }
    t.deepEqual(packChildren(WK, back), packChildren(WK, back.slice().reverse()));
    const sorted = back.map((b) => Buffer.from(b.name, 'utf8'));
    for (let i = 1; i < sorted.length; i++) t.true(Buffer.compare(sorted[i - 1], sorted[i]) < 0);
  },
  { numRuns: 60 },
);
