// Close-to-open checks in bulk. A file opened again after `attr-cache-ms` is checked once
// against the grid (the checkstring of its cached version on k+ε servers). When that is
// due for one file, it is usually due for the files next to it, and a program reading a
// tree (cat *, grep -r, tar c, git status) opens those next: so the opened file and up to
// MAX_FILES of the folder's other cached files are checked together, one read-many request
// per server. A file checked this way is good for `attr-cache-ms` from the moment the check
// was sent, exactly as if it had been checked on its own. Servers without read-many (Tahoe)
// confirm nothing here and each file is checked when opened.
import type { ConfirmedFile, MutableClient } from '../mutable/mutable-client.js';
import type { DirView } from './nodes.js';

/** Files checked together at most (the opened one and the siblings after it). */
const MAX_FILES = 1024;
/** Fewer files than this are checked one by one (k+ε requests each, no request per server). */
const MIN_FILES = 3;
/** Siblings larger than this (per their entry) are left to be checked when opened. */
const MAX_FILE_BYTES = 256 * 1024;
/** Confirmed contents kept waiting for their open, in bytes at most. */
const MAX_KEPT_BYTES = 32 << 20;

interface Checked {
  file: ConfirmedFile;
  /** When the check was sent (ms): the contents are good until at + attrCacheMs. */
  at: number;
}

export class SiblingCheck {
  private readonly checked = new Map<string, Checked>();
  private keptBytes = 0;
  /** Checks under way, by the cap of the folder they were started from. */
  private readonly running = new Map<string, Promise<void>>();
  /**
   * Folders where the last check asked nothing (no server offers read-many, or none of
   * the files is cached): not tried again before this time (ms).
   */
  private readonly quietUntil = new Map<string, number>();
  /** Requests, files asked and files confirmed: for tests and status. */
  readonly stats = { checks: 0, files: 0, confirmed: 0, requests: 0 };

  constructor(
    private readonly mutable: MutableClient,
    private readonly attrCacheMs: number,
  ) {}

  /** The file was changed here: what a check confirmed before is no longer its contents. */
  drop(cap: string): void {
    const hit = this.checked.get(cap);
    if (hit) this.forget(cap, hit);
  }

  /** Contents of `cap` confirmed less than attr-cache-ms ago, if any (taken once). */
  take(cap: string, now = Date.now()): Checked | undefined {
    const hit = this.checked.get(cap);
    if (!hit) return undefined;
    this.forget(cap, hit);
    return now - hit.at < this.attrCacheMs ? hit : undefined;
  }

  /**
   * Checks `cap` together with the cached files after it in `folder`, then returns what
   * take(cap) gives. A check already running for the folder is waited for first.
   */
  async check(folder: DirView, cap: string): Promise<Checked | undefined> {
    const running = this.running.get(folder.cap);
    if (running) {
      await running;
      const hit = this.take(cap);
      if (hit) return hit;
    }
    if ((this.quietUntil.get(folder.cap) ?? 0) > Date.now()) return undefined;
    const caps = this.batchFor(folder, cap);
    // A check costs one request per server, retrieve() k+ε: worth it from MIN_FILES on.
    if (caps.length < MIN_FILES) return undefined;
    const job = this.run(folder.cap, caps);
    this.running.set(folder.cap, job);
    try {
      await job;
    } finally {
      if (this.running.get(folder.cap) === job) this.running.delete(folder.cap);
    }
    return this.take(cap);
  }

  /** `cap` first, then the folder's small files after it in listing order (wrapping). */
  private batchFor(folder: DirView, cap: string): string[] {
    const children = [...folder.entries.values()];
    const start = Math.max(
      0,
      children.findIndex((c) => (c.local ? c.local.cap : (c.rwCap ?? c.roCap)) === cap),
    );
    const caps = [cap];
    const now = Date.now();
    for (let i = 1; i < children.length && caps.length < MAX_FILES; i++) {
      const c = children[(start + i) % children.length];
      if (c.isDirectory || c.symlink) continue;
      // A file made here keeps its state in the listing; once published it has a cap. Files
      // still fresh are checked too: their checks come due one by one (each was loaded at
      // another time), and one request now saves one per file later.
      if (c.local && (c.local.dirty || !c.local.cap)) continue;
      const size = c.metadata.size;
      if (typeof size === 'number' && size > MAX_FILE_BYTES) continue;
      const childCap = c.local ? c.local.cap! : (c.rwCap ?? c.roCap);
      const known = childCap ? this.checked.get(childCap) : undefined;
      if (known && now - known.at < this.attrCacheMs / 2) continue; // checked recently
      if (childCap && childCap !== cap) caps.push(childCap);
    }
    return caps;
  }

  private async run(folderCap: string, caps: string[]): Promise<void> {
    const at = Date.now();
    const { confirmed, cost } = await this.mutable.confirmMany(caps);
    this.stats.checks++;
    this.stats.files += caps.length;
    this.stats.confirmed += confirmed.size;
    this.stats.requests += cost.requests;
    if (cost.requests === 0) {
      this.quietUntil.set(folderCap, at + this.attrCacheMs);
      if (this.quietUntil.size > 4096) this.quietUntil.delete(this.quietUntil.keys().next().value!);
    }
    for (const [cap, file] of confirmed) this.keep(cap, { file, at });
  }

  private keep(cap: string, checked: Checked): void {
    const old = this.checked.get(cap);
    if (old) this.forget(cap, old);
    this.checked.set(cap, checked);
    this.keptBytes += checked.file.plaintext.length;
    while (this.keptBytes > MAX_KEPT_BYTES && this.checked.size > 0) {
      const [oldest, value] = this.checked.entries().next().value!;
      this.forget(oldest, value);
    }
  }

  private forget(cap: string, checked: Checked): void {
    if (this.checked.get(cap) !== checked) return;
    this.checked.delete(cap);
    this.keptBytes -= checked.file.plaintext.length;
  }
}
