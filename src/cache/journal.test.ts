import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { spawn } from 'node:child_process';
import {
  appendFile,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
  mkdir,
} from 'node:fs/promises';
import { Level } from 'level';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalError, WriteJournal, type JournalMeta, type JournalOptions } from './journal.js';

const meta: JournalMeta = { parentCap: 'URI:DIR2:x:y', name: 'f.txt', link: 'new', mode: 0o644 };
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function withJournal<T>(
  fn: (j: WriteJournal, dir: string) => Promise<T>,
  options: JournalOptions = {},
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-journal-'));
  const j = await WriteJournal.open(join(dir, 'journal'), options);
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

const segmentsOf = async (dir: string) =>
  (await readdir(join(dir, 'journal'))).filter((n) => n.startsWith('wal-')).sort();

test('a record torn by a crash at the end of the log is dropped; later records follow it', async (t) => {
  await withJournal(async (j, dir) => {
    await j.begin('a', meta, bytes('kept'));
    await j.write('a', 4, bytes('+torn'));
    await j.close();
    const [segment] = await segmentsOf(dir);
    const path = join(dir, 'journal', segment);
    await truncate(path, (await stat(path)).size - 3);
    const lines: string[] = [];
    const again = await WriteJournal.open(join(dir, 'journal'), { log: (l) => lines.push(l) });
    t.is(text((await again.entries())[0].contents), 'kept');
    t.regex(lines.join('\n'), /torn record/);
    // Written after the cut, so the next replay reads it (not stopping at the torn bytes).
    await again.write('a', 4, bytes('!'));
    await again.close();
    const third = await WriteJournal.open(join(dir, 'journal'));
    t.is(text((await third.entries())[0].contents), 'kept!');
    await third.close();
  });
});

test('damage before the newest segment: ERR_JOURNAL_DAMAGED, nothing cut', async (t) => {
  await withJournal(
    async (j, dir) => {
      for (let i = 0; i < 6; i++) await j.begin(`f${i}`, meta, new Uint8Array(100).fill(i));
      await j.close();
      const segments = await segmentsOf(dir);
      t.true(segments.length > 2, segments.join());
      const first = join(dir, 'journal', segments[0]);
      const before = await readFile(first);
      const bad = Buffer.from(before);
      bad[bad.length - 5] ^= 0xff;
      await writeFile(first, bad);
      const err = await t.throwsAsync(WriteJournal.open(join(dir, 'journal')));
      t.is((err as JournalError).code, 'ERR_JOURNAL_DAMAGED');
      t.regex(err!.message, /unreadable bytes/);
      t.is((await readFile(first)).length, bad.length, 'the damaged segment is left as it was');
    },
    { segmentBytes: 200 },
  );
});

test('segments whose records are all dead are deleted; live records are copied forward', async (t) => {
  await withJournal(
    async (j, dir) => {
      // One file stays dirty throughout, the others come and go.
      await j.begin('keep', meta, bytes('start'));
      for (let i = 0; i < 200; i++) {
        const id = `f${i}`;
        await j.begin(id, meta, new Uint8Array(300).fill(i));
        await j.write(id, 0, bytes('x'));
        if (i % 10 === 0) await j.write('keep', 5, bytes(String(i % 10)));
        await j.clear(id);
        await j.settled();
      }
      await new Promise((r) => setImmediate(r));
      await j.settled();
      const usage = j.usage();
      t.true(usage.segments <= 4, `${usage.segments} segments`);
      t.true(usage.bytes < 20_000, `${usage.bytes} bytes on disk`);
      t.true((await segmentsOf(dir)).length <= 4);
      await j.close();
      const again = await WriteJournal.open(join(dir, 'journal'));
      const entries = await again.entries();
      t.deepEqual(
        entries.map((e) => [e.id, text(e.contents)]),
        [['keep', 'start0']],
      );
      await again.close();
    },
    { segmentBytes: 4096 },
  );
});

test('a journal in the LevelDB format of earlier versions is moved into the log', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-journal-'));
  try {
    const location = join(dir, 'journal');
    const db = new Level<string, Uint8Array>(location, { valueEncoding: 'view' });
    const op = (code: string, at: number, data = new Uint8Array(0), mtime?: number) => {
      const head = mtime === undefined ? 9 : 17;
      const value = new Uint8Array(head + data.length);
      value[0] = code.charCodeAt(0);
      new DataView(value.buffer).setFloat64(1, at);
      if (mtime !== undefined) new DataView(value.buffer).setFloat64(9, mtime);
      value.set(data, head);
      return value;
    };
    await db.batch([
      { type: 'put', key: 'm!old', value: bytes(JSON.stringify({ ...meta, afterOp: 1 })) },
      { type: 'put', key: 's!old', value: bytes('hello world') },
      { type: 'put', key: 'o!old!00000000000000000002', value: op('W', 6, bytes('there')) },
      { type: 'put', key: 'o!old!00000000000000000003', value: op('t', 8, undefined, 4242) },
      { type: 'put', key: 'd!00000000000000000004', value: bytes('{"op":"remove","name":"x"}') },
    ]);
    await db.close();
    const lines: string[] = [];
    const j = await WriteJournal.open(location, { log: (l) => lines.push(l) });
    const check = async (journal: WriteJournal) => {
      const [entry] = await journal.entries();
      t.is(entry.id, 'old');
      t.is(entry.meta.name, meta.name);
      t.is(text(entry.contents), 'hello th');
      t.is(entry.changedAt, 4242);
      t.deepEqual(await journal.changes(), [
        { id: 'd!00000000000000000004', change: { op: 'remove', name: 'x' } },
      ]);
    };
    await check(j);
    t.regex(lines.join('\n'), /moved 1 file\(s\) and 1 folder change/);
    const left = await readdir(location);
    t.false(left.includes('CURRENT'), left.join());
    t.false(
      left.some((n) => n.startsWith('MANIFEST')),
      left.join(),
    );
    // A new change sorts after the moved one.
    const next = j.recordChange({ op: 'add', name: 'y' });
    t.true(next.id > 'd!00000000000000000004');
    await j.close();
    const again = await WriteJournal.open(location);
    t.is((await again.changes()).length, 2);
    await again.clearChange(next.id);
    await check(again);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the lock of a process that is gone is taken over; a running one keeps it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-journal-'));
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const location = join(dir, 'journal');
    await mkdir(location);
    await writeFile(join(location, 'slotfs.lock'), `${sleeper.pid}\n`);
    const err = await t.throwsAsync(WriteJournal.open(location));
    t.is((err as JournalError).code, 'ERR_JOURNAL_LOCKED');
    t.regex(err!.message, new RegExp(`pid ${sleeper.pid}`));
    const gone = new Promise((r) => sleeper.once('exit', r));
    sleeper.kill('SIGKILL');
    await gone;
    const j = await WriteJournal.open(location);
    t.is(Number(await readFile(join(location, 'slotfs.lock'), 'utf8')), process.pid);
    await j.close();
    await t.throwsAsync(readFile(join(location, 'slotfs.lock')), { code: 'ENOENT' });
  } finally {
    sleeper.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('bytes appended after a record that is not ours are reported, not replayed', async (t) => {
  await withJournal(async (j, dir) => {
    await j.begin('a', meta, bytes('x'));
    await j.close();
    const [segment] = await segmentsOf(dir);
    await appendFile(join(dir, 'journal', segment), 'SLJ1 not a record at all');
    const lines: string[] = [];
    const again = await WriteJournal.open(join(dir, 'journal'), { log: (l) => lines.push(l) });
    t.deepEqual(
      (await again.entries()).map((e) => text(e.contents)),
      ['x'],
    );
    t.is(lines.length, 1);
    await again.close();
  });
});

type ModelOp =
  | {
      kind: 'begin' | 'write' | 'truncate' | 'meta' | 'compact' | 'clear';
      file: number;
      at: number;
      data: Uint8Array;
    }
  | {
      kind: 'change' | 'clear-change' | 'reopen' | 'pause';
      file: number;
      at: number;
      data: Uint8Array;
    };

testProp(
  'with tiny segments, any mix of records replays to the model across reopens',
  [
    fc.array(
      fc.record({
        kind: fc.constantFrom(
          'begin',
          'write',
          'write',
          'write',
          'truncate',
          'meta',
          'compact',
          'clear',
          'change',
          'clear-change',
          'reopen',
          'pause',
        ),
        file: fc.nat(5),
        at: fc.nat(40),
        data: fc.uint8Array({ maxLength: 60 }),
      }) as fc.Arbitrary<ModelOp>,
      { minLength: 10, maxLength: 80 },
    ),
  ],
  async (t, ops) => {
    const dir = await mkdtemp(join(tmpdir(), 'slotfs-journal-'));
    const location = join(dir, 'journal');
    let j = await WriteJournal.open(location, { segmentBytes: 256 });
    try {
      const files = new Map<string, { contents: Uint8Array; name: string }>();
      const changes: Array<{ id: string; change: unknown }> = [];
      const retired = new Set<string>();
      const apply = (id: string, f: (c: Uint8Array) => Uint8Array) => {
        const file = files.get(id);
        if (file) file.contents = f(file.contents);
      };
      const check = async () => {
        const entries = await j.entries();
        t.deepEqual(
          entries.map((e) => [e.id, e.meta.name, [...e.contents]]),
          [...files.entries()]
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([id, f]) => [id, f.name, [...f.contents]]),
        );
        t.deepEqual(await j.changes(), changes);
      };
      let serial = 0;
      for (const o of ops) {
        const id = `id${o.file}`;
        const live = files.has(id);
        switch (o.kind) {
          case 'begin':
            // A cleared id is never begun again: the mount takes a fresh one.
            if (live || retired.has(id)) break;
            await j.begin(`${id}`, { ...meta, name: `n${serial}` }, o.data);
            files.set(id, { contents: Uint8Array.from(o.data), name: `n${serial++}` });
            break;
          case 'write':
            if (!live) break;
            await j.write(id, o.at, o.data);
            apply(id, (c) => {
              const next = new Uint8Array(Math.max(c.length, o.at + o.data.length));
              next.set(c);
              next.set(o.data, o.at);
              return next;
            });
            break;
          case 'truncate':
            if (!live) break;
            await j.truncate(id, o.at);
            apply(id, (c) => {
              const next = new Uint8Array(o.at);
              next.set(c.subarray(0, o.at));
              return next;
            });
            break;
          case 'meta':
            if (!live) break;
            await j.setMeta(id, { ...meta, name: `n${serial}` });
            files.get(id)!.name = `n${serial++}`;
            break;
          case 'compact':
            if (!live) break;
            await j.compact(id, files.get(id)!.contents, undefined, j.mark());
            break;
          case 'clear':
            if (!live) break;
            await j.clear(id);
            files.delete(id);
            retired.add(id);
            break;
          case 'change': {
            const c = j.recordChange({ n: serial++ });
            await c.recorded;
            changes.push({ id: c.id, change: { n: serial - 1 } });
            break;
          }
          case 'clear-change':
            if (changes.length === 0) break;
            await j.clearChange(changes.splice(o.at % changes.length, 1)[0].id);
            break;
          case 'pause':
            await new Promise((r) => setImmediate(r));
            await j.settled();
            break;
          case 'reopen':
            await j.close();
            j = await WriteJournal.open(location, { segmentBytes: 256 });
            await check();
            break;
        }
      }
      await check();
      await j.close();
      j = await WriteJournal.open(location, { segmentBytes: 256 });
      await check();
    } finally {
      await j.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
  { numRuns: 60 },
);
