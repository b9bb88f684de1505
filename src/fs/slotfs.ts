// The filesystem behind the mount, path-based like libfuse 2's API, with no FUSE in it
// (src/fs/fuse-ops.ts adapts it). Directories are dirnodes, files are mutable files.
//
// - Directory listings are cached per directory cap for `dirCacheMs` (like NFS acdir);
//   every change this mount makes is applied to its cached listing at once, so this mount
//   sees its own changes immediately, and other clients' changes after the timeout.
// - An open file's contents live in one FileBuffer shared by every handle (and by getattr),
//   so other processes on this mount read written data immediately. Writes are journaled
//   (src/cache/journal.ts) before they return, then published on flush/release, after an
//   idle delay, and on fsync — which waits for the publish (≥ happy shares) or fails.
// - A new file exists only here until its first publish: then it gets a cap (a key from
//   the pool) and is linked into its directory.
// - A publish that meets another writer's version (UncoordinatedWriteError) leaves theirs
//   at NAME and saves ours as a conflict copy beside it (or overwrites, if configured).
import { randomBytes } from 'node:crypto';
import { parseCap, formatCap, readCapOf, storageIndexOf } from '../caps/index.js';
import { sizeFromCap } from './cap-size.js';
import type { WriteJournal, JournalMeta } from '../cache/journal.js';
import type { ChildMetadata, DirectoryClient } from '../dirnode/directory.js';
import { childCapsOf } from '../dirnode/directory.js';
import { equalBytes, fromHex, toHex } from '../encoding/bytes.js';
import { toBase32 } from '../encoding/base32.js';
import type { MutableClient, VersionId } from '../mutable/mutable-client.js';
import { UncoordinatedWriteError } from '../mutable/errors.js';
import { MAX_SDMF_FILE_SIZE } from '../sdmf/layout.js';
import { MAX_SYMLINK_TARGET_BYTES, symlinkChild, symlinkTargetOf } from '../dirnode/symlink.js';
import { DirEntries, LinkIndex } from './dir-entries.js';
import { conflictCopiesToPrune, conflictName } from './conflict-name.js';
import { FsError, describeFailure } from './errno.js';
import { FileBuffer } from './file-buffer.js';
import { describeObject, summarizeFailure, type ObjectKind } from './failure-log.js';
import { Limit } from './limit.js';

export interface SlotFsOptions {
  rootCap: string;
  /** Modification time shown for the root (ms; it has no entry to keep one in). */
  rootMtime?: number;
  /** Keeps the root's new modification time (ms) for the next mount to show. */
  keepRootMtime?: (ms: number) => Promise<void>;
  dirCacheMs?: number;
  attrCacheMs?: number;
  writeBackMs?: number;
  conflicts?: 'copy' | 'last-writer-wins';
  maxConflictCopies?: number;
  /** Label in conflict copy names. */
  clientName?: string;
  /** Publishes running at once (each is one file). Default 16. */
  publishConcurrency?: number;
  /** Owner shown for every node. */
  uid?: number;
  gid?: number;
  log?: (line: string) => void;
  onConflict?: (conflict: ConflictRecord) => void;
  /** Called when a write-back reached the grid (for the publish rate). */
  onPublished?: () => void;
  /** Capacity for statfs, from the servers' version documents. */
  capacity?: () => Promise<{ totalBytes: number; freeBytes: number }>;
}

export interface ConflictRecord {
  at: number;
  path: string;
  copy: string;
}

export interface Stat {
  mode: number;
  size: number;
  mtime: number;
  atime: number;
  ctime: number;
  nlink: number;
  uid: number;
  gid: number;
  blocks: number;
  blksize: number;
}

export interface PendingWrite {
  path: string;
  bytes: number;
  since: number;
  lastError?: string;
}

interface Child {
  name: string;
  isDirectory: boolean;
  rwCap?: string;
  roCap: string;
  metadata: ChildMetadata;
  /** A file created here and not linked yet: it lives only in this mount (and the journal). */
  local?: FileState;
  /** A symbolic link: its target's bytes (docs/formats.md). */
  symlink?: Uint8Array;
}

interface DirView {
  cap: string;
  writable: boolean;
  entries: DirEntries<Child>;
  fetchedAt: number;
  /** Changes of this mount in flight: a listing fetched meanwhile may predate them. */
  pending: number;
  /** Bumped by every local change, so a refresh racing one is discarded. */
  changes: number;
  loading?: Promise<void>;
  path: string;
  /** Set by this mount's changes to the entries (ms); kept in the parent's entry too. */
  mtime?: number;
  /** Advanced by every change of the directory or of its entry (ms), never backwards. */
  ctime?: number;
  /** The mtime still to be written into the parent's entry. */
  timesTimer?: NodeJS.Timeout;
}

class FileState {
  /** Journal id while dirty (undefined when clean). */
  journalId?: string;
  journaled?: Promise<void>;
  cap?: string;
  roCap?: string;
  buffer?: FileBuffer;
  loading?: Promise<void>;
  loadedAt = 0;
  basedOn?: VersionId;
  dirty = false;
  /** mtime or mode changed and not yet in the directory entry. */
  metaDirty = false;
  gen = 0;
  openCount = 0;
  detached = false;
  /** Not linked into its directory yet: 'new' (name was free) or 'replace'. */
  link?: 'new' | 'replace';
  linking?: Promise<void>;
  publishing: Promise<void> = Promise.resolve();
  timer?: NodeJS.Timeout;
  retryTimer?: NodeJS.Timeout;
  dropTimer?: NodeJS.Timeout;
  failures = 0;
  lastError?: string;
  dirtySince = 0;
  /** Callers waiting for this file's publish (fsync): it skips the background queue. */
  urgent = 0;
  /** Status change time (ms) of changes made here; the entry's linkmotime covers the rest. */
  ctime = 0;

  constructor(
    public parent: string,
    public name: string,
    public path: string,
    public writable: boolean,
    public mode: number,
    public mtime: number,
  ) {}

  get size(): number {
    return this.buffer?.size ?? 0;
  }
}

interface Handle {
  file: FileState;
  writable: boolean;
}

type Target = { kind: 'root' } | { kind: 'child'; parent: DirView; name: string; child?: Child };

const O_ACCMODE = 3;
const O_TRUNC = 0o1000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const UTIME_OMIT = 2 ** 52 - 1;
const MAX_NAME_BYTES = 255;
/** How long getattr waits to learn the size of a file whose entry has none. */
const LEARN_SIZE_MS = 10_000;

export class SlotFs {
  readonly rootCap: string;
  private readonly views = new Map<string, DirView>();
  /** Which names each file has in the loaded directories (st_nlink of hard links). */
  private readonly linkIndex = new LinkIndex<Child>((child) => {
    if (child.isDirectory || child.local || child.symlink || !child.roCap) return undefined;
    try {
      return this.siOf(child.roCap);
    } catch {
      return undefined; // a cap kind this client does not know: listed, not counted
    }
  });
  /** Directories whose mtime is still to be written into their parent's entry. */
  private readonly dirTimesDue = new Set<DirView>();
  /** Linked files with a state (open, dirty or recently used), by storage index. */
  private readonly files = new Map<string, FileState>();
  /** Files created here and not linked yet. */
  private readonly unlinked = new Set<FileState>();
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  private readonly limit: Limit;
  private readonly started = Date.now();
  private readonly o: Required<
    Omit<SlotFsOptions, 'onConflict' | 'onPublished' | 'capacity' | 'rootMtime' | 'keepRootMtime'>
  > &
    Pick<SlotFsOptions, 'onConflict' | 'onPublished' | 'capacity' | 'rootMtime' | 'keepRootMtime'>;
  private closed = false;

  constructor(
    private readonly mutable: MutableClient,
    private readonly dirs: DirectoryClient,
    private readonly journal: WriteJournal,
    options: SlotFsOptions,
  ) {
    this.rootCap = options.rootCap;
    this.o = {
      dirCacheMs: 3000,
      attrCacheMs: 3000,
      writeBackMs: 1000,
      conflicts: 'copy',
      maxConflictCopies: 10,
      clientName: 'client',
      publishConcurrency: 16,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      log: (line) => console.error(line),
      ...options,
    };
    this.limit = new Limit(this.o.publishConcurrency);
  }

  // ---------------------------------------------------------------- lookups

