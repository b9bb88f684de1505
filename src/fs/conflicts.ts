// A publish that meets another writer's version (UncoordinatedWriteError) leaves theirs at
// NAME and saves ours as a conflict copy beside it, NAME.conflict-… (or overwrites, with
// conflicts = "last-writer-wins"); a new file whose name another client took meanwhile
// becomes such a copy too. Our own earlier attempt that reached the grid is no conflict.
import { childCapsOf } from '../dirnode/directory.js';
import type { ChildMetadata, DirectoryClient } from '../dirnode/directory.js';
import { equalBytes } from '../encoding/bytes.js';
import type { MutableClient } from '../mutable/mutable-client.js';
import { conflictCopiesToPrune, conflictName } from './conflict-name.js';
import { describeFailure } from './errno.js';
import type { FileJournal } from './file-journal.js';
import type { Namespace } from './namespace.js';
import { dirname, type FileState, type Settings } from './nodes.js';
import type { OpenFiles } from './open-files.js';

export class Conflicts {
  constructor(
    private readonly ns: Namespace,
    private readonly files: OpenFiles,
    private readonly fj: FileJournal,
    private readonly mutable: MutableClient,
    private readonly dirs: DirectoryClient,
    private readonly o: Settings,
  ) {}

  /** Our update of `st` to `bytes` lost against another writer's version: keep both. */
  async lostUpdate(st: FileState, bytes: Uint8Array): Promise<void> {
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
    await this.saveCopy(st, bytes, 'changed');
  }

  /**
   * Our version lost: theirs stays at NAME, ours becomes NAME.conflict-…; the open file
   * (and its handles) continues as the conflict copy.
   */
  async saveCopy(
    st: FileState,
    /** Our contents ('changed'), or just their size when the file has a cap ('created'). */
    ours: Uint8Array | number,
    what: 'changed' | 'created',
  ): Promise<void> {
    const view = await this.ns.view(st.parent, dirname(st.path));
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
    await this.ns.change(view, () =>
      this.dirs.add(view.cap, copy, caps, metadata, { mustNotExist: true }),
    );
    if (st.roCap) {
      const oldSi = this.ns.siOf(st.roCap);
      if (this.files.files.get(oldSi) === st) this.files.files.delete(oldSi);
    }
    const dir = st.path.slice(0, st.path.lastIndexOf('/'));
    const originalPath = st.path;
    st.cap = created.cap;
    st.roCap = caps.roCap;
    st.basedOn = created.version;
    st.link = undefined;
    this.files.relocate(st, view, copy, `${dir}/${copy}`);
    this.files.linked(st);
    view.entries.set(copy, { name: copy, isDirectory: false, ...caps, metadata });
    this.ns.stale(view); // NAME now shows the other writer's version
    await this.fj.saveMeta(st);
    const record = { at: Date.now(), path: originalPath, copy: `${dir}/${copy}` };
    this.o.log(
      `slotfs: conflict: ${originalPath} was ${what} by another client at the same time; theirs stays at ${originalPath}, ours is saved as ${record.copy}`,
    );
    this.o.onConflict?.(record);
    const extra = conflictCopiesToPrune(original, view.entries.keys(), this.o.maxConflictCopies);
    for (const name of extra) {
      await this.ns
        .change(view, () => this.dirs.remove(view.cap, name, { mustExist: false }))
        .catch((err: unknown) =>
          this.o.log(
            `slotfs: could not remove old conflict copy ${dir}/${name}: ${describeFailure(err)}`,
          ),
        );
      view.entries.delete(name);
    }
  }
}
