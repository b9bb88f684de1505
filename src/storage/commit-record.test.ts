import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { decodeRecords, editBetween, encodeRecord, type CommitRecord } from './commit-record.js';

const SI = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';

/** Applies an edit to file bytes the way the store does (pure stand-in for the file). */
function applyEdit(file: Uint8Array | undefined, edit: ReturnType<typeof editBetween>) {
  if (edit.kind === 'delete') return undefined;
  if (edit.kind === 'whole') return edit.bytes;
  const out = new Uint8Array(Math.max(file?.length ?? 0, edit.size));
  if (file) out.set(file);
  for (const r of edit.ranges) {
    const need = r.offset + r.bytes.length;
    if (need > out.length) throw new Error('range past the final size');
    out.set(r.bytes, r.offset);
  }
  return out.subarray(0, edit.size);
}

/** A record with its bytes as hex, for comparison. */
const normal = (r: CommitRecord) =>
  JSON.stringify(r, (_k, v: unknown) => {
    // Buffers arrive here already as { type: 'Buffer', data } (their toJSON).
    const data = (v as { type?: string; data?: number[] } | null)?.data;
    if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
    if ((v as { type?: string } | null)?.type === 'Buffer' && data) {
      return Buffer.from(data).toString('hex');
    }
    return v;
  });

test('records round-trip: deletes, whole files and ranges', (t) => {
  const record: CommitRecord = {
    si: SI,
    edits: [
      { shnum: 0, kind: 'delete' },
      { shnum: 3, kind: 'whole', bytes: new Uint8Array([1, 2, 3]) },
      {
        shnum: 7,
        kind: 'ranges',
        size: 9000,
        ranges: [
          { offset: 64, bytes: new Uint8Array(10).fill(5) },
          { offset: 8000, bytes: new Uint8Array(1000).fill(6) },
        ],
      },
    ],
  };
  const bytes = encodeRecord(record);
  const { records, validBytes } = decodeRecords(Buffer.concat([bytes, bytes]));
  t.is(validBytes, 2 * bytes.length);
  t.deepEqual(records.map(normal), [record, record].map(normal));
});

test('decoding stops at a torn or damaged tail, keeping the whole records before it', (t) => {
  const a = encodeRecord({
    si: SI,
    edits: [{ shnum: 1, kind: 'whole', bytes: new Uint8Array(500) }],
  });
  const b = encodeRecord({
    si: SI,
    edits: [{ shnum: 2, kind: 'whole', bytes: new Uint8Array(500) }],
  });
  for (let cut = 1; cut < b.length; cut += 37) {
    const torn = decodeRecords(Buffer.concat([a, b.subarray(0, cut)]));
    t.is(torn.records.length, 1);
    t.is(torn.validBytes, a.length);
  }
  const damaged = Buffer.concat([a, b]);
  damaged[a.length + 100] ^= 1;
  t.is(decodeRecords(damaged).records.length, 1, 'a flipped bit fails the checksum');
  t.is(decodeRecords(Buffer.alloc(4096)).records.length, 0, 'zeros are no record');
});

testProp(
  'an edit turns the old bytes into the new ones, also when applied twice',
  [
    fc.uint8Array({ maxLength: 3000 }),
    fc.array(fc.tuple(fc.nat(3200), fc.uint8Array({ minLength: 1, maxLength: 200 })), {
      maxLength: 6,
    }),
    fc.nat(3300),
  ],
  (t, before, writes, size) => {
    const after = new Uint8Array(Math.max(size, 0));
    after.set(before.subarray(0, Math.min(before.length, after.length)));
    for (const [offset, bytes] of writes) {
      if (offset + bytes.length <= after.length) after.set(bytes, offset);
    }
    const edit = editBetween(0, before, after);
    const once = applyEdit(before, edit)!;
    t.deepEqual(Buffer.from(once), Buffer.from(after));
    t.deepEqual(Buffer.from(applyEdit(once, edit)!), Buffer.from(after), 'idempotent');
    const [decoded] = decodeRecords(encodeRecord({ si: SI, edits: [edit] })).records;
    t.deepEqual(Buffer.from(applyEdit(before, decoded.edits[0])!), Buffer.from(after));
  },
);

test('a small change to a large file is logged as ranges, a new file whole', (t) => {
  const before = new Uint8Array(100_000).fill(1);
  const after = before.slice();
  after.set([9, 9, 9], 50_000);
  const edit = editBetween(4, before, after);
  t.is(edit.kind, 'ranges');
  if (edit.kind === 'ranges') t.true(edit.ranges.reduce((n, r) => n + r.bytes.length, 0) <= 128);
  t.is(editBetween(4, undefined, after).kind, 'whole');
});
