// The storage server's write-ahead commit log (group commit). A request's share changes are
// appended to the log as one record; records that arrive while a batch is being made
// durable wait for the next batch, and each batch costs one write and one fdatasync of the
// log however many requests it holds. Only then are the share files changed (without
// fsync) and the requests answered. The share files are made durable later, in the
// background, by a checkpoint: the log moves on to a new segment, every file and directory
// the old segment's records touched is fsynced, and the old segment is deleted. After a
// crash, start-up replays whatever segments are left; the edits are idempotent, so files
// that already hold some of them end up the same.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decodeRecords, encodeRecord, type CommitRecord } from './commit-record.js';
import { quickFs } from './quick-fs.js';

/** What applying a record changed: files whose bytes changed, directories whose entries did. */
export interface Touched {
  files: string[];
  dirs: string[];
}

/** Counters for the metrics endpoint and tests (cumulative since start). */
export interface CommitCounters {
  /** Records committed (one per request that changed shares). */
  records: number;
  /** Log batches written (one write + one fdatasync each). */
  batches: number;
  logSyncs: number;
  /** fsyncs of share files and directories by checkpoints and replay. */
  fileSyncs: number;
  dirSyncs: number;
  /** Syncs of the whole file system that stood in for those fsyncs. */
  fsSyncs: number;
  checkpoints: number;
}

export interface CommitLogOptions {
  /** A segment this large is checkpointed (default 8 MiB). */
  checkpointBytes?: number;
  /** Checkpoint after this long without a new record (default 1 s). */
  idleCheckpointMs?: number;
  /**
   * The program that syncs the whole file system holding the log (`sync -f <dir>`, Linux's
   * syncfs; default `sync`), or false. A checkpoint that touched many files runs it once
   * instead of fsyncing every file and directory; if it fails, the checkpoint fsyncs them
   * one by one as without it.
   */
  syncCommand?: string | false;
}

/** Fewer touched paths than this are fsynced one by one (cheaper than starting a program). */
const FS_SYNC_MIN_PATHS = 32;

/** Runs `<command> -f <dir>`: 'missing' if the program could not be started. */
function syncFileSystem(command: string, dir: string): Promise<'ok' | 'failed' | 'missing'> {
  return new Promise((resolve) => {
    execFile(command, ['-f', dir], { timeout: 10 * 60_000 }, (err) => {
      if (!err) resolve('ok');
      else resolve(typeof err.code === 'string' ? 'missing' : 'failed');
    });
  });
}

interface Segment {
  seq: number;
  file: string;
  handle?: fs.FileHandle;
  size: number;
  /** Records written here whose files are not yet applied. */
  inFlight: number;
  drained?: () => void;
  files: Set<string>;
  dirs: Set<string>;
}

export interface Pending {
  bytes: Buffer;
  done: (segment: Segment) => void;
  failed: (err: unknown) => void;
}

const SEGMENT = /^(\d{12})\.log$/;
const SYNC_CONCURRENCY = 32;

async function fsyncPath(p: string): Promise<boolean> {
  let fd: number;
  try {
    fd = await quickFs.open(p, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // deleted since
    throw err;
  }
  try {
    await quickFs.fsync(fd);
    return true;
  } finally {
    await quickFs.close(fd);
  }
}

/** Runs `task` over `items`, a bounded number at a time. */
async function eachBounded<T>(items: T[], task: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(SYNC_CONCURRENCY, items.length) }, worker));
}

export class CommitLog {
  readonly counters: CommitCounters = {
    records: 0,
    batches: 0,
    logSyncs: 0,
    fileSyncs: 0,
    dirSyncs: 0,
    fsSyncs: 0,
    checkpoints: 0,
  };
  private current?: Segment;
  private nextSeq = 1;
  private pending: Pending[] = [];
  private flushing?: Promise<void>;
  /** The last checkpoint queued (they run one after another). */
  private checkpointing?: Promise<void>;
  /** A record could not be applied: its segment must stay for the next start's replay. */
  private stuck = false;
  /** Rotated-out segments not yet checkpointed, oldest first. */
  private readonly unfinished: Segment[] = [];
  private idleTimer?: NodeJS.Timeout;
  private readonly checkpointBytes: number;
  private readonly idleMs: number;
  /** Cleared when the sync program could not be used. */
  private syncCommand: string | false;

  constructor(
    readonly dir: string,
    options: CommitLogOptions = {},
  ) {
    this.checkpointBytes = options.checkpointBytes ?? 8 << 20;
    this.idleMs = options.idleCheckpointMs ?? 1000;
    this.syncCommand = options.syncCommand ?? (process.platform === 'linux' ? 'sync' : false);
  }

