// A counting semaphore: at most `n` tasks at once, and at most `maxWeight` of their
// weights (bytes, for publishes: each holds its file and its shares while it runs; a task
// heavier than that alone runs when nothing else does); the rest wait in order — except
// tasks that become urgent (someone waits for exactly that one, e.g. fsync): hurry() starts
// them at once, beyond the limits, so they never wait behind the background queue.
interface Waiter {
  go: () => void;
  urgent?: () => boolean;
  weight: number;
}

export class Limit {
  private running = 0;
  private weight = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly n: number,
    private readonly maxWeight = Infinity,
  ) {}

  async run<T>(task: () => Promise<T>, urgent?: () => boolean, weight = 0): Promise<T> {
    if ((this.waiting.length > 0 || !this.fits(weight)) && !urgent?.()) {
      // Counted when let in (grant), so nothing slips in between.
      await new Promise<void>((go) => this.waiting.push({ go, urgent, weight }));
    } else {
      this.take(weight);
    }
    try {
      return await task();
    } finally {
      this.running--;
      this.weight -= weight;
      this.grant();
    }
  }

  /** Starts every waiting task that is urgent now. */
  hurry(): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const w = this.waiting[i];
      if (!w.urgent?.()) continue;
      this.waiting.splice(i, 1);
      this.take(w.weight);
      w.go();
    }
  }

  private fits(weight: number): boolean {
    return this.running < this.n && (this.running === 0 || this.weight + weight <= this.maxWeight);
  }

  private take(weight: number): void {
    this.running++;
    this.weight += weight;
  }

  /** Lets in the waiters at the head of the line that fit now, in order. */
  private grant(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0].weight)) {
      const next = this.waiting.shift()!;
      this.take(next.weight);
      next.go();
    }
  }
}

/** Rejects with `onTimeout()` if `promise` has not settled after `ms` (the work goes on). */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
