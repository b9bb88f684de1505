// The mount's write-back journal: a LevelDB database (client dir, `journal/`) that holds
// every write the mount has acknowledged but not yet published, so a killed client loses
// nothing it acknowledged (design.md, "Honesty rules for the mount"). LevelDB hands every
// record to the operating system before a put resolves, so a write that returned survives
// the process being killed; only a machine crash can lose the unsynced tail.
//
// Per dirty file (random id): `m!ID` the metadata (JSON), `s!ID` the contents when the
// file became dirty (or at the last compaction), `o!ID!SEQ` the writes and truncates since,
// in order. Replaying the snapshot and then the operations gives the dirty contents.
// Directory changes the mount acknowledged before publishing them: `d!SEQ` (JSON), in order.
import { Level } from 'level';
import { GroupCommit } from './group-commit.js';

export interface JournalVersion {
  seqnum: number;
  /** hex */
  rootHash: string;
}

export interface JournalMeta {
  /** The file's cap, once it exists on the grid (a new file has none yet). */
  cap?: string;
  /** The directory the file is linked under (or will be), and its name there. */
  parentCap: string;
  name: string;
  /** Path in the mount when journaled (for log lines only). */
  path?: string;
  /** The version the dirty contents were based on (absent for a new file). */
  basedOn?: JournalVersion;
  /** Not linked yet: 'new' (the name was free) or 'replace' (renamed over another entry). */
  link?: 'new' | 'replace';
  mode?: number;
  /** Modification time, ms since the epoch. */
  mtime?: number;
  /** mark() when this metadata was recorded: writes recorded later bring their own mtime. */
  afterOp?: number;
}

export interface JournalEntry {
  id: string;
  meta: JournalMeta;
  contents: Uint8Array;
  /**
   * The modification time (ms) carried by the last write or truncate, when it was recorded
   * after the metadata (which otherwise holds the newer mtime, e.g. set by touch -d).
   */
  changedAt?: number;
}

export class JournalError extends Error {
  constructor(
    readonly code: 'ERR_JOURNAL_LOCKED' | 'ERR_JOURNAL_DAMAGED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JournalError';
  }
}

type Bytes = Uint8Array;
const OP_WRITE = 0x57; // 'W'
const OP_TRUNCATE = 0x54; // 'T'
// The same, followed by the change's modification time (float64 ms) before the data.
const OP_WRITE_AT = 0x77; // 'w'
const OP_TRUNCATE_AT = 0x74; // 't'

const text = new TextEncoder();

type BatchOp = { type: 'put'; key: string; value: Bytes } | { type: 'del'; key: string };

export class WriteJournal {
  private seq: number;
  /** Per id, the last operation queued: operations of one id run in the order called. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Ids cleared: changes still arriving for them are dropped, never resurrected. */
  private readonly cleared = new Set<string>();
  /**
   * Group commit: a record is handed to LevelDB at once when no batch is being written;
   * otherwise it waits with the others that arrive meanwhile, and they go as one batch (one
   * hand-off to LevelDB's thread instead of one each) when the current one is written.
   */
  private readonly commits = new GroupCommit<BatchOp>((ops) => this.db.batch(ops), 'journal');

  private constructor(private readonly db: Level<string, Bytes>) {
    // Sequence numbers only order the operations of one id; starting from the clock keeps
    // them increasing across restarts too.
    this.seq = Date.now() * 1000;
  }

