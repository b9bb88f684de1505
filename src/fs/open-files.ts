// The files this mount holds a state for, and the handles open on them. An open file's
// contents live in one FileBuffer shared by every handle (and by getattr), so other
// processes on this mount read written data immediately; every name of a file (hard
// links) shares its state, keyed by storage index. A new file exists only here (in
// `unlinked`) until its first publish gives it a cap and links it into its directory.
import { parseCap } from '../caps/index.js';
import type { MutableClient, VersionId } from '../mutable/mutable-client.js';
import { MAX_SDMF_FILE_SIZE } from '../sdmf/layout.js';
import { entryMs } from './attributes.js';
import { entrySize } from './cap-size.js';
import { FsError } from './errno.js';
import { FileBuffer } from './file-buffer.js';
import type { FileJournal } from './file-journal.js';
import { KernelContents } from './kernel-contents.js';
import type { Namespace } from './namespace.js';
import { SiblingCheck } from './sibling-check.js';
import {
  FileState,
  pathIn,
  type Child,
  type DirView,
  type Handle,
  type Settings,
} from './nodes.js';

export interface OpenFilesHooks {
  /** The file was written to: (re)start its write-back timer. */
  changed(st: FileState): void;
  /** Contents were loaded from the grid: the entry's size may need repair. */
  loaded(st: FileState): void;
}

export class OpenFiles {
  /** Linked files with a state (open, dirty or recently used), by storage index. */
  readonly files = new Map<string, FileState>();
  /** Files created here and not linked yet. */
  readonly unlinked = new Set<FileState>();
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  /** Close-to-open checks of a folder's cached files in one request per server. */
  readonly checks: SiblingCheck;
  /** Which contents the kernel may hold for each path: opens keep them when unchanged. */
  readonly kernel = new KernelContents();
  private localContents = 0;
  hooks: OpenFilesHooks = { changed: () => undefined, loaded: () => undefined };

  constructor(
    private readonly ns: Namespace,
    private readonly fj: FileJournal,
    private readonly mutable: MutableClient,
    private readonly o: Settings,
  ) {
    this.checks = new SiblingCheck(mutable, o.attrCacheMs);
  }

  /** Every file state: new ones first, then linked ones. */
  all(): FileState[] {
    return [...this.unlinked, ...this.files.values()];
  }

  /** The state of a linked file, if this mount holds one. */
  byCap(roCap: string): FileState | undefined {
    return this.files.get(this.ns.siOf(roCap));
  }

