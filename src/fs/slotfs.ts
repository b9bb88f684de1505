// The filesystem behind the mount, path-based like libfuse 2's API, with no FUSE in it
// (src/fs/fuse-ops.ts adapts it). Directories are dirnodes, files are mutable files.
// This class is the list of operations; the work is done in its rooms:
//
// - namespace.ts: paths → directory views (cached listings, this mount's changes applied
//   at once), directory times, the hard-link index;
// - dir-changes.ts: directory changes journaled and answered at once, published in the
//   background (batched per folder), replayed after a crash;
// - open-files.ts: file states and handles, loading and resizing contents;
// - file-journal.ts: each dirty file's entry in the write-back journal;
// - write-back.ts: the publisher (on close, after idleness, on fsync; bounded concurrency,
//   retries) and the replay of the journal at mount;
// - conflicts.ts: conflict copies when another writer's version won;
// - entry-metadata.ts: size, mtime and mode pushed into directory entries, size repair;
// - attributes.ts: what stat shows.
import { parseCap, formatCap, readCapOf } from '../caps/index.js';
import type { WriteJournal } from '../cache/journal.js';
import type { ChildMetadata, DirectoryClient } from '../dirnode/directory.js';
import { childCapsOf } from '../dirnode/directory.js';
import type { MutableClient } from '../mutable/mutable-client.js';
import { MAX_SDMF_FILE_SIZE } from '../sdmf/layout.js';
import { MAX_SYMLINK_TARGET_BYTES, symlinkChild } from '../dirnode/symlink.js';
import { Attributes, replaceable } from './attributes.js';
import { sizeFromCap } from './cap-size.js';
import { Conflicts } from './conflicts.js';
import { DirChanges } from './dir-changes.js';
import { EntryMetadata } from './entry-metadata.js';
import { FsError, describeFailure } from './errno.js';
import type { ObjectKind } from './failure-log.js';
import { FileBuffer } from './file-buffer.js';
import { FileJournal } from './file-journal.js';
import { Namespace, localChild } from './namespace.js';
import {
  FileState,
  MAX_NAME_BYTES,
  pathIn,
  settingsOf,
  type Child,
  type DirView,
  type PendingWrite,
  type Settings,
  type SlotFsOptions,
  type Stat,
  type Target,
} from './nodes.js';
import { OpenFiles } from './open-files.js';
import { WriteBack } from './write-back.js';

export type { ConflictRecord, PendingWrite, SlotFsOptions, Stat } from './nodes.js';

/** What the binding may keep of a getattr answer (SlotFs.attrsToKeep). */
export interface AttrsToKeep {
  ms: number;
  siblings?: { paths: string[]; stats: Stat[] };
}

/** A folder changed here this recently, or handed to the binding this recently, is not (attrsToKeep). */
const QUIET_MS = 100;
/** At most this many names of one folder are handed to the binding at once. */
const MAX_SIBLING_ATTRS = 4096;

/** The extended attributes slotfs answers (`user.slotfs.cap`, `user.slotfs.rocap`). */
export const XATTR_PREFIX = 'user.slotfs.';

const O_ACCMODE = 3;
const O_TRUNC = 0o1000;
const UTIME_OMIT = 2 ** 52 - 1;
/** How long getattr waits to learn the size of a file whose entry has none. */
const LEARN_SIZE_MS = 10_000;

export class SlotFs {
  readonly rootCap: string;
  private readonly o: Settings;
  private readonly started = Date.now();
  private readonly ns: Namespace;
  private readonly files: OpenFiles;
  private readonly fj: FileJournal;
  private readonly entries: EntryMetadata;
  private readonly writeBack: WriteBack;
  private readonly attrs: Attributes;
  private readonly changes: DirChanges;
  /** When each folder's names were last handed to the binding (attrsToKeep). */
  private readonly warmed = new WeakMap<DirView, number>();