  private async segmentFiles(): Promise<Array<{ seq: number; file: string }>> {
    await fs.mkdir(this.dir, { recursive: true });
    return (await fs.readdir(this.dir))
      .map((n) => SEGMENT.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ seq: Number(m[1]), file: path.join(this.dir, m[0]) }))
      .sort((a, b) => a.seq - b.seq);
  }

  /**
   * Applies every record left by a previous run, oldest first (stopping inside a segment
   * at its torn tail), makes the result durable and deletes the segments.
   */
  async replay(
    apply: (record: CommitRecord) => Promise<Touched>,
  ): Promise<{ records: number; tornBytes: number }> {
    const segments = await this.segmentFiles();
    const files = new Set<string>();
    const dirs = new Set<string>();
    let records = 0;
    let tornBytes = 0;
    for (const { seq, file } of segments) {
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      const bytes = await fs.readFile(file);
      const decoded = decodeRecords(bytes);
      tornBytes += bytes.length - decoded.validBytes;
      for (const record of decoded.records) {
        const touched = await apply(record);
        touched.files.forEach((f) => files.add(f));
        touched.dirs.forEach((d) => dirs.add(d));
        records++;
      }
    }
    if (segments.length === 0) return { records, tornBytes };
    await this.syncAll(files, dirs);
    for (const { file } of segments) await fs.rm(file, { force: true });
    await fsyncPath(this.dir);
    this.counters.dirSyncs++;
    return { records, tornBytes };
  }

  /**
   * Makes `record` durable in the log (together with whatever else arrives meanwhile), then
   * runs `apply` to change the share files. Resolves once both are done. If the log write
   * fails nothing was changed; if `apply` fails the record is still in the log (a restart
   * applies it), and the error says so.
   */
  async commit<T>(
    record: CommitRecord,
    apply: () => Promise<{ touched: Touched; result: T }>,
    member?: GroupMember,
  ): Promise<T> {
    const bytes = encodeRecord(record);
    const segment = await new Promise<Segment>((done, failed) => {
      if (member) member.join({ bytes, done, failed });
      else this.enqueue([{ bytes, done, failed }]);
    });
    try {
      const { touched, result } = await apply();
      touched.files.forEach((f) => segment.files.add(f));
      touched.dirs.forEach((d) => segment.dirs.add(d));
      return result;
    } catch (err) {
      // The files may now hold part of the record: only a replay (at the next start) may
      // delete this log, so no checkpoint runs from now on.
      this.stuck = true;
      throw err;
    } finally {
      this.release(segment, 1);
      this.counters.records++;
      this.scheduleCheckpoint(segment);
    }
  }

  private enqueue(records: Pending[]) {
    this.pending.push(...records);
    if (this.pending.length > 0) this.flushing ??= this.flush();
  }

  /**
   * A group of `size` commits whose records go to the log together, in one batch (one
   * write, one fdatasync), once every member has either joined with its record or left
   * without one. A member must not wait for anything that waits for the group (such as
   * another member's slot lock): it would never arrive.
   */
  group(size: number): CommitGroup {
    return new CommitGroup(size, (held) => this.enqueue(held));
  }

  private async openSegment(): Promise<Segment> {
    const seq = this.nextSeq++;
    const file = path.join(this.dir, `${String(seq).padStart(12, '0')}.log`);
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      // The new segment's name must survive a crash before anything in it is acknowledged.
      await fsyncPath(this.dir);
      this.counters.dirSyncs++;
    } catch (err) {
      await handle.close().catch(() => undefined);
      await fs.rm(file, { force: true }).catch(() => undefined);
      throw err;
    }
    return { seq, file, handle, size: 0, inFlight: 0, files: new Set(), dirs: new Set() };
  }

  /**
   * Writes and fdatasyncs batches until nothing is pending. It stops being `flushing` in the
   * same step as it finds nothing pending, so a record pushed just after starts a new flush.
   */
  private async flush() {
    for (;;) {
      if (this.pending.length === 0) {
        this.flushing = undefined;
        return;
      }
      const batch = this.pending;
      this.pending = [];
      let segment: Segment | undefined;
      try {
        if (!this.current) this.current = await this.openSegment();
        segment = this.current;
        // Counted before the write, so a checkpoint of this segment waits for the batch.
        segment.inFlight += batch.length;
        const bytes =
          batch.length === 1 ? batch[0].bytes : Buffer.concat(batch.map((p) => p.bytes));
        try {
          await segment.handle!.write(bytes, 0, bytes.length, segment.size);
          await segment.handle!.datasync();
        } catch (err) {
          this.release(segment, batch.length);
          // Cut the failed batch off again, so that later batches follow whole records; if
          // that fails too, later batches go to a new segment (replay stops at this tail).
          const s = segment;
          await s.handle!.truncate(s.size).catch(() => {
            if (this.current === s) void this.checkpoint(this.rotate()).catch(() => undefined);
          });
          throw err;
        }
        segment.size += bytes.length;
        this.counters.batches++;
        this.counters.logSyncs++;
      } catch (err) {
        for (const p of batch) p.failed(err);
        continue;
      }
      for (const p of batch) p.done(segment);
    }
  }

  private release(segment: Segment, records: number) {
    segment.inFlight -= records;
    if (segment.inFlight === 0) segment.drained?.();
  }

  private scheduleCheckpoint(segment: Segment) {
    if (segment !== this.current) return;
    if (segment.size >= this.checkpointBytes) {
      void this.checkpoint(this.rotate()).catch(() => undefined);
      return;
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(
      () => void this.checkpoint(this.rotate()).catch(() => undefined),
      this.idleMs,
    );
    this.idleTimer.unref();
  }

  /** New records go to a fresh segment from now on; returns the old one. */
  private rotate(): Segment | undefined {
    const old = this.current;
    this.current = undefined;
    return old;
  }

  /**
   * Waits for `old`'s records to be applied, fsyncs what they touched and deletes it.
   * Checkpoints run one at a time, oldest segment first, so a segment is never deleted
   * while an older one (which a replay would apply before it) is still there.
   */
  private checkpoint(old: Segment | undefined): Promise<void> {
    if (old) this.unfinished.push(old);
    const run = async () => {
      // A segment whose checkpoint failed stays first in line and is retried: deleting a
      // newer one before it would let a replay apply the older records last.
      while (this.unfinished.length > 0 && !this.stuck) {
        const segment = this.unfinished[0];
        if (segment.inFlight > 0) await new Promise<void>((r) => (segment.drained = r));
        // A record of this segment may have failed to apply while we waited: then it stays.
        if (this.stuck) return;
        await this.syncAll(segment.files, segment.dirs);
        await segment.handle!.close().catch(() => undefined);
        await fs.rm(segment.file, { force: true });
        await fsyncPath(this.dir);
        this.counters.dirSyncs++;
        this.counters.checkpoints++;
        this.unfinished.shift();
      }
    };
    const mine = (this.checkpointing ?? Promise.resolve()).catch(() => undefined).then(run);
    this.checkpointing = mine;
    return mine;
  }

  private async syncAll(files: Set<string>, dirs: Set<string>) {
    // Every touched path is in the log's file system (the store's folder): one syncfs
    // writes them all, with one journal commit, for less CPU than an fsync of each.
    if (this.syncCommand && files.size + dirs.size >= FS_SYNC_MIN_PATHS) {
      const synced = await syncFileSystem(this.syncCommand, this.dir);
      if (synced === 'ok') {
        this.counters.fsSyncs++;
        return;
      }
      if (synced === 'missing') this.syncCommand = false;
      // Failed: the fsyncs below say which file the disk refused.
    }
    await eachBounded([...files], async (f) => {
      if (await fsyncPath(f)) this.counters.fileSyncs++;
    });
    // Deepest first is not needed: each directory's own entries are what its fsync keeps.
    await eachBounded([...dirs], async (d) => {
      if (await fsyncPath(d)) this.counters.dirSyncs++;
    });
  }

  /** Checkpoints everything logged so far; resolves when those segments are deleted. */
  checkpointNow(): Promise<void> {
    return this.checkpoint(this.rotate());
  }

  /** Keeps every segment for the next start's replay (the files cannot be trusted). */
  hold() {
    this.stuck = true;
  }

  /** Finishes pending work and checkpoints, leaving no segment behind. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    await this.flushing;
    await this.checkpoint(this.rotate());
  }
}

/** One member of a CommitGroup: joins with a record or leaves, once. */
export interface GroupMember {
  join(record: Pending): void;
  leave(): void;
}

export class CommitGroup {
  private held: Pending[] = [];
  private created = 0;
  private waiting: number;
  constructor(
    private readonly size: number,
    private readonly release: (held: Pending[]) => void,
  ) {
    this.waiting = size;
  }

  /** The next of the `size` members. */
  member(): GroupMember {
    if (++this.created > this.size) throw new Error(`CommitGroup: more than ${this.size} members`);
    let done = false;
    const arrive = (record?: Pending) => {
      if (done) return;
      done = true;
      if (record) this.held.push(record);
      if (--this.waiting === 0) {
        const held = this.held;
        this.held = [];
        this.release(held);
      }
    };
    return { join: (record) => arrive(record), leave: () => arrive() };
  }
}
