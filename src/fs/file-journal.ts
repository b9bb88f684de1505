// A file's entry in the write-back journal (src/cache/journal.ts): begun when the file
// becomes dirty, with every write and truncate recorded before it returns, compacted or
// cleared once a publish has the contents on the grid, forgotten when the file is deleted.
import { randomBytes } from 'node:crypto';
import type { JournalEntry, JournalMeta, WriteJournal } from '../cache/journal.js';
import { toHex } from '../encoding/bytes.js';
import { describeFailure } from './errno.js';
import type { FileState } from './nodes.js';

export class FileJournal {
  constructor(
    private readonly journal: WriteJournal,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * The journal id to record the next change under. Loops because a publish finishing
   * while we wait may close the entry; the caller then changes the buffer synchronously.
   */
  async idFor(st: FileState): Promise<string> {
    for (;;) {
      const journaled = this.ensure(st);
      await journaled;
      if (st.journaled === journaled && st.journalId) return st.journalId;
    }
  }

  /** Begins the file's entry (once) with its contents as they are now. */
  ensure(st: FileState): Promise<void> {
    if (st.journaled) return st.journaled;
    st.journalId = randomBytes(12).toString('hex');
    // The snapshot is taken now, before the write that asked for it changes the buffer.
    const snapshot = st.buffer?.snapshot() ?? new Uint8Array(0);
    const journaled = this.journal.begin(st.journalId, this.meta(st), snapshot);
    st.journaled = journaled;
    journaled.catch(() => {
      if (st.journaled === journaled) {
        st.journaled = undefined;
        st.journalId = undefined;
      }
    });
    return journaled;
  }

  write(id: string, offset: number, bytes: Uint8Array, mtime: number): Promise<void> {
    return this.journal.write(id, offset, bytes, mtime);
  }

  truncate(id: string, size: number, mtime: number): Promise<void> {
    return this.journal.truncate(id, size, mtime);
  }

  /** The sequence number of the last operation recorded (see WriteJournal.compact). */
  mark(): number {
    return this.journal.mark();
  }

  meta(st: FileState): JournalMeta {
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

  /** Records the file's current name, cap, mode and mtime (when it has an entry). */
  async saveMeta(st: FileState): Promise<void> {
    const id = st.journalId;
    if (!st.journaled || !id) return;
    // Queued after the entry's begin; dropped by the journal if the entry is cleared first.
    await this.journal.setMeta(id, this.meta(st));
  }

  /** After a publish of generation `gen`: clean if nothing was written since. */
  async settle(st: FileState, gen: number, published: Uint8Array, bound: number): Promise<void> {
    const id = st.journalId;
    if (st.gen === gen) {
      st.dirty = false;
      st.journalId = undefined;
      st.journaled = undefined;
      if (id) await this.journal.clear(id);
    } else if (id) {
      // Written to meanwhile: what was published becomes the journal's new snapshot, and
      // only the changes made since it are kept.
      await this.journal.compact(id, published, this.meta(st), bound);
    }
  }

  /** The file is gone: its entry is dropped (in the background). */
  forget(st: FileState): void {
    const id = st.journalId;
    st.journalId = undefined;
    st.journaled = undefined;
    if (id) {
      this.journal
        .clear(id)
        .catch((err: unknown) =>
          this.log(`slotfs: could not clear the journal of ${st.path}: ${describeFailure(err)}`),
        );
    }
  }

  /** Every entry a previous run left (files it acknowledged and did not publish). */
  entries(): Promise<JournalEntry[]> {
    return this.journal.entries();
  }

  clear(id: string): Promise<void> {
    return this.journal.clear(id);
  }
}
