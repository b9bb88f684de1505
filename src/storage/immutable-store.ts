// Immutable shares on disk (Tahoe's BucketWriter/BucketReader semantics, http-storage-node-
// protocol.rst "Immutable"). An upload writes its container under `<dir>/incoming/`, chunk by
// chunk, in Tahoe's on-disk format (header, data, one lease); only when every byte of the
// allocated size has arrived is the file fsynced and renamed into the bucket, so a share is
// visible whole or not at all. A crash between chunks leaves only `incoming/`, which
// startup deletes (as Tahoe does): the share never existed. Uploads in progress live in
// memory (a restart forgets them, like Tahoe) and are aborted after 30 idle minutes.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { equalBytes } from '../encoding/bytes.js';
import { LEASE_DURATION_SECONDS, timingSafeEqualBytes } from './container.js';
import {
  encodeImmutableLease,
  IMMUTABLE_HEADER_SIZE,
  immutableHeader,
  immutableLayout,
  isImmutableContainer,
  storedLeaseSecret,
  IMMUTABLE_VERSION,
} from './immutable-container.js';
import { fsyncDir, isErrno, StoreIoError, type ShareStore } from './store.js';

/** Tahoe's idle limit for an upload in progress. */
const UPLOAD_IDLE_MS = 30 * 60 * 1000;

export class ImmutableUploadError extends Error {
  constructor(
    readonly code:
      | 'ERR_STORAGE_NO_UPLOAD'
      | 'ERR_STORAGE_UPLOAD_SECRET'
      | 'ERR_STORAGE_WRITE_CONFLICT'
      | 'ERR_STORAGE_SHARE_TOO_LARGE'
      | 'ERR_STORAGE_ALREADY_UPLOADED',
    message: string,
  ) {
    super(message);
    this.name = 'ImmutableUploadError';
  }
}

/** Half-open byte ranges, kept sorted and merged. */
class RangeSet {
  private ranges: Array<[number, number]> = [];
  add(start: number, end: number) {
    const next: Array<[number, number]> = [];
    for (const [s, e] of this.ranges) {
      if (e < start || s > end) next.push([s, e]);
      else {
        start = Math.min(start, s);
        end = Math.max(end, e);
      }
    }
    next.push([start, end]);
    this.ranges = next.sort((a, b) => a[0] - b[0]);
  }
  /** The parts of [start, end) already covered. */
  overlaps(start: number, end: number): Array<[number, number]> {
    return this.ranges
      .filter(([s, e]) => s < end && e > start)
      .map(([s, e]) => [Math.max(s, start), Math.min(e, end)]);
  }
  /** The parts of [0, size) not covered. */
  missing(size: number): Array<{ begin: number; end: number }> {
    const out: Array<{ begin: number; end: number }> = [];
    let at = 0;
    for (const [s, e] of this.ranges) {
      if (s > at) out.push({ begin: at, end: Math.min(s, size) });
      at = Math.max(at, e);
    }
    if (at < size) out.push({ begin: at, end: size });
    return out;
  }
}

interface Upload {
  si: string;
  shnum: number;
  secret: Uint8Array;
  allocatedSize: number;
  file: string;
  written: RangeSet;
  idle: NodeJS.Timeout;
}

export interface ImmutableStoreOptions {
  /** Largest allocated size accepted for one share (bytes). */
  maxShareSize: number;
  now?: () => number;
}

export interface AllocateResult {
  alreadyHave: number[];
  allocated: number[];
}

export interface WriteResult {
  complete: boolean;
  required: Array<{ begin: number; end: number }>;
}

export class ImmutableStore {
  readonly incomingDir: string;
  private readonly uploads = new Map<string, Upload>();
  private readonly now: () => number;

