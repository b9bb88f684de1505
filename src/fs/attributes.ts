// What stat shows: built from a directory entry, the file's state when this mount holds
// one (its size and times are newer than the entry's), and the loaded listings (st_nlink).
import { entrySize, sizeFromCap } from './cap-size.js';
import type { Namespace } from './namespace.js';
import type { Child, DirView, Settings, Stat } from './nodes.js';
import type { OpenFiles } from './open-files.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/**
 * Whether writing to an immutable (CHK/LIT) child replaces it: yes in a folder we may
 * change, unless its entry says read-only (`slotfs link` of such a cap records 0444;
 * Tahoe's entries record no mode).
 */
export function replaceable(parentWritable: boolean, child: Child): boolean {
  if (!parentWritable || child.symlink || sizeFromCap(child.roCap) === undefined) return false;
  const mode = child.metadata.mode;
  return typeof mode !== 'number' || (mode & 0o200) !== 0;
}

/** An entry's time (seconds, a float) in ms, rounded: as this mount showed it when it set it. */
export function entryMs(seconds: number): number {
  return Math.round(seconds * 1000);
}

export class Attributes {
  constructor(
    private readonly ns: Namespace,
    private readonly files: OpenFiles,
    private readonly o: Settings,
  ) {}

  /**
   * A directory's attributes: its own view (when loaded) knows the changes this mount made
   * to it and how many subdirectories it has; otherwise st_nlink is 1, which tools such as
   * find read as "unknown".
   */
  dirStat(view: DirView | undefined, mtime: number, ctime: number, mode: number | undefined): Stat {
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

  childStat(child: Child, parentWritable = false): Stat {
    const m = child.metadata;
    const linkTime = m.tahoe?.linkmotime ?? m.tahoe?.linkcrtime ?? 0;
    const mtimeSeconds = typeof m.mtime === 'number' ? m.mtime : linkTime;
    // Every change of an entry (chmod, rename, a publish's new size or mtime) sets its
    // linkmotime: the status change time, as far as the grid knows it — unless the change
    // was this mount's own, whose time it knows better (own-times.ts).
    const key = child.isDirectory ? this.ns.keyOf(child.roCap) : undefined;
    const si = child.isDirectory ? undefined : this.ns.linkIndex.keyOf(child);
    const changed = this.ns.ownTimes.ctime(key ?? si, entryMs(linkTime));
    if (child.isDirectory) {
      const mode = typeof m.mode === 'number' ? m.mode : undefined;
      const view = this.ns.views.get(child.rwCap ?? child.roCap);
      const shown = child.rwCap ? mode : (mode ?? 0o755) & ~0o222;
      return this.dirStat(view, entryMs(mtimeSeconds), changed, shown);
    }
    if (child.symlink) {
      const mtime = entryMs(mtimeSeconds);
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
    const st = child.local ?? (si === undefined ? undefined : this.files.files.get(si));
    // Immutable and literal caps state their size; Tahoe's entries carry none.
    const size = st?.buffer ? st.size : entrySize(child);
    // Rounded, the entry's mtime is the state's to the ms: stat shows the same once a clean
    // file's state is dropped.
    const mtime = st ? st.mtime : entryMs(mtimeSeconds);
    let mode = st ? st.mode : typeof m.mode === 'number' ? m.mode : 0o644;
    if (!child.rwCap && !child.local && !replaceable(parentWritable, child)) mode &= ~0o222;
    return {
      mode: S_IFREG | mode,
      size,
      mtime,
      atime: mtime,
      ctime: Math.max(st?.ctime ?? 0, changed) || mtime,
      nlink: si === undefined ? 1 : Math.max(1, this.ns.linkIndex.count(si)),
      uid: this.o.uid,
      gid: this.o.gid,
      blocks: Math.ceil(size / 512),
      blksize: 4096,
    };
  }
}
