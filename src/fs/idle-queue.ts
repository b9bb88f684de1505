// The background write-backs wait here, so that they do not slow the calls a program is
// making right now: publishing costs the main thread TLS, HTTP and encryption work that
// every FUSE call would otherwise queue behind. While calls keep arriving (the last one
// less than `idleMs` ago) at most `busyConcurrency` items run, and only items queued at
// least `holdMs` ago (a file closed and renamed at once, as git does with its lock files,
// is then moved before it is published); once calls stop, up to `concurrency` run — reached
// step by step (`rampMs`): a program that pauses only briefly (between `git clone` and
// `git status`, between two steps of a build) does not come back to a wall of publishes in
// flight that its own requests then queue behind at the servers.
// Work that someone waits for (fsync) does not come through here; but while someone waits
// (hurry), the queue runs at full concurrency too: the program is blocked on the grid, not
// making calls that need the main thread, and what it waits for next (the next file's
// fsync, as `tar` followed by a careful program does) is likely already queued here.

export interface IdleQueueOptions<T> {
  concurrency: number;
  busyConcurrency: number;
  idleMs: number;
  holdMs: number;
  /**
   * Once calls pause, the number running doubles (from busyConcurrency) every rampMs until
   * it reaches `concurrency`. 0 (default): all of `concurrency` at once.
   */
  rampMs?: number;
  /**
   * Runs one item; the promise settles when its place is free again (it should not
   * reject). `busy`: started while calls keep arriving.
   */
  start: (item: T, busy: boolean) => Promise<void>;
  now?: () => number;
}

export class IdleQueue<T> {
  private readonly waiting = new Map<T, number>();
  private running = 0;
  private lastCall = -Infinity;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private closed = false;
  private hurried = false;
  private readonly now: () => number;

  constructor(private readonly o: IdleQueueOptions<T>) {
    this.now = o.now ?? (() => performance.now());
  }

  /** A call from a program arrived: the queue yields to it for a while. */
  call(): void {
    this.lastCall = this.now();
  }

  /** While `on`, the queue runs as if the calls had paused. */
  hurry(on: boolean): void {
    this.hurried = on;
    if (on) this.pump();
  }

  /** Queues `item` (once; a second add keeps its place). */
  add(item: T): void {
    if (this.closed) return;
    if (!this.waiting.has(item)) this.waiting.set(item, this.now());
    this.pump();
  }

  /** Takes `item` out of the queue (someone runs it directly). */
  delete(item: T): void {
    this.waiting.delete(item);
  }

  get size(): number {
    return this.waiting.size;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.waiting.clear();
  }

  private pump(): void {
    if (this.closed) return;
    const now = this.now();
    const busyUntil = this.lastCall + this.o.idleMs;
    const busy = now < busyUntil && !this.hurried;
    let limit = busy ? this.o.busyConcurrency : this.o.concurrency;
    let wakeAt = busy ? busyUntil : Infinity;
    const ramp = this.o.rampMs ?? 0;
    if (!busy && !this.hurried && ramp > 0 && now - busyUntil < Infinity) {
      // Paused for `now - busyUntil` ms past idleMs: 2×, 4×, 8×… the busy number.
      const steps = Math.floor((now - busyUntil) / ramp) + 1;
      const ramped = Math.max(1, this.o.busyConcurrency) * 2 ** steps;
      if (ramped < limit) {
        limit = ramped;
        wakeAt = busyUntil + steps * ramp;
      }
    }
    for (const [item, since] of this.waiting) {
      if (this.running >= limit) break;
      if (busy && now - since < this.o.holdMs) {
        wakeAt = Math.min(wakeAt, since + this.o.holdMs);
        break; // the rest were queued later still
      }
      this.waiting.delete(item);
      this.running++;
      void this.o.start(item, busy).finally(() => {
        this.running--;
        this.pump();
      });
    }
    if (this.waiting.size > 0 && wakeAt < Infinity) this.wake(wakeAt - now);
  }

  private wake(ms: number): void {
    const at = this.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.pump();
      },
      Math.max(1, Math.ceil(ms)),
    );
    this.timer.unref();
  }
}