  static async open(location: string): Promise<WriteJournal> {
    const db = new Level<string, Bytes>(location, { valueEncoding: 'view' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause;
      const detail = `${(err as Error).message} ${cause?.message ?? ''}`.trim();
      if (/lock/i.test(detail)) {
        throw new JournalError(
          'ERR_JOURNAL_LOCKED',
          `the write-back journal ${location} is in use by another slotfs process (is this client directory already mounted?)`,
          { cause: err },
        );
      }
      throw new JournalError(
        'ERR_JOURNAL_DAMAGED',
        `cannot open the write-back journal ${location}: ${detail}. It holds writes not yet published; move it aside only if you accept losing them.`,
        { cause: err },
      );
    }
    return new WriteJournal(db);
  }

  async close(): Promise<void> {
    await this.settled();
    await this.db.close();
  }

  /** Starts journaling a file whose contents are now `contents`. */
  begin(id: string, meta: JournalMeta, contents: Bytes): Promise<void> {
    const value = text.encode(JSON.stringify(meta));
    return this.enqueue(id, () =>
      this.store([
        { type: 'put', key: `m!${id}`, value },
        { type: 'put', key: `s!${id}`, value: contents },
      ]),
    );
  }

  setMeta(id: string, meta: JournalMeta): Promise<void> {
    const value = text.encode(JSON.stringify(meta));
    return this.enqueue(id, () => this.store([{ type: 'put', key: `m!${id}`, value }]));
  }

  /** Records a write; `mtime` (ms), when given, is replayed as the file's modification time. */
  write(id: string, offset: number, data: Bytes, mtime?: number): Promise<void> {
    const head = mtime === undefined ? 9 : 17;
    const value = new Uint8Array(head + data.length);
    value[0] = mtime === undefined ? OP_WRITE : OP_WRITE_AT;
    const view = new DataView(value.buffer);
    view.setFloat64(1, offset);
    if (mtime !== undefined) view.setFloat64(9, mtime);
    value.set(data, head);
    const key = this.opKey(id);
    return this.enqueue(id, () => this.store([{ type: 'put', key, value }]));
  }

  truncate(id: string, size: number, mtime?: number): Promise<void> {
    const value = new Uint8Array(mtime === undefined ? 9 : 17);
    value[0] = mtime === undefined ? OP_TRUNCATE : OP_TRUNCATE_AT;
    const view = new DataView(value.buffer);
    view.setFloat64(1, size);
    if (mtime !== undefined) view.setFloat64(9, mtime);
    const key = this.opKey(id);
    return this.enqueue(id, () => this.store([{ type: 'put', key, value }]));
  }

  /** The sequence number of the last operation recorded so far (for compact). */
  mark(): number {
    return this.seq;
  }

  /**
   * Makes `contents` the snapshot of `id` and drops the operations up to `upTo` (a mark()
   * taken when `contents` was the file's state): same replay result, less to keep.
   */
  compact(id: string, contents: Bytes, meta?: JournalMeta, upTo = Infinity): Promise<void> {
    return this.enqueue(id, async () => {
      const ops = (await this.opKeys(id)).filter(
        (key) => Number(key.slice(key.lastIndexOf('!') + 1)) <= upTo,
      );
      await this.store([
        ...ops.map((key) => ({ type: 'del' as const, key })),
        { type: 'put', key: `s!${id}`, value: contents },
        ...(meta
          ? [{ type: 'put' as const, key: `m!${id}`, value: text.encode(JSON.stringify(meta)) }]
          : []),
      ]);
    });
  }

  /** Forgets `id` (published, or the file was deleted); later changes to it are dropped. */
  clear(id: string): Promise<void> {
    const done = this.enqueue(id, async () => {
      const ops = await this.opKeys(id);
      await this.store([
        ...ops.map((key) => ({ type: 'del' as const, key })),
        { type: 'del', key: `s!${id}` },
        { type: 'del', key: `m!${id}` },
      ]);
    });
    this.cleared.add(id);
    if (this.cleared.size > 100_000) this.cleared.delete(this.cleared.values().next().value!);
    return done;
  }

  /**
   * Records a directory change acknowledged before it is published (`d!SEQ`, JSON); the
   * returned id orders it among the others. Cleared with clearChange once published.
   */
  recordChange(change: unknown): { id: string; recorded: Promise<void> } {
    const id = `d!${String(++this.seq).padStart(20, '0')}`;
    const value = text.encode(JSON.stringify(change));
    return { id, recorded: this.enqueue(id, () => this.store([{ type: 'put', key: id, value }])) };
  }

  /** Forgets a directory change (published, or nothing left to do). */
  clearChange(id: string): Promise<void> {
    return this.enqueue(id, () => this.store([{ type: 'del', key: id }]));
  }

  /** The directory changes recorded and not cleared, oldest first. */
  async changes(): Promise<Array<{ id: string; change: unknown }>> {
    const out: Array<{ id: string; change: unknown }> = [];
    for await (const [key, raw] of this.db.iterator({ gte: 'd!', lt: 'd"' })) {
      try {
        out.push({ id: key, change: JSON.parse(new TextDecoder().decode(raw)) });
      } catch (err) {
        throw new JournalError(
          'ERR_JOURNAL_DAMAGED',
          `journal directory change ${key} is damaged (${(err as Error).message})`,
          { cause: err },
        );
      }
    }
    return out;
  }

  /** Writes `ops`, with the records asked for while the previous batch is being written. */
  private store(ops: BatchOp[]): Promise<void> {
    return this.commits.add(ops);
  }

  /** Resolves once every queued operation has finished. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
  }

  /**
   * Runs `operation` after the earlier operations of `id` (LevelDB may otherwise finish
   * concurrent writes in any order); nothing runs for an id already cleared.
   */
  private enqueue(id: string, operation: () => Promise<unknown>): Promise<void> {
    if (this.cleared.has(id)) return Promise.resolve();
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(operation, operation).then(() => undefined);
    this.chains.set(id, next);
    const forget = () => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    };
    next.then(forget, forget);
    return next;
  }

