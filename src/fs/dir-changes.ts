// Directory changes (remove, rename, move, add, metadata) answer once they are in this
// mount's picture and in the journal; the dirnode update follows in the background,
// batched per directory by the DirectoryClient (changes arriving while an update of the
// folder is published go out together in the next one). Each change is submitted at once,
// so the grid sees them in the order they were made.
//
// A killed mount replays the journaled changes at the next start, in order, each applied
// only where the directory still shows what it expected (the entry's file, by storage
// index), so nothing acknowledged is lost and nothing removed comes back. A change that
// meets a grid failure is retried the same way, together with every later change of its
// directories (which may have landed before it); one that another client made impossible
// (the name is gone or taken) is logged, and the directory is listed afresh.
import type { WriteJournal } from '../cache/journal.js';
import type { ChildCaps, ChildMetadata, DirectoryClient } from '../dirnode/directory.js';
import { UnrecoverableFileError } from '../mutable/errors.js';
import type { MutableClient } from '../mutable/mutable-client.js';
import { conflictName } from './conflict-name.js';
import { describeFailure } from './errno.js';
import type { Namespace } from './namespace.js';
import type { DirView, Settings } from './nodes.js';

export type DirChange =
  | {
      op: 'add';
      dir: string;
      name: string;
      caps: ChildCaps;
      metadata: ChildMetadata;
      path: string;
      /** A new empty folder (mkdir), whose first version is published before the link. */
      create?: boolean;
    }
  | { op: 'remove'; dir: string; name: string; roCap: string; path: string }
  | { op: 'rename'; dir: string; from: string; to: string; roCap: string; path: string }
  | {
      /** To another directory: linked under the new name, unlinked from the old. */
      op: 'move';
      fromDir: string;
      from: string;
      dir: string;
      name: string;
      caps: ChildCaps;
      metadata: ChildMetadata;
      path: string;
    }
  | {
      op: 'meta';
      dir: string;
      name: string;
      roCap: string;
      patch: Partial<ChildMetadata>;
      path: string;
    };

interface Open {
  id: string;
  change: DirChange;
  views: DirView[];
  /** running: submitted; failed: to be retried; redo: landed after a failed one, replayed with it. */
  state: 'running' | 'failed' | 'redo';
  /** Settles when the change is published (or given up); never rejects. */
  settled: Promise<void>;
  lastError?: string;
  since: number;
}

/** Whose names a replay decides on: per directory cap, name → the entry's read cap. */
type Tables = Map<string, Map<string, string>>;

export class DirChanges {
  private readonly open = new Map<string, Open>();
  private retryTimer?: NodeJS.Timeout;
  private failures = 0;
  private retrying?: Promise<void>;
  private closed = false;

  constructor(
    private readonly ns: Namespace,
    private readonly dirs: DirectoryClient,
    private readonly mutable: MutableClient,
    private readonly journal: WriteJournal,
    private readonly o: Settings,
  ) {}

  /**
   * Journals `change` and starts it on the grid; resolves once it is journaled. The
   * caller has already (or in the same tick) applied it to the loaded listings. A new
   * folder's link (`create`) is queued once `created` (its first publish) has settled.
   * `at`: when the change was made (ms), the ctime its entry keeps; a caller that shows
   * the same time elsewhere (a file state's ctime) passes the one it shows.
   */
  submit(change: DirChange, created?: Promise<unknown>, at = Date.now()): Promise<void> {
    const { id, recorded } = this.journal.recordChange(change);
    const entry = this.track(id, change);
    const landed = this.ownChange(change, at);
    this.follow(entry, this.start(change, created));
    void entry.settled.then(landed);
    return recorded;
  }

  /** The entry the change leaves keeps the change's time as its ctime (own-times.ts). */
  private ownChange(c: DirChange, at: number): () => void {
    if (c.op === 'remove') return () => undefined;
    const roCap = c.op === 'add' || c.op === 'move' ? c.caps.roCap : c.roCap;
    // The entry as shown before the change (the caller applies it after this call).
    const [dir, name] =
      c.op === 'move' ? [c.fromDir, c.from] : c.op === 'rename' ? [c.dir, c.from] : [c.dir, c.name];
    const before = this.ns.views.get(dir)?.entries.get(name);
    const metadata = before?.roCap === roCap ? before.metadata : {};
    return this.ns.ownChange({ roCap, metadata }, at);
  }

