// A counting semaphore: at most `n` tasks at once, the rest wait in order — except tasks
// that become urgent (someone waits for exactly that one, e.g. fsync): hurry() starts them
// at once, beyond the limit, so they never wait behind the background queue.
export class Limit {
  private running = 0;
  private readonly waiting: Array<{ go: () => void; urgent?: () => boolean }> = [];

  constructor(private readonly n: number) {}

  async run<T>(task: () => Promise<T>, urgent?: () => boolean): Promise<T> {
    if (this.running >= this.n && !urgent?.()) {
      await new Promise<void>((go) => this.waiting.push({ go, urgent }));
    }
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.waiting.shift()?.go();
    }
  }

  /** Starts every waiting task that is urgent now. */
  hurry(): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const w = this.waiting[i];
      if (!w.urgent?.()) continue;
      this.waiting.splice(i, 1);
      w.go();
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
