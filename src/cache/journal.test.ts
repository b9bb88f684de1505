import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalError, WriteJournal, type JournalMeta } from './journal.js';

const meta: JournalMeta = { parentCap: 'URI:DIR2:x:y', name: 'f.txt', link: 'new', mode: 0o644 };
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function withJournal<T>(fn: (j: WriteJournal, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-journal-'));
  const j = await WriteJournal.open(join(dir, 'journal'));
  try {
    return await fn(j, dir);
  } finally {
    await j.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

test('replays the snapshot and the writes and truncates after it, across a reopen', async (t) => {
  await withJournal(async (j, dir) => {
    await j.begin('a', meta, bytes('hello world'));
    await j.write('a', 6, bytes('there'));
    await j.truncate('a', 8);
    await j.write('a', 10, bytes('!'));
    await j.close();
    const again = await WriteJournal.open(join(dir, 'journal'));
    const [entry] = await again.entries();
    t.is(entry.id, 'a');
    t.deepEqual(entry.meta, meta);
    t.is(text(entry.contents), 'hello th\0\0!');
    await again.close();
  });
});

test('clear forgets an entry, and changes arriving after it are dropped', async (t) => {
  await withJournal(async (j) => {
    await j.begin('a', meta, bytes('x'));
    await j.begin('b', { ...meta, name: 'g' }, bytes('y'));
    const cleared = j.clear('a');
    const late = j.setMeta('a', meta);
    const lateWrite = j.write('a', 0, bytes('zzz'));
    await Promise.all([cleared, late, lateWrite]);
    const entries = await j.entries();
    t.deepEqual(
      entries.map((e) => e.id),
      ['b'],
    );
  });
});

test('compact keeps only the operations after the mark', async (t) => {
  await withJournal(async (j) => {
    await j.begin('a', meta, bytes(''));
    await j.write('a', 0, bytes('abc'));
    const mark = j.mark();
    const published = bytes('abc');
    await j.write('a', 3, bytes('def'));
    await j.compact('a', published, { ...meta, basedOn: { seqnum: 2, rootHash: '00' } }, mark);
    const [entry] = await j.entries();
    t.is(text(entry.contents), 'abcdef');
    t.is(entry.meta.basedOn?.seqnum, 2);
  });
});

test('a second process cannot open the same journal (ERR_JOURNAL_LOCKED)', async (t) => {
  await withJournal(async (_j, dir) => {
    const err = await t.throwsAsync(WriteJournal.open(join(dir, 'journal')));
    t.true(err instanceof JournalError);
    t.is((err as JournalError).code, 'ERR_JOURNAL_LOCKED');
  });
});

test('a journal that is not a database: ERR_JOURNAL_DAMAGED', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-journal-'));
  try {
    await mkdir(join(dir, 'journal'));
    await writeFile(join(dir, 'journal', 'CURRENT'), 'garbage\n');
    const err = await t.throwsAsync(WriteJournal.open(join(dir, 'journal')));
    t.is((err as JournalError).code, 'ERR_JOURNAL_DAMAGED');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const op = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    at: fc.nat(64),
    data: fc.uint8Array({ maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(80) }),
);

testProp(
  'replay equals applying the operations to a byte array',
  [fc.uint8Array({ maxLength: 32 }), fc.array(op, { maxLength: 12 })],
  async (t, start, ops) => {
    await withJournal(async (j) => {
      let model = Uint8Array.from(start);
      await j.begin('p', meta, start);
      for (const o of ops) {
        if (o.kind === 'write') {
          const next = new Uint8Array(Math.max(model.length, o.at + o.data.length));
          next.set(model);
          next.set(o.data, o.at);
          model = next;
          await j.write('p', o.at, o.data);
        } else {
          const next = new Uint8Array(o.at);
          next.set(model.subarray(0, o.at));
          model = next;
          await j.truncate('p', o.at);
        }
      }
      const [entry] = await j.entries();
      t.deepEqual(entry.contents, model);
    });
  },
  { numRuns: 25 },
);

test('the modification time of the last timed write or truncate is replayed', async (t) => {
  await withJournal(async (j) => {
    await j.begin('a', meta, bytes('x'));
    await j.write('a', 1, bytes('y')); // an untimed record (older journals) carries none
    t.is((await j.entries())[0].changedAt, undefined);
    await j.write('a', 2, bytes('z'), 1000);
    await j.truncate('a', 2, 2000);
    const [entry] = await j.entries();
    t.is(entry.changedAt, 2000);
    t.is(text(entry.contents), 'xy');
    // Metadata recorded after the last write (touch -d) holds the newer mtime itself.
    await j.setMeta('a', { ...meta, mtime: 5, afterOp: j.mark() });
    t.is((await j.entries())[0].changedAt, undefined);
    await j.write('a', 0, bytes('w'), 3000);
    t.is((await j.entries())[0].changedAt, 3000);
  });
});

test('directory changes come back in the order recorded, without the cleared ones, across a reopen', async (t) => {
  await withJournal(async (j, dir) => {
    const a = j.recordChange({ op: 'remove', name: 'a' });
    const b = j.recordChange({ op: 'rename', from: 'b', to: 'c' });
    const c = j.recordChange({ op: 'add', name: 'd' });
    await Promise.all([a.recorded, b.recorded, c.recorded]);
    await j.clearChange(b.id);
    await j.begin('file', meta, bytes('x'));
    await j.close();
    const again = await WriteJournal.open(join(dir, 'journal'));
    const changes = await again.changes();
    t.deepEqual(
      changes.map((e) => e.change),
      [
        { op: 'remove', name: 'a' },
        { op: 'add', name: 'd' },
      ],
    );
    t.deepEqual(
      changes.map((e) => e.id),
      [a.id, c.id],
    );
    // Files' entries are separate.
    t.deepEqual(
      (await again.entries()).map((e) => e.id),
      ['file'],
    );
    await again.close();
  });
});

test('records of many files asked for together are all written once their promises resolve', async (t) => {
  await withJournal(async (j) => {
    const names = Array.from({ length: 50 }, (_, i) => `f${i}`);
    await Promise.all(names.map((id) => j.begin(id, { ...meta, name: id }, bytes(id))));
    // Asked for together: the first goes at once, the others as one batch after it.
    await Promise.all(names.map((id) => j.write(id, id.length, bytes('+'))));
    const change = j.recordChange({ op: 'add', name: 'x' });
    await change.recorded;
    const entries = await j.entries();
    t.is(entries.length, names.length);
    for (const e of entries) t.is(text(e.contents), `${e.id}+`);
    t.deepEqual(
      (await j.changes()).map((c) => c.id),
      [change.id],
    );
  });
});