  /** Changes not yet on the grid, for status and the unmount progress. */
  pending(): Array<{ path: string; since: number; lastError?: string }> {
    return [...this.open.values()].map((e) => ({
      path: e.change.path,
      since: e.since,
      lastError: e.lastError,
    }));
  }

  /**
   * Resolves once every change of directory `dirCap` made so far is published; retries
   * failed ones at once and throws if they still fail (fsync, fsyncdir).
   */
  async settle(dirCap?: string): Promise<void> {
    const mine = () =>
      [...this.open.values()].filter((e) => dirCap === undefined || dirsOf(e.change).has(dirCap));
    // Their folders' batches go out now rather than after the batch window.
    const folders = new Set(mine().flatMap((e) => [...dirsOf(e.change)]));
    for (const cap of folders) this.dirs.flush(cap).catch(() => undefined);
    if (mine().some((e) => e.state !== 'running')) await this.retryNow();
    await Promise.all(mine().map((e) => e.settled));
    const left = mine().filter((e) => e.state !== 'running');
    if (left.length > 0) {
      throw new Error(
        `${left.length} directory change(s) could not be published: ${left[0].lastError ?? 'unknown error'}`,
      );
    }
  }

  /**
   * Replays the changes a previous run journaled and did not publish; returns how many.
   * Runs before the mount serves anything, so nothing interleaves.
   */
  async recover(): Promise<number> {
    const recorded = await this.journal.changes();
    const entries = recorded.map(({ id, change }) => this.track(id, change as DirChange));
    for (const e of entries) e.state = 'failed';
    if (entries.length > 0) {
      this.o.log(`slotfs: replaying ${entries.length} directory change(s) from the journal`);
      await this.retryNow();
    }
    return entries.length;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  private track(id: string, change: DirChange): Open {
    const views = [...dirsOf(change)]
      .map((cap) => this.ns.views.get(cap))
      .filter((v): v is DirView => v !== undefined);
    // Keeps listings fetched meanwhile (which may predate the change) from undoing it.
    for (const v of views) {
      v.pending++;
      v.changes++;
    }
    const entry: Open = {
      id,
      change,
      views,
      state: 'running',
      settled: Promise.resolve(),
      since: Date.now(),
    };
    this.open.set(id, entry);
    return entry;
  }

  /** The change as first submitted: in call order, unconditional (as if awaited). */
  private start(c: DirChange, created?: Promise<unknown>): Promise<unknown> {
    switch (c.op) {
      case 'add':
        if (created) return this.linkCreated(c, created);
        return this.to(c.dir, () =>
          this.dirs.add(c.dir, c.name, c.caps, c.metadata, { mustNotExist: true }),
        );
      case 'remove':
        return this.to(c.dir, () => this.dirs.remove(c.dir, c.name, { mustExist: false }));
      case 'rename':
        return this.to(c.dir, () => this.dirs.rename(c.dir, c.from, c.to, { replace: true }));
      case 'move':
        // Both at once, so each lands in its directory's order; until both have, the
        // journal keeps the move (a failed link is retried: never no name at all).
        return Promise.all([this.linkMoved(c), this.unlinkMoved(c)]);
      case 'meta':
        return this.to(c.dir, () => this.dirs.setMetadata(c.dir, c.name, c.patch));
    }
  }

  /** Queues a change of folder `cap` (behind whatever its earlier changes wait for). */
  private to<T>(cap: string, submit: () => Promise<T>): Promise<T> {
    return this.ns.submitTo([cap], submit);
  }

  private linkMoved(c: Extract<DirChange, { op: 'move' }>): Promise<unknown> {
    return this.to(c.dir, () =>
      this.dirs.add(c.dir, c.name, c.caps, c.metadata, { replace: true }),
    );
  }

  private unlinkMoved(c: Extract<DirChange, { op: 'move' }>): Promise<unknown> {
    return this.to(c.fromDir, () => this.dirs.remove(c.fromDir, c.from, { mustExist: false }));
  }

  /**
   * Links a folder made here once `created` (its first publish) has settled: the parent's
   * later changes queue behind it, and a parent never names a folder not on the grid.
   */
  private linkCreated(c: Extract<DirChange, { op: 'add' }>, created: Promise<unknown>) {
    let failure: unknown;
    const settled = created.then(
      () => undefined,
      (err: unknown) => (failure = err ?? new Error('the folder could not be created')),
    );
    return this.ns.submitTo(
      [c.dir],
      () =>
        failure === undefined
          ? this.dirs.add(c.dir, c.name, c.caps, c.metadata, { mustNotExist: true })
          : Promise.reject(failure),
      settled,
    );
  }

  /** Creates a folder made here unless an earlier attempt did (replay). */
  private async ensureCreated(cap: string): Promise<void> {
    try {
      await this.mutable.retrieve(cap);
      return;
    } catch (err) {
      if (!(err instanceof UnrecoverableFileError)) throw err;
    }
    await this.mutable.createAs(cap, new Uint8Array(0));
  }

  /** Waits for the change on the grid, then clears it, logs it, or keeps it for a retry. */
  private follow(entry: Open, run: Promise<unknown>): void {
    entry.state = 'running';
    entry.settled = run.then(
      () => this.succeeded(entry),
      (err: unknown) => this.failed(entry, err),
    );
  }

  private succeeded(entry: Open): void {
    // A change that landed after an earlier one of its directories failed is replayed
    // with it (the earlier one, retried, could otherwise undo it).
    const dirs = dirsOf(entry.change);
    const behind = [...this.open.values()].some(
      (e) => e.id < entry.id && e.state !== 'running' && overlaps(dirsOf(e.change), dirs),
    );
    if (behind) {
      entry.state = 'redo';
      return;
    }
    this.finish(entry);
  }

  private failed(entry: Open, err: unknown): void {
    const code = (err as { code?: string }).code ?? '';
    entry.lastError = describeFailure(err);
    if (code.startsWith('ERR_DIR_')) {
      // Another client got there first: nothing of ours to publish any more.
      this.o.log(
        `slotfs: ${describe(entry.change)} could not be published: ${entry.lastError}; the directory is listed again`,
      );
      if (code === 'ERR_DIR_EXISTS' && entry.change.op === 'add') this.keepAsCopy(entry.change);
      this.finish(entry);
      for (const v of entry.views) this.ns.stale(v);
      return;
    }
    entry.state = 'failed';
    this.failures++;
    const delay = Math.min(60_000, 1000 * 2 ** Math.min(this.failures, 6));
    this.o.log(
      `slotfs: ${describe(entry.change)} failed (${entry.lastError}); kept in the journal, retrying in ${Math.round(delay / 1000)} s`,
    );
    this.scheduleRetry(delay);
  }

  /** A folder made here whose name another client took meanwhile: ours is kept beside it. */
  private keepAsCopy(c: Extract<DirChange, { op: 'add' }>): void {
    if (!c.caps.roCap.startsWith('URI:DIR2')) return; // files and links: theirs stays
    const view = this.ns.views.get(c.dir);
    const name = conflictName(c.name, new Date(), this.o.clientName, (n) =>
      view ? view.entries.has(n) : false,
    );
    const path = `${c.path.slice(0, c.path.lastIndexOf('/'))}/${name}`;
    this.o.log(
      `slotfs: conflict: ${c.path} was created by another client at the same time; ours is saved as ${path}`,
    );
    this.o.onConflict?.({ at: Date.now(), path: c.path, copy: path });
    this.submit({ ...c, name, path }).catch(() => undefined);
  }

  private finish(entry: Open): void {
    if (!this.open.delete(entry.id)) return;
    for (const v of entry.views) v.pending--;
    this.o.onAttrsChanged?.(); // its folders are fresh no longer than their listings
    this.journal.clearChange(entry.id).catch(() => undefined);
  }

  private scheduleRetry(delay: number): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryNow().catch(() => undefined);
    }, delay);
    this.retryTimer.unref();
  }

  /** Replays every change waiting for a retry (and those behind them), in order. */
  private retryNow(): Promise<void> {
    this.retrying ??= this.replay().finally(() => (this.retrying = undefined));
    return this.retrying;
  }

  private async replay(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const waiting = [...this.open.values()]
      .filter((e) => e.state !== 'running')
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    if (waiting.length === 0) return;
    const tables: Tables = new Map();
    const caps = new Set(waiting.flatMap((e) => [...dirsOf(e.change)]));
    await Promise.all(
      [...caps].map(async (cap) => {
        try {
          const listing = await this.dirs.list(cap);
          tables.set(cap, new Map([...listing].map(([name, e]) => [name, e.roCap])));
        } catch (err) {
          this.o.log(`slotfs: cannot list a directory to replay changes: ${describeFailure(err)}`);
        }
      }),
    );
    // Decided and submitted in one go, in order, each against what the ones before leave.
    let stuck = false;
    for (const e of waiting) {
      const steps = this.decide(e.change, tables);
      if (!steps) {
        stuck = true; // its directory could not be read: later
        e.lastError ??= 'directory unreadable';
        continue;
      }
      this.follow(e, Promise.all(steps.map((step) => step())));
    }
    if (stuck) {
      this.failures++;
      this.scheduleRetry(Math.min(60_000, 1000 * 2 ** Math.min(this.failures, 6)));
    } else this.failures = 0;
    await Promise.all(waiting.map((e) => e.settled));
  }

  /** What is left to do of `c`, given the directories as they are (updated as decided). */
  private decide(c: DirChange, tables: Tables): Array<() => Promise<unknown>> | undefined {
    const same = (a: string | undefined, b: string) => a !== undefined && this.ns.sameFile(a, b);
    const t = tables.get(c.dir);
    if (!t) return undefined;
    switch (c.op) {
      case 'add': {
        const there = t.get(c.name);
        if (there !== undefined) {
          if (!same(there, c.caps.roCap)) {
            // Taken by someone else meanwhile: as when first submitted.
            const err = Object.assign(new Error(`${c.name} exists`), { code: 'ERR_DIR_EXISTS' });
            return [() => Promise.reject(err)];
          }
          return [];
        }
        t.set(c.name, c.caps.roCap);
        if (c.create && c.caps.rwCap) {
          const created = this.ensureCreated(c.caps.rwCap);
          // Changes inside the new folder (replayed after this one) wait for it too.
          this.ns.hold(
            c.caps.rwCap,
            created.then(
              () => undefined,
              () => undefined,
            ),
          );
          return [() => this.linkCreated(c, created)];
        }
        return [() => this.start(c)];
      }
      case 'remove':
        if (!same(t.get(c.name), c.roCap)) return [];
        t.delete(c.name);
        return [() => this.start(c)];
      case 'rename':
        if (!same(t.get(c.from), c.roCap)) return [];
        t.delete(c.from);
        t.set(c.to, c.roCap);
        return [() => this.start(c)];
      case 'move': {
        const from = tables.get(c.fromDir);
        if (!from) return undefined;
        const steps: Array<() => Promise<unknown>> = [];
        if (!same(t.get(c.name), c.caps.roCap)) {
          t.set(c.name, c.caps.roCap);
          steps.push(() => this.linkMoved(c));
        }
        if (same(from.get(c.from), c.caps.roCap)) {
          from.delete(c.from);
          steps.push(() => this.unlinkMoved(c));
        }
        return steps;
      }
      case 'meta':
        if (!same(t.get(c.name), c.roCap)) return [];
        return [() => this.start(c)];
    }
  }
}

function dirsOf(c: DirChange): Set<string> {
  return new Set(c.op === 'move' ? [c.dir, c.fromDir] : [c.dir]);
}

function overlaps(a: Set<string>, b: Set<string>): boolean {
  for (const x of a) if (b.has(x)) return true;
  return false;
}

function describe(c: DirChange): string {
  switch (c.op) {
    case 'add':
      return `linking ${c.path}`;
    case 'remove':
      return `removing ${c.path}`;
    case 'rename':
    case 'move':
      return `moving to ${c.path}`;
    case 'meta':
      return `updating the entry of ${c.path}`;
  }
}