  constructor(
    private readonly mutable: MutableClient,
    private readonly dirs: DirectoryClient,
    journal: WriteJournal,
    options: SlotFsOptions,
  ) {
    this.rootCap = options.rootCap;
    this.o = settingsOf(options);
    this.ns = new Namespace(this.rootCap, dirs, this.o, () => this.files.unlinked);
    dirs.onInSync = (cap, readAt, lineage) => this.ns.synced(cap, readAt, lineage);
    this.fj = new FileJournal(journal, this.o.log);
    this.changes = new DirChanges(this.ns, dirs, mutable, journal, this.o);
    this.files = new OpenFiles(this.ns, this.fj, mutable, this.o);
    this.entries = new EntryMetadata(this.ns, dirs, this.o);
    const conflicts = new Conflicts(this.ns, this.files, this.fj, mutable, dirs, this.o);
    this.writeBack = new WriteBack(
      this.ns,
      this.files,
      this.fj,
      this.entries,
      conflicts,
      mutable,
      dirs,
      this.o,
    );
    this.files.hooks = {
      changed: (st) => this.writeBack.schedule(st),
      // A size in the directory entry that disagrees with the contents (a writer that
      // died between publishing them and updating the entry) is corrected.
      loaded: (st) => void this.entries.repairSize(st).catch(() => undefined),
    };
    this.attrs = new Attributes(this.ns, this.files, this.o);
  }

  /**
   * Every FUSE call is announced here first (fuse-ops.ts): background write-backs hold back
   * while calls keep coming. fsync and fsyncdir wait for the grid anyway: they do not count.
   */
  noteCall(op: string): void {
    if (op !== 'fsync' && op !== 'fsyncdir') this.writeBack.call();
  }

  // ---------------------------------------------------------------- lookups

  /** Answered from memory when the folders on the way are loaded (a Stat, not a promise). */
  getattr(path: string): Stat | Promise<Stat> {
    const t = this.targetKnown(path);
    return t ? this.statOf(t, path) : this.getattrFromGrid(path);
  }

  /**
   * The attributes of `path` when known without the grid, else undefined: passed with the
   * answer of an operation that changed the entry (fuse-attr-replies.ts).
   */
  attrsNow(path: string): Stat | undefined {
    const t = this.targetKnown(path);
    return t && (t.kind === 'root' || t.child) ? this.statOf(t, path) : undefined;
  }

  /**
   * What the binding may keep of a getattr of `path` just answered, in its attribute table
   * (fuse-attr-replies.ts): for how long (ms; 0: not at all), and after a kept answer,
   * sometimes the other names of its folder too (see below).
   *
   * As long as every folder on the way stays fresh, and only for what changes through
   * operations alone (each empties the table): not a file with changes still to publish,
   * being loaded or open for writing, nor one whose size is still to be learnt. A missing
   * name counts too (its parent is fresh).
   *
   * The folder's other names: a program that stats one name of a folder mostly goes on with
   * the others (ls -l, find, git status, a second pass), as NFS's READDIRPLUS assumes. Only
   * for a folder that has not changed here for a while, and once in a while.
   */
  attrsToKeep(path: string): AttrsToKeep {
    const fresh = { ms: 0 };
    let t: Target | undefined;
    try {
      t = this.ns.targetNow(path, fresh);
    } catch {
      return { ms: 0 };
    }
    if (!t) return { ms: 0 };
    if (t.kind === 'root') return { ms: fresh.ms };
    const ms = !t.child || this.settled(t.child) ? fresh.ms : 0;
    return { ms, siblings: ms > 0 ? this.siblingAttrs(t.parent, path) : undefined };
  }

  /** Whether what stat shows of `child` changes through operations alone (attrsToKeep). */
  private settled(child: Child): boolean {
    if (child.isDirectory) return true;
    if (this.sizeUnknown(child)) return false;
    // A file made here (child.local) is not linked yet (st.link) until its entry is swapped.
    const si = child.local ? undefined : this.ns.linkIndex.keyOf(child);
    const st = child.local ?? (si === undefined ? undefined : this.files.files.get(si));
    // Open for reading only, it shows what it showed before (libfuse asks right after open).
    return !(st && (st.dirty || st.metaDirty || st.link || st.loading || st.writers > 0));
  }