  /** Every journaled file with its dirty contents, replayed. */
  async entries(): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    for await (const [key, raw] of this.db.iterator({ gte: 'm!', lt: 'm"' })) {
      const id = key.slice(2);
      let meta: JournalMeta;
      try {
        meta = JSON.parse(new TextDecoder().decode(raw)) as JournalMeta;
        if (typeof meta.parentCap !== 'string' || typeof meta.name !== 'string') {
          throw new Error('missing parentCap or name');
        }
      } catch (err) {
        throw new JournalError(
          'ERR_JOURNAL_DAMAGED',
          `journal entry ${id} has damaged metadata (${(err as Error).message})`,
          { cause: err },
        );
      }
      const snapshot = (await this.db.get(`s!${id}`)) ?? new Uint8Array(0);
      const contents = new Replay(snapshot);
      let changedAt: number | undefined;
      for await (const [key, op] of this.db.iterator({ gt: `o!${id}!`, lt: `o!${id}"` })) {
        const view = new DataView(op.buffer, op.byteOffset, op.byteLength);
        const at = view.getFloat64(1);
        const timed = op[0] === OP_WRITE_AT || op[0] === OP_TRUNCATE_AT;
        const seq = Number(key.slice(key.lastIndexOf('!') + 1));
        if (timed && seq > (meta.afterOp ?? -Infinity)) changedAt = view.getFloat64(9);
        if (op[0] === OP_WRITE) contents.write(at, op.subarray(9));
        else if (op[0] === OP_WRITE_AT) contents.write(at, op.subarray(17));
        else if (op[0] === OP_TRUNCATE || op[0] === OP_TRUNCATE_AT) contents.truncate(at);
      }
      out.push({ id, meta, contents: contents.result(), changedAt });
    }
    return out;
  }

  private opKey(id: string): string {
    return `o!${id}!${String(++this.seq).padStart(20, '0')}`;
  }

  private async opKeys(id: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of this.db.keys({ gt: `o!${id}!`, lt: `o!${id}"` })) keys.push(key);
    return keys;
  }
}

/** Applies journaled operations to a snapshot. */
class Replay {
  private bytes: Uint8Array;
  private length: number;
  constructor(snapshot: Bytes) {
    this.bytes = new Uint8Array(snapshot);
    this.length = snapshot.length;
  }
  write(offset: number, data: Bytes): void {
    this.ensure(offset + data.length);
    if (offset > this.length) this.bytes.fill(0, this.length, offset);
    this.bytes.set(data, offset);
    this.length = Math.max(this.length, offset + data.length);
  }
  truncate(size: number): void {
    this.ensure(size);
    if (size > this.length) this.bytes.fill(0, this.length, size);
    this.length = size;
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
  private ensure(size: number): void {
    if (size <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(size, this.bytes.length * 2));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
}
