// Paths → directory views. Listings are cached per directory cap for `dirCacheMs` (like NFS
// acdir); every change this mount makes is applied to its cached listing at once, so this
// mount sees its own changes immediately, and other clients' changes after the timeout.
// Also here: the directories' own times (mtime/ctime, kept in the parent's entry) and the
// index of which names each file has (st_nlink of hard links).
import { parseCap, storageIndexOf } from '../caps/index.js';
import type { ChildMetadata, DirectoryClient } from '../dirnode/directory.js';
import { symlinkTargetOf } from '../dirnode/symlink.js';
import { toBase32 } from '../encoding/base32.js';
import { entryMs } from './attributes.js';
import { DirEntries, LinkIndex } from './dir-entries.js';
import { FsError, describeFailure } from './errno.js';
import type { ObjectKind } from './failure-log.js';
import { OwnTimes } from './own-times.js';
import {
  MAX_NAME_BYTES,
  type Child,
  type DirView,
  type FileState,
  type Settings,
  type Target,
} from './nodes.js';

export class Namespace {
  readonly views = new Map<string, DirView>();
  /** Which names each file has in the loaded directories (st_nlink of hard links). */
  readonly linkIndex = new LinkIndex<Child>((child) => {
    if (child.isDirectory || child.local || child.symlink || !child.roCap) return undefined;
    try {
      return this.siOf(child.roCap);
    } catch {
      return undefined; // a cap kind this client does not know: listed, not counted
    }
  });
  /** The ctime of entries this mount changed, kept while their changes reach the grid. */
  readonly ownTimes = new OwnTimes();
  /** Directories whose mtime is still to be written into their parent's entry. */
  readonly dirTimesDue = new Set<DirView>();
  private readonly siCache = new Map<string, string>();
  /**
   * Per folder, what its next change must wait for before it is queued: the folder's own
   * creation (mkdir answers before it is on the grid) or an earlier change that waits.
   */
  private readonly gates = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    readonly rootCap: string,
    private readonly dirs: DirectoryClient,
    private readonly o: Settings,
    /** Files created here and not linked yet (a fresh listing keeps showing them). */
    private readonly unlinked: () => Iterable<FileState>,
  ) {}

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

  splitPath(path: string): string[] {
    const parts = path.split('/').filter((p) => p.length > 0);
    return parts.map((p) => {
      if (Buffer.byteLength(p) > MAX_NAME_BYTES) {
        throw new FsError('ENAMETOOLONG', `a name in ${path} is longer than 255 bytes`);
      }
      return p; // not normalised: programs compare names byte for byte
    });
  }

  async target(path: string): Promise<Target> {
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

  /**
   * `target` answered from memory, when every folder on the way is loaded and fresh
   * (undefined otherwise: then `target` asks the grid). The hot path of stat and lookup:
   * no promise, no await.
   */
  targetNow(path: string, fresh?: { ms: number }): Target | undefined {
    const parts = this.splitPath(path);
    let view = this.freshView(this.rootCap);
    // With `fresh`: for how long every folder on the way stays fresh (ms from now).
    const now = fresh ? Date.now() : 0;
    if (fresh) fresh.ms = this.freshFor(view, now);
    if (parts.length === 0) return { kind: 'root' };
    let at = '';
    for (let i = 0; view && i < parts.length - 1; i++) {
      const child = view.entries.get(parts[i]);
      at += `/${parts[i]}`;
      if (!child) throw new FsError('ENOENT', `${at} does not exist`);
      if (!child.isDirectory) throw new FsError('ENOTDIR', `${at} is not a directory`);
      view = this.freshView(child.rwCap ?? child.roCap);
      if (view) view.path = at;
      if (fresh) fresh.ms = Math.min(fresh.ms, this.freshFor(view, now));
    }
    if (!view) return undefined;
    const name = parts[parts.length - 1];
    return { kind: 'child', parent: view, name, child: view.entries.get(name) };
  }

  /** How much longer (ms) the folder's view needs no refresh; 0 if it needs one now. */
  private freshFor(view: DirView | undefined, now: number): number {
    if (!view || view.fetchedAt === -Infinity) return 0;
    if (view.pending > 0) return this.o.dirCacheMs;
    return Math.max(0, view.fetchedAt + this.o.dirCacheMs - now);
  }

  /** Our picture of the folder may be wrong: it is listed again when next used. */
  stale(view: DirView): void {
    view.fetchedAt = -1;
    this.o.onAttrsChanged?.();
  }

  /** The folder's view if it is loaded and needs no refresh now (see `view`). */
  private freshView(cap: string): DirView | undefined {
    const view = this.views.get(cap);
    if (!view || view.fetchedAt === -Infinity) return undefined;
    if (view.pending > 0 || Date.now() - view.fetchedAt < this.o.dirCacheMs) return view;
    return undefined;
  }

  async parentOf(path: string): Promise<{ parent: DirView; name: string }> {
    const t = await this.target(path);
    if (t.kind === 'root') throw new FsError('EEXIST', 'the mount root exists');
    return { parent: t.parent, name: t.name };
  }

  async dirOf(path: string): Promise<DirView> {
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

  /** A directory made here: its (empty) listing is known without asking the grid. */
  addEmpty(cap: string, path: string): void {
    this.dirs.created(cap);
    this.views.set(cap, {
      cap,
      writable: true,
      entries: new DirEntries(this.linkIndex, cap),
      fetchedAt: Date.now(),
      lineage: this.dirs.lineage(cap),
      pending: 0,
      changes: 0,
      path,
    });
  }

  /**
   * An update of ours found the folder as we last saw it, at `readAt`: the view (with our
   * changes) is what the grid held then, as good as a listing read at that time.
   */
  synced(cap: string, readAt: number, lineage: number): void {
    const view = this.views.get(cap);
    // Not a view marked stale (-1, a change that failed) nor one never listed.
    if (!view || view.lineage !== lineage || view.fetchedAt < 0) return;
    view.fetchedAt = Math.max(view.fetchedAt, readAt);
  }

  private async refresh(view: DirView): Promise<void> {
    await this.gates.get(view.cap); // a folder made here is listed once it exists
    const changes = view.changes;
    const lineage = this.dirs.lineage(view.cap);
    const listing = await this.dirs.list(view.cap);
    if (view.fetchedAt > -Infinity && (view.changes !== changes || view.pending > 0)) {
      // A change of ours raced the fetch: the listing may not show it. Keep ours.
      view.fetchedAt = Date.now();
      view.lineage = undefined; // not the listing just read
      return;
    }
    // Only a listing of the version last seen (no new one read meanwhile, by this refresh or
    // any other read) is known to be the grid's as of our later updates.
    view.lineage = this.dirs.lineage(view.cap) === lineage ? lineage : undefined;
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
    for (const st of this.unlinked()) {
      if (st.parent === view.cap && !st.detached) entries.set(st.name, localChild(st));
    }
    view.entries.release();
    view.entries = entries;
    view.fetchedAt = Date.now();
    this.o.onAttrsChanged?.();
  }

  /**
   * Queues a change of folders `caps` by calling `submit` — at once, or after what the
   * folders wait for (`after` too, if given); later changes of those folders queue after
   * it, so every folder's changes reach the grid in the order they were made.
   */
  submitTo<T>(caps: string[], submit: () => Promise<T>, after?: Promise<unknown>): Promise<T> {
    const waits: Array<Promise<unknown>> = caps
      .map((cap) => this.gates.get(cap))
      .filter((g): g is Promise<void> => g !== undefined);
    if (after) waits.push(after.catch(() => undefined));
    if (waits.length === 0) return submit();
    let result!: Promise<T>;
    const queued = Promise.all(waits).then(() => {
      try {
        result = submit();
      } catch (err) {
        result = Promise.reject(err);
      }
    });
    for (const cap of caps) this.hold(cap, queued);
    return queued.then(() => result);
  }

  /** Changes of folder `cap` wait for `until` (which never rejects) before they are queued. */
  hold(cap: string, until: Promise<void>): void {
    const before = this.gates.get(cap);
    const gate = before ? Promise.all([before, until]).then(() => undefined) : until;
    this.gates.set(cap, gate);
    void gate.then(() => {
      if (this.gates.get(cap) === gate) this.gates.delete(cap);
    });
  }

  /**
   * A change of `child`'s entry made here at `ctime` (ms) is on its way: its ctime stays
   * that until another client changes the entry (own-times.ts). Call the result once it
   * has landed or failed.
   */
  ownChange(child: { roCap: string; metadata: ChildMetadata }, ctime: number) {
    const key = this.keyOf(child.roCap);
    if (key === undefined) return () => undefined;
    const m = child.metadata.tahoe;
    return this.ownTimes.changing(key, ctime, entryMs(m?.linkmotime ?? m?.linkcrtime ?? 0));
  }

  /** Runs a directory change of this mount, keeping refreshes from undoing it. */
  async change<T>(view: DirView, fn: () => Promise<T>): Promise<T> {
    view.pending++;
    view.changes++;
    try {
      return await this.submitTo([view.cap], fn);
    } catch (err) {
      // Our picture of the directory may now be wrong: look again next time.
      if ((err as { code?: string }).code !== 'ERR_DIR_EXISTS') this.stale(view);
      throw err;
    } finally {
      view.pending--;
      this.o.onAttrsChanged?.(); // the folder is fresh no longer than its listing
    }
  }

  requireWritable(view: DirView, path: string): void {
    if (!view.writable) {
      throw new FsError('EROFS', `the directory of ${path} is linked read-only (no write cap)`);
    }
  }

  /** The directory's entries changed here: new mtime and ctime, kept in its parent's entry. */
  touchDir(view: DirView): void {
    const now = Date.now();
    view.mtime = now;
    view.ctime = Math.max(view.ctime ?? 0, now);
    this.scheduleDirTimes(view);
  }

  scheduleDirTimes(view: DirView): void {
    if (this.closed) return;
    // One update of the parent per burst of changes, once they have settled.
    this.dirTimesDue.add(view);
    clearTimeout(view.timesTimer);
    view.timesTimer = setTimeout(() => {
      this.saveDirTimes(view).catch(() => undefined);
    }, this.o.writeBackMs);
    view.timesTimer.unref();
  }

  /** Writes every directory mtime still due into its parent's entry. */
  async saveAllDirTimes(): Promise<void> {
    await Promise.all([...this.dirTimesDue].map((view) => this.saveDirTimes(view)));
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
      const landed = this.ownChange(child, view.ctime ?? Date.now());
      try {
        await this.change(t.parent, () => this.dirs.setMetadata(t.parent.cap, t.name, { mtime }));
      } finally {
        landed();
      }
      child.metadata.mtime = mtime;
    } catch (err) {
      this.o.log(
        `slotfs: could not keep the modification time of directory ${view.path}: ${describeFailure(err)}`,
      );
    }
  }

  /**
   * A directory moved from `from` to `to`: every loaded folder and file state below it
   * takes its new path (folder times are written by looking the path up).
   */
  moved(from: string, to: string, files: Iterable<{ path: string }>): void {
    const renamed = (path: string) =>
      path === from ? to : path.startsWith(from + '/') ? to + path.slice(from.length) : path;
    for (const view of this.views.values()) view.path = renamed(view.path);
    for (const st of files) st.path = renamed(st.path);
  }

  /** A directory is gone (removed, or replaced by a rename): its names stop counting. */
  dropView(cap: string): void {
    const view = this.views.get(cap);
    if (!view) return;
    view.entries.release();
    clearTimeout(view.timesTimer);
    this.dirTimesDue.delete(view);
    this.views.delete(cap);
  }

  /** The key of a file's state: its storage index (a literal cap has none: the cap itself). */
  siOf(cap: string): string {
    let si = this.siCache.get(cap);
    if (!si) {
      const parsed = parseCap(cap);
      si = parsed.kind === 'literal' ? cap : toBase32(storageIndexOf(parsed));
      if (this.siCache.size > 10000) this.siCache.clear();
      this.siCache.set(cap, si);
    }
    return si;
  }

  /** siOf, or undefined for a cap this client cannot parse. */
  keyOf(cap: string): string | undefined {
    try {
      return this.siOf(cap);
    } catch {
      return undefined;
    }
  }

  /** Two caps of one mutable file (same storage index). */
  sameFile(a: string, b: string): boolean {
    try {
      return this.siOf(a) === this.siOf(b);
    } catch {
      return false; // not a mutable cap: not ours
    }
  }

  /** Stops the directory-time timers. */
  close(): void {
    this.closed = true;
    for (const view of this.views.values()) clearTimeout(view.timesTimer);
  }
}

/** The entry shown for a file created here and not linked yet. */
export function localChild(st: FileState): Child {
  return {
    name: st.name,
    isDirectory: false,
    roCap: '',
    metadata: { mode: st.mode, mtime: st.mtime / 1000, size: st.size },
    local: st,
  };
}
