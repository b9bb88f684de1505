// Share containers on disk: `<dir>/shares/<si[:2]>/<si>/<shnum>`, one file per share.
// Every change goes through the commit log (commit-log.ts) first: a request's changes are
// one record, records arriving together share one write and one fdatasync of the log, and
// only then are the share files changed and the request answered. So an acknowledged
// change is durable (the log), the share files are brought up to date by a replay after
// a crash, and a change that never reached the log was never applied. The files are
// fsynced later, in the background, by the log's checkpoints. Bucket directories are
// made before the log record is written, so a full disk refuses a new bucket while
// nothing has changed yet.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { quickFs, readStartNow } from './quick-fs.js';
import {
  ContainerFormatError,
  DATA_OFFSET,
  HEADER_SIZE,
  LEASE_DURATION_SECONDS,
  MutableContainer,
  parseHeader,
} from './container.js';
import { addOrRenewImmutableLease, isImmutableContainer } from './immutable-container.js';
import type { ReadTestWriteRequest } from './protocol.js';
import { readTestWrite, type SlotOutcome, type SlotSecrets } from './slot.js';
import { DirSync } from './dir-sync.js';
import {
  CommitLog,
  type CommitCounters,
  type CommitLogOptions,
  type GroupMember,
  type Touched,
} from './commit-log.js';
import { editBetween, type CommitRecord, type ShareEdit } from './commit-record.js';

const SHARE_FILE = /^\d+$/;

// Every request lists its bucket and reads or writes share files: through quickFs.
const readdirQuick = quickFs.readdir;
const readFileQuick = quickFs.readFile;
const writeFileQuick = quickFs.writeFile;
const mkdirQuick = quickFs.mkdir;

/** A container as the bytes to write. */
interface Persistable {
  toBytes(): Uint8Array;
}
const TEMP_PREFIX = '.tmp-';

/** The disk refused a change; nothing was applied. `noSpace` for ENOSPC/EDQUOT. */
export class StoreIoError extends Error {
  readonly code: 'ERR_STORAGE_NO_SPACE' | 'ERR_STORAGE_IO';
  readonly errno: string | undefined;
  constructor(
    readonly operation: string,
    cause: NodeJS.ErrnoException,
    /** What became of the change, for the message. */
    outcome = 'nothing was changed',
  ) {
    const noSpace = cause.code === 'ENOSPC' || cause.code === 'EDQUOT';
    super(
      noSpace
        ? `the server's disk is full (${cause.code} while ${operation}); ${outcome} — free space or use another server`
        : `disk error while ${operation}: ${cause.message}; ${outcome}`,
      { cause },
    );
    this.errno = cause.code;
    this.name = 'StoreIoError';
    this.code = noSpace ? 'ERR_STORAGE_NO_SPACE' : 'ERR_STORAGE_IO';
  }
}

export interface StoreOptions {
  nodeId: Uint8Array;
  maxShareSize: number;
  /** Clock in unix seconds (tests may fix it). */
  now?: () => number;
  /** Checkpoint settings of the commit log. */
  commitLog?: CommitLogOptions;
}

