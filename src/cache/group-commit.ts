// Group commit for LevelDB writes made from one thread: a write is handed to LevelDB at
// once when none is under way; the writes asked for meanwhile wait and go out together as
// the next batch. Each caller's promise settles when its batch is on disk (or failed), in
// the order asked — the same guarantee as one write each, with fewer hand-offs.

export class GroupCommit<Op> {
  private group?: { ops: Op[]; written: Promise<void>; done: (err?: unknown) => void };
  private writing = false;
  private last: Promise<void> = Promise.resolve();

  /**
   * @param writeBatch writes one batch.
   * @param what names the store in the error a batch fails with when LevelDB gives none.
   * @param onWritten runs once a batch is written or failed, before its callers hear of it.
   */
  constructor(
    private readonly writeBatch: (ops: Op[]) => Promise<void>,
    private readonly what: string,
    private readonly onWritten?: (ops: Op[], err?: unknown) => void,
  ) {}

  /** Queues `ops` as one unit of the next batch; resolves when that batch is written. */
  add(ops: Op[]): Promise<void> {
    if (!this.group) {
      let done!: (err?: unknown) => void;
      const written = new Promise<void>(
        (resolve, reject) => (done = (err) => (err === undefined ? resolve() : reject(err))),
      );
      this.group = { ops: [], written, done };
    }
    const { written } = this.group;
    this.group.ops.push(...ops);
    if (!this.writing) this.next();
    return written;
  }

  /** Resolves once every write asked for so far is on disk (or failed). */
  async settled(): Promise<void> {
    while (this.group || this.writing) await this.last.catch(() => undefined);
  }

  private next(): void {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    this.writing = true;
    const finish = (err?: unknown) => {
      this.onWritten?.(group.ops, err);
      this.writing = false;
      group.done(err);
      this.next();
    };
    this.last = this.writeBatch(group.ops).then(
      () => finish(),
      (err: unknown) => finish(err ?? new Error(`${this.what} write failed`)),
    );
  }
}
