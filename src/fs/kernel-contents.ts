// Which contents the kernel's page cache may hold for each path, so that an open can let
// it keep them (keep_cache) instead of dropping them and asking for every read again.
//
// Contents are named by tokens (OpenFiles.contentsToken): a version on the grid, or a
// local state of a file not yet published. The kernel caches pages per node, and libfuse
// gives each name its own node (two hard links are two caches); a rename moves the node
// to the new name. Pages enter a node's cache only while it is open: read at the contents
// of that moment, or written through it. So the rule kept here: a path is recorded with
// a token only while every page its node may hold is of those contents. An open whose
// contents' token is the recorded one keeps the pages; any other open drops them (and
// records the contents it opened). A change that did not come through the path's own node
// forgets the path. Pure: no I/O.

/** Paths remembered at most (the least recently opened are forgotten first). */
const MAX_PATHS = 100_000;

export class KernelContents {
  private readonly byPath = new Map<string, string>();
  private readonly byToken = new Map<string, Set<string>>();

  constructor(private readonly max = MAX_PATHS) {}

  /**
   * `path` is being opened with contents `token` (undefined: not known to be any fixed
   * contents). True when the kernel may keep the pages it has for it.
   */
  opened(path: string, token: string | undefined): boolean {
    const keep = token !== undefined && this.byPath.get(path) === token;
    this.forget(path);
    if (token !== undefined) this.record(path, token);
    return keep;
  }

  /**
   * Contents `before` became `after` through a write or truncate of the node of `via`
   * (undefined: not through the kernel, as a load of a newer version). `via` keeps up if
   * it held `before`; every other path holding `before` may now hold a mix: forgotten.
   */
  changed(before: string | undefined, after: string | undefined, via?: string): void {
    const follows = via !== undefined && before !== undefined && this.byPath.get(via) === before;
    if (before !== undefined)
      for (const path of [...(this.byToken.get(before) ?? [])]) this.forget(path);
    if (via !== undefined) this.forget(via);
    if (follows && after !== undefined) this.record(via, after);
  }

  /** The same bytes got another name (a publish of exactly these contents). */
  renamed(before: string, after: string): void {
    const paths = this.byToken.get(before);
    if (!paths || before === after) return;
    this.byToken.delete(before);
    for (const path of paths) {
      this.byPath.set(path, after);
      this.index(path, after);
    }
  }

  /**
   * `from` was renamed to `to`: its node moved, and with a directory every node below it;
   * the node `to` named is gone (a directory replaced by a rename is empty).
   */
  moved(from: string, to: string, directory: boolean): void {
    this.forget(to);
    const token = this.byPath.get(from);
    this.forget(from);
    if (token !== undefined) this.record(to, token);
    if (!directory) return;
    const prefix = `${from}/`;
    const below = [...this.byPath].filter(([path]) => path.startsWith(prefix));
    for (const [path, t] of below) {
      this.forget(path);
      this.record(to + path.slice(from.length), t);
    }
  }

  /** `path` no longer names a node (unlinked; a directory removed is empty). */
  removed(path: string): void {
    this.forget(path);
  }

  /** The token recorded for `path` (for tests and debugging). */
  tokenOf(path: string): string | undefined {
    return this.byPath.get(path);
  }

  get size(): number {
    return this.byPath.size;
  }

  private record(path: string, token: string): void {
    this.byPath.set(path, token);
    this.index(path, token);
    if (this.byPath.size > this.max) this.forget(this.byPath.keys().next().value!);
  }

  private index(path: string, token: string): void {
    let paths = this.byToken.get(token);
    if (!paths) this.byToken.set(token, (paths = new Set()));
    paths.add(path);
  }

  private forget(path: string): void {
    const token = this.byPath.get(path);
    if (token === undefined) return;
    this.byPath.delete(path);
    const paths = this.byToken.get(token);
    paths?.delete(path);
    if (paths?.size === 0) this.byToken.delete(token);
  }
}