  /** The settled names of a quiet folder not handed over lately, with their attributes. */
  private siblingAttrs(view: DirView, path: string): AttrsToKeep['siblings'] {
    const now = Date.now();
    if (now - (view.mtime ?? 0) < QUIET_MS || now - (this.warmed.get(view) ?? 0) < QUIET_MS)
      return undefined;
    this.warmed.set(view, now);
    const dir = path.slice(0, path.lastIndexOf('/'));
    const paths: string[] = [];
    const stats: Stat[] = [];
    for (const [name, child] of view.entries) {
      if (paths.length >= MAX_SIBLING_ATTRS) break;
      if (!this.settled(child)) continue;
      paths.push(`${dir}/${name}`);
      stats.push(this.attrs.childStat(child, view.writable));
    }
    return { paths, stats };
  }

  /** The target, when what stat shows of it is known without the grid. */
  private targetKnown(path: string): Target | undefined {
    const t = this.ns.targetNow(path);
    return t && (t.kind === 'root' || !t.child || !this.sizeUnknown(t.child)) ? t : undefined;
  }

  private async getattrFromGrid(path: string): Promise<Stat> {
    const t = await this.ns.target(path);
    if (t.kind === 'child' && t.child) await this.learnSize(t.parent, t.child);
    return this.statOf(t, path);
  }

  private statOf(t: Target, path: string): Stat {
    if (t.kind === 'root') {
      const time = this.o.rootMtime ?? this.started;
      return this.attrs.dirStat(this.ns.views.get(this.rootCap), time, time, undefined);
    }
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    return this.attrs.childStat(t.child, t.parent.writable);
  }

  /** A file whose entry states no size (see learnSize). */
  private sizeUnknown(child: Child): boolean {
    if (child.isDirectory || child.local || typeof child.metadata.size === 'number') return false;
    return sizeFromCap(child.roCap) === undefined;
  }

