// Share containers on disk: `<dir>/shares/<si[:2]>/<si>/<shnum>`, one file per share.
// Every change is crash-safe: the new container goes to a temporary file in the same
// directory, is fsynced, renamed over the old one, and the directory is fsynced — so after
// any crash a share is either its old or its new version, never torn. A request that
// touches several shares first writes (and fsyncs) all temporary files; only when all
// succeeded are they renamed, so a disk error changes nothing. Concurrent commits into one
// directory share its fsync (dir-sync.ts): one per burst, never one that began too early.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
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

const SHARE_FILE = /^\d+$/;

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
  ) {
    const noSpace = cause.code === 'ENOSPC' || cause.code === 'EDQUOT';
    super(
      noSpace
        ? `the server's disk is full (${cause.code} while ${operation}); nothing was changed — free space or use another server`
        : `disk error while ${operation}: ${cause.message}; nothing was changed`,
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
}

/** Runs tasks for one key strictly one after another. */
class KeyedQueue {
  private tails = new Map<string, Promise<unknown>>();
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

export class ShareStore {
  readonly sharesDir: string;
  private queue = new KeyedQueue();
  /** Concurrent commits into one directory share its fsync (group commit). */
  private readonly dirSync = new DirSync(fsyncDir);
  private readonly now: () => number;

  constructor(
    readonly dir: string,
    private readonly options: StoreOptions,
  ) {
    this.sharesDir = path.join(dir, 'shares');
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Creates the shares folder and removes temporary files a crash left behind. */
  async init(): Promise<{ removedTempFiles: number }> {
    await fs.mkdir(this.sharesDir, { recursive: true });
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
    return { removedTempFiles: removed };
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
      names = await fs.readdir(this.bucketDir(si));
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
      throw err;
    }
    return names
      .filter((n) => SHARE_FILE.test(n))
      .map(Number)
      .filter(Number.isSafeInteger)
      .sort((a, b) => a - b);
  }

  private async loadSlot(si: string): Promise<Map<number, MutableContainer>> {
    const out = new Map<number, MutableContainer>();
    for (const shnum of await this.shareNumbers(si)) {
      const file = path.join(this.bucketDir(si), String(shnum));
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(file);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      // Immutable shares are the immutable store's; a mutable request never sees them.
      if (isImmutableContainer(bytes)) continue;
      out.set(shnum, MutableContainer.parse(bytes, `share ${si}/${shnum}`));
    }
    return out;
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
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(path.join(this.bucketDir(si), String(shnum)), 'r');
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
        throw err;
      }
      try {
        const header = new Uint8Array(HEADER_SIZE);
        const { bytesRead } = await handle.read(header, 0, HEADER_SIZE, 0);
        if (isImmutableContainer(header.subarray(0, bytesRead))) return undefined;
        const h = parseHeader(header.subarray(0, bytesRead), `share ${si}/${shnum}`);
        const stop = Math.min(end ?? h.dataLength, h.dataLength);
        if (offset >= stop) return { data: new Uint8Array(0), dataLength: h.dataLength };
        const data = new Uint8Array(stop - offset);
        const r = await handle.read(data, 0, data.length, DATA_OFFSET + offset);
        if (r.bytesRead !== data.length) {
          throw new ContainerFormatError(
            `share ${si}/${shnum}: file ends before its recorded data length ${h.dataLength}`,
          );
        }
        return { data, dataLength: h.dataLength };
      } finally {
        await handle.close();
      }
    });
  }

  /** The whole of §9.2 for one storage index, atomically with respect to this store. */
  readTestWrite(si: string, req: ReadTestWriteRequest, secrets: SlotSecrets): Promise<SlotOutcome> {
    return this.withSlot(si, async () => {
      const shares = await this.loadSlot(si);
      const outcome = readTestWrite(shares, req, secrets, {
        nodeId: this.options.nodeId,
        now: this.now(),
        maxShareSize: this.options.maxShareSize,
      });
      if (outcome.changes.size > 0) await this.persist(si, outcome.changes);
      return outcome;
    });
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
      if (changes.size > 0) await this.persist(si, changes);
      return true;
    });
  }

  private async persist(si: string, changes: Map<number, Persistable | null>) {
    const dir = this.bucketDir(si);
    const writes = [...changes].filter(([, c]) => c !== null) as [number, Persistable][];
    const deletes = [...changes].filter(([, c]) => c === null).map(([n]) => n);
    const temps: [string, string][] = [];
    try {
      // A new bucket's own entry is made durable while the shares are written.
      const bucketDurable = writes.length > 0 ? await this.makeBucketDir(dir) : undefined;
      // Phase 1: every new container durably in a temporary file (all at once).
      const written = writes.map(async ([shnum, container]) => {
        const temp = path.join(dir, `${TEMP_PREFIX}${shnum}-${randomBytes(6).toString('hex')}`);
        temps.push([temp, path.join(dir, String(shnum))]);
        const h = await fs.open(temp, 'wx', 0o644);
        try {
          await h.writeFile(container.toBytes());
          await h.sync();
        } finally {
          await h.close();
        }
      });
      const results = await Promise.allSettled([...written, bucketDurable]);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (err) {
      await Promise.all(temps.map(([t]) => fs.rm(t, { force: true }).catch(() => undefined)));
      throw new StoreIoError(`writing shares of ${si}`, err as NodeJS.ErrnoException);
    }
    // Phase 2: commit (renames and unlinks need no space), then make it durable.
    try {
      for (const [temp, final] of temps) await fs.rename(temp, final);
      for (const shnum of deletes) await fs.rm(path.join(dir, String(shnum)), { force: true });
      await this.dirSync.sync(dir).catch((err) => {
        if (!isErrno(err, 'ENOENT')) throw err;
      });
      if (deletes.length > 0) await this.removeBucketIfEmpty(dir);
    } catch (err) {
      throw new StoreIoError(`committing shares of ${si}`, err as NodeJS.ErrnoException);
    }
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
      await fs.rmdir(dir);
      await this.dirSync.sync(path.dirname(dir));
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
