// The write-back queue: dirty files are published on close, after `writeBackMs` of
// idleness, and on fsync (urgently: ahead of the background queue); at most
// `publishConcurrency` files and PUBLISH_BYTES at once (src/fs/limit.ts). A failed publish
// stays journaled and is retried with back-off; a new file is linked into its directory by
// its first publish.
// The bound covers the file's own publish only: the link (or entry update) then waits for
// its folder's next batch without holding a place, so a slow folder update does not stall
// the files behind it. recover() republishes what a previous run journaled and did not
// publish.
import { childCapsOf } from '../dirnode/directory.js';
import type { ChildMetadata, DirectoryClient } from '../dirnode/directory.js';
import { fromHex } from '../encoding/bytes.js';
import type { MutableClient } from '../mutable/mutable-client.js';
import { UncoordinatedWriteError } from '../mutable/errors.js';
import type { Conflicts } from './conflicts.js';
import type { EntryMetadata } from './entry-metadata.js';
import { describeFailure } from './errno.js';
import { summarizeFailure } from './failure-log.js';
import { FileBuffer } from './file-buffer.js';
import type { FileJournal } from './file-journal.js';
import { IdleQueue } from './idle-queue.js';
import { Limit } from './limit.js';
import { localChild, type Namespace } from './namespace.js';
import { FileState, dirname, type PendingWrite, type Settings } from './nodes.js';
import type { OpenFiles } from './open-files.js';

/** Calls this recent (ms) mean the mount is busy: background publishes hold back. */
const IDLE_MS = 20;
/** While busy, a file closed this recently (ms) is not published yet (it may be renamed). */
const HOLD_MS = 100;
/**
 * After the calls pause, background publishes double every RAMP_MS up to the bound: a
 * short pause (git clone, then git status) does not fill the servers with write-backs
 * that the program's next reads would wait behind.
 */
const RAMP_MS = 100;

/**
 * Folder updates nobody waits for (links of files published in the background, queued
 * changes): a folder whose update took T ms collects its next changes for up to
 * factor × T ms, at most maxMs (DirectoryClient `pace`). A folder of 1,000 entries is
 * re-sent whole each time; fsync and unmount send its changes at once.
 */
export const FOLDER_PACE = { factor: 10, maxMs: 1000 };

/**
 * Bytes of files published at once (a larger file is published alone): a publish holds its
 * file, the encrypted copy and N/k times that in shares until the servers have answered.
 */
export const PUBLISH_BYTES = 64 << 20;

/** What a publish has left to do once the file itself is on the grid; true: it published. */
type Rest = (() => Promise<boolean>) | undefined;

export class WriteBack {
  private readonly limit: Limit;
  /** fsyncs waiting: meanwhile the background queue runs at full concurrency. */
  private urgentCount = 0;
  /** Write-backs nobody waits for, started when the mount's callers pause. */
  private readonly queue: IdleQueue<FileState>;
  private closed = false;

  constructor(
    private readonly ns: Namespace,
    private readonly files: OpenFiles,
    private readonly fj: FileJournal,
    private readonly entries: EntryMetadata,
    private readonly conflicts: Conflicts,
    private readonly mutable: MutableClient,
    private readonly dirs: DirectoryClient,
    private readonly o: Settings,
  ) {
    this.limit = new Limit(o.publishConcurrency, PUBLISH_BYTES);
    this.queue = new IdleQueue({
      concurrency: o.publishConcurrency,
      busyConcurrency: 1,
      idleMs: IDLE_MS,
      holdMs: Math.min(HOLD_MS, o.writeBackMs),
      rampMs: RAMP_MS,
      // The queue's place is free once the file itself is published (its link may wait);
      // while programs keep calling, only once it is linked too, so the background stays
      // out of their way.
      start: (st, busy) => {
        const r = this.run(st);
        return busy ? r.done.catch(() => undefined) : r.contents;
      },
    });
  }

  /** A call from a program arrived: background write-backs yield to it for a while. */
  call(): void {
    this.queue.call();
  }

  /**
   * Resolves once `st` is linked into its folder (renames and unlinks of a new file wait
   * for that): its folder's pending changes go out now rather than after the batch window.
   */
  linked(st: FileState): Promise<void> {
    if (st.linking) this.dirs.flush(st.parent).catch(() => undefined);
    return st.linking ?? Promise.resolve();
  }

  /** (Re)starts the file's idle timer: it is published after `writeBackMs` without changes. */
  schedule(st: FileState): void {
    if (this.closed) return;
    clearTimeout(st.timer);
    st.timer = setTimeout(() => this.inBackground(st), this.o.writeBackMs);
    st.timer.unref();
  }

