// Incremental packing: a ChildTable changed by any sequence of adds, removes, renames and
// metadata changes packs to what a full packChildren() of the same children gives, once
// unpacked; only the changed entries are packed again; entries read from the grid are kept
// byte for byte; an altered entry is never taken from an earlier table.
import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { concatBytes, fromHex, toHex, utf8 } from '../encoding/bytes.js';
import { netstring, splitNetstrings } from '../encoding/netstring.js';
import {
  ChildTable,
  DirnodeFormatError,
  packChildren,
  unpackChildren,
  unpackChildrenReadOnly,
  type DirChild,
  type JsonObject,
  type NameForm,
} from './index.js';

const WK = new Uint8Array(16).map((_, i) => 3 + i * 11);

const nameArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 6 });
const metadataArb = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), {
  maxKeys: 3,
}) as fc.Arbitrary<JsonObject>;
const childArb = fc.record({
  name: nameArb,
  rwCap: fc.option(
    fc
      .string({ unit: 'binary', minLength: 1, maxLength: 30 })
      .filter((s) => !/^(ro|imm)\./.test(s)),
    { nil: undefined },
  ),
  roCap: fc.string({ unit: 'binary', maxLength: 30 }),
  metadata: metadataArb,
});

type Step =
  | { op: 'add'; child: DirChild }
  | { op: 'remove'; pick: number }
  | { op: 'rename'; pick: number; to: string }
  | { op: 'metadata'; pick: number; metadata: JsonObject }
  | { op: 'pack' }
  | { op: 'reread' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  childArb.map((child) => ({ op: 'add' as const, child })),
  fc.nat().map((pick) => ({ op: 'remove' as const, pick })),
  fc.record({ pick: fc.nat(), to: nameArb }).map((r) => ({ op: 'rename' as const, ...r })),
  fc
    .record({ pick: fc.nat(), metadata: metadataArb })
    .map((r) => ({ op: 'metadata' as const, ...r })),
  fc.constant({ op: 'pack' as const }),
  fc.constant({ op: 'reread' as const }),
);

/** Through JSON, as a reader compares them (a -0 in metadata prints as 0). */
const plain = (children: DirChild[]) => JSON.parse(JSON.stringify(children)) as unknown;

for (const names of ['nfc', 'exact'] as NameForm[]) {
  testProp(
    `[${names}] incremental packing equals a full pack under random changes`,
    [fc.array(childArb, { maxLength: 8 }), fc.array(stepArb, { maxLength: 25 })],
    (t, initial, steps) => {
      const key = (name: string) => (names === 'nfc' ? name.normalize('NFC') : name);
      // The model: a plain map packed in full every time.
      const model = new Map<string, DirChild>();
      for (const c of initial) model.set(key(c.name), { ...c, name: key(c.name) });
      let table = ChildTable.unpack(WK, packChildren(WK, model.values(), { names }), { names });
      for (const step of steps) {
        const existing = [...model.keys()];
        const picked = (pick: number) =>
          existing.length ? existing[pick % existing.length] : undefined;
        switch (step.op) {
          case 'add': {
            const child = { ...step.child, name: key(step.child.name) };
            model.set(child.name, child);
            table.set(step.child);
            break;
          }
          case 'remove': {
            const name = picked(step.pick);
            if (name === undefined) break;
            model.delete(name);
            t.true(table.delete(name));
            break;
          }
          case 'rename': {
            const from = picked(step.pick);
            if (from === undefined) break;
            const child = model.get(from)!;
            model.delete(from);
            model.set(key(step.to), { ...child, name: key(step.to) });
            table.delete(from);
            table.set({ ...table.get(key(from))!, ...child, name: step.to });
            break;
          }
          case 'metadata': {
            const name = picked(step.pick);
            if (name === undefined) break;
            model.set(name, { ...model.get(name)!, metadata: step.metadata });
            table.set({ ...table.get(name)!, metadata: step.metadata });
            break;
          }
          case 'pack':
            table.pack();
            break;
          case 'reread':
            // Read back from the grid, reusing what the table already has.
            table = ChildTable.unpack(WK, table.pack(), { names }, table);
            break;
        }
        t.is(table.size, model.size);
      }
      const incremental = table.pack();
      const full = packChildren(WK, model.values(), { names });
      t.deepEqual(
        plain(unpackChildren(WK, incremental, { names })),
        plain(unpackChildren(WK, full, { names })),
      );
      // Every entry was packed here, so even the bytes agree.
      t.is(toHex(incremental), toHex(full));
      t.deepEqual(plain(table.children()), plain(unpackChildren(WK, full, { names })));
    },
    { numRuns: 150 },
  );
}

function children(n: number): DirChild[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `f${String(i).padStart(3, '0')}.dat`,
    rwCap: `URI:SSK:rw${i}`,
    roCap: `URI:SSK-RO:ro${i}`,
    metadata: { size: i, mtime: 1700000000.5 + i },
  }));
}

test('adding, changing or removing one child of 100 packs one entry at most', (t) => {
  const table = ChildTable.unpack(WK, packChildren(WK, children(100)));
  table.set({ name: 'new', roCap: 'URI:SSK-RO:new', metadata: {} });
  table.pack();
  t.is(table.lastPacked, 1);
  table.set({ ...table.get('f050.dat')!, metadata: { size: 1 } });
  table.pack();
  t.is(table.lastPacked, 1);
  table.delete('f010.dat');
  const packed = table.pack();
  t.is(table.lastPacked, 0);
  t.is(unpackChildren(WK, packed).length, 100);
});