  constructor(
    private readonly store: ShareStore,
    private readonly options: ImmutableStoreOptions,
  ) {
    this.incomingDir = path.join(store.dir, 'incoming');
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Deletes whatever uploads a crash or stop left unfinished. */
  async init(): Promise<void> {
    await fs.rm(this.incomingDir, { recursive: true, force: true });
    await fs.mkdir(this.incomingDir, { recursive: true });
  }

  /** Aborts every upload in progress (the server is stopping). */
  async close(): Promise<void> {
    for (const upload of [...this.uploads.values()]) await this.discard(upload);
  }

  private key(si: string, shnum: number) {
    return `${si}/${shnum}`;
  }

  /** Share numbers of `si` held as finished immutable shares. */
  private async held(si: string): Promise<number[]> {
    const out: number[] = [];
    for (const shnum of await this.store.shareNumbers(si)) {
      const header = await this.readHeader(si, shnum);
      if (header && isImmutableContainer(header)) out.push(shnum);
    }
    return out;
  }

  /** The share's file opened for reading, or undefined if it (or its bucket) is missing. */
  private async openShare(si: string, shnum: number): Promise<fs.FileHandle | undefined> {
    try {
      return await fs.open(path.join(this.store.bucketDir(si), String(shnum)), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
      throw err;
    }
  }

  private async readHeader(si: string, shnum: number): Promise<Uint8Array | undefined> {
    const h = await this.openShare(si, shnum);
    if (!h) return undefined;
    try {
      const buf = new Uint8Array(IMMUTABLE_HEADER_SIZE);
      const { bytesRead } = await h.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await h.close();
    }
  }

  list(si: string): Promise<number[]> {
    return this.store.withSlot(si, () => this.held(si));
  }

  /**
   * POST /immutable/SI: renews leases on the shares already held (Tahoe does), and opens an
   * upload for each requested share that is neither held nor being uploaded. A repeat with
   * the same upload secret answers the same.
   */
  async allocate(
    si: string,
    shareNumbers: number[],
    allocatedSize: number,
    /** Bytes the disk has left: a share that does not fit is not allocated. */
    room: number,
    secrets: { upload: Uint8Array; renew: Uint8Array; cancel: Uint8Array },
  ): Promise<AllocateResult> {
    // Through the share store's crash-safe replace (its own turn in the SI's queue).
    await this.store.addOrRenewLease(si, secrets.renew, secrets.cancel);
    return this.store.withSlot(si, async () => {
      const held = await this.held(si);
      const allocated: number[] = [];
      const fits = allocatedSize <= Math.min(this.options.maxShareSize, room);
      for (const shnum of [...new Set(shareNumbers)].sort((a, b) => a - b)) {
        if (held.includes(shnum)) continue;
        const existing = this.uploads.get(this.key(si, shnum));
        if (existing) {
          if (timingSafeEqualBytes(existing.secret, secrets.upload)) allocated.push(shnum);
          continue; // another client's upload in progress: Tahoe leaves it alone
        }
        if (!fits) continue;
        await this.open(si, shnum, allocatedSize, secrets);
        allocated.push(shnum);
      }
      return { alreadyHave: held, allocated };
    });
  }

  private async open(
    si: string,
    shnum: number,
    allocatedSize: number,
    secrets: { upload: Uint8Array; renew: Uint8Array; cancel: Uint8Array },
  ) {
    const dir = path.join(this.incomingDir, si);
    const file = path.join(dir, String(shnum));
    // Tahoe's new share file: header, room for the data, then the uploader's lease.
    const lease = encodeImmutableLease({
      ownerNumber: 0,
      renewSecret: storedLeaseSecret(IMMUTABLE_VERSION, secrets.renew),
      cancelSecret: storedLeaseSecret(IMMUTABLE_VERSION, secrets.cancel),
      expirationTime: this.now() + LEASE_DURATION_SECONDS,
    });
    try {
      await fs.mkdir(dir, { recursive: true });
      const h = await fs.open(file, 'w', 0o644);
      try {
        await h.write(immutableHeader(allocatedSize, 1), 0, IMMUTABLE_HEADER_SIZE, 0);
        await h.write(lease, 0, lease.length, IMMUTABLE_HEADER_SIZE + allocatedSize);
      } finally {
        await h.close();
      }
    } catch (err) {
      await fs.rm(file, { force: true }).catch(() => undefined);
      throw new StoreIoError(`allocating share ${si}/${shnum}`, err as NodeJS.ErrnoException);
    }
    const upload: Upload = {
      si,
      shnum,
      secret: secrets.upload.slice(),
      allocatedSize,
      file,
      written: new RangeSet(),
      idle: this.idleTimer(si, shnum),
    };
    this.uploads.set(this.key(si, shnum), upload);
  }

  private idleTimer(si: string, shnum: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const upload = this.uploads.get(this.key(si, shnum));
      if (upload) void this.store.withSlot(si, () => this.discard(upload)).catch(() => undefined);
    }, UPLOAD_IDLE_MS);
    timer.unref();
    return timer;
  }

  private upload(si: string, shnum: number, secret: Uint8Array): Upload {
    const upload = this.uploads.get(this.key(si, shnum));
    if (!upload) {
      throw new ImmutableUploadError(
        'ERR_STORAGE_NO_UPLOAD',
        `no upload of share ${shnum} of ${si} is in progress here (allocate it first)`,
      );
    }
    if (!timingSafeEqualBytes(upload.secret, secret)) {
      throw new ImmutableUploadError(
        'ERR_STORAGE_UPLOAD_SECRET',
        `the upload secret does not match the one share ${shnum} of ${si} was allocated with`,
      );
    }
    return upload;
  }

