// A file's directory entry carries its size, mtime and mode: pushed there after a publish
// (into every loaded name of a hard-linked file), and repaired when the contents disagree
// with the size it states (a writer that died between publishing and updating the entry).
import type { ChildMetadata, DirectoryClient } from '../dirnode/directory.js';
import { describeObject, summarizeFailure } from './failure-log.js';
import type { Namespace } from './namespace.js';
import { dirname, pathIn, type FileState, type Settings } from './nodes.js';

export class EntryMetadata {
  constructor(
    private readonly ns: Namespace,
    private readonly dirs: DirectoryClient,
    private readonly o: Settings,
  ) {}

  /**
   * A size in the directory entry that disagrees with the contents just loaded is
   * corrected. An entry without a size (Tahoe's) is not wrong: a read never rewrites it.
   */
  async repairSize(st: FileState): Promise<void> {
    const view = this.ns.views.get(st.parent);
    const child = view?.entries.get(st.name);
    if (!view?.writable || !child || child.local || st.dirty || st.detached) return;
    if (typeof child.metadata.size !== 'number') return;
    if (child.metadata.size === st.size || this.ns.siOf(child.roCap) !== this.ns.siOf(st.cap!))
      return;
    const size = st.size;
    this.o.log(
      `slotfs: ${st.path}: directory entry said ${child.metadata.size ?? '?'} bytes, contents have ${size}; corrected`,
    );
    // Only if the entry still says what this reader saw: the writer may be between
    // publishing the contents and the entry, and its newer size must not be undone.
    const said = child.metadata.size;
    const applied = await this.ns.change(view, () =>
      this.dirs.setMetadata(
        view.cap,
        st.name,
        { size },
        { onlyIf: { roCap: child.roCap, size: said } },
      ),
    );
    if (applied) {
      child.metadata.size = size;
      this.o.onAttrsChanged?.();
    } else this.ns.stale(view); // changed meanwhile: look again next time
  }

  /**
   * A hard-linked file's other names in loaded directories get the new size and mtime too,
   * so a reader through them (also after a new mount) does not stop at the old size.
   */
  async updateOtherNames(
    si: string,
    dirCap: string,
    name: string,
    patch: Partial<ChildMetadata>,
    path: string,
  ): Promise<void> {
    const others = this.ns.linkIndex
      .placesOf(si)
      .filter((p) => p.dirCap !== dirCap || p.name !== name);
    await Promise.all(
      others.map(async (p) => {
        const view = this.ns.views.get(p.dirCap);
        const child = view?.entries.get(p.name);
        if (!view?.writable || !child) return;
        await this.ns
          .change(view, () => this.dirs.setMetadata(view.cap, p.name, patch))
          .then(
            () => {
              Object.assign(child.metadata, patch);
              this.o.onAttrsChanged?.();
            },
            (err: unknown) =>
              this.o.log(
                `slotfs: could not update the entry of ${describeObject(pathIn(view.path, p.name), 'file')} (a hard link of ${path}): ${summarizeFailure(err, path)}`,
              ),
          );
      }),
    );
  }

  /** Size, mtime and mode into the directory entry, when they changed. */
  async push(st: FileState, size: number): Promise<void> {
    if (st.detached) return;
    // The directory may not be loaded (a file republished from the journal at mount), or
    // be loading for a lookup right now: its entries are only usable once fetched.
    const known = this.ns.views.get(st.parent);
    const view =
      known && known.fetchedAt > -Infinity && !known.loading
        ? known
        : await this.ns.view(st.parent, dirname(st.path));
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
    // The write that made this update is what ctime shows, not the update's arrival.
    const landed = this.ns.ownChange(child, st.ctime || Date.now());
    try {
      await this.ns.change(view, () => this.dirs.setMetadata(view.cap, name, patch));
      Object.assign(child.metadata, patch);
      this.o.onAttrsChanged?.();
      if (st.roCap)
        await this.updateOtherNames(this.ns.siOf(st.roCap), view.cap, name, patch, st.path);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_DIR_NOT_FOUND') throw err;
      // Renamed meanwhile: once more under the new name; removed: nothing to update.
      if (!st.detached && (st.name !== name || st.parent !== view.cap)) {
        await this.push(st, size);
      }
    } finally {
      landed();
    }
  }
}