test('re-reading after one change reuses every other entry without decrypting it', (t) => {
  const before = ChildTable.unpack(WK, packChildren(WK, children(20)));
  const changed = children(20);
  changed[7].metadata = { size: 99 };
  const after = ChildTable.unpack(WK, packChildren(WK, changed), {}, before);
  t.deepEqual(after.children(), unpackChildren(WK, packChildren(WK, changed)));
  // Kept rows are the very same objects; the changed one is new.
  t.is(after.get('f001.dat'), before.get('f001.dat'));
  t.not(after.get('f007.dat'), before.get('f007.dat'));
});

/** An entry as Tahoe writes it, with a rwcapdata of our choosing. */
function entryWith(name: string, roCap: string, rwcapdata: Uint8Array, metadata: string) {
  return netstring(
    concatBytes(
      netstring(utf8(name)),
      netstring(utf8(roCap)),
      netstring(rwcapdata),
      netstring(utf8(metadata)),
    ),
  );
}

/** The entries of a packed table, each with its netstring framing. */
const framedEntries = (packed: Uint8Array) => splitNetstrings(packed).map((e) => netstring(e));

test('an entry from another writer is kept byte for byte while others change', (t) => {
  // Packed by us, then a foreign entry with different JSON spacing spliced in: a full
  // repack would rewrite it, the table keeps it.
  const ours = packChildren(WK, children(3));
  const foreign = entryWith('a-foreign', 'URI:LIT:aa', new Uint8Array(0), '{"size":5}');
  const table = ChildTable.unpack(WK, concatBytes(foreign, ours));
  table.set({ name: 'zz', roCap: 'URI:LIT:bb', metadata: {} });
  const packed = table.pack();
  t.is(table.lastPacked, 1);
  t.is(toHex(framedEntries(packed)[0]), toHex(foreign));
  t.deepEqual(unpackChildren(WK, packed)[0], {
    name: 'a-foreign',
    roCap: 'URI:LIT:aa',
    metadata: { size: 5 },
  });
});

test('entries out of code-point order are listed as stored and packed sorted', (t) => {
  const [a, b] = framedEntries(packChildren(WK, children(2)));
  const table = ChildTable.unpack(WK, concatBytes(b, a));
  t.deepEqual(
    table.children().map((c) => c.name),
    ['f001.dat', 'f000.dat'],
  );
  t.is(toHex(table.pack()), toHex(concatBytes(a, b)));
});

test('an altered entry is decrypted and checked again, never taken from the earlier table', (t) => {
  const packed = packChildren(WK, children(3));
  const before = ChildTable.unpack(WK, packed);
  // Flip a byte of the second entry's encrypted write cap.
  const entries = framedEntries(packed);
  const fields = splitNetstrings(splitNetstrings(packed)[1]).map((f) => f.slice());
  fields[2][20] ^= 1;
  entries[1] = netstring(concatBytes(...fields.map((f) => netstring(f))));
  const error = t.throws(() => ChildTable.unpack(WK, concatBytes(...entries), {}, before), {
    instanceOf: DirnodeFormatError,
  });
  t.is(error.code, 'ERR_DIRNODE_MAC');
  t.is(error.child, 1);
});

test('a table read with another writekey or as read-only reuses nothing', (t) => {
  const packed = packChildren(WK, children(2));
  const before = ChildTable.unpack(WK, packed);
  const readOnly = ChildTable.unpack(undefined, packed, {}, before);
  t.deepEqual(readOnly.children(), unpackChildrenReadOnly(packed));
  const otherKey = new Uint8Array(16).fill(9);
  t.throws(() => ChildTable.unpack(otherKey, packed, {}, before), {
    instanceOf: DirnodeFormatError,
  });
  t.throws(() => readOnly.pack(), { instanceOf: TypeError, message: /read cap/ });
});

test('duplicate names in the packed bytes are refused', (t) => {
  const [a] = framedEntries(packChildren(WK, children(1)));
  const error = t.throws(() => ChildTable.unpack(WK, concatBytes(a, a)), {
    instanceOf: DirnodeFormatError,
  });
  t.is(error.code, 'ERR_DIRNODE_DUPLICATE_NAME');
});

interface PackVector {
  writekeyHex: string;
  children: Array<{ name: string; rwCap: string | null; roCap: string; metadata: JsonObject }>;
  packedHex: string;
}
for (const file of ['tahoe-dirnode-pack.json', 'tahoe-dirnode-pack-sorting.json']) {
  test(`${file}: the table reproduces Tahoe's bytes, read back or built child by child`, (t) => {
    const v = JSON.parse(
      readFileSync(fileURLToPath(new URL(`./vectors/${file}`, import.meta.url)), 'utf8'),
    ) as PackVector;
    const wk = fromHex(v.writekeyHex);
    t.is(toHex(ChildTable.unpack(wk, fromHex(v.packedHex)).pack()), v.packedHex);
    const built = ChildTable.empty(wk);
    for (const c of v.children) {
      built.set({
        name: c.name,
        ...(c.rwCap ? { rwCap: c.rwCap } : {}),
        roCap: c.roCap,
        metadata: c.metadata,
      });
    }
    t.is(toHex(built.pack()), v.packedHex);
    t.is(built.lastPacked, v.children.length);
  });
}