  /** PATCH: writes one chunk; the chunk that completes the share publishes it. */
  write(
    si: string,
    shnum: number,
    secret: Uint8Array,
    offset: number,
    data: Uint8Array,
  ): Promise<WriteResult> {
    return this.store.withSlot(si, async () => {
      const upload = this.upload(si, shnum, secret);
      const end = offset + data.length;
      if (end > upload.allocatedSize) {
        throw new ImmutableUploadError(
          'ERR_STORAGE_SHARE_TOO_LARGE',
          `bytes ${offset}..${end} go beyond the ${upload.allocatedSize} bytes allocated for share ${shnum} of ${si}; nothing was written`,
        );
      }
      upload.idle.refresh();
      try {
        const h = await fs.open(upload.file, 'r+');
        try {
          for (const [s, e] of upload.written.overlaps(offset, end)) {
            const have = new Uint8Array(e - s);
            await h.read(have, 0, have.length, IMMUTABLE_HEADER_SIZE + s);
            if (!equalBytes(have, data.subarray(s - offset, e - offset))) {
              throw new ImmutableUploadError(
                'ERR_STORAGE_WRITE_CONFLICT',
                `bytes ${s}..${e} of share ${shnum} of ${si} were already written with other data; abort and upload again`,
              );
            }
          }
          if (data.length > 0) await h.write(data, 0, data.length, IMMUTABLE_HEADER_SIZE + offset);
          upload.written.add(offset, end);
          const required = upload.written.missing(upload.allocatedSize);
          if (required.length > 0) return { complete: false, required };
          await h.sync();
        } finally {
          await h.close();
        }
      } catch (err) {
        if (err instanceof ImmutableUploadError) throw err;
        throw new StoreIoError(`writing share ${si}/${shnum}`, err as NodeJS.ErrnoException);
      }
      await this.finish(upload);
      return { complete: true, required: [] };
    });
  }

  /** Renames the whole container into its bucket, durably. */
  private async finish(upload: Upload) {
    const bucket = this.store.bucketDir(upload.si);
    try {
      await this.store.ensureBucketDir(bucket);
      await fs.rename(upload.file, path.join(bucket, String(upload.shnum)));
      await fsyncDir(bucket);
    } catch (err) {
      throw new StoreIoError(
        `finishing share ${upload.si}/${upload.shnum}`,
        err as NodeJS.ErrnoException,
      );
    } finally {
      clearTimeout(upload.idle);
      this.uploads.delete(this.key(upload.si, upload.shnum));
    }
    await fs.rmdir(path.dirname(upload.file)).catch(() => undefined);
  }

  private async discard(upload: Upload) {
    clearTimeout(upload.idle);
    this.uploads.delete(this.key(upload.si, upload.shnum));
    await fs.rm(upload.file, { force: true });
    await fs.rmdir(path.dirname(upload.file)).catch(() => undefined);
  }

  /** PUT …/abort: forgets an upload in progress; refused for a finished share. */
  abort(si: string, shnum: number, secret: Uint8Array): Promise<void> {
    return this.store.withSlot(si, async () => {
      if (!this.uploads.has(this.key(si, shnum)) && (await this.held(si)).includes(shnum)) {
        throw new ImmutableUploadError(
          'ERR_STORAGE_ALREADY_UPLOADED',
          `share ${shnum} of ${si} is complete; a finished upload cannot be aborted`,
        );
      }
      await this.discard(this.upload(si, shnum, secret));
    });
  }

  /** Share data [offset, end) clipped to the data; undefined if the share is not held. */
  read(
    si: string,
    shnum: number,
    offset: number,
    end?: number,
  ): Promise<{ data: Uint8Array; dataLength: number } | undefined> {
    return this.store.withSlot(si, async () => {
      const h = await this.openShare(si, shnum);
      if (!h) return undefined;
      try {
        const header = new Uint8Array(IMMUTABLE_HEADER_SIZE);
        const { bytesRead } = await h.read(header, 0, header.length, 0);
        if (!isImmutableContainer(header.subarray(0, bytesRead))) return undefined;
        const { size } = await h.stat();
        const { dataLength } = immutableLayout(header, size, `share ${si}/${shnum}`);
        const stop = Math.min(end ?? dataLength, dataLength);
        if (offset >= stop) return { data: new Uint8Array(0), dataLength };
        const data = new Uint8Array(stop - offset);
        await h.read(data, 0, data.length, IMMUTABLE_HEADER_SIZE + offset);
        return { data, dataLength };
      } finally {
        await h.close();
      }
    });
  }

  /** Records a corruption report; false if the share is not held. */
  async adviseCorrupt(si: string, shnum: number, reason: string): Promise<boolean> {
    if (!(await this.list(si)).includes(shnum)) return false;
    return this.store.adviseCorrupt(si, shnum, reason, 'immutable');
  }
}