  /** Publishes `st` when the queue gets to it; failures are logged and retried. */
  inBackground(st: FileState): void {
    clearTimeout(st.timer);
    this.queue.add(st);
  }

  /**
   * Publishes `st` for a caller that waits for it (fsync): its queued write-back and this
   * publish start at once instead of behind other files' write-backs.
   */
  async urgently(st: FileState): Promise<void> {
    this.queue.delete(st);
    st.urgent++;
    this.urgentCount++;
    this.queue.hurry(true);
    this.limit.hurry();
    // Its link may be waiting in the folder's batch already: that batch goes out now.
    if (st.link) this.dirs.flush(st.parent).catch(() => undefined);
    try {
      await this.publish(st);
    } finally {
      st.urgent--;
      if (--this.urgentCount === 0) this.queue.hurry(false);
    }
  }

  /** Publishes now (after any publish of this file already running); rejects on failure. */
  publish(st: FileState): Promise<void> {
    return this.run(st).done;
  }

  /**
   * Starts a publish of `st`: `contents` settles (never rejects) once the file's own
   * publish is done and its place under the bound is free again; `done` once it is also
   * linked and its entry updated (rejecting on failure).
   */
  private run(st: FileState): { contents: Promise<void>; done: Promise<void> } {
    let contentsDone!: () => void;
    const contents = new Promise<void>((resolve) => (contentsDone = resolve));
    const run = st.publishing.then(async () => {
      let rest: Rest;
      try {
        rest = await this.limit.run(
          () => this.publishNow(st),
          () => st.urgent > 0,
          st.size,
        );
      } finally {
        contentsDone();
      }
      return rest ? rest() : false;
    });
    st.publishing = run.then(
      () => undefined,
      () => undefined,
    );
    const done = run.then(
      (published) => {
        if (st.failures > 0)
          this.o.log(
            `slotfs: write-back of ${st.path} succeeded after ${st.failures} failed attempts`,
          );
        st.failures = 0;
        st.lastError = undefined;
        clearTimeout(st.retryTimer);
        if (published) this.o.onPublished?.();
        this.o.onAttrsChanged?.();
        this.files.maybeDrop(st);
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
          st.retryTimer = setTimeout(() => this.inBackground(st), delay);
          st.retryTimer.unref();
        }
        throw err;
      },
    );
    done.catch(() => undefined); // a background publish: reported above
    return { contents, done };
  }

  /**
   * The file's own publish (under the bound); returns what is left to do after it — the
   * link or entry update, which waits for the folder's batch — or undefined.
   */
  private async publishNow(st: FileState): Promise<Rest> {
    if (st.detached) return undefined;
    if (st.dirty) {
      const gen = st.gen;
      const token = st.token;
      const bytes = st.buffer!.snapshot();
      const bound = this.fj.mark();
      // Once our version has landed, these bytes are the grid's contents as of this moment:
      // as good as a close-to-open check sent now (an open within attr-cache-ms needs none).
      const sent = Date.now();
      let landed = true;
      st.metaDirty = false;
      if (!st.cap) {
        const created = await this.mutable.create(bytes);
        st.cap = created.cap;
        st.roCap = childCapsOf(created.cap).roCap;
        st.basedOn = created.version;
        if (st.detached) return undefined;
        await this.fj.saveMeta(st);
      } else if (st.link) {
        // Created by an earlier run that was killed before linking it: update it.
        const r = await this.mutable.update(st.cap, bytes);
        st.basedOn = r.version;
      } else {
        landed = await this.publishContents(st, bytes);
      }
      // What a check confirmed before this publish is an older version now.
      this.files.checks.drop(st.cap);
      if (landed && st.gen === gen) {
        st.loadedAt = Math.max(st.loadedAt, sent);
        // The buffer holds exactly that version now: the kernel's pages of it too.
        if (st.basedOn && st.token === token) this.files.published(st, st.basedOn);
      }
      return async () => {
        if (st.link) await this.linkNew(st, bytes.length);
        else await this.entries.push(st, bytes.length);
        if (st.detached) return true;
        await this.fj.settle(st, gen, bytes, bound);
        return true;
      };
    } else if (st.link) {
      const size = st.size;
      return async () => {
        await this.linkNew(st, size);
        return true;
      };
    } else if (st.metaDirty) {
      st.metaDirty = false;
      const size = st.size;
      return async () => {
        await this.entries.push(st, size);
        return true;
      };
    }
    return undefined;
  }

  /** Publishes a new version of a linked file; false: another client's version got there first. */
  private async publishContents(st: FileState, bytes: Uint8Array): Promise<boolean> {
    try {
      const r = await this.mutable.update(st.cap!, bytes, { basedOn: st.basedOn });
      st.basedOn = r.version;
      return true;
    } catch (err) {
      if (!(err instanceof UncoordinatedWriteError)) throw err;
      await this.conflicts.lostUpdate(st, bytes);
      return false;
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
    const view = await this.ns.view(st.parent, dirname(st.path));
    const caps = childCapsOf(st.cap!);
    const metadata: ChildMetadata = { size, mtime: st.mtime / 1000, mode: st.mode };
    let alreadyLinked: ChildMetadata | undefined;
    // Its ctime stays the one shown so far, not the time the link reaches the grid.
    const landed = this.ns.ownChange({ roCap: caps.roCap, metadata }, st.ctime || Date.now());
    try {
      const adding = this.ns.change(view, () =>
        this.dirs.add(
          view.cap,
          name,
          caps,
          metadata,
          st.link === 'replace' ? { replace: true } : { mustNotExist: true },
        ),
      );
      // Someone waits (fsync): the folder's pending changes go out now, this link with them.
      if (st.urgent > 0) this.dirs.flush(view.cap).catch(() => undefined);
      await adding;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_DIR_EXISTS') throw err;
      const there = await this.dirs.lookup(view.cap, name);
      if (there && this.ns.sameFile(there.roCap, caps.roCap)) {
        // Linked already, under this very cap: an earlier run was killed after the link and
        // before its journal said so. Not a conflict — a copy would share the cap.
        alreadyLinked = there.metadata;
      } else {
        // Another client created the same name meanwhile: theirs stays, ours is a copy.
        this.files.unlinked.delete(st);
        view.entries.delete(name);
        this.ns.stale(view);
        await this.conflicts.saveCopy(st, size, 'created');
        return;
      }
    } finally {
      landed();
    }
    st.link = undefined;
    this.files.linked(st);
    const child = view.entries.get(name);
    if (child?.local === st) {
      const shown = alreadyLinked ? structuredClone(alreadyLinked) : metadata;
      view.entries.set(name, { name, isDirectory: false, ...caps, metadata: shown });
    }
    await this.fj.saveMeta(st);
    if (alreadyLinked) await this.entries.push(st, size);
  }

  /** Files with writes not yet on the grid. */
  pending(): PendingWrite[] {
    const all = this.files.all().filter((st) => (st.dirty || st.metaDirty) && !st.detached);
    return all.map((st) => ({
      path: st.path,
      bytes: st.size,
      since: st.dirtySince,
      lastError: st.lastError,
    }));
  }

  /**
   * Publishes every dirty file and directory change; the failures, by path. `alongside`
   * runs meanwhile (the journaled directory changes) and adds its own failures.
   */
  async flushAll(
    alongside: () => Promise<Array<{ path: string; error: string }>> = async () => [],
  ): Promise<Array<{ path: string; error: string }>> {
    const dirty = this.files.all().filter((st) => (st.dirty || st.metaDirty) && !st.detached);
    for (const st of dirty) this.queue.delete(st);
    const [results, others] = await Promise.all([
      Promise.allSettled(dirty.map((st) => this.publish(st))),
      alongside(),
    ]);
    const failures: Array<{ path: string; error: string }> = [...others];
    results.forEach((r, i) => {
      if (r.status === 'rejected')
        failures.push({ path: dirty[i].path, error: describeFailure(r.reason) });
    });
    await this.ns.saveAllDirTimes();
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
    const entries = await this.fj.entries();
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
      this.files.newContents(st);
      st.loadedAt = Date.now();
      st.dirty = true;
      st.dirtySince = Date.now();
      st.link = meta.link;
      if (st.link) this.files.unlinked.add(st);
      else if (st.cap) this.files.files.set(this.ns.siOf(st.cap), st);
      else {
        await this.fj.clear(id);
        continue;
      }
      const view = this.ns.views.get(st.parent);
      if (view && st.link) view.entries.set(st.name, localChild(st));
      this.o.log(
        `slotfs: republishing ${path} (${contents.length} bytes) from the write-back journal`,
      );
      this.inBackground(st);
    }
    return entries.length;
  }

  /** No more timers (after flushAll): retries and idle timers stop. */
  close(): void {
    this.closed = true;
    this.queue.close();
  }
}
