// Group commit for directory fsyncs. Commits that renamed into one directory while an
// fsync of it was already running share the next fsync, so a burst of N writes into a
// directory costs about two fsyncs of it instead of N. Nobody is answered before an fsync
// that began after their change: that is what makes the rename durable.
export class DirSync {
  private readonly dirs = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();

  constructor(private readonly fsyncDir: (dir: string) => Promise<void>) {}

  /** Resolves once an fsync of `dir` that began after this call has completed. */
  sync(dir: string): Promise<void> {
    let slot = this.dirs.get(dir);
    if (!slot) {
      slot = {};
      this.dirs.set(dir, slot);
    }
    const s = slot;
    const start = (): Promise<void> => {
      const running: Promise<void> = this.fsyncDir(dir).finally(() => {
        if (s.running === running) s.running = undefined;
        if (!s.running && !s.next && this.dirs.get(dir) === s) this.dirs.delete(dir);
      });
      s.running = running;
      return running;
    };
    if (!s.running) return start();
    // The running fsync may have begun before our change: wait for it, then share one more.
    s.next ??= s.running
      .catch(() => undefined)
      .then(() => {
        s.next = undefined;
        return start();
      });
    return s.next;
  }
}