/** Runs tasks for one key strictly one after another. */
class KeyedQueue {
  private tails = new Map<string, Promise<unknown>>();
  /** Whether a task for `key` is queued or running (a new one would wait). */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

export async function fsyncDir(dir: string) {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Whether a request's vectors for one share write anything. */
const hasWrites = (tw: { write: readonly unknown[] }) => tw.write.length > 0;

/** The header of the share whose first bytes are `head`; null for an immutable share. */
function mutableHeader(head: Uint8Array, si: string, shnum: number) {
  return isImmutableContainer(head) ? null : parseHeader(head, `share ${si}/${shnum}`);
}

function cutShort(si: string, shnum: number, dataLength: number): ContainerFormatError {
  return new ContainerFormatError(
    `share ${si}/${shnum}: file ends before its recorded data length ${dataLength}`,
  );
}

/** Shares read-many reads in one step before it lets other requests in. */
const READ_STARTS_CHUNK = 256;

/** How many storage indexes `knownBuckets` holds before it starts again. */
const KNOWN_BUCKETS = 65_536;

export class ShareStore {
  readonly sharesDir: string;
  /**
   * Buckets seen to exist lately. Only a hint for where a write starts (list the bucket, or
   * make it): a wrong hint costs a call, never a wrong answer.
   */
  private readonly knownBuckets = new Set<string>();
  private queue = new KeyedQueue();
  /** Concurrent commits into one directory share its fsync (group commit). */
  private readonly dirSync = new DirSync(fsyncDir);
  private readonly now: () => number;
  private readonly log: CommitLog;
  /** Set when share files could not be brought up to date with a logged change. */
  private wedged?: StoreIoError;

  constructor(
    readonly dir: string,
    private readonly options: StoreOptions,
  ) {
    this.sharesDir = path.join(dir, 'shares');
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.log = new CommitLog(path.join(dir, 'commit-log'), options.commitLog);
  }

  /** Commit counters (records, log batches and fsyncs, checkpoint fsyncs). */
  get commitCounters(): Readonly<CommitCounters> {
    return this.log.counters;
  }

  /**
   * Creates the shares folder, applies what a crash left in the commit log, and removes
   * temporary files of earlier versions.
   */
  async init(): Promise<{ removedTempFiles: number; replayedRecords: number; tornBytes: number }> {
    await fs.mkdir(this.sharesDir, { recursive: true });
    const replayed = await this.log.replay((record) => this.apply(record, true));
    const removedTempFiles = await this.removeTempFiles();
    return { removedTempFiles, replayedRecords: replayed.records, tornBytes: replayed.tornBytes };
  }

  /** Finishes logged work and checkpoints it (a clean stop leaves no log to replay). */
  close(): Promise<void> {
    return this.log.close();
  }

  private async removeTempFiles(): Promise<number> {
    let removed = 0;
    for (const prefix of await fs.readdir(this.sharesDir)) {
      const prefixDir = path.join(this.sharesDir, prefix);
      let buckets: string[];
      try {
        buckets = await fs.readdir(prefixDir);
      } catch {
        continue;
      }
      for (const bucket of buckets) {
        const bucketDir = path.join(prefixDir, bucket);
        let names: string[];
        try {
          names = await fs.readdir(bucketDir);
        } catch {
          continue;
        }
        for (const name of names) {
          if (name.startsWith(TEMP_PREFIX)) {
            await fs.rm(path.join(bucketDir, name), { force: true });
            removed++;
          }
        }
        if (removed > 0 && (await fs.readdir(bucketDir)).length === 0) {
          await fs.rmdir(bucketDir).catch(() => undefined);
        }
      }
    }
    return removed;
  }

  bucketDir(si: string): string {
    return path.join(this.sharesDir, si.slice(0, 2), si);
  }

  /** Serialises `task` with every other operation on the same storage index. */
  withSlot<T>(si: string, task: () => Promise<T>): Promise<T> {
    return this.queue.run(si, task);
  }

  /** Numbers of the share files in `si`'s bucket, mutable or immutable, ascending. */
  async shareNumbers(si: string): Promise<number[]> {
    let names: string[];
    try {
      names = await readdirQuick(this.bucketDir(si));
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
      throw err;
    }
    this.rememberBucket(si);
    return names
      .filter((n) => SHARE_FILE.test(n))
      .map(Number)
      .filter(Number.isSafeInteger)
      .sort((a, b) => a - b);
  }

  /** The mutable shares of `si`, parsed, and the file bytes they were parsed from. */
  private async loadSlot(
    si: string,
  ): Promise<{ shares: Map<number, MutableContainer>; files: Map<number, Uint8Array> }> {
    const out = new Map<number, MutableContainer>();
    const files = new Map<number, Uint8Array>();
    for (const shnum of await this.shareNumbers(si)) {
      const file = path.join(this.bucketDir(si), String(shnum));
      let bytes: Uint8Array;
      try {
        bytes = await readFileQuick(file);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      // Immutable shares are the immutable store's; a mutable request never sees them.
      if (isImmutableContainer(bytes)) continue;
      out.set(shnum, MutableContainer.parse(bytes, `share ${si}/${shnum}`));
      files.set(shnum, bytes);
    }
    return { shares: out, files };
  }

  /** Every share file of `si` as bytes (mutable and immutable). */
  private async loadFiles(si: string): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    for (const shnum of await this.shareNumbers(si)) {
      try {
        out.set(shnum, await fs.readFile(path.join(this.bucketDir(si), String(shnum))));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return out;
  }

  /** Share numbers held for `si` (empty if none). */
  listShares(si: string): Promise<number[]> {
    return this.withSlot(si, async () => {
      const out: number[] = [];
      for (const shnum of await this.shareNumbers(si)) {
        if (!(await this.holdsImmutable(si, shnum))) out.push(shnum);
      }
      return out;
    });
  }

  /** Whether share `shnum` of `si` is an immutable container (they share the bucket). */
  private async holdsImmutable(si: string, shnum: number): Promise<boolean> {
    let h: fs.FileHandle;
    try {
      h = await fs.open(path.join(this.bucketDir(si), String(shnum)), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
      throw err;
    }
    try {
      const header = new Uint8Array(4);
      const { bytesRead } = await h.read(header, 0, 4, 0);
      return isImmutableContainer(header.subarray(0, bytesRead));
    } finally {
      await h.close();
    }
  }

  /** Whole container of one share, or undefined if absent. */
  readContainer(si: string, shnum: number): Promise<MutableContainer | undefined> {
    return this.withSlot(si, async () => {
      try {
        const bytes = await fs.readFile(path.join(this.bucketDir(si), String(shnum)));
        return MutableContainer.parse(bytes, `share ${si}/${shnum}`);
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
        throw err;
      }
    });
  }

  /**
   * Reads share data [offset, end) clipped to the data length; `end` undefined = to the end.
   * Returns undefined if the share is absent. Reads through one file handle, so a concurrent
   * rename cannot mix two versions.
   */
  readShare(
    si: string,
    shnum: number,
    offset: number,
    end?: number,
  ): Promise<{ data: Uint8Array; dataLength: number } | undefined> {
    return this.withSlot(si, async () => {
      let fd: number;
      try {
        fd = await quickFs.open(path.join(this.bucketDir(si), String(shnum)), 'r');
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
        throw err;
      }
      try {
        const header = new Uint8Array(HEADER_SIZE);
        const bytesRead = await quickFs.read(fd, header, 0);
        const h = mutableHeader(header.subarray(0, bytesRead), si, shnum);
        if (!h) return undefined;
        const stop = Math.min(end ?? h.dataLength, h.dataLength);
        if (offset >= stop) return { data: new Uint8Array(0), dataLength: h.dataLength };
        const data = new Uint8Array(stop - offset);
        const read = await quickFs.read(fd, data, DATA_OFFSET + offset);
        if (read !== data.length) throw cutShort(si, shnum, h.dataLength);
        return { data, dataLength: h.dataLength };
      } finally {
        await quickFs.close(fd);
      }
    });
  }

  /**
   * The first `length` bytes of the data of each share (null: absent, or immutable), for
   * read-many: thousands of small reads, each one open, read and close made in one step
   * when nothing else is under way on its slot. This store's operations all run on this
   * thread, so none can come between; a share whose slot is busy waits its turn, as in
   * readShare. Yields between chunks, so other requests are not held up for long.
   */
  async readShareStarts(
    reads: ReadonlyArray<{ si: string; shnum: number }>,
    length: number,
  ): Promise<Array<Uint8Array | null>> {
    const out = new Array<Uint8Array | null>(reads.length).fill(null);
    const waiting: Array<Promise<void>> = [];
    const buffer = new Uint8Array(DATA_OFFSET + length);
    let failure: { error: unknown } | undefined;
    try {
      for (let i = 0; i < reads.length; i++) {
        if (i > 0 && i % READ_STARTS_CHUNK === 0) await new Promise((go) => setImmediate(go));
        const { si, shnum } = reads[i];
        if (this.queue.busy(si)) {
          const got = this.readShare(si, shnum, 0, length);
          waiting.push(got.then((r) => void (out[i] = r ? r.data : null)));
        } else {
          out[i] = this.shareStartNow(si, shnum, buffer, length);
        }
      }
    } catch (error) {
      failure = { error };
    }
    // Every read started is over before this answers (or fails).
    const settled = await Promise.allSettled(waiting);
    if (failure) throw failure.error;
    const rejected = settled.find((r) => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    return out;
  }

  /** readShare(si, shnum, 0, length)'s data in one synchronous step, read into `buffer`. */
  private shareStartNow(
    si: string,
    shnum: number,
    buffer: Uint8Array,
    length: number,
  ): Uint8Array | null {
    const read = readStartNow(`${this.bucketDir(si)}/${shnum}`, buffer);
    if (read === undefined) return null;
    const h = mutableHeader(buffer.subarray(0, Math.min(read, HEADER_SIZE)), si, shnum);
    if (!h) return null;
    const stop = Math.min(length, h.dataLength);
    if (read < DATA_OFFSET + stop) throw cutShort(si, shnum, h.dataLength);
    return buffer.slice(DATA_OFFSET, DATA_OFFSET + stop);
  }

  /** The whole of §9.2 for one storage index, atomically with respect to this store. */
  readTestWrite(
    si: string,
    req: ReadTestWriteRequest,
    secrets: SlotSecrets,
    member?: GroupMember,
  ): Promise<SlotOutcome> {
    return this.withSlot(si, async () => {
      try {
        // A write to a bucket not seen lately makes the bucket first (one call, needed
        // anyway): if that created it, the slot is new and there is nothing to list.
        let made: string[] | undefined;
        if (!this.knownBuckets.has(si) && [...req.testWriteVectors.values()].some(hasWrites)) {
          try {
            made = await this.makeDirs(si);
          } catch (err) {
            throw new StoreIoError(`writing shares of ${si}`, err as NodeJS.ErrnoException);
          }
        }
        const { shares, files } = made?.length
          ? { shares: new Map<number, MutableContainer>(), files: new Map<number, Uint8Array>() }
          : await this.loadSlot(si);
        let outcome: SlotOutcome;
        try {
          outcome = readTestWrite(shares, req, secrets, {
            nodeId: this.options.nodeId,
            now: this.now(),
            maxShareSize: this.options.maxShareSize,
          });
        } catch (err) {
          if (made?.length) await this.removeMadeDirs(si, made);
          throw err;
        }
        if (outcome.changes.size > 0) {
          await this.persist(si, files, outcome.changes, member, made);
        } else if (made?.length) {
          await this.removeMadeDirs(si, made); // (a failed test leaves no new bucket)
        }
        return outcome;
      } finally {
        member?.leave(); // (no-op once it joined with its record)
      }
    });
  }

  /**
   * Many independent read-test-writes, each as readTestWrite (its own outcome or error,
   * durable before it resolves). The changes of those whose slot is free when the call
   * starts go to the commit log as one batch; one whose slot is busy (another request, or
   * an earlier item of the same slot) waits for it and commits on its own, since holding
   * the batch for it could wait on a member of this very batch.
   */
  readTestWriteMany(
    items: ReadonlyArray<{ si: string; req: ReadTestWriteRequest; secrets: SlotSecrets }>,
  ): Promise<Array<PromiseSettledResult<SlotOutcome>>> {
    const free = items.map(
      ({ si }, i) => !this.queue.busy(si) && !items.slice(0, i).some((x) => x.si === si),
    );
    const group = this.log.group(free.filter(Boolean).length);
    return Promise.allSettled(
      items.map(({ si, req, secrets }, i) =>
        this.readTestWrite(si, req, secrets, free[i] ? group.member() : undefined),
      ),
    );
  }

  /**
   * Adds or renews a lease on every share of `si`, mutable or immutable (Tahoe's one lease
   * endpoint serves both); false if there is none.
   */
  addOrRenewLease(si: string, renewSecret: Uint8Array, cancelSecret: Uint8Array) {
    return this.withSlot(si, async () => {
      const files = await this.loadFiles(si);
      if (files.size === 0) return false;
      const expiry = this.now() + LEASE_DURATION_SECONDS;
      const changes = new Map<number, Persistable | null>();
      for (const [shnum, bytes] of files) {
        const where = `share ${si}/${shnum}`;
        if (isImmutableContainer(bytes)) {
          const next = addOrRenewImmutableLease(bytes, renewSecret, cancelSecret, expiry, 1, where);
          if (next !== bytes) changes.set(shnum, { toBytes: () => next });
          continue;
        }
        const next = MutableContainer.parse(bytes, where).clone();
        next.addOrRenewLease(renewSecret, cancelSecret, expiry, this.options.nodeId);
        changes.set(shnum, next);
      }
      if (changes.size > 0) await this.persist(si, files, changes);
      return true;
    });
  }

  /**
   * Commits `changes` (share number → new container, or null to delete) to the share files
   * of `si`, whose current bytes are `before`: through the log, durable before it returns.
   */
  private async persist(
    si: string,
    before: Map<number, Uint8Array>,
    changes: Map<number, Persistable | null>,
    member?: GroupMember,
    /** The directories the caller already made (makeDirs' answer), if it did. */
    dirsMade?: string[],
  ) {
    if (this.wedged) throw this.wedged;
    const edits: ShareEdit[] = [];
    const after = new Map<number, Uint8Array | undefined>();
    for (const [shnum, container] of changes) {
      const next = container?.toBytes();
      after.set(shnum, next);
      edits.push(next ? editBetween(shnum, before.get(shnum), next) : { shnum, kind: 'delete' });
    }
    // What puts the files back as they were (old bytes where they differ, or removal);
    // only needed when applying fails, so only worked out then.
    const restore = (): ShareEdit[] =>
      [...after].map(([shnum, next]) => {
        const old = before.get(shnum);
        if (!old) return { shnum, kind: 'delete' };
        return next ? editBetween(shnum, next, old) : { shnum, kind: 'whole', bytes: old };
      });
    let madeDirs: string[] = dirsMade ?? [];
    try {
      // The bucket first: on a full disk this is what fails, before anything is logged.
      if (!dirsMade && edits.some((e) => e.kind === 'whole')) madeDirs = await this.makeDirs(si);
    } catch (err) {
      throw new StoreIoError(`writing shares of ${si}`, err as NodeJS.ErrnoException);
    }
    let logged = false;
    let applyError: unknown;
    try {
      await this.log.commit(
        { si, edits },
        async () => {
          logged = true;
          let touched: Touched;
          try {
            touched = await this.apply({ si, edits }, false);
          } catch (err) {
            // (A full disk, say.) Undo: old sizes and bytes need no new space.
            applyError = err;
            touched = await this.apply({ si, edits: restore() }, false);
          }
          touched.dirs.push(...madeDirs);
          return { touched, result: undefined };
        },
        member,
      );
    } catch (err) {
      if (!logged) {
        throw new StoreIoError(`writing shares of ${si}`, err as NodeJS.ErrnoException);
      }
      throw this.wedge(si, err);
    }
    if (applyError === undefined) return;
    try {
      // The log still holds the change the files no longer do: checkpoint it away (fsyncs
      // and an unlink, no new space) before anything else touches this slot.
      await this.log.checkpointNow();
    } catch (err) {
      this.log.hold();
      throw this.wedge(si, err);
    }
    throw new StoreIoError(`writing shares of ${si}`, applyError as NodeJS.ErrnoException);
  }

  /**
   * The change is durable in the log but the files hold part of it: serving more writes
   * could build on files that a restart's replay would then change under them.
   */
  private wedge(si: string, err: unknown): StoreIoError {
    this.wedged = new StoreIoError(
      `applying a logged change to the shares of ${si}`,
      err as NodeJS.ErrnoException,
      'the change is kept in the commit log and applied when the server restarts; this server takes no more writes until it is restarted',
    );
    return this.wedged;
  }

  /**
   * Makes `si`'s bucket directory (and its prefix directory) if they are missing; returns
   * the directories that gained an entry.
   */
  private async makeDirs(si: string): Promise<string[]> {
    const dir = this.bucketDir(si);
    const prefix = path.dirname(dir);
    // One call (one trip to the thread pool, no error objects for the usual outcomes);
    // it answers the first directory it made.
    let made: string | undefined;
    try {
      made = await mkdirQuick(dir, { recursive: true });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, ${dir}`), { code: 'ENOTDIR' });
      }
      throw err;
    }
    this.rememberBucket(si);
    if (made === undefined) return [];
    return made === dir ? [prefix] : [prefix, this.sharesDir];
  }

  private rememberBucket(si: string) {
    if (this.knownBuckets.size >= KNOWN_BUCKETS) this.knownBuckets.clear();
    this.knownBuckets.add(si);
  }

  /** Removes the directories makeDirs just made for a write that changed nothing. */
  private async removeMadeDirs(si: string, made: string[]) {
    this.knownBuckets.delete(si);
    const bucket = this.bucketDir(si);
    await fs.rmdir(bucket).catch(() => undefined);
    // The prefix only if this made it and no other bucket has arrived in it since.
    if (made.includes(this.sharesDir)) await fs.rmdir(path.dirname(bucket)).catch(() => undefined);
  }

  /**
   * Changes the share files as `record` says. In a replay (`replaying`) the files may hold
   * any mix of this and later records, so nothing is assumed about them, and a delete
   * leaves alone an immutable share that took the number later.
   */
  private async apply(record: CommitRecord, replaying: boolean): Promise<Touched> {
    const bucket = this.bucketDir(record.si);
    const prefix = path.dirname(bucket);
    const touched: Touched = { files: [], dirs: [] };
    // A replay may find the directories gone (never made durable before the crash).
    if (replaying && record.edits.some((e) => e.kind !== 'delete')) {
      touched.dirs.push(...(await this.makeDirs(record.si)));
    }
    let deleted = false;
    for (const edit of record.edits) {
      const file = path.join(bucket, String(edit.shnum));
      if (edit.kind === 'delete') {
        if (replaying && (await this.holdsImmutable(record.si, edit.shnum))) continue;
        await fs.rm(file, { force: true });
        deleted = true;
        continue;
      }
      touched.files.push(file);
      if (edit.kind === 'whole') {
        await writeFileQuick(file, edit.bytes, { mode: 0o644 });
        touched.dirs.push(bucket); // the file may be new
        continue;
      }
      let fd: number;
      try {
        fd = await quickFs.open(file, 'r+');
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        fd = await quickFs.open(file, 'w', 0o644);
      }
      try {
        for (const r of edit.ranges) await quickFs.write(fd, r.bytes, r.offset);
        if ((await quickFs.fstat(fd)).size !== edit.size) await quickFs.ftruncate(fd, edit.size);
      } finally {
        await quickFs.close(fd);
      }
    }
    if (deleted) {
      touched.dirs.push(bucket, prefix); // the prefix loses the bucket if it is now empty
      await this.removeBucketIfEmpty(bucket);
    }
    return touched;
  }

  /** Creates a bucket directory so that its entry survives a crash. */
  async ensureBucketDir(dir: string): Promise<void> {
    await await this.makeBucketDir(dir);
  }

  /**
   * Makes the bucket directory; for a new one, returns the (running) fsync that makes its
   * entry survive a crash too, to be awaited before the commit is acknowledged.
   */
  private async makeBucketDir(dir: string): Promise<Promise<void> | undefined> {
    const prefixDir = path.dirname(dir);
    try {
      await fs.mkdir(dir);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) return undefined;
      if (!isErrno(err, 'ENOENT')) throw err;
      await fs.mkdir(prefixDir, { recursive: true });
      await this.dirSync.sync(this.sharesDir);
      await fs.mkdir(dir);
    }
    return this.dirSync.sync(prefixDir);
  }

  private async removeBucketIfEmpty(dir: string) {
    try {
      if ((await fs.readdir(dir)).length > 0) return;
      this.knownBuckets.delete(path.basename(dir));
      await fs.rmdir(dir);
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTEMPTY')) throw err;
    }
  }

  /**
   * Records a client's corruption report (Tahoe writes one text file per report); false if
   * the share is not held.
   */
  adviseCorrupt(
    si: string,
    shnum: number,
    reason: string,
    type: 'mutable' | 'immutable' = 'mutable',
  ): Promise<boolean> {
    return this.withSlot(si, async () => {
      if (!(await this.shareNumbers(si)).includes(shnum)) return false;
      const reportDir = path.join(this.dir, 'corruption-advisories');
      await fs.mkdir(reportDir, { recursive: true });
      const now = new Date().toISOString().replace(/[:]/g, '');
      const report = `report: Share Corruption\ntype: ${type}\nstorage_index: ${si}\nshare_number: ${shnum}\n\n${reason}\n\n`;
      await fs.writeFile(path.join(reportDir, `${now}--${si}-${shnum}`), report);
      return true;
    });
  }

  /** Disk space available to this store, in bytes. */
  async availableSpace(): Promise<number> {
    const s = await fs.statfs(this.sharesDir);
    return Number(s.bavail) * Number(s.bsize);
  }
}
