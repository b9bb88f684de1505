// One timer for the deadlines of every FUSE call still waiting, instead of one timer per
// call: a mount answering thousands of calls a second would otherwise create and cancel
// a timer for each. Every deadline is the same time after its start, so the calls expire in
// the order they began: the timer is armed for the oldest one only.

export class Deadlines {
  private readonly waiting = new Map<number, { at: number; expire: () => void }>();
  private next = 1;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ms: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `expire` runs once `ms` from now, unless `settle(token)` comes first. */
  add(expire: () => void): number {
    const token = this.next++;
    this.waiting.set(token, { at: this.now() + this.ms, expire });
    if (this.timer === undefined) this.arm(this.ms);
    return token;
  }

  settle(token: number): void {
    this.waiting.delete(token);
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Forgets every deadline (the mount is closing). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting.clear();
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.fire(), Math.max(1, Math.ceil(ms)));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.now();
    for (const [token, d] of this.waiting) {
      if (d.at > now) {
        this.arm(d.at - now);
        return;
      }
      this.waiting.delete(token);
      try {
        d.expire();
      } catch {
        // an expiry must not stop the others
      }
    }
  }
}
