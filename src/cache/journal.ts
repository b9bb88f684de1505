// The mount's write-back journal: every write the mount has acknowledged but not yet
// published, so a killed client loses nothing it acknowledged (design.md, "Honesty rules
// for the mount"). It is an append-only log of checksummed records in segment files
// (client dir `journal/wal-NNNNNNNN`; docs/formats.md, "The mount's write-back journal").
//
// A record is appended with one synchronous write before the call returns: the bytes are
// then in the operating system, so they survive the process being killed (only a machine
// crash can lose the unsynced tail, as with any unsynced write). Appending on the calling
// thread costs microseconds; a database's hand-off to its own thread and back cost FUSE
// calls a fifth of a millisecond each on a busy machine (measured: mkdir, create, write).
//
// In memory the journal keeps only where each live record is, never the data. Records
// die when a later one supersedes them (a compaction's snapshot, newer metadata) or their
// file is cleared; the oldest segment is deleted once nothing in it is live, and its live
// records are copied forward when most of it is dead.
import {
  closeSync,
  existsSync,
  fsync,
  ftruncateSync,
  openSync,
  readdirSync,
  writeSync,
} from 'node:fs';
import { mkdir, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { decodeJournalRecords, encodeJournalRecord, type JournalRecord } from './journal-record.js';
import { JournalError, type JournalEntry, type JournalMeta } from './journal-types.js';
import { lock, unlock } from './journal-lock.js';
import { Replay } from './journal-replay.js';
import { LEVELDB_MARKER, readLevelJournal } from './leveldb-journal.js';

export {
  JournalError,
  type JournalEntry,
  type JournalMeta,
  type JournalVersion,
} from './journal-types.js';

export interface JournalOptions {
  /** A segment is closed and a new one begun once it holds this many bytes. */
  segmentBytes?: number;
  /** Lines for the mount's log (a torn tail dropped, an old journal moved over). */
  log?: (line: string) => void;
}

type Bytes = Uint8Array;
const text = new TextEncoder();
const SEGMENT_BYTES = 16 << 20;
const SEGMENT_NAME = /^wal-(\d{8})$/;

interface Segment {
  number: number;
  path: string;
  size: number;
  /** Bytes of records still live. */
  live: number;
  records: Set<Rec>;
}

/** Where one live record is. `roles`: what it is still live for (a begin: meta and snapshot). */
interface Rec {
  seg: Segment;
  start: number;
  length: number;
  seq: number;
  roles: number;
}

interface FileIndex {
  meta?: Rec;
  snapshot?: Rec;
  /** Writes and truncates after the snapshot, by sequence number. */
  ops: Map<number, Rec>;
  /** Operations up to this sequence number are in the snapshot. */
  floor: number;
}

export class WriteJournal {
  private seq: number;
  private readonly files = new Map<string, FileIndex>();
  private readonly changeIndex = new Map<string, Rec>();
  /** Ids cleared: changes still arriving for them are dropped, never resurrected. */
  private readonly cleared = new Set<string>();
  private fd: number;
  private reclaiming?: Promise<void>;
  /** entries() or changes() reading records back: segments stay where they are. */
  private readers = 0;
  private closed = false;
  private readonly segmentBytes: number;

  private constructor(
    private readonly location: string,
    private readonly segments: Segment[],
    maxSeq: number,
    options: JournalOptions,
  ) {
    // Sequence numbers order the records; starting from the clock keeps them increasing
    // across restarts even when the log was emptied.
    this.seq = Math.max(Date.now() * 1000, maxSeq + 1);
    this.segmentBytes = options.segmentBytes ?? SEGMENT_BYTES;
    this.fd = openSync(this.current.path, 'a');
  }

  static async open(location: string, options: JournalOptions = {}): Promise<WriteJournal> {
    const where = resolve(location);
    await mkdir(where, { recursive: true });
    await lock(where);
    try {
      const { segments, replayed, maxSeq } = await readSegments(where, options.log);
      const journal = new WriteJournal(where, segments, maxSeq, options);
      for (const r of replayed) journal.index(r.record, r.rec);
      if (existsSync(join(where, LEVELDB_MARKER))) {
        await journal.moveOver(options.log).catch((err: unknown) => {
          closeSync(journal.fd);
          throw err;
        });
      }
      journal.scheduleReclaim();
      return journal;
    } catch (err) {
      await unlock(where);
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.reclaiming;
    this.closed = true;
    const fd = this.fd;
    await new Promise<void>((done) => fsync(fd, () => done()));
    closeSync(fd);
    await unlock(this.location);
  }

  /** Resolves once every record asked for is written (each is written before its call returns). */
  async settled(): Promise<void> {
    await this.reclaiming;
  }

  /** Starts journaling a file whose contents are now `contents`. */
  begin(id: string, meta: JournalMeta, contents: Bytes): Promise<void> {
    if (this.cleared.has(id)) return done;
    return this.record({
      kind: 'begin',
      seq: ++this.seq,
      id,
      meta: json(meta),
      snapshot: contents,
    });
  }

  setMeta(id: string, meta: JournalMeta): Promise<void> {
    if (this.cleared.has(id)) return done;
    return this.record({ kind: 'meta', seq: ++this.seq, id, meta: json(meta) });
  }

  /** Records a write; `mtime` (ms), when given, is replayed as the file's modification time. */
  write(id: string, offset: number, data: Bytes, mtime?: number): Promise<void> {
    if (this.cleared.has(id)) return done;
    return this.record({ kind: 'write', seq: ++this.seq, id, offset, mtime, data });
  }

  truncate(id: string, size: number, mtime?: number): Promise<void> {
    if (this.cleared.has(id)) return done;
    return this.record({ kind: 'truncate', seq: ++this.seq, id, size, mtime });
  }

  /** The sequence number of the last record so far (for compact and afterOp). */
  mark(): number {
    return this.seq;
  }

  /**
   * Makes `contents` the snapshot of `id` and drops the operations up to `upTo` (a mark()
   * taken when `contents` was the file's state): same replay result, less to keep.
   */
  compact(id: string, contents: Bytes, meta?: JournalMeta, upTo = Infinity): Promise<void> {
    if (this.cleared.has(id)) return done;
    const record: JournalRecord = {
      kind: 'snapshot',
      seq: ++this.seq,
      id,
      upTo,
      meta: meta && json(meta),
      snapshot: contents,
    };
    return this.record(record);
  }

  /** Forgets `id` (published, or the file was deleted); later changes to it are dropped. */
  clear(id: string): Promise<void> {
    if (this.cleared.has(id)) return done;
    this.cleared.add(id);
    if (this.cleared.size > 100_000) this.cleared.delete(this.cleared.values().next().value!);
    if (!this.files.has(id)) return done;
    return this.record({ kind: 'clear', seq: ++this.seq, id });
  }

  /**
   * Records a directory change acknowledged before it is published; the returned id orders
   * it among the others. Cleared with clearChange once published.
   */
  recordChange(change: unknown): { id: string; recorded: Promise<void> } {
    const seq = ++this.seq;
    const id = `d!${String(seq).padStart(20, '0')}`;
    return { id, recorded: this.record({ kind: 'change', seq, id, change: json(change) }) };
  }

  /** Forgets a directory change (published, or nothing left to do). */
  clearChange(id: string): Promise<void> {
    if (!this.changeIndex.has(id)) return done;
    return this.record({ kind: 'change-cleared', seq: ++this.seq, id });
  }

  /** The directory changes recorded and not cleared, oldest first. */
  changes(): Promise<Array<{ id: string; change: unknown }>> {
    return this.reading(() => this.readChanges());
  }

  /** Every journaled file with its dirty contents, replayed. */
  entries(): Promise<JournalEntry[]> {
    return this.reading(() => this.readEntries());
  }

  /** Runs `read` with no segment copied forward or deleted under it. */
  private async reading<T>(read: () => Promise<T>): Promise<T> {
    this.readers++;
    try {
      await this.reclaiming;
      return await read();
    } finally {
      this.readers--;
      this.scheduleReclaim();
    }
  }

  private async readChanges(): Promise<Array<{ id: string; change: unknown }>> {
    const reader = new RecordReader();
    const out: Array<{ id: string; change: unknown }> = [];
    for (const id of [...this.changeIndex.keys()].sort()) {
      const record = await reader.read(this.changeIndex.get(id)!);
      if (record.kind !== 'change') throw damaged(`directory change ${id} is not one`);
      out.push({ id, change: parseJson(record.change, `directory change ${id}`) });
    }
    return out;
  }

  private async readEntries(): Promise<JournalEntry[]> {
    const reader = new RecordReader();
    const out: JournalEntry[] = [];
    for (const id of [...this.files.keys()].sort()) {
      const file = this.files.get(id)!;
      const metaRecord = file.meta && (await reader.read(file.meta));
      const metaBytes =
        metaRecord && 'meta' in metaRecord && metaRecord.meta ? metaRecord.meta : undefined;
      const meta = checkMeta(metaBytes ? parseJson(metaBytes, `entry ${id}`) : undefined, id);
      const snapshotRecord = file.snapshot && (await reader.read(file.snapshot));
      const contents = new Replay(
        snapshotRecord && 'snapshot' in snapshotRecord
          ? snapshotRecord.snapshot
          : new Uint8Array(0),
      );
      let changedAt: number | undefined;
      for (const seq of [...file.ops.keys()].sort((a, b) => a - b)) {
        const op = await reader.read(file.ops.get(seq)!);
        if (op.kind === 'write') contents.write(op.offset, op.data);
        else if (op.kind === 'truncate') contents.truncate(op.size);
        else continue;
        if (op.mtime !== undefined && seq > (meta.afterOp ?? -Infinity)) changedAt = op.mtime;
      }
      out.push({ id, meta, contents: contents.result(), changedAt });
    }
    return out;
  }

  /** Bytes on disk and bytes still live, for tests and status. */
  usage(): { segments: number; bytes: number; live: number } {
    let bytes = 0;
    let live = 0;
    for (const s of this.segments) {
      bytes += s.size;
      live += s.live;
    }
    return { segments: this.segments.length, bytes, live };
  }

  private get current(): Segment {
    return this.segments[this.segments.length - 1];
  }

  /** Appends `record` and indexes it; rejects (with the system's error) if it is not written. */
  private record(record: JournalRecord): Promise<void> {
    try {
      if (this.closed) throw new Error(`the write-back journal ${this.location} is closed`);
      this.index(record, this.append(encodeJournalRecord(record)));
      return done;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Writes one framed record at the end of the current segment. */
  private append(frame: Buffer): Rec {
    if (this.current.size >= this.segmentBytes) this.roll();
    const seg = this.current;
    let written = 0;
    try {
      while (written < frame.length) {
        written += writeSync(this.fd, frame, written, frame.length - written);
      }
    } catch (err) {
      // A partly written record (disk full) would hide every later one from replay: cut it.
      if (written > 0) ftruncateSync(this.fd, seg.size);
      throw err;
    }
    const rec: Rec = { seg, start: seg.size, length: frame.length, seq: 0, roles: 0 };
    seg.size += frame.length;
    return rec;
  }

  /** What `record` (just written at `rec`, or read back at open) makes live and dead. */
  private index(record: JournalRecord, rec: Rec): void {
    rec.seq = record.seq;
    const live = (roles: number) => {
      if (roles === 0) return;
      rec.roles = roles;
      rec.seg.live += rec.length;
      rec.seg.records.add(rec);
    };
    const file = () => {
      let f = this.files.get(record.id);
      if (!f) this.files.set(record.id, (f = { ops: new Map(), floor: -Infinity }));
      return f;
    };
    /** `rec` becomes f[role] unless a newer record holds it (replay meets them in any order). */
    const take = (f: FileIndex, role: 'meta' | 'snapshot') => {
      const old = f[role];
      if (old && old.seq > rec.seq) return 0;
      if (old) this.kill(old);
      f[role] = rec;
      return 1;
    };
    switch (record.kind) {
      case 'meta':
        live(take(file(), 'meta'));
        break;
      case 'begin':
      case 'snapshot': {
        // A begin is a snapshot with metadata that holds everything before it.
        const f = file();
        const roles =
          (record.kind === 'begin' || record.meta ? take(f, 'meta') : 0) + take(f, 'snapshot');
        f.floor = Math.max(f.floor, record.kind === 'begin' ? record.seq : record.upTo);
        for (const [seq, op] of f.ops) {
          if (seq <= f.floor) {
            this.kill(op);
            f.ops.delete(seq);
          }
        }
        live(roles);
        if (record.kind === 'snapshot') this.scheduleReclaim();
        break;
      }
      case 'write':
      case 'truncate': {
        const f = file();
        if (record.seq <= f.floor) break;
        const twin = f.ops.get(record.seq);
        if (twin) this.kill(twin); // the same record, copied forward before a crash
        f.ops.set(record.seq, rec);
        live(1);
        break;
      }
      case 'clear': {
        const f = this.files.get(record.id);
        if (!f) break;
        for (const r of [f.meta, f.snapshot, ...f.ops.values()]) if (r) this.kill(r, Infinity);
        this.files.delete(record.id);
        this.scheduleReclaim();
        break;
      }
      case 'change': {
        const twin = this.changeIndex.get(record.id);
        if (twin) this.kill(twin);
        this.changeIndex.set(record.id, rec);
        live(1);
        break;
      }
      case 'change-cleared': {
        const r = this.changeIndex.get(record.id);
        if (r) this.kill(r);
        this.changeIndex.delete(record.id);
        this.scheduleReclaim();
        break;
      }
    }
  }

  /** `rec` is no longer live for one of its roles (or all). */
  private kill(rec: Rec, roles = 1): void {
    if (rec.roles <= 0) return;
    rec.roles = Math.max(0, rec.roles - roles);
    if (rec.roles > 0) return;
    rec.seg.live -= rec.length;
    rec.seg.records.delete(rec);
  }

  /** Closes the current segment and begins the next. */
  private roll(): void {
    const old = this.fd;
    const next = this.current.number + 1;
    const path = join(this.location, segmentName(next));
    this.fd = openSync(path, 'a');
    this.segments.push({ number: next, path, size: 0, live: 0, records: new Set() });
    // Not needed for a killed process; makes a finished segment safe from a machine crash.
    fsync(old, () => {
      try {
        closeSync(old);
      } catch {
        // closed already
      }
    });
    this.scheduleReclaim();
  }

  private scheduleReclaim(): void {
    if (this.reclaiming || this.closed || this.readers > 0) return;
    if (this.segments.length < 2 && !this.idleRollDue()) return;
    this.reclaiming = new Promise<void>((resolveIt) => setImmediate(resolveIt))
      .then(() => this.reclaim())
      .catch(() => undefined) // kept for the next try; nothing is lost by keeping a segment
      .finally(() => (this.reclaiming = undefined));
  }

  /** Nothing is live and the current segment has grown: begin a small one. */
  private idleRollDue(): boolean {
    return this.current.live === 0 && this.current.size >= Math.min(this.segmentBytes, 1 << 20);
  }

  /**
   * Deletes the oldest segments whose records are all dead, copying the live ones forward
   * first when most of the segment is dead or the log is more than twice what is live.
   * Only the oldest goes: a clear's record must outlive the records it clears.
   */
  private async reclaim(): Promise<void> {
    if (this.idleRollDue() && this.usage().live === 0) this.roll();
    while (this.segments.length > 1 && !this.closed && this.readers === 0) {
      const oldest = this.segments[0];
      if (oldest.live > 0) {
        const { bytes, live } = this.usage();
        const mostlyDead = oldest.live * 2 < oldest.size;
        const bloated = bytes > 2 * live + 2 * this.segmentBytes;
        if (!mostlyDead && !bloated) return;
        const raw = await readFile(oldest.path);
        if (this.closed || this.readers > 0) return;
        for (const rec of [...oldest.records]) {
          const copy = this.append(raw.subarray(rec.start, rec.start + rec.length));
          oldest.records.delete(rec);
          oldest.live -= rec.length;
          rec.seg = copy.seg;
          rec.start = copy.start;
          copy.seg.records.add(rec);
          copy.seg.live += rec.length;
        }
      }
      this.segments.shift();
      await unlink(oldest.path);
    }
  }

  /**
   * Moves the writes of a journal left in LevelDB by an earlier slotfs into the log, makes
   * them durable, and only then removes the database.
   */
  private async moveOver(log?: (line: string) => void): Promise<void> {
    const old = await readLevelJournal(this.location);
    for (const e of old.entries) {
      // Replaces any copy moved over by a run that stopped before removing the database.
      await this.record({
        kind: 'begin',
        seq: ++this.seq,
        id: e.id,
        meta: json(e.meta),
        snapshot: e.contents,
      });
      if (e.changedAt !== undefined) await this.truncate(e.id, e.contents.length, e.changedAt);
    }
    for (const c of old.changes) {
      this.seq = Math.max(this.seq, Number(c.id.slice(2)) || 0);
      await this.record({ kind: 'change', seq: ++this.seq, id: c.id, change: json(c.change) });
    }
    await new Promise<void>((ok, fail) => fsync(this.fd, (err) => (err ? fail(err) : ok())));
    // CURRENT first: without it the rest is no database, and a crash midway leaves no
    // second copy to move over again.
    await unlink(join(this.location, LEVELDB_MARKER));
    for (const name of await readdir(this.location)) {
      if (/^(LOCK|LOG|LOG\.old|MANIFEST-\d+|\d+\.(log|ldb|sst))$/.test(name)) {
        await rm(join(this.location, name), { force: true });
      }
    }
    log?.(
      `slotfs: moved ${old.entries.length} file(s) and ${old.changes.length} folder change(s) from the old journal format into the write-back log`,
    );
  }
}

const done = Promise.resolve();
const json = (value: unknown) => text.encode(JSON.stringify(value));
const segmentName = (n: number) => `wal-${String(n).padStart(8, '0')}`;
const damaged = (what: string, cause?: unknown) =>
  new JournalError('ERR_JOURNAL_DAMAGED', `the write-back journal is damaged: ${what}`, { cause });

function parseJson(raw: Bytes, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(raw));
  } catch (err) {
    throw damaged(`${what} does not parse (${(err as Error).message})`, err);
  }
}

function checkMeta(value: unknown, id: string): JournalMeta {
  const meta = value as JournalMeta | undefined;
  if (typeof meta?.parentCap !== 'string' || typeof meta.name !== 'string') {
    throw damaged(`entry ${id} has no parent folder or name in its metadata`);
  }
  return meta;
}

/**
 * Reads every segment: the records in order, with where they are. A torn record can only
 * be at the end of the newest segment (a write cut by a machine crash; its call never
 * returned): it is cut off. Damage anywhere else is reported, not skipped.
 */
async function readSegments(
  where: string,
  log?: (line: string) => void,
): Promise<{
  segments: Segment[];
  replayed: Array<{ record: JournalRecord; rec: Rec }>;
  maxSeq: number;
}> {
  const numbers = readdirSync(where)
    .map((name) => SEGMENT_NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (numbers.length === 0) numbers.push(1);
  const segments: Segment[] = [];
  const replayed: Array<{ record: JournalRecord; rec: Rec }> = [];
  let maxSeq = 0;
  for (const [i, number] of numbers.entries()) {
    const path = join(where, segmentName(number));
    const raw = await readFile(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    });
    const { records, validBytes } = decodeJournalRecords(raw);
    if (validBytes < raw.length) {
      if (i < numbers.length - 1) {
        throw damaged(
          `${path} has ${raw.length - validBytes} unreadable bytes at offset ${validBytes}. It holds writes not yet published; move the journal aside only if you accept losing them.`,
        );
      }
      log?.(
        `slotfs: the write-back journal ended in a torn record (${raw.length - validBytes} bytes, from a crash before that write returned): dropped`,
      );
      await writeFile(path, raw.subarray(0, validBytes));
    }
    const seg: Segment = { number, path, size: validBytes, live: 0, records: new Set() };
    segments.push(seg);
    for (const { record, start, end } of records) {
      replayed.push({
        record,
        rec: { seg, start, length: end - start, seq: record.seq, roles: 0 },
      });
      maxSeq = Math.max(maxSeq, record.seq);
    }
  }
  return { segments, replayed, maxSeq };
}

/** Reads records back from their segments, each segment once. */
class RecordReader {
  private readonly cache = new Map<string, Promise<Buffer>>();
  async read(rec: Rec): Promise<JournalRecord> {
    const { seg, start, length } = rec;
    let raw = this.cache.get(seg.path);
    // Read again when the record was appended after the segment was read.
    if (!raw || (await raw).length < start + length) {
      this.cache.set(seg.path, (raw = readFile(seg.path)));
    }
    const bytes = (await raw).subarray(start, start + length);
    const [decoded] = decodeJournalRecords(bytes).records;
    if (!decoded) throw damaged(`the record at ${start} in ${seg.path} no longer reads`);
    return decoded.record;
  }
}