  /** The state of `child` (made now if there is none), at its name in `parent`. */
  stateOf(parent: DirView, child: Child): FileState {
    if (child.local) return child.local;
    const si = this.ns.siOf(child.roCap);
    let st = this.files.get(si);
    const path = pathIn(parent.path, child.name);
    if (!st) {
      const m = child.metadata;
      st = new FileState(
        parent.cap,
        child.name,
        path,
        !!child.rwCap,
        typeof m.mode === 'number' ? m.mode : 0o644,
        // To the ms, as stat showed it before there was a state.
        entryMs(typeof m.mtime === 'number' ? m.mtime : (m.tahoe?.linkmotime ?? 0)),
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

  /** A file now linked under its cap: keyed by storage index from here on. */
  linked(st: FileState): void {
    this.unlinked.delete(st);
    this.files.set(this.ns.siOf(st.roCap!), st);
  }

  /** Loads the contents from the grid, unless the state holds ones still good to use. */
  async load(st: FileState): Promise<void> {
    if (st.buffer) {
      const fresh = Date.now() - st.loadedAt < this.o.attrCacheMs;
      if (st.dirty || st.openCount > 0 || st.link || fresh) return;
    }
    const cap = parseCap(st.cap!);
    if (cap.kind === 'literal') {
      // A tiny immutable file a Tahoe client linked: its contents are in the cap.
      st.buffer = new FileBuffer(cap.data);
      st.loadedAt = Date.now();
      this.contentsNow(st, st.cap!);
      return;
    }
    if (!st.loading) {
      const shown = this.shownSize(st);
      const loading = this.loadNow(st);
      st.loading = loading;
      // Cleared once it is done — never before it was set: a load answered by a check
      // already made finishes within loadNow's first step.
      const done = () => {
        if (st.loading === loading) st.loading = undefined;
        // Its size is now the contents': the binding forgets what it kept, if that differs.
        if (st.size !== shown) this.o.onAttrsChanged?.();
      };
      loading.then(done, done);
    }
    await st.loading;
  }

  /** The size stat shows of `st` (attributes.ts); undefined if its entry is not in view. */
  private shownSize(st: FileState): number | undefined {
    if (st.buffer) return st.size;
    const child = st.detached ? undefined : this.ns.views.get(st.parent)?.entries.get(st.name);
    return child && !child.local ? entrySize(child) : undefined;
  }

  private async loadNow(st: FileState): Promise<void> {
    // Checked with its folder (or just now, with another file of it): no request.
    const folder = st.detached ? undefined : this.ns.views.get(st.parent);
    const checked =
      this.checks.take(st.cap!) ?? (folder && (await this.checks.check(folder, st.cap!)));
    // A check sent before this mount's own latest publish (it ran while the file was
    // being written, or just before) confirms an older version: not the contents.
    if (checked && !st.dirty && !olderThan(checked.file.version, st.basedOn)) {
      st.buffer = new FileBuffer(checked.file.plaintext);
      st.basedOn = checked.file.version;
      this.contentsNow(st, this.versionToken(st, checked.file.version));
      st.loadedAt = checked.at;
      this.hooks.loaded(st);
      return;
    }
    const got = await this.mutable.retrieve(st.cap!);
    if (st.dirty) return; // a write got in first (cannot happen without a buffer)
    st.buffer = new FileBuffer(got.plaintext);
    st.basedOn = got.version;
    this.contentsNow(st, this.versionToken(st, got.version));
    st.loadedAt = Date.now();
    this.hooks.loaded(st);
  }

  /** The name of version `version` of `st`'s contents, for KernelContents. */
  private versionToken(st: FileState, version: VersionId): string {
    const file = this.ns.keyOf(st.roCap!) ?? st.roCap!;
    return `${file}@${version.seqnum}:${Buffer.from(version.rootHash).toString('hex')}`;
  }

  /** `st` holds contents made here (a new file, a write): a name no other contents have. */
  newContents(st: FileState, via?: string): void {
    this.contentsNow(st, `local:${++this.localContents}`, via);
  }

  /** `st`'s contents are now `token`: through the node of `via`, or loaded (no `via`). */
  private contentsNow(st: FileState, token: string, via?: string): void {
    if (st.token !== token) this.kernel.changed(st.token, token, via);
    st.token = token;
  }

  /**
   * `st`'s contents, unchanged since they were sent, are now `version` on the grid: the
   * kernel's pages of them are that version's.
   */
  published(st: FileState, version: VersionId): void {
    const token = this.versionToken(st, version);
    if (st.token !== undefined) this.kernel.renamed(st.token, token);
    st.token = token;
  }

  /**
   * `path` is being opened on `st` (loaded): true when the kernel may keep the pages it
   * has of it, which are of these very contents.
   */
  opening(path: string, st: FileState): boolean {
    return this.kernel.opened(path, st.token);
  }

  newHandle(st: FileState, writable: boolean, keepCache = false): number {
    const fh = this.nextFh++;
    // Below 2^30: the binding takes bit 30 of an open's answer as keep_cache.
    if (this.nextFh >= 0x3ffffff0) this.nextFh = 1;
    this.handles.set(fh, { file: st, writable, keepCache });
    st.openCount++;
    if (writable) st.writers++;
    clearTimeout(st.dropTimer);
    return fh;
  }

  handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) throw new FsError('EBADF', `no open file with handle ${fh}`);
    return h;
  }

  /** Closes handle `fh`; the file it was open on (undefined if none). */
  closeHandle(fh: number): FileState | undefined {
    const h = this.handles.get(fh);
    if (!h) return undefined;
    this.handles.delete(fh);
    h.file.openCount--;
    if (h.writable) h.file.writers--;
    return h.file;
  }

  /** `via`: the path of the kernel node the truncate came through, if any. */
  async resize(st: FileState, size: number, via?: string): Promise<void> {
    if (size > MAX_SDMF_FILE_SIZE) {
      throw new FsError(
        'EFBIG',
        `${st.path}: a file can hold at most ${MAX_SDMF_FILE_SIZE} bytes (64 MiB)`,
      );
    }
    if (st.detached) {
      st.buffer!.truncate(size);
      this.newContents(st, via);
      return;
    }
    const id = await this.fj.idFor(st);
    st.buffer!.truncate(size);
    this.touch(st, via);
    await this.fj.truncate(id, size, st.mtime);
  }

  /**
   * After a write or truncate (through the kernel node of `via`): dirty, new mtime,
   * write-back timer restarted.
   */
  touch(st: FileState, via?: string): void {
    this.newContents(st, via);
    if (st.cap) this.checks.drop(st.cap);
    if (!st.dirty) st.dirtySince = Date.now();
    st.dirty = true;
    st.gen++;
    st.mtime = Date.now();
    st.ctime = st.mtime;
    this.hooks.changed(st);
  }

  relocate(st: FileState, view: DirView, name: string, path: string): void {
    st.parent = view.cap;
    st.name = name;
    st.path = path;
  }

  /** The file no longer has a name: forget its pending writes. */
  detach(st: FileState): void {
    st.detached = true;
    st.dirty = false;
    st.metaDirty = false;
    clearTimeout(st.timer);
    clearTimeout(st.retryTimer);
    this.unlinked.delete(st);
    if (st.roCap) {
      const si = this.ns.siOf(st.roCap);
      if (this.files.get(si) === st) this.files.delete(si);
    }
    this.fj.forget(st);
  }

  /**
   * One name of a linked file is gone: the file state moves to another loaded name (a hard
   * link) or, when none is left, is detached. Names in directories this mount has not loaded
   * are not known: then the pending writes are dropped as for any deleted file.
   */
  forgetName(st: FileState): void {
    const si = st.roCap ? this.ns.siOf(st.roCap) : undefined;
    const other = si === undefined ? undefined : this.ns.linkIndex.placesOf(si)[0];
    const view = other && this.ns.views.get(other.dirCap);
    if (!other || !view) {
      this.detach(st);
      return;
    }
    this.relocate(st, view, other.name, pathIn(view.path, other.name));
    st.ctime = Date.now();
    this.fj.saveMeta(st).catch(() => undefined);
  }

  /** Forgets a clean, closed file's contents after the attribute cache time. */
  maybeDrop(st: FileState): void {
    if (st.openCount > 0 || st.dirty || st.metaDirty || st.link) return;
    clearTimeout(st.dropTimer);
    st.dropTimer = setTimeout(() => {
      if (st.openCount > 0 || st.dirty || st.metaDirty || st.link) return;
      st.buffer = undefined;
      if (st.roCap) {
        const si = this.ns.siOf(st.roCap);
        if (this.files.get(si) === st) this.files.delete(si);
      }
    }, this.o.attrCacheMs);
    st.dropTimer.unref();
  }

  /** Stops the files' timers. */
  close(): void {
    for (const st of this.all()) {
      clearTimeout(st.timer);
      clearTimeout(st.retryTimer);
      clearTimeout(st.dropTimer);
    }
  }
}

/** True when `version` is not the one `known` names nor a later one. */
function olderThan(version: VersionId, known: VersionId | undefined): boolean {
  if (!known) return false;
  if (version.seqnum !== known.seqnum) return version.seqnum < known.seqnum;
  return Buffer.compare(version.rootHash, known.rootHash) !== 0;
}
