// The status change time (st_ctime) of entries this mount changed. A change is made here at
// once and reaches the grid later, when its folder's update is published: the entry's
// `tahoe.linkmotime` then says the time of that publish, not of the change. Shown as
// ctime, it would move a second or so after the change, once the folder is listed again
// or the file leaves memory — and `git status` re-reads every file whose ctime moved
// since `git checkout` recorded it. So for an entry this mount changed, a linkmotime
// written while its change was on the way (up to the moment the change landed) is taken to
// be that change's, and ctime stays the time the change was made here; a later linkmotime
// is another client's change, and shows. Pure: the clock is passed in.

interface Own {
  /** When this mount last changed the entry (ms). */
  ctime: number;
  /** Changes of the entry on their way to the grid. */
  pending: number;
  /** When the last of them landed (ms): linkmotimes up to this are ours. */
  landedAt: number;
}

/** Entries remembered at most (the oldest settled ones are forgotten first). */
const MAX_ENTRIES = 100_000;

export class OwnTimes {
  private readonly times = new Map<string, Own>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly max = MAX_ENTRIES,
  ) {}

  /**
   * A change of entry `key` (a storage index) made at `ctime` (ms) is on its way to the
   * grid; call the returned function once it has landed (or failed). `linkMs`: the entry's
   * linkmotime before the change (another client's clock may be ahead: never go back).
   */
  changing(key: string, ctime: number, linkMs = 0): () => void {
    const shown = this.ctime(key, linkMs);
    let own = this.times.get(key);
    if (own) this.times.delete(key); // most recently changed last
    own ??= { ctime, pending: 0, landedAt: -Infinity };
    own.ctime = Math.max(shown, ctime);
    own.pending++;
    this.times.set(key, own);
    this.trim();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      own.pending--;
      if (own.pending === 0) own.landedAt = this.now();
    };
  }

  /**
   * The ctime (ms) to show for entry `key` whose entry on the grid says `linkMs` (its
   * linkmotime, ms; 0 when unknown): ours when that is our own change's, else the later.
   */
  ctime(key: string | undefined, linkMs: number): number {
    const own = key === undefined ? undefined : this.times.get(key);
    if (!own) return linkMs;
    if (own.pending > 0 || linkMs <= own.landedAt) return own.ctime;
    return Math.max(own.ctime, linkMs);
  }

  get size(): number {
    return this.times.size;
  }

  private trim(): void {
    if (this.times.size <= this.max) return;
    for (const [key, own] of this.times) {
      if (this.times.size <= this.max) return;
      // Forgotten, the entry shows its linkmotime: later than ours, so ctime never goes back.
      if (own.pending === 0) this.times.delete(key);
    }
  }
}