  /**
   * A file whose entry has no size (Tahoe never writes one) is loaded so that its length
   * is known before the kernel believes 0 — bounded, then 0 after all. Nothing is written.
   */
  private async learnSize(parent: DirView, child: Child): Promise<void> {
    if (!this.sizeUnknown(child)) return;
    const st = this.files.stateOf(parent, child);
    if (st.buffer) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.files.load(st).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, LEARN_SIZE_MS))),
    ]);
    clearTimeout(timer);
  }

  async readlink(path: string): Promise<string> {
    const t = await this.ns.target(path);
    if (t.kind === 'root' || !t.child?.symlink) {
      if (t.kind === 'child' && !t.child) throw new FsError('ENOENT', `${path} does not exist`);
      throw new FsError('EINVAL', `${path} is not a symbolic link`);
    }
    return Buffer.from(t.child.symlink).toString('utf8');
  }

  /** What `path` is, from what this mount has loaded (no grid access; undefined if unknown). */
  kindOf(path: string): ObjectKind | undefined {
    return this.ns.kindOf(path);
  }

  async readdir(path: string): Promise<string[]> {
    const view = await this.ns.dirOf(path);
    return ['.', '..', ...view.entries.keys()];
  }

  /** The caps of a node (write cap undefined when only a read cap is held). */
  async caps(path: string): Promise<{ rwCap?: string; roCap: string }> {
    const t = await this.ns.target(path);
    if (t.kind === 'root') {
      const cap = parseCap(this.rootCap);
      const ro = cap.kind === 'ssk-write' ? formatCap(readCapOf(cap)) : this.rootCap;
      return { rwCap: cap.kind === 'ssk-write' ? this.rootCap : undefined, roCap: ro };
    }
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    let child = t.child;
    if (child.local) {
      // A file that exists only here gets its cap now.
      await this.writeBack.urgently(child.local);
      child = t.parent.entries.get(child.local.name) ?? child;
      if (!child.roCap) throw new FsError('EIO', `${path} could not be published`);
    }
    return { rwCap: child.rwCap, roCap: child.roCap };
  }

  async getxattr(path: string, name: string): Promise<Buffer | undefined> {
    if (name !== `${XATTR_PREFIX}cap` && name !== `${XATTR_PREFIX}rocap`) return undefined;
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
    const t = await this.ns.target(path);
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
    const t = await this.ns.target(path);
    if (t.kind === 'root') throw new FsError('EISDIR', `${path} is a directory`);
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (t.child.isDirectory) throw new FsError('EISDIR', `${path} is a directory`);
    if (t.child.symlink) throw new FsError('ELOOP', `${path} is a symbolic link`);
    const writable = (flags & O_ACCMODE) !== 0;
    const st = this.files.stateOf(t.parent, t.child);
    if (writable && !st.writable && replaceable(t.parent.writable, t.child)) {
      const fresh = await this.replaceImmutable(t.parent, st, flags);
      return this.files.newHandle(fresh, true, this.files.opening(path, fresh));
    }
    if (writable && !st.writable) {
      throw new FsError('EROFS', `${path} is linked read-only (no write cap)`);
    }
    await this.files.load(st);
    if (writable && flags & O_TRUNC && st.size > 0) await this.files.resize(st, 0, path);
    return this.files.newHandle(st, writable, this.files.opening(path, st));
  }

  /**
   * Opening a Tahoe immutable (CHK/LIT) file for writing makes a new mutable file with its
   * contents (none with O_TRUNC) that replaces the entry when published — what an editor
   * saving in place expects. The immutable file itself is never changed.
   */
  private async replaceImmutable(parent: DirView, old: FileState, flags: number) {
    if (!(flags & O_TRUNC)) await this.files.load(old);
    const now = Date.now();
    const st = new FileState(parent.cap, old.name, old.path, true, old.mode | 0o200, now);
    st.buffer = new FileBuffer(flags & O_TRUNC ? undefined : old.buffer?.snapshot());
    this.files.newContents(st);
    st.loadedAt = now;
    st.link = 'replace';
    st.dirty = true;
    st.dirtySince = now;
    this.files.unlinked.add(st);
    parent.changes++;
    parent.entries.set(old.name, localChild(st));
    await this.fj.ensure(st);
    this.writeBack.schedule(st);
    return st;
  }

  async create(path: string, mode: number): Promise<number> {
    const { parent, name } = await this.ns.parentOf(path);
    const existing = parent.entries.get(name);
    if (existing) {
      if (existing.isDirectory) throw new FsError('EISDIR', `${path} is a directory`);
      return this.open(path, 2);
    }
    this.ns.requireWritable(parent, path);
    const now = Date.now();
    const st = new FileState(parent.cap, name, path, true, mode & 0o7777, now);
    st.buffer = new FileBuffer();
    this.files.newContents(st);
    st.loadedAt = now;
    st.link = 'new';
    st.dirty = true;
    st.dirtySince = now;
    st.ctime = now;
    this.files.unlinked.add(st);
    parent.changes++;
    parent.entries.set(name, localChild(st));
    this.ns.touchDir(parent);
    await this.fj.ensure(st);
    this.writeBack.schedule(st);
    return this.files.newHandle(st, true, this.files.opening(path, st));
  }

  read(fh: number, target: Uint8Array, length: number, offset: number): number {
    const h = this.files.handle(fh);
    if (!h.file.buffer) return 0;
    return h.file.buffer.readInto(target, offset, length);
  }

  /** `via`: the path of the kernel node the write came through (its cache has the bytes). */
  async write(
    fh: number,
    data: Uint8Array,
    length: number,
    offset: number,
    via?: string,
  ): Promise<number> {
    const h = this.files.handle(fh);
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
      this.files.newContents(st, via);
      return length;
    }
    const id = await this.fj.idFor(st);
    st.buffer!.write(offset, bytes);
    this.files.touch(st, via);
    await this.fj.write(id, offset, bytes, st.mtime);
    return length;
  }

  async truncate(path: string, size: number): Promise<void> {
    const t = await this.ns.target(path);
    if (t.kind === 'root' || t.child?.isDirectory)
      throw new FsError('EISDIR', `${path} is a directory`);
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (t.child.symlink) throw new FsError('ELOOP', `${path} is a symbolic link`);
    const st = this.files.stateOf(t.parent, t.child);
    if (!st.writable) throw new FsError('EROFS', `${path} is linked read-only (no write cap)`);
    await this.files.load(st);
    await this.files.resize(st, size, path);
  }

  async ftruncate(fh: number, size: number, via?: string): Promise<void> {
    const h = this.files.handle(fh);
    if (!h.writable) throw new FsError('EBADF', `${h.file.path} is not open for writing`);
    await this.files.resize(h.file, size, via);
  }

  /** Handle `fh` was opened with the kernel keeping the file's cached pages. */
  keepsCache(fh: number): boolean {
    return this.files.handle(fh).keepCache;
  }

  /** close(): publishing starts now; errors show in the log and `slotfs status`. */
  /** Returns once the file is on the grid (≥ happy shares) and linked, or throws. */
  async fsync(fh: number): Promise<void> {
    const st = this.files.handle(fh).file;
    await this.writeBack.urgently(st);
    await this.changes.settle(st.parent);
  }

  async fsyncdir(path: string): Promise<void> {
    const view = await this.ns.dirOf(path);
    const inDir = this.files
      .all()
      .filter((st) => st.parent === view.cap && (st.dirty || st.metaDirty));
    await Promise.all(inDir.map((st) => this.writeBack.urgently(st)));
    await this.changes.settle(view.cap);
    await this.dirs.flush(view.cap);
  }

  release(fh: number): void {
    const st = this.files.closeHandle(fh);
    if (!st) return;
    if (st.dirty || st.metaDirty) this.writeBack.inBackground(st);
    this.files.maybeDrop(st);
  }

  // ---------------------------------------------------------------- namespace

  async mkdir(path: string, mode: number): Promise<void> {
    const { parent, name } = await this.ns.parentOf(path);
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${path} already exists`);
    this.ns.requireWritable(parent, path);
    // An Ed25519 folder's cap is made here: mkdir answers at once, the folder is created
    // in the background (its changes, and its link into the parent, wait for that). A
    // tahoe folder's key is in its shares, so it is created first.
    let cap: string;
    let created: Promise<unknown> | undefined;
    if (this.mutable.format === 'ed25519') {
      cap = this.mutable.newEd25519Cap({ directory: true });
      created = this.mutable.createAs(cap, new Uint8Array(0));
      this.ns.hold(
        cap,
        created.then(
          () => undefined,
          () => undefined,
        ),
      );
    } else {
      cap = await this.dirs.createDirectory();
      if (parent.entries.has(name)) throw new FsError('EEXIST', `${path} already exists`);
    }
    const caps = childCapsOf(cap);
    const metadata: ChildMetadata = { mode: mode & 0o7777, mtime: Date.now() / 1000 };
    const change = { op: 'add' as const, dir: parent.cap, name, caps, metadata, path };
    const recorded = this.changes.submit(created ? { ...change, create: true } : change, created);
    parent.entries.set(name, { name, isDirectory: true, ...caps, metadata });
    this.ns.touchDir(parent);
    this.ns.addEmpty(cap, path);
    await recorded;
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
    const { parent, name } = await this.ns.parentOf(path);
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${path} already exists`);
    this.ns.requireWritable(parent, path);
    const link = symlinkChild(bytes);
    const metadata: ChildMetadata = { ...link.metadata, mtime: Date.now() / 1000 };
    const recorded = this.changes.submit({
      op: 'add',
      dir: parent.cap,
      name,
      caps: link.caps,
      metadata,
      path,
    });
    parent.entries.set(name, {
      name,
      isDirectory: false,
      ...link.caps,
      metadata,
      symlink: new Uint8Array(bytes),
    });
    this.ns.touchDir(parent);
    await recorded;
  }

  /**
   * `ln from to`: the file's cap linked under a second name (in any directory). Both names
   * share one file state (keyed by storage index), so writes through one show through the
   * other. Directories cannot be hard-linked (EPERM, as in POSIX).
   */
  async hardLink(from: string, to: string): Promise<void> {
    const src = await this.ns.target(from);
    if (src.kind === 'root' || src.child?.isDirectory) {
      throw new FsError('EPERM', `${from} is a directory; directories cannot be hard-linked`);
    }
    if (!src.child) throw new FsError('ENOENT', `${from} does not exist`);
    const { parent, name } = await this.ns.parentOf(to);
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${to} already exists`);
    this.ns.requireWritable(parent, to);
    // A file that exists only here gets its cap first.
    const caps = src.child.local ? await this.caps(from) : src.child;
    const fresh = src.parent.entries.get(src.name) ?? src.child;
    const { tahoe: _tahoe, ...kept } = fresh.metadata;
    const st = src.child.symlink ? undefined : this.files.byCap(caps.roCap);
    const metadata: ChildMetadata = { ...kept };
    if (st) {
      metadata.size = st.size;
      metadata.mtime = st.mtime / 1000;
      metadata.mode = st.mode;
    }
    const linked = { rwCap: caps.rwCap, roCap: caps.roCap };
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${to} already exists`);
    // One time for the file state's ctime and the new entry's: stat shows the same once
    // the state is dropped.
    const now = Date.now();
    const recorded = this.changes.submit(
      { op: 'add', dir: parent.cap, name, caps: linked, metadata, path: to },
      undefined,
      now,
    );
    parent.entries.set(name, {
      name,
      isDirectory: false,
      ...linked,
      metadata,
      symlink: fresh.symlink,
    });
    if (st) st.ctime = now;
    this.ns.touchDir(parent);
    await recorded;
  }

  async rmdir(path: string): Promise<void> {
    const t = await this.ns.target(path);
    if (t.kind === 'root') throw new FsError('EINVAL', 'cannot remove the mount root');
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (!t.child.isDirectory) throw new FsError('ENOTDIR', `${path} is not a directory`);
    this.ns.requireWritable(t.parent, path);
    const cap = t.child.rwCap ?? t.child.roCap;
    const inner = await this.ns.view(cap, path);
    if (inner.entries.size > 0) throw new FsError('ENOTEMPTY', `${path} is not empty`);
    const parent = t.parent;
    const current = parent.entries.get(t.name);
    if (!current?.isDirectory) throw new FsError('ENOENT', `${path} does not exist`);
    const recorded = this.changes.submit({
      op: 'remove',
      dir: parent.cap,
      name: t.name,
      roCap: current.roCap,
      path,
    });
    parent.entries.delete(t.name);
    this.ns.dropView(cap);
    this.ns.touchDir(parent);
    await recorded;
  }

  async unlink(path: string): Promise<void> {
    const t = await this.ns.target(path);
    if (t.kind === 'root') throw new FsError('EISDIR', 'the mount root is a directory');
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    if (t.child.isDirectory) throw new FsError('EISDIR', `${path} is a directory`);
    this.ns.requireWritable(t.parent, path);
    const parent = t.parent;
    let child = t.child;
    while (child.local?.linking) {
      await this.writeBack.linked(child.local);
      const current = parent.entries.get(t.name);
      if (!current) throw new FsError('ENOENT', `${path} does not exist`);
      child = current;
    }
    this.files.kernel.removed(path);
    if (child.local) {
      parent.changes++;
      parent.entries.delete(t.name);
      this.ns.touchDir(parent);
      this.files.detach(child.local);
      return;
    }
    const recorded = this.changes.submit({
      op: 'remove',
      dir: parent.cap,
      name: t.name,
      roCap: child.roCap,
      path,
    });
    parent.entries.delete(t.name);
    this.ns.touchDir(parent);
    const st = child.symlink ? undefined : this.files.byCap(child.roCap);
    if (st && st.parent === parent.cap && st.name === t.name) this.files.forgetName(st);
    await recorded;
  }

  async rename(from: string, to: string): Promise<void> {
    const src = await this.ns.target(from);
    if (src.kind === 'root') throw new FsError('EBUSY', 'cannot rename the mount root');
    if (!src.child) throw new FsError('ENOENT', `${from} does not exist`);
    const dst = await this.ns.parentOf(to);
    if (src.child.isDirectory && (to + '/').startsWith(from + '/')) {
      throw new FsError('EINVAL', `cannot move ${from} into itself`);
    }
    this.ns.requireWritable(src.parent, from);
    this.ns.requireWritable(dst.parent, to);
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
        const inner = await this.ns.view(replaced.rwCap ?? replaced.roCap, to);
        if (inner.entries.size > 0) throw new FsError('ENOTEMPTY', `${to} is not empty`);
      }
      const busy = [child.local, replaced?.local]
        .filter((st) => st?.linking !== undefined)
        .map((st) => this.writeBack.linked(st!));
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
      if (replaced?.local) this.files.detach(replaced.local);
      else if (replaced && !replaced.isDirectory) {
        const old = this.files.byCap(replaced.roCap);
        if (old && old.parent === dstView.cap && old.name === dst.name) this.files.forgetName(old);
      }
      st.link = !replaced ? 'new' : replaced.local ? replaced.local.link : 'replace';
      this.files.relocate(st, dstView, dst.name, to);
      st.ctime = Date.now();
      dstView.entries.set(dst.name, moved);
      this.files.kernel.moved(from, to, false);
      this.ns.touchDir(srcView);
      this.ns.touchDir(dstView);
      await this.fj.saveMeta(st);
      return;
    }
    // The directory change is submitted (in call order) before the local picture changes
    // in the same tick, so a metadata update of the moved file queued later lands on the
    // new name, after the move.
    const st = child.isDirectory || child.symlink ? undefined : this.files.byCap(child.roCap);
    const moving = st && st.parent === srcView.cap && st.name === src.name ? st : undefined;
    // The moved file's state and its entry keep one ctime: stat shows the same after the
    // state is dropped (a journal write between two clock reads once showed 8 ms earlier).
    const now = Date.now();
    let recorded: Promise<void>;
    if (srcView === dstView) {
      recorded = this.changes.submit(
        {
          op: 'rename',
          dir: srcView.cap,
          from: src.name,
          to: dst.name,
          roCap: child.roCap,
          path: to,
        },
        undefined,
        now,
      );
    } else {
      const { tahoe: _tahoe, ...metadata } = child.metadata;
      recorded = this.changes.submit(
        {
          op: 'move',
          fromDir: srcView.cap,
          from: src.name,
          dir: dstView.cap,
          name: dst.name,
          caps: { rwCap: child.rwCap, roCap: child.roCap },
          metadata,
          path: to,
        },
        undefined,
        now,
      );
    }
    srcView.entries.delete(src.name);
    dstView.entries.set(dst.name, moved);
    this.files.kernel.moved(from, to, child.isDirectory);
    this.ns.touchDir(srcView);
    this.ns.touchDir(dstView);
    if (moving) {
      this.files.relocate(moving, dstView, dst.name, to);
      moving.ctime = now;
    }
    if (replaced) {
      const old =
        replaced.local ??
        (replaced.isDirectory || replaced.symlink ? undefined : this.files.byCap(replaced.roCap));
      if (old && old !== moving && old.parent === dstView.cap && old.name === dst.name) {
        if (replaced.local) this.files.detach(old);
        else this.files.forgetName(old);
      }
      if (replaced.isDirectory) this.ns.dropView(replaced.rwCap ?? replaced.roCap);
    }
    if (child.isDirectory) this.ns.moved(from, to, this.files.all());
    await recorded;
    if (moving) await this.fj.saveMeta(moving);
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
    const { parent, name } = await this.ns.parentOf(path);
    if (parent.entries.has(name)) throw new FsError('EEXIST', `${path} already exists`);
    this.ns.requireWritable(parent, path);
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
    await this.ns.change(parent, () =>
      this.dirs.add(parent.cap, name, caps, metadata, { mustNotExist: true }),
    );
    parent.entries.set(name, { name, isDirectory: cap.directory, ...caps, metadata });
    this.ns.touchDir(parent);
  }

  private async setAttributes(
    path: string,
    patch: { mtime?: number; mode?: number },
  ): Promise<void> {
    const t = await this.ns.target(path);
    if (t.kind === 'root') {
      // The root has no entry to keep them in: this mount shows them until it ends.
      const root = this.ns.views.get(this.rootCap);
      if (root && patch.mtime !== undefined) {
        root.mtime = patch.mtime;
        this.ns.scheduleDirTimes(root);
      }
      if (root) root.ctime = Math.max(root.ctime ?? 0, Date.now());
      return;
    }
    if (!t.child) throw new FsError('ENOENT', `${path} does not exist`);
    this.ns.requireWritable(t.parent, path);
    const child = t.child;
    const st = child.isDirectory ? undefined : (child.local ?? this.files.byCap(child.roCap));
    if (child.isDirectory) {
      // This mount's own picture of the directory's times follows at once.
      const view = this.ns.views.get(child.rwCap ?? child.roCap);
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
        await this.fj.saveMeta(st);
        this.writeBack.schedule(st);
        return;
      }
    }
    const metadata: Partial<ChildMetadata> = {};
    if (patch.mtime !== undefined) metadata.mtime = patch.mtime / 1000;
    if (patch.mode !== undefined) metadata.mode = patch.mode;
    const parent = t.parent;
    const recorded = [
      this.changes.submit({
        op: 'meta',
        dir: parent.cap,
        name: t.name,
        roCap: child.roCap,
        patch: metadata,
        path,
      }),
    ];
    Object.assign(child.metadata, metadata);
    if (!child.isDirectory && !child.symlink && child.roCap) {
      // A hard-linked file's other loaded names show (and keep) the change too.
      for (const p of this.ns.linkIndex.placesOf(this.ns.siOf(child.roCap))) {
        const view = this.ns.views.get(p.dirCap);
        const other = view?.entries.get(p.name);
        if (!view?.writable || !other || (view === parent && p.name === t.name)) continue;
        recorded.push(
          this.changes.submit({
            op: 'meta',
            dir: view.cap,
            name: p.name,
            roCap: other.roCap,
            patch: metadata,
            path: pathIn(view.path, p.name),
          }),
        );
        Object.assign(other.metadata, metadata);
      }
    }
    await Promise.all(recorded);
  }

  // ---------------------------------------------------------------- whole mount

  /** The cached listing of a directory (the mount reads the root's before mounting). */
  view(cap: string, path: string): Promise<DirView> {
    return this.ns.view(cap, path);
  }

  /** Files with writes not yet on the grid. */
  pending(): PendingWrite[] {
    const changes = this.changes.pending().map((c) => ({ ...c, bytes: 0 }));
    return [...this.writeBack.pending(), ...changes];
  }

  /** Counts of the close-to-open checks made for many files at once. */
  openChecks(): { checks: number; files: number; confirmed: number; requests: number } {
    return { ...this.files.checks.stats };
  }

  /** Publishes every dirty file and directory change; the failures, by path. */
  async flushAll(): Promise<Array<{ path: string; error: string }>> {
    const failures = await this.writeBack.flushAll(async () => {
      try {
        await this.changes.settle();
      } catch (err) {
        return [{ path: '(directory changes)', error: describeFailure(err) }];
      }
      return [];
    });
    return failures;
  }

  /**
   * Brings back the files journaled by a previous run that did not publish them (it was
   * killed, or the grid was down): they are visible at once and published in the
   * background. Returns how many.
   */
  async recover(): Promise<number> {
    await this.changes.recover();
    return this.writeBack.recover();
  }

  /** Stops timers (after flushAll, before the journal closes). */
  close(): void {
    this.writeBack.close();
    this.changes.close();
    this.ns.close();
    this.files.close();
  }
}
