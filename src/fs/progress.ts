// Publish progress where people wait: the rate of finished write-backs (for `slotfs
// status`) and the "N left, rate, estimate" line or bar printed while an unmount publishes.

/** Finished publishes per second over a sliding window. */
export class PublishRate {
  private readonly times: number[] = [];
  total = 0;

  constructor(
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  note(): void {
    this.total++;
    this.times.push(this.now());
    this.trim();
  }

  /** Files per second over the window (0 when none finished in it). */
  perSecond(): number {
    this.trim();
    if (this.times.length === 0) return 0;
    // Over the time since the first one in the window (a burst that just began counts
    // at its own pace), but at least one second so a single publish is not "1000/s".
    const span = Math.max(1000, Math.min(this.windowMs, this.now() - this.times[0]));
    return (this.times.length / span) * 1000;
  }

  private trim(): void {
    const oldest = this.now() - this.windowMs;
    let drop = 0;
    while (drop < this.times.length && this.times[drop] < oldest) drop++;
    if (drop) this.times.splice(0, drop);
  }
}

export interface Progress {
  left: number;
  /** How many there were when waiting began. */
  total: number;
  /** Files per second, recently. */
  rate: number;
}

function estimate(p: Progress): string {
  if (p.left === 0) return 'done';
  if (p.rate <= 0) return 'estimating';
  const s = Math.ceil(p.left / p.rate);
  return s < 120 ? `about ${s} s left` : `about ${Math.round(s / 60)} min left`;
}

/** One log line: "publishing: 420 of 1000 write-backs left, 28.0 files/s, about 15 s left". */
export function progressLine(p: Progress): string {
  return `slotfs: publishing: ${p.left} of ${p.total} write-backs left, ${p.rate.toFixed(1)} files/s, ${estimate(p)}`;
}

/** A terminal bar (redrawn in place with \r): "[#####-----] 580/1000  28.0 files/s  about 15 s left". */
export function progressBar(p: Progress, width = 30): string {
  const done = Math.max(0, p.total - p.left);
  const filled = p.total > 0 ? Math.round((done / p.total) * width) : width;
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  return `publishing [${bar}] ${done}/${p.total}  ${p.rate.toFixed(1)} files/s  ${estimate(p)}`;
}

/**
 * Reports progress at once (when anything is left) and then every `everyMs` (a bar
 * redrawn on a terminal, a line otherwise) until stopped.
 */
export function reportProgress(
  sample: () => { left: number; rate: number },
  out: { tty: boolean; line: (text: string) => void; draw: (text: string) => void },
  everyMs = out.tty ? 500 : 5000,
): { stop: () => void } {
  const total = Math.max(1, sample().left);
  let drawn = false;
  const report = () => {
    const { left, rate } = sample();
    const p = { left, rate, total: Math.max(total, left) };
    if (out.tty) {
      out.draw(`\r${progressBar(p)}\x1b[K`);
      drawn = true;
    } else out.line(progressLine(p));
  };
  if (sample().left > 0) report();
  const timer = setInterval(report, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      if (drawn) out.draw('\n');
    },
  };
}