  async getattr(path: string): Promise<Stat> {
    const t = await this.target(path);
    if (t.kind === 'root') {
      const time = this.o.rootMtime ?? this.started;
      return this.dirStat(this.views.get(this.rootCap), time, time, undefined);
    }
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    await this.learnSize(t.parent, t.child);
    return this.childStat(t.child, t.parent.writable);
  }

  /**
   * A file whose entry has no size (Tahoe never writes one) is loaded so that its length
   * is known before the kernel believes 0 — bounded, then 0 after all. Nothing is written.
   */
  private async learnSize(parent: DirView, child: Child): Promise<void> {
    if (child.isDirectory || child.local || typeof child.metadata.size === 'number') return;
    if (sizeFromCap(child.roCap) !== undefined) return;
    const st = this.stateOf(parent, child);
    if (st.buffer) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.load(st).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, LEARN_SIZE_MS))),
    ]);
    clearTimeout(timer);
  }

  async readlink(path: string): Promise<string> {
    const t = await this.target(path);
    if (t.kind === 'root' || !t.child?.symlink) {
      if (t.kind === 'child' && !t.child) throw new FsError('ENOENT', `${path} does not exist`);
      throw new FsError('EINVAL', `${path} is not a symbolic link`);
    }
    return Buffer.from(t.child.symlink).toString('utf8');
  }

  /** What `path` is, from what this mount has loaded (no grid access; undefined if unknown). */
  kindOf(path: string): ObjectKind | undefined {
    if (path === '/' || path === '') return 'root directory';
    const i = path.lastIndexOf('/');
    const dir = i <= 0 ? '/' : path.slice(0, i);
    const name = path.slice(i + 1); // names are kept exact, never normalised
    for (const view of this.views.values()) {
      if (view.path !== dir) continue;
      const child = view.entries.get(name);
      if (child) return child.isDirectory ? 'directory' : child.symlink ? 'symbolic link' : 'file';
    }
    return undefined;
  }

  async readdir(path: string): Promise<string[]> {
    const view = await this.dirOf(path);
    return ['.', '..', ...view.entries.keys()];
  }

  /** The caps of a node (write cap undefined when only a read cap is held). */
  async caps(path: string): Promise<{ rwCap?: string; roCap: string }> {
    const t = await this.target(path);
    if (t.kind === 'root') {
      const cap = parseCap(this.rootCap);
      const ro = cap.kind === 'ssk-write' ? formatCap(readCapOf(cap)) : this.rootCap;
      return { rwCap: cap.kind === 'ssk-write' ? this.rootCap : undefined, roCap: ro };
    }
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    let child = t.child;
    if (child.local) {
      // A file that exists only here gets its cap now.
      await this.publishUrgently(child.local);
      child = t.parent.entries.get(child.local.name) ?? child;
      if (!child.roCap) throw new FsError('EIO', `${path} could not be published`);
    }
    return { rwCap: child.rwCap, roCap: child.roCap };
  }

  async getxattr(path: string, name: string): Promise<Buffer | undefined> {
    if (name !== 'user.slotfs.cap' && name !== 'user.slotfs.rocap') return undefined;
    const caps = await this.caps(path);
    const value = name === 'user.slotfs.cap' ? caps.rwCap : caps.roCap;
    return value ? Buffer.from(value) : undefined;
  }

  /**
   * Lists no attributes: the caps are read by name only. Listed, they would be copied by
   * `cp -a`, `rsync -X` and `tar --xattrs` into files outside the mount — handing the
   * write authority to whoever gets the copy — and reading them publishes new files.
   */
  async listxattr(path: string): Promise<string[]> {
    const t = await this.target(path);
    if (t.kind === 'child' && !t.child) throw new FsError('ENOENT', `${path} does not exist`);
    return [];
  }

  async statfs(): Promise<Record<string, number>> {
    const bsize = 4096;
    let total = 2 ** 44;
    let free = 2 ** 43;
    try {
      const c = await this.o.capacity?.();
      if (c && c.totalBytes > 0) {
        total = c.totalBytes;
        free = c.freeBytes;
      }
    } catch {
      // capacity is advisory
    }
    const blocks = Math.floor(total / bsize);
    const bfree = Math.min(blocks, Math.floor(free / bsize));
    return {
      bsize,
      frsize: bsize,
      blocks,
      bfree,
      bavail: bfree,
      files: 1_000_000,
      ffree: 1_000_000,
      favail: 1_000_000,
      namemax: MAX_NAME_BYTES,
    };
  }

  // ---------------------------------------------------------------- files

  async open(path: string, flags: number): Promise<number> {
    const t = await this.target(path);
    if (t.kind === 'root') throw new FsError('EISDIR', `${path} is a directory`);
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (t.child.isDirectory) throw new FsError('EISDIR', `${path} is a directory`);
    if (t.child.symlink) throw new FsError('ELOOP', `${path} is a symbolic link`);
    const writable = (flags & O_ACCMODE) !== 0;
    const st = this.stateOf(t.parent, t.child);
    if (writable && !st.writable && this.replaceable(t.parent.writable, t.child)) {
      return this.newHandle(await this.replaceImmutable(t.parent, st, flags), true);
    }
    if (writable && !st.writable) {
      throw new FsError('EROFS', `${path} is linked read-only (no write cap)`);
    }
    await this.load(st);
    if (writable && flags & O_TRUNC && st.size > 0) await this.resize(st, 0);
    return this.newHandle(st, writable);
  }

  /**
   * Whether writing to an immutable (CHK/LIT) child replaces it: yes in a folder we may
   * change, unless its entry says read-only (`slotfs link` of such a cap records 0444;
   * Tahoe's entries record no mode).
   */
  private replaceable(parentWritable: boolean, child: Child): boolean {
    if (!parentWritable || child.symlink || sizeFromCap(child.roCap) === undefined) return false;
    const mode = child.metadata.mode;
    return typeof mode !== 'number' || (mode & 0o200) !== 0;
  }

  /**
   * Opening a Tahoe immutable (CHK/LIT) file for writing makes a new mutable file with its
   * contents (none with O_TRUNC) that replaces the entry when published — what an editor
   * saving in place expects. The immutable file itself is never changed.
   */
  private async replaceImmutable(parent: DirView, old: FileState, flags: number) {
    if (!(flags & O_TRUNC)) await this.load(old);
    const now = Date.now();
    const st = new FileState(parent.cap, old.name, old.path, true, old.mode | 0o200, now);
    st.buffer = new FileBuffer(flags & O_TRUNC ? undefined : old.buffer?.snapshot());
    st.loadedAt = now;
    st.link = 'replace';
    st.dirty = true;
    st.dirtySince = now;
    this.unlinked.add(st);
    parent.changes++;
    parent.entries.set(old.name, this.localChild(st));
    await this.ensureJournal(st);
    this.scheduleWriteBack(st);
    return st;
  }

  async create(path: string, mode: number): Promise<number> {
    const { parent, name } = await this.parentOf(path);
    const existing = parent.entries.get(name);
    if (existing) {
      if (existing.isDirectory) throw new FsError('EISDIR', `${path} is a directory`);
      return this.open(path, 2);
    }
    this.requireWritable(parent, path);
    const now = Date.now();
    const st = new FileState(parent.cap, name, path, true, mode & 0o7777, now);
    st.buffer = new FileBuffer();
    st.loadedAt = now;
    st.link = 'new';
    st.dirty = true;
    st.dirtySince = now;
    st.ctime = now;
    this.unlinked.add(st);
    parent.changes++;
    parent.entries.set(name, this.localChild(st));
    this.touchDir(parent);
    await this.ensureJournal(st);
    this.scheduleWriteBack(st);
    return this.newHandle(st, true);
  }

  read(fh: number, target: Uint8Array, length: number, offset: number): number {
    const h = this.handle(fh);
    if (!h.file.buffer) return 0;
    return h.file.buffer.readInto(target, offset, length);
  }

  async write(fh: number, data: Uint8Array, length: number, offset: number): Promise<number> {
    const h = this.handle(fh);
    if (!h.writable) throw new FsError('EBADF', `${h.file.path} is not open for writing`);
    const st = h.file;
    if (offset + length > MAX_SDMF_FILE_SIZE) {
      throw new FsError(
        'EFBIG',
        `${st.path}: a file can hold at most ${MAX_SDMF_FILE_SIZE} bytes (64 MiB)`,
      );
    }
    const bytes = new Uint8Array(data.subarray(0, length)); // the caller reuses its buffer
    if (st.detached) {
      st.buffer!.write(offset, bytes); // deleted while open: nothing to keep
      return length;
    }
    const id = await this.journalFor(st);
    st.buffer!.write(offset, bytes);
    this.touch(st);
    await this.journal.write(id, offset, bytes, st.mtime);
    return length;
  }

  async truncate(path: string, size: number): Promise<void> {
    const t = await this.target(path);
    if (t.kind === 'root' || t.child?.isDirectory)
      throw new FsError('EISDIR', `${path} is a directory`);
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (t.child.symlink) throw new FsError('ELOOP', `${path} is a symbolic link`);
    const st = this.stateOf(t.parent, t.child);
    if (!st.writable) throw new FsError('EROFS', `${path} is linked read-only (no write cap)`);
    await this.load(st);
    await this.resize(st, size);
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    const h = this.handle(fh);
    if (!h.writable) throw new FsError('EBADF', `${h.file.path} is not open for writing`);
    await this.resize(h.file, size);
  }

  /** close(): publishing starts now; errors show in the log and `slotfs status`. */
  flush(fh: number): void {
    const st = this.handle(fh).file;
    if (st.dirty || st.metaDirty) this.publishInBackground(st);
  }

  /** Returns once the file is on the grid (≥ happy shares) and linked, or throws. */
  async fsync(fh: number): Promise<void> {
    const st = this.handle(fh).file;
    await this.publishUrgently(st);
  }

  async fsyncdir(path: string): Promise<void> {
    const view = await this.dirOf(path);
    const inDir = [...this.unlinked, ...this.files.values()].filter(
      (st) => st.parent === view.cap && (st.dirty || st.metaDirty),
    );
    await Promise.all(inDir.map((st) => this.publishUrgently(st)));
    await this.dirs.flush(view.cap);
  }

  release(fh: number): void {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    const st = h.file;
    st.openCount--;
    if (st.dirty || st.metaDirty) this.publishInBackground(st);
    this.maybeDrop(st);
  }

  // ---------------------------------------------------------------- namespace

  async mkdir(path: string, mode: number): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${path} already exists`);
    this.requireWritable(parent, path);
    const cap = await this.dirs.createDirectory();
    const caps = childCapsOf(cap);
    const metadata: ChildMetadata = { mode: mode & 0o7777, mtime: Date.now() / 1000 };
    await this.change(parent, () =>
      this.dirs.add(parent.cap, name, caps, metadata, { mustNotExist: true }),
    );
    parent.entries.set(name, { name, isDirectory: true, ...caps, metadata });
    this.touchDir(parent);
    this.views.set(cap, {
      cap,
      writable: true,
      entries: new DirEntries(this.linkIndex, cap),
      fetchedAt: Date.now(),
      pending: 0,
      changes: 0,
      path,
    });
  }

  /** `ln -s target path`: a literal cap holding the target, marked a link (docs/formats.md). */
  async symlink(target: string, path: string): Promise<void> {
    const bytes = Buffer.from(target, 'utf8');
    if (bytes.length > MAX_SYMLINK_TARGET_BYTES) {
      throw new FsError(
        'ENAMETOOLONG',
        `the target of ${path} is ${bytes.length} bytes; at most ${MAX_SYMLINK_TARGET_BYTES} are allowed`,
      );
    }
    const { parent, name } = await this.parentOf(path);
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${path} already exists`);
    this.requireWritable(parent, path);
    const link = symlinkChild(bytes);
    const metadata: ChildMetadata = { ...link.metadata, mtime: Date.now() / 1000 };
    await this.change(parent, () =>
      this.dirs.add(parent.cap, name, link.caps, metadata, { mustNotExist: true }),
    );
    parent.entries.set(name, {
      name,
      isDirectory: false,
      ...link.caps,
      metadata,
      symlink: new Uint8Array(bytes),
    });
    this.touchDir(parent);
  }

  /**
   * `ln from to`: the file's cap linked under a second name (in any directory). Both names
   * share one file state (keyed by storage index), so writes through one show through the
   * other. Directories cannot be hard-linked (EPERM, as in POSIX).
   */
  async hardLink(from: string, to: string): Promise<void> {
    const src = await this.target(from);
    if (src.kind === 'root' || src.child?.isDirectory) {
      throw new FsError('EPERM', `${from} is a directory; directories cannot be hard-linked`);
    }
    if (!src.child) throw new FsError('ENOENT', `${from} does not exist`);
    const { parent, name } = await this.parentOf(to);
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${to} already exists`);
    this.requireWritable(parent, to);
    // A file that exists only here gets its cap first.
    const caps = src.child.local ? await this.caps(from) : src.child;
    const fresh = src.parent.entries.get(src.name) ?? src.child;
    const { tahoe: _tahoe, ...kept } = fresh.metadata;
    const st = src.child.symlink ? undefined : this.files.get(this.siOf(caps.roCap));
    const metadata: ChildMetadata = { ...kept };
    if (st) {
      metadata.size = st.size;
      metadata.mtime = st.mtime / 1000;
      metadata.mode = st.mode;
    }
    const linked = { rwCap: caps.rwCap, roCap: caps.roCap };
    await this.change(parent, () =>
      this.dirs.add(parent.cap, name, linked, metadata, { mustNotExist: true }),
    );
    parent.entries.set(name, {
      name,
      isDirectory: false,
      ...linked,
      metadata,
      symlink: fresh.symlink,
    });
    if (st) st.ctime = Date.now();
    this.touchDir(parent);
  }

  async rmdir(path: string): Promise<void> {
    const t = await this.target(path);
    if (t.kind === 'root') throw new FsError('EINVAL', 'cannot remove the mount root');
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (!t.child.isDirectory) throw new FsError('ENOTDIR', `${path} is not a directory`);
    this.requireWritable(t.parent, path);
    const cap = t.child.rwCap ?? t.child.roCap;
    const inner = await this.view(cap, path);
    if (inner.entries.size > 0) throw new FsError('ENOTEMPTY', `${path} is not empty`);
    const parent = t.parent;
    await this.change(parent, () => this.dirs.remove(parent.cap, t.name, { mustExist: false }));
    parent.entries.delete(t.name);
    this.dropView(cap);
    this.touchDir(parent);
  }

  async unlink(path: string): Promise<void> {
    const t = await this.target(path);
    if (t.kind === 'root') throw new FsError('EISDIR', 'the mount root is a directory');
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (t.child.isDirectory) throw new FsError('EISDIR', `${path} is a directory`);
    this.requireWritable(t.parent, path);
    const parent = t.parent;
    let child = t.child;
    while (child.local?.linking) {
      await child.local.linking;
      const current = parent.entries.get(t.name);
      if (!current) throw new FsError('ENOENT', `${path} does not exist`);
      child = current;
    }
    if (child.local) {
      parent.changes++;
      parent.entries.delete(t.name);
      this.touchDir(parent);
      this.detach(child.local);
      return;
    }
    await this.change(parent, () => this.dirs.remove(parent.cap, t.name, { mustExist: false }));
    parent.entries.delete(t.name);
    this.touchDir(parent);
    const st = this.files.get(this.siOf(child.roCap));
    if (st && st.parent === parent.cap && st.name === t.name) this.forgetName(st);
  }

  async rename(from: string, to: string): Promise<void> {
    const src = await this.target(from);
    if (src.kind === 'root') throw new FsError('EBUSY', 'cannot rename the mount root');
    if (!src.child) throw new FsError('ENOENT', `${from} does not exist`);
    const dst = await this.parentOf(to);
    if (src.child.isDirectory && (to + '/').startsWith(from + '/')) {
      throw new FsError('EINVAL', `cannot move ${from} into itself`);
    }
    this.requireWritable(src.parent, from);
    this.requireWritable(dst.parent, to);
    const srcView = src.parent;
    const dstView = dst.parent;
    if (srcView === dstView && src.name === dst.name) return;
    // Neither name may be in the middle of being linked (its link would land after our
    // change); wait, then look again, until both are still.
    let child: Child = src.child;
    let replaced: Child | undefined;
    for (;;) {
      const current = srcView.entries.get(src.name);
      if (!current) throw new FsError('ENOENT', `${from} does not exist`);
      child = current;
      replaced = dstView.entries.get(dst.name);
      if (replaced?.isDirectory && !child.isDirectory) {
        throw new FsError('EISDIR', `${to} is a directory`);
      }
      if (replaced && !replaced.isDirectory && child.isDirectory) {
        throw new FsError('ENOTDIR', `${to} is not a directory`);
      }
      if (replaced?.isDirectory) {
        const inner = await this.view(replaced.rwCap ?? replaced.roCap, to);
        if (inner.entries.size > 0) throw new FsError('ENOTEMPTY', `${to} is not empty`);
      }
      const busy = [child.local?.linking, replaced?.local?.linking].filter((p) => p !== undefined);
      if (busy.length === 0 && srcView.entries.get(src.name) === child) break;
      await Promise.all(busy);
    }
    // Two names of one file (hard links): POSIX rename does nothing.
    if (
      replaced &&
      !replaced.local &&
      !child.local &&
      !child.isDirectory &&
      !child.symlink &&
      replaced.roCap === child.roCap
    ) {
      return;
    }
    const moved: Child = { ...child, name: dst.name };
    if (child.local) {
      // Only here so far: a local move; the first publish links it under the new name.
      const st = child.local;
      srcView.changes++;
      dstView.changes++;
      srcView.entries.delete(src.name);
      if (replaced?.local) this.detach(replaced.local);
      else if (replaced && !replaced.isDirectory) {
        const old = this.files.get(this.siOf(replaced.roCap));
        if (old && old.parent === dstView.cap && old.name === dst.name) this.forgetName(old);
      }
      st.link = !replaced ? 'new' : replaced.local ? replaced.local.link : 'replace';
      this.relocate(st, dstView, dst.name, to);
      st.ctime = Date.now();
      dstView.entries.set(dst.name, moved);
      this.touchDir(srcView);
      this.touchDir(dstView);
      await this.saveJournalMeta(st);
      return;
    }
    // The directory operations are queued (in call order) before the local picture changes
    // in the same tick, so a metadata update of the moved file queued later lands on the
    // new name, after the move.
    const st = child.isDirectory ? undefined : this.files.get(this.siOf(child.roCap));
    const moving = st && st.parent === srcView.cap && st.name === src.name ? st : undefined;
    let added: Promise<unknown>;
    if (srcView === dstView) {
      added = this.change(srcView, () =>
        this.dirs.rename(srcView.cap, src.name, dst.name, { replace: true }),
      );
    } else {
      // Add first, then remove: a failure in between leaves two names, never none.
      const { tahoe: _tahoe, ...metadata } = child.metadata;
      added = this.change(dstView, () =>
        this.dirs.add(dstView.cap, dst.name, { rwCap: child.rwCap, roCap: child.roCap }, metadata, {
          replace: true,
        }),
      );
    }
    srcView.entries.delete(src.name);
    dstView.entries.set(dst.name, moved);
    this.touchDir(srcView);
    this.touchDir(dstView);
    if (moving) {
      this.relocate(moving, dstView, dst.name, to);
      moving.ctime = Date.now();
    }
    try {
      await added;
      if (srcView !== dstView) {
        await this.change(srcView, () =>
          this.dirs.remove(srcView.cap, src.name, { mustExist: false }),
        );
      }
    } catch (err) {
      // change() made both views re-read; put the file's own location back.
      if (moving && moving.name === dst.name && moving.parent === dstView.cap) {
        this.relocate(moving, srcView, src.name, from);
      }
      throw err;
    }
    if (replaced) {
      const old =
        replaced.local ??
        (replaced.isDirectory ? undefined : this.files.get(this.siOf(replaced.roCap)));
      if (old && old !== moving && old.parent === dstView.cap && old.name === dst.name) {
        if (replaced.local) this.detach(old);
        else this.forgetName(old);
      }
      if (replaced.isDirectory) this.dropView(replaced.rwCap ?? replaced.roCap);
    }
    if (moving) await this.saveJournalMeta(moving);
    if (child.isDirectory) {
      const view = this.views.get(child.rwCap ?? child.roCap);
      if (view) view.path = to;
    }
  }

  async utimens(path: string, _atime: number, mtime: number): Promise<void> {
    if (mtime >= UTIME_OMIT) return; // only the access time changes, and it is not kept
    await this.setAttributes(path, { mtime });
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.setAttributes(path, { mode: mode & 0o7777 });
  }

  /** Ownership is not kept: only "no change" is accepted. */
  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.getattr(path);
    const same = (want: number, have: number) =>
      want === have || want === -1 || want === 0xffffffff;
    if (!same(uid, this.o.uid) || !same(gid, this.o.gid)) {
      throw new FsError('EPERM', `${path}: slotfs does not keep file owners`);
    }
  }

  /** Attaches someone else's file or directory cap at `path` (slotfs link). */
  async link(path: string, capText: string): Promise<void> {
    let cap;
    try {
      cap = parseCap(capText.trim());
    } catch (err) {
      throw new FsError('EINVAL', `not a valid cap: ${(err as Error).message}`, { cause: err });
    }
    if (cap.kind === 'ssk-verify' || cap.kind === 'immutable-verify') {
      throw new FsError('EINVAL', 'a verify cap cannot be read, so it cannot be linked');
    }
    const { parent, name } = await this.parentOf(path);
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${path} already exists`);
    this.requireWritable(parent, path);
    const text = formatCap(cap);
    // Check that it can be read before linking it, so a typo links nothing.
    const metadata: ChildMetadata = { mtime: Date.now() / 1000 };
    if (cap.kind === 'literal' && !cap.directory) {
      metadata.size = cap.data.length; // the contents are in the cap
      metadata.mode = 0o444;
    } else if (cap.directory) {
      await this.dirs.list(text);
      metadata.mode = 0o755;
    } else {
      const got = await this.mutable.retrieve(text);
      metadata.size = got.plaintext.length;
      metadata.mode = cap.kind === 'immutable' ? 0o444 : 0o644;
    }
    const caps = childCapsOf(text);
    await this.change(parent, () =>
      this.dirs.add(parent.cap, name, caps, metadata, { mustNotExist: true }),
    );
    parent.entries.set(name, { name, isDirectory: cap.directory, ...caps, metadata });
    this.touchDir(parent);
  }

  // ---------------------------------------------------------------- whole mount

  /** Files with writes not yet on the grid. */
  pending(): PendingWrite[] {
    const all = [...this.unlinked, ...this.files.values()].filter(
      (st) => (st.dirty || st.metaDirty) && !st.detached,
    );
    return all.map((st) => ({
      path: st.path,
      bytes: st.size,
      since: st.dirtySince,
      lastError: st.lastError,
    }));
  }

  /** Publishes every dirty file and directory change; the failures, by path. */
  async flushAll(): Promise<Array<{ path: string; error: string }>> {
    const dirty = [...this.unlinked, ...this.files.values()].filter(
      (st) => (st.dirty || st.metaDirty) && !st.detached,
    );
    const results = await Promise.allSettled(dirty.map((st) => this.publish(st)));
    const failures: Array<{ path: string; error: string }> = [];
    results.forEach((r, i) => {
      if (r.status === 'rejected')
        failures.push({ path: dirty[i].path, error: describeFailure(r.reason) });
    });
    await Promise.all([...this.dirTimesDue].map((view) => this.saveDirTimes(view)));
    try {
      await this.dirs.flush();
    } catch (err) {
      failures.push({ path: '(directories)', error: describeFailure(err) });
    }
    return failures;
  }

  /**
   * Brings back the files journaled by a previous run that did not publish them (it was
   * killed, or the grid was down): they are visible at once and published in the
   * background. Returns how many.
   */
  async recover(): Promise<number> {
    const entries = await this.journal.entries();
    for (const { id, meta, contents, changedAt } of entries) {
      const path = meta.path ?? meta.name;
      // The last write's own mtime, unless the metadata (touch -d) was recorded after it.
      const mtime = changedAt ?? meta.mtime;
      const st = new FileState(
        meta.parentCap,
        meta.name,
        path,
        true,
        meta.mode ?? 0o644,
        mtime ?? Date.now(),
      );
      st.journalId = id;
      st.journaled = Promise.resolve();
      st.cap = meta.cap;
      if (meta.cap) st.roCap = childCapsOf(meta.cap).roCap;
      st.basedOn = meta.basedOn && {
        seqnum: meta.basedOn.seqnum,
        rootHash: fromHex(meta.basedOn.rootHash),
      };
      st.buffer = new FileBuffer(contents);
      st.loadedAt = Date.now();
      st.dirty = true;
      st.dirtySince = Date.now();
      st.link = meta.link;
      if (st.link) this.unlinked.add(st);
      else if (st.cap) this.files.set(this.siOf(st.cap), st);
      else {
        await this.journal.clear(id);
        continue;
      }
      const view = this.views.get(st.parent);
      if (view && st.link) view.entries.set(st.name, this.localChild(st));
      this.o.log(
        `slotfs: republishing ${path} (${contents.length} bytes) from the write-back journal`,
      );
      this.publishInBackground(st);
    }
    return entries.length;
  }

  /** Stops timers (after flushAll, before the journal closes). */
  close(): void {
    this.closed = true;
    for (const view of this.views.values()) clearTimeout(view.timesTimer);
    for (const st of [...this.unlinked, ...this.files.values()]) {
      clearTimeout(st.timer);
      clearTimeout(st.retryTimer);
      clearTimeout(st.dropTimer);
    }
  }

  // ---------------------------------------------------------------- internals: lookup

  private splitPath(path: string): string[] {
    const parts = path.split('/').filter((p) => p.length > 0);
    return parts.map((p) => {
      if (Buffer.byteLength(p) > MAX_NAME_BYTES) {
        throw new FsError('ENAMETOOLONG', `a name in ${path} is longer than 255 bytes`);
      }
      return p; // not normalised: programs compare names byte for byte
    });
  }

  private async target(path: string): Promise<Target> {
    const parts = this.splitPath(path);
    // The root's own attributes need no listing (and no grid).
    if (parts.length === 0) return { kind: 'root' };
    let view = await this.view(this.rootCap, '/');
    let at = '';
    for (const part of parts.slice(0, -1)) {
      const child = view.entries.get(part);
      at += `/${part}`;
      if (!child) throw new FsError('ENOENT', `${at} does not exist`);
      if (!child.isDirectory) throw new FsError('ENOTDIR', `${at} is not a directory`);
      view = await this.view(child.rwCap ?? child.roCap, at);
    }
    const name = parts[parts.length - 1];
    return { kind: 'child', parent: view, name, child: view.entries.get(name) };
  }

  private async parentOf(path: string): Promise<{ parent: DirView; name: string }> {
    const t = await this.target(path);
    if (t.kind === 'root') throw new FsError('EEXIST', 'the mount root exists');
    return { parent: t.parent, name: t.name };
  }

  private async dirOf(path: string): Promise<DirView> {
    const t = await this.target(path);
    if (t.kind === 'root') return this.view(this.rootCap, '/');
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (!t.child.isDirectory) throw new FsError('ENOTDIR', `${path} is not a directory`);
    return this.view(t.child.rwCap ?? t.child.roCap, path);
  }

  /** The cached listing of a directory, fetched again once older than dirCacheMs. */
  async view(cap: string, path: string): Promise<DirView> {
    let view = this.views.get(cap);
    if (!view) {
      view = {
        cap,
        writable: parseCap(cap).kind === 'ssk-write',
        entries: new DirEntries(this.linkIndex, cap),
        fetchedAt: -Infinity,
        pending: 0,
        changes: 0,
        path,
      };
      this.views.set(cap, view);
    }
    view.path = path;
    const loaded = view.fetchedAt > -Infinity;
    if (loaded && (view.pending > 0 || Date.now() - view.fetchedAt < this.o.dirCacheMs)) {
      return view;
    }
    const v = view;
    v.loading ??= this.refresh(v).finally(() => (v.loading = undefined));
    await v.loading;
    return v;
  }

  private async refresh(view: DirView): Promise<void> {
    const changes = view.changes;
    const listing = await this.dirs.list(view.cap);
    if (view.fetchedAt > -Infinity && (view.changes !== changes || view.pending > 0)) {
      // A change of ours raced the fetch: the listing may not show it. Keep ours.
      view.fetchedAt = Date.now();
      return;
    }
    const entries = new DirEntries<Child>(this.linkIndex, view.cap);
    for (const [name, e] of listing) {
      entries.set(name, {
        name,
        isDirectory: e.isDirectory,
        rwCap: e.rwCap,
        roCap: e.roCap,
        metadata: e.metadata,
        symlink: e.isDirectory ? undefined : symlinkTargetOf(e),
      });
    }
    for (const st of this.unlinked) {
      if (st.parent === view.cap && !st.detached) entries.set(st.name, this.localChild(st));
    }
    view.entries.release();
    view.entries = entries;
    view.fetchedAt = Date.now();
  }

  /** Runs a directory change of this mount, keeping refreshes from undoing it. */
  private async change<T>(view: DirView, fn: () => Promise<T>): Promise<T> {
    view.pending++;
    view.changes++;
    try {
      return await fn();
    } catch (err) {
      // Our picture of the directory may now be wrong: look again next time.
      if ((err as { code?: string }).code !== 'ERR_DIR_EXISTS') view.fetchedAt = -1;
      throw err;
    } finally {
      view.pending--;
    }
  }

  private requireWritable(view: DirView, path: string): void {
    if (!view.writable) {
      throw new FsError('EROFS', `the directory of ${path} is linked read-only (no write cap)`);
    }
  }

  private localChild(st: FileState): Child {
    return {
      name: st.name,
      isDirectory: false,
      roCap: '',
      metadata: { mode: st.mode, mtime: st.mtime / 1000, size: st.size },
      local: st,
    };
  }

  /** The directory's entries changed here: new mtime and ctime, kept in its parent's entry. */
  private touchDir(view: DirView): void {
    const now = Date.now();
    view.mtime = now;
    view.ctime = Math.max(view.ctime ?? 0, now);
    this.scheduleDirTimes(view);
  }

  private scheduleDirTimes(view: DirView): void {
    if (this.closed) return;
    // One update of the parent per burst of changes, once they have settled.
    this.dirTimesDue.add(view);
    clearTimeout(view.timesTimer);
    view.timesTimer = setTimeout(() => {
      this.saveDirTimes(view).catch(() => undefined);
    }, this.o.writeBackMs);
    view.timesTimer.unref();
  }

  /** Writes a directory's mtime into its entry in the parent (looked up by its path now). */
  private async saveDirTimes(view: DirView): Promise<void> {
    clearTimeout(view.timesTimer);
    if (!this.dirTimesDue.delete(view) || view.mtime === undefined) return;
    const mtime = view.mtime / 1000;
    try {
      if (view.cap === this.rootCap) {
        await this.o.keepRootMtime?.(view.mtime);
        return;
      }
      const t = await this.target(view.path);
      if (t.kind === 'root' || !t.child || !t.parent.writable) return;
      const child = t.child;
      if ((child.rwCap ?? child.roCap) !== view.cap || child.metadata.mtime === mtime) return;
      await this.change(t.parent, () => this.dirs.setMetadata(t.parent.cap, t.name, { mtime }));
      child.metadata.mtime = mtime;
    } catch (err) {
      this.o.log(
        `slotfs: could not keep the modification time of directory ${view.path}: ${describeFailure(err)}`,
      );
    }
  }

  /** A directory is gone (removed, or replaced by a rename): its names stop counting. */
  private dropView(cap: string): void {
    const view = this.views.get(cap);
    if (!view) return;
    view.entries.release();
    clearTimeout(view.timesTimer);
    this.dirTimesDue.delete(view);
    this.views.delete(cap);
  }

  /**
   * One name of a linked file is gone: the file state moves to another loaded name (a hard
   * link) or, when none is left, is detached. Names in directories this mount has not loaded
   * are not known: then the pending writes are dropped as for any deleted file.
   */
  private forgetName(st: FileState): void {
    const si = st.roCap ? this.siOf(st.roCap) : undefined;
    const other = si === undefined ? undefined : this.linkIndex.placesOf(si)[0];
    const view = other && this.views.get(other.dirCap);
    if (!other || !view) {
      this.detach(st);
      return;
    }
    this.relocate(st, view, other.name, `${view.path === '/' ? '' : view.path}/${other.name}`);
    st.ctime = Date.now();
    this.saveJournalMeta(st).catch(() => undefined);
  }

  private siCache = new Map<string, string>();
  /** The key of a file's state: its storage index (a literal cap has none: the cap itself). */
  private siOf(cap: string): string {
    let si = this.siCache.get(cap);
    if (!si) {
      const parsed = parseCap(cap);
      si = parsed.kind === 'literal' ? cap : toBase32(storageIndexOf(parsed));
      if (this.siCache.size > 10000) this.siCache.clear();
      this.siCache.set(cap, si);
    }
    return si;
  }

  // ---------------------------------------------------------------- internals: attributes

  /**
   * A directory's attributes: its own view (when loaded) knows the changes this mount made
   * to it and how many subdirectories it has; otherwise st_nlink is 1, which tools such as
   * find read as "unknown".
   */
  private dirStat(
    view: DirView | undefined,
    mtime: number,
    ctime: number,
    mode: number | undefined,
  ): Stat {
    const loaded = view && view.fetchedAt > -Infinity;
    const ms = view?.mtime ?? mtime;
    return {
      mode: S_IFDIR | (mode ?? 0o755),
      size: 4096,
      mtime: ms,
      atime: ms,
      ctime: Math.max(ctime, view?.ctime ?? 0) || ms,
      nlink: loaded ? 2 + view.entries.subdirectories : 1,
      uid: this.o.uid,
      gid: this.o.gid,
      blocks: 8,
      blksize: 4096,
    };
  }

  private childStat(child: Child, parentWritable = false): Stat {
    const m = child.metadata;
    const linkTime = m.tahoe?.linkmotime ?? m.tahoe?.linkcrtime ?? 0;
    const mtimeSeconds = typeof m.mtime === 'number' ? m.mtime : linkTime;
    // Every change of an entry (chmod, rename, a publish's new size or mtime) sets its
    // linkmotime: the status change time, as far as the grid knows it.
    const changed = linkTime * 1000;
    if (child.isDirectory) {
      const mode = typeof m.mode === 'number' ? m.mode : undefined;
      const view = this.views.get(child.rwCap ?? child.roCap);
      const shown = child.rwCap ? mode : (mode ?? 0o755) & ~0o222;
      return this.dirStat(view, mtimeSeconds * 1000, changed, shown);
    }
    if (child.symlink) {
      const mtime = mtimeSeconds * 1000;
      return {
        mode: S_IFLNK | 0o777,
        size: child.symlink.length,
        mtime,
        atime: mtime,
        ctime: changed || mtime,
        nlink: 1,
        uid: this.o.uid,
        gid: this.o.gid,
        blocks: 0,
        blksize: 4096,
      };
    }
    const si = this.linkIndex.keyOf(child);
    const st = child.local ?? (si === undefined ? undefined : this.files.get(si));
    // Immutable and literal caps state their size; Tahoe's entries carry none.
    const fixed = sizeFromCap(child.roCap);
    const size = st?.buffer ? st.size : (fixed ?? (typeof m.size === 'number' ? m.size : 0));
    const mtime = st ? st.mtime : mtimeSeconds * 1000;
    let mode = st ? st.mode : typeof m.mode === 'number' ? m.mode : 0o644;
    if (!child.rwCap && !child.local && !this.replaceable(parentWritable, child)) mode &= ~0o222;
    return {
      mode: S_IFREG | mode,
      size,
      mtime,
      atime: mtime,
      ctime: Math.max(st?.ctime ?? 0, changed) || mtime,
      nlink: si === undefined ? 1 : Math.max(1, this.linkIndex.count(si)),
      uid: this.o.uid,
      gid: this.o.gid,
      blocks: Math.ceil(size / 512),
      blksize: 4096,
    };
  }

  private async setAttributes(
    path: string,
    patch: { mtime?: number; mode?: number },
  ): Promise<void> {
    const t = await this.target(path);
    if (t.kind === 'root') {
      // The root has no entry to keep them in: this mount shows them until it ends.
      const root = this.views.get(this.rootCap);
      if (root && patch.mtime !== undefined) {
        root.mtime = patch.mtime;
        this.scheduleDirTimes(root);
      }
      if (root) root.ctime = Math.max(root.ctime ?? 0, Date.now());
      return;
    }
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    this.requireWritable(t.parent, path);
    const child = t.child;
    const st = child.isDirectory
      ? undefined
      : (child.local ?? this.files.get(this.siOf(child.roCap)));
    if (child.isDirectory) {
      // This mount's own picture of the directory's times follows at once.
      const view = this.views.get(child.rwCap ?? child.roCap);
      if (view) {
        if (patch.mtime !== undefined) view.mtime = patch.mtime;
        view.ctime = Math.max(view.ctime ?? 0, Date.now());
      }
    }
    if (st) {
      st.ctime = Date.now();
      if (patch.mtime !== undefined) st.mtime = patch.mtime;
      if (patch.mode !== undefined) st.mode = patch.mode;
      if (st.link || st.dirty || st.linking) {
        // The next publish carries them (and the journal keeps them until then).
        st.metaDirty = true;
        await this.saveJournalMeta(st);
        this.scheduleWriteBack(st);
        return;
      }
    }
    const metadata: Partial<ChildMetadata> = {};
    if (patch.mtime !== undefined) metadata.mtime = patch.mtime / 1000;
    if (patch.mode !== undefined) metadata.mode = patch.mode;
    const parent = t.parent;
    await this.change(parent, () => this.dirs.setMetadata(parent.cap, t.name, metadata));
    Object.assign(child.metadata, metadata);
    if (!child.isDirectory && !child.symlink && child.roCap) {
      await this.updateOtherNames(this.siOf(child.roCap), parent.cap, t.name, metadata, path);
    }
  }

  // ---------------------------------------------------------------- internals: file state

  private stateOf(parent: DirView, child: Child): FileState {
    if (child.local) return child.local;
    const si = this.siOf(child.roCap);
    let st = this.files.get(si);
    const path = `${parent.path === '/' ? '' : parent.path}/${child.name}`;
    if (!st) {
      const m = child.metadata;
      st = new FileState(
        parent.cap,
        child.name,
        path,
        !!child.rwCap,
        typeof m.mode === 'number' ? m.mode : 0o644,
        (typeof m.mtime === 'number' ? m.mtime : (m.tahoe?.linkmotime ?? 0)) * 1000,
      );
      st.cap = child.rwCap ?? child.roCap;
      st.roCap = child.roCap;
      this.files.set(si, st);
    } else if (!st.detached) {
      st.parent = parent.cap;
      st.name = child.name;
      st.path = path;
    }
    clearTimeout(st.dropTimer);
    return st;
  }

  /** Loads the contents from the grid, unless the state holds ones still good to use. */
  private async load(st: FileState): Promise<void> {
    if (st.buffer) {
      const fresh = Date.now() - st.loadedAt < this.o.attrCacheMs;
      if (st.dirty || st.openCount > 0 || st.link || fresh) return;
    }
    const cap = parseCap(st.cap!);
    if (cap.kind === 'literal') {
      // A tiny immutable file a Tahoe client linked: its contents are in the cap.
      st.buffer = new FileBuffer(cap.data);
      st.loadedAt = Date.now();
      return;
    }
    st.loading ??= (async () => {
      try {
        const got = await this.mutable.retrieve(st.cap!);
        if (st.dirty) return; // a write got in first (cannot happen without a buffer)
        st.buffer = new FileBuffer(got.plaintext);
        st.basedOn = got.version;
        st.loadedAt = Date.now();
        // A size in the directory entry that disagrees with the contents (a writer that
        // died between publishing them and updating the entry) is corrected.
        this.repairSize(st).catch(() => undefined);
      } finally {
        st.loading = undefined;
      }
    })();
    await st.loading;
  }

  private newHandle(st: FileState, writable: boolean): number {
    const fh = this.nextFh++;
    if (this.nextFh > 0xfffffff0) this.nextFh = 1;
    this.handles.set(fh, { file: st, writable });
    st.openCount++;
    clearTimeout(st.dropTimer);
    return fh;
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) throw new FsError('EBADF', `no open file with handle ${fh}`);
    return h;
  }

  private async resize(st: FileState, size: number): Promise<void> {
    if (size > MAX_SDMF_FILE_SIZE) {
      throw new FsError(
        'EFBIG',
        `${st.path}: a file can hold at most ${MAX_SDMF_FILE_SIZE} bytes (64 MiB)`,
      );
    }
    if (st.detached) {
      st.buffer!.truncate(size);
      return;
    }
    const id = await this.journalFor(st);
    st.buffer!.truncate(size);
    this.touch(st);
    await this.journal.truncate(id, size, st.mtime);
  }

  /** After a write or truncate: dirty, new mtime, write-back timer restarted. */
  private touch(st: FileState): void {
    if (!st.dirty) st.dirtySince = Date.now();
    st.dirty = true;
    st.gen++;
    st.mtime = Date.now();
    st.ctime = st.mtime;
    this.scheduleWriteBack(st);
  }

  /**
   * The journal id to record the next change under. Loops because a publish finishing
   * while we wait may close the entry; the caller then changes the buffer synchronously.
   */
  private async journalFor(st: FileState): Promise<string> {
    for (;;) {
      const journaled = this.ensureJournal(st);
      await journaled;
      if (st.journaled === journaled && st.journalId) return st.journalId;
    }
  }

  private ensureJournal(st: FileState): Promise<void> {
    if (st.journaled) return st.journaled;
    st.journalId = randomBytes(12).toString('hex');
    // The snapshot is taken now, before the write that asked for it changes the buffer.
    const snapshot = st.buffer?.snapshot() ?? new Uint8Array(0);
    const journaled = this.journal.begin(st.journalId, this.journalMeta(st), snapshot);
    st.journaled = journaled;
    journaled.catch(() => {
      if (st.journaled === journaled) {
        st.journaled = undefined;
        st.journalId = undefined;
      }
    });
    return journaled;
  }

  private journalMeta(st: FileState): JournalMeta {
    return {
      cap: st.cap,
      parentCap: st.parent,
      name: st.name,
      path: st.path,
      basedOn: st.basedOn && { seqnum: st.basedOn.seqnum, rootHash: toHex(st.basedOn.rootHash) },
      link: st.link,
      mode: st.mode,
      mtime: st.mtime,
      afterOp: this.journal.mark(),
    };
  }

  private async saveJournalMeta(st: FileState): Promise<void> {
    const id = st.journalId;
    if (!st.journaled || !id) return;
    // Queued after the entry's begin; dropped by the journal if the entry is cleared first.
    await this.journal.setMeta(id, this.journalMeta(st));
  }

  private relocate(st: FileState, view: DirView, name: string, path: string): void {
    st.parent = view.cap;
    st.name = name;
    st.path = path;
  }

  /** The file no longer has a name: forget its pending writes. */
  private detach(st: FileState): void {
    st.detached = true;
    st.dirty = false;
    st.metaDirty = false;
    clearTimeout(st.timer);
    clearTimeout(st.retryTimer);
    this.unlinked.delete(st);
    if (st.roCap) {
      const si = this.siOf(st.roCap);
      if (this.files.get(si) === st) this.files.delete(si);
    }
    const id = st.journalId;
    st.journalId = undefined;
    st.journaled = undefined;
    if (id) {
      this.journal
        .clear(id)
        .catch((err: unknown) =>
          this.o.log(`slotfs: could not clear the journal of ${st.path}: ${describeFailure(err)}`),
        );
    }
  }

  /** Forgets a clean, closed file's contents after the attribute cache time. */
  private maybeDrop(st: FileState): void {
    if (st.openCount > 0 || st.dirty || st.metaDirty || st.link) return;
    clearTimeout(st.dropTimer);
    st.dropTimer = setTimeout(() => {
      if (st.openCount > 0 || st.dirty || st.metaDirty || st.link) return;
      st.buffer = undefined;
      if (st.roCap) {
        const si = this.siOf(st.roCap);
        if (this.files.get(si) === st) this.files.delete(si);
      }
    }, this.o.attrCacheMs);
    st.dropTimer.unref();
  }

  // ---------------------------------------------------------------- internals: publishing

  private scheduleWriteBack(st: FileState): void {
    if (this.closed) return;
    clearTimeout(st.timer);
    st.timer = setTimeout(() => this.publishInBackground(st), this.o.writeBackMs);
    st.timer.unref();
  }

  private publishInBackground(st: FileState): void {
    clearTimeout(st.timer);
    this.publish(st).catch(() => undefined); // reported by publish()
  }

  /**
   * Publishes `st` for a caller that waits for it (fsync): its queued write-back and this
   * publish start at once instead of behind other files' write-backs.
   */
  private async publishUrgently(st: FileState): Promise<void> {
    st.urgent++;
    this.limit.hurry();
    try {
      await this.publish(st);
    } finally {
      st.urgent--;
    }
  }

  /** Publishes now (after any publish of this file already running); rejects on failure. */
  publish(st: FileState): Promise<void> {
    const run = st.publishing.then(() =>
      this.limit.run(
        () => this.publishNow(st),
        () => st.urgent > 0,
      ),
    );
    st.publishing = run.then(
      () => undefined,
      () => undefined,
    );
    return run.then(
      () => {
        if (st.failures > 0)
          this.o.log(
            `slotfs: write-back of ${st.path} succeeded after ${st.failures} failed attempts`,
          );
        st.failures = 0;
        st.lastError = undefined;
        clearTimeout(st.retryTimer);
        this.o.onPublished?.();
        this.maybeDrop(st);
      },
      (err: unknown) => {
        st.failures++;
        st.lastError = summarizeFailure(err, `file ${st.path}`);
        if (!this.closed && (st.dirty || st.metaDirty || st.link) && !st.detached) {
          const delay = Math.min(60_000, 1000 * 2 ** Math.min(st.failures, 6));
          this.o.log(
            `slotfs: write-back of ${st.path} failed (${st.lastError}); kept in the journal, retrying in ${Math.round(delay / 1000)} s`,
          );
          clearTimeout(st.retryTimer);
          st.retryTimer = setTimeout(() => this.publishInBackground(st), delay);
          st.retryTimer.unref();
        }
        throw err;
      },
    );
  }

  private async publishNow(st: FileState): Promise<void> {
    if (st.detached) return;
    if (st.dirty) {
      const gen = st.gen;
      const bytes = st.buffer!.snapshot();
      const bound = this.journal.mark();
      st.metaDirty = false;
      if (!st.cap) {
        const created = await this.mutable.create(bytes);
        st.cap = created.cap;
        st.roCap = childCapsOf(created.cap).roCap;
        st.basedOn = created.version;
        if (st.detached) return;
        await this.saveJournalMeta(st);
      } else if (st.link) {
        // Created by an earlier run that was killed before linking it: update it.
        const r = await this.mutable.update(st.cap, bytes);
        st.basedOn = r.version;
      } else {
        await this.publishContents(st, bytes);
      }
      if (st.link) await this.linkNew(st, bytes.length);
      else await this.pushMetadata(st, bytes.length);
      if (st.detached) return;
      await this.settle(st, gen, bytes, bound);
    } else if (st.link) {
      await this.linkNew(st, st.size);
    } else if (st.metaDirty) {
      st.metaDirty = false;
      await this.pushMetadata(st, st.size);
    }
  }

  /** After a publish of generation `gen`: clean if nothing was written since. */
  private async settle(
    st: FileState,
    gen: number,
    published: Uint8Array,
    bound: number,
  ): Promise<void> {
    const id = st.journalId;
    if (st.gen === gen) {
      st.dirty = false;
      st.journalId = undefined;
      st.journaled = undefined;
      if (id) await this.journal.clear(id);
    } else if (id) {
      // Written to meanwhile: what was published becomes the journal's new snapshot, and
      // only the changes made since it are kept.
      await this.journal.compact(id, published, this.journalMeta(st), bound);
    }
  }

  private async publishContents(st: FileState, bytes: Uint8Array): Promise<void> {
    try {
      const r = await this.mutable.update(st.cap!, bytes, { basedOn: st.basedOn });
      st.basedOn = r.version;
    } catch (err) {
      if (!(err instanceof UncoordinatedWriteError)) throw err;
      // The version that won may hold exactly our bytes (our own earlier attempt that
      // reached the grid before a timeout): then there is nothing to keep apart.
      const current = await this.mutable.retrieve(st.cap!).catch(() => undefined);
      if (current && equalBytes(current.plaintext, bytes)) {
        st.basedOn = current.version;
        return;
      }
      if (this.o.conflicts === 'last-writer-wins') {
        this.o.log(
          `slotfs: ${st.path} was changed by another client; overwriting it (conflicts = "last-writer-wins")`,
        );
        const r = await this.mutable.update(st.cap!, bytes);
        st.basedOn = r.version;
        return;
      }
      await this.saveConflictCopy(st, bytes, 'changed');
    }
  }

  /**
   * Our version lost: theirs stays at NAME, ours becomes NAME.conflict-…; the open file
   * (and its handles) continues as the conflict copy.
   */
  private async saveConflictCopy(
    st: FileState,
    /** Our contents ('changed'), or just their size when the file has a cap ('created'). */
    ours: Uint8Array | number,
    what: 'changed' | 'created',
  ): Promise<void> {
    const view = await this.view(st.parent, st.path.slice(0, st.path.lastIndexOf('/')) || '/');
    const original = st.name;
    const copy = conflictName(original, new Date(), this.o.clientName, (n) => view.entries.has(n));
    // A new file that lost its name already has a cap holding our bytes: link that one.
    const created =
      typeof ours === 'number'
        ? { cap: st.cap!, version: st.basedOn! }
        : await this.mutable.create(ours);
    const size = typeof ours === 'number' ? ours : ours.length;
    const caps = childCapsOf(created.cap);
    const metadata: ChildMetadata = { size, mtime: st.mtime / 1000, mode: st.mode };
    await this.change(view, () =>
      this.dirs.add(view.cap, copy, caps, metadata, { mustNotExist: true }),
    );
    if (st.roCap) {
      const oldSi = this.siOf(st.roCap);
      if (this.files.get(oldSi) === st) this.files.delete(oldSi);
    }
    const dir = st.path.slice(0, st.path.lastIndexOf('/'));
    const originalPath = st.path;
    st.cap = created.cap;
    st.roCap = caps.roCap;
    st.basedOn = created.version;
    st.link = undefined;
    this.unlinked.delete(st);
    this.relocate(st, view, copy, `${dir}/${copy}`);
    this.files.set(this.siOf(caps.roCap), st);
    view.entries.set(copy, { name: copy, isDirectory: false, ...caps, metadata });
    view.fetchedAt = -1; // NAME now shows the other writer's version
    await this.saveJournalMeta(st);
    const record = { at: Date.now(), path: originalPath, copy: `${dir}/${copy}` };
    this.o.log(
      `slotfs: conflict: ${originalPath} was ${what} by another client at the same time; theirs stays at ${originalPath}, ours is saved as ${record.copy}`,
    );
    this.o.onConflict?.(record);
    const extra = conflictCopiesToPrune(original, view.entries.keys(), this.o.maxConflictCopies);
    for (const name of extra) {
      await this.change(view, () => this.dirs.remove(view.cap, name, { mustExist: false })).catch(
        (err: unknown) =>
          this.o.log(
            `slotfs: could not remove old conflict copy ${dir}/${name}: ${describeFailure(err)}`,
          ),
      );
      view.entries.delete(name);
    }
  }

  /**
   * Links a new file into its directory under its current name. Renames and unlinks of
   * the file wait for `st.linking`, so the name cannot change under it.
   */
  private linkNew(st: FileState, size: number): Promise<void> {
    const run = this.linkNewNow(st, size);
    const linking = run.then(
      () => undefined,
      () => undefined,
    );
    st.linking = linking;
    void linking.then(() => {
      if (st.linking === linking) st.linking = undefined;
    });
    return run;
  }

  private async linkNewNow(st: FileState, size: number): Promise<void> {
    if (st.detached) return; // deleted or replaced while being created
    const name = st.name;
    const view = await this.view(st.parent, st.path.slice(0, st.path.lastIndexOf('/')) || '/');
    const caps = childCapsOf(st.cap!);
    const metadata: ChildMetadata = { size, mtime: st.mtime / 1000, mode: st.mode };
    let alreadyLinked: ChildMetadata | undefined;
    try {
      await this.change(view, () =>
        this.dirs.add(
          view.cap,
          name,
          caps,
          metadata,
          st.link === 'replace' ? { replace: true } : { mustNotExist: true },
        ),
      );
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_DIR_EXISTS') throw err;
      const there = await this.dirs.lookup(view.cap, name);
      if (there && this.sameFile(there.roCap, caps.roCap)) {
        // Linked already, under this very cap: an earlier run was killed after the link and
        // before its journal said so. Not a conflict — a copy would share the cap.
        alreadyLinked = there.metadata;
      } else {
        // Another client created the same name meanwhile: theirs stays, ours is a copy.
        this.unlinked.delete(st);
        view.entries.delete(name);
        view.fetchedAt = -1;
        await this.saveConflictCopy(st, size, 'created');
        return;
      }
    }
    st.link = undefined;
    this.unlinked.delete(st);
    this.files.set(this.siOf(caps.roCap), st);
    const child = view.entries.get(name);
    if (child?.local === st) {
      const shown = alreadyLinked ? structuredClone(alreadyLinked) : metadata;
      view.entries.set(name, { name, isDirectory: false, ...caps, metadata: shown });
    }
    await this.saveJournalMeta(st);
    if (alreadyLinked) await this.pushMetadata(st, size);
  }

  /** Two caps of one mutable file (same storage index). */
  private sameFile(a: string, b: string): boolean {
    try {
      return this.siOf(a) === this.siOf(b);
    } catch {
      return false; // not a mutable cap: not ours
    }
  }

  private async repairSize(st: FileState): Promise<void> {
    const view = this.views.get(st.parent);
    const child = view?.entries.get(st.name);
    if (!view?.writable || !child || child.local || st.dirty || st.detached) return;
    // An entry without a size (Tahoe's) is not wrong: a read never rewrites the directory.
    if (typeof child.metadata.size !== 'number') return;
    if (child.metadata.size === st.size || this.siOf(child.roCap) !== this.siOf(st.cap!)) return;
    const size = st.size;
    this.o.log(
      `slotfs: ${st.path}: directory entry said ${child.metadata.size ?? '?'} bytes, contents have ${size}; corrected`,
    );
    // Only if the entry still says what this reader saw: the writer may be between
    // publishing the contents and the entry, and its newer size must not be undone.
    const said = child.metadata.size;
    const applied = await this.change(view, () =>
      this.dirs.setMetadata(
        view.cap,
        st.name,
        { size },
        { onlyIf: { roCap: child.roCap, size: said } },
      ),
    );
    if (applied) child.metadata.size = size;
    else view.fetchedAt = -1; // changed meanwhile: look again next time
  }

  /**
   * A hard-linked file's other names in loaded directories get the new size and mtime too,
   * so a reader through them (also after a new mount) does not stop at the old size.
   */
  private async updateOtherNames(
    si: string,
    dirCap: string,
    name: string,
    patch: Partial<ChildMetadata>,
    path: string,
  ): Promise<void> {
    const others = this.linkIndex
      .placesOf(si)
      .filter((p) => p.dirCap !== dirCap || p.name !== name);
    await Promise.all(
      others.map(async (p) => {
        const view = this.views.get(p.dirCap);
        const child = view?.entries.get(p.name);
        if (!view?.writable || !child) return;
        await this.change(view, () => this.dirs.setMetadata(view.cap, p.name, patch)).then(
          () => Object.assign(child.metadata, patch),
          (err: unknown) =>
            this.o.log(
              `slotfs: could not update the entry of ${describeObject(`${view.path === '/' ? '' : view.path}/${p.name}`, 'file')} (a hard link of ${path}): ${summarizeFailure(err, path)}`,
            ),
        );
      }),
    );
  }

  /** Size, mtime and mode into the directory entry, when they changed. */
  private async pushMetadata(st: FileState, size: number): Promise<void> {
    if (st.detached) return;
    // The directory may not be loaded (a file republished from the journal at mount), or
    // be loading for a lookup right now: its entries are only usable once fetched.
    const known = this.views.get(st.parent);
    const view =
      known && known.fetchedAt > -Infinity && !known.loading
        ? known
        : await this.view(st.parent, dirname(st.path));
    if (!view.writable || st.detached) return;
    const child = view.entries.get(st.name);
    if (!child || child.local) return;
    const m = child.metadata;
    const patch: Partial<ChildMetadata> = {};
    if (m.size !== size) patch.size = size;
    const mtime = st.mtime / 1000;
    if (typeof m.mtime !== 'number' || Math.abs(m.mtime - mtime) > 0.0005) patch.mtime = mtime;
    if (m.mode !== st.mode) patch.mode = st.mode;
    if (Object.keys(patch).length === 0) return;
    const name = st.name;
    try {
      await this.change(view, () => this.dirs.setMetadata(view.cap, name, patch));
      Object.assign(child.metadata, patch);
      if (st.roCap)
        await this.updateOtherNames(this.siOf(st.roCap), view.cap, name, patch, st.path);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_DIR_NOT_FOUND') throw err;
      // Renamed meanwhile: once more under the new name; removed: nothing to update.
      if (!st.detached && (st.name !== name || st.parent !== view.cap)) {
        await this.pushMetadata(st, size);
      }
    }
  }
}

/** The directory part of a mount path ('/a/b' → '/a', '/a' → '/'). */
function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
