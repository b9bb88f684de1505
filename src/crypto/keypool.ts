// A pool of RSA keys generated ahead, so creating a file or directory never waits for key
// generation in steady state (2048-bit generation takes ~100 ms or more). The default
// generator is Node's async generateKeyPair, which runs in libuv's thread pool (4 threads
// by default, shared with fs, dns and zlib); `concurrency` caps how many of those threads
// the pool may occupy so refilling never starves other work.
import { generateRsaKeyPair, type RsaKeyPair } from './rsa.js';

export interface KeyPoolOptions {
  /** Keys kept ready (≥ 0). */
  size: number;
  /** RSA modulus size; Tahoe writers require 2048. */
  bits?: number;
  /** Generations in flight at most (≥ 1, default 1). */
  concurrency?: number;
  /** Key generator; the default runs off the main thread. Used by tests and benchmarks. */
  generate?: (bits: number) => Promise<RsaKeyPair>;
}

export interface KeyPoolStats {
  size: number;
  /** Keys ready to hand out now. */
  ready: number;
  inFlight: number;
  /** take() calls waiting for a key. */
  waiting: number;
  /** take() calls answered from the ready keys. */
  hits: number;
  /** take() calls that found the pool empty and had to wait. */
  misses: number;
  generated: number;
  failures: number;
}

export type KeyPoolErrorCode = 'ERR_KEY_POOL_CLOSED' | 'ERR_KEY_POOL_OPTIONS';

export class KeyPoolError extends Error {
  constructor(
    readonly code: KeyPoolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KeyPoolError';
  }
}

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

export class KeyPool {
  readonly size: number;
  readonly bits: number;
  readonly concurrency: number;
  readonly #generate: (bits: number) => Promise<RsaKeyPair>;
  #ready: RsaKeyPair[] = [];
  #waiters: Pending<RsaKeyPair>[] = [];
  #warmers: Pending<void>[] = [];
  #closers: Array<() => void> = [];
  #inFlight = 0;
  #closed = false;
  #hits = 0;
  #misses = 0;
  #generated = 0;
  #failures = 0;

  constructor(options: KeyPoolOptions) {
    const { size, bits = 2048, concurrency = 1, generate = generateRsaKeyPair } = options;
    if (!Number.isInteger(size) || size < 0) {
      throw new KeyPoolError(
        'ERR_KEY_POOL_OPTIONS',
        `key pool size must be an integer ≥ 0, got ${size}`,
      );
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new KeyPoolError(
        'ERR_KEY_POOL_OPTIONS',
        `key pool concurrency must be an integer ≥ 1, got ${concurrency}`,
      );
    }
    this.size = size;
    this.bits = bits;
    this.concurrency = concurrency;
    this.#generate = generate;
    this.#refill();
  }

  /** A fresh key: at once when one is ready, else when the next generation finishes. */
  take(): Promise<RsaKeyPair> {
    if (this.#closed) return Promise.reject(closedError('take a key from'));
    const key = this.#ready.shift();
    if (key) {
      this.#hits++;
      this.#refill();
      return Promise.resolve(key);
    }
    this.#misses++;
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#refill();
    });
  }

  /** Resolves once `size` keys are ready; rejects if a generation fails first. */
  warm(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError('warm'));
    if (this.#ready.length >= this.size) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#warmers.push({ resolve, reject });
      this.#refill();
    });
  }

  /**
   * Stops refilling, drops the ready keys and rejects pending take()/warm() calls. The
   * returned promise resolves when generations already running have finished (they
   * cannot be cancelled; their keys are discarded). The pool holds no timers.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#ready = [];
      for (const w of this.#waiters.splice(0)) w.reject(closedError('take a key from'));
      for (const w of this.#warmers.splice(0)) w.reject(closedError('warm'));
    }
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#closers.push(resolve));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get stats(): KeyPoolStats {
    return {
      size: this.size,
      ready: this.#ready.length,
      inFlight: this.#inFlight,
      waiting: this.#waiters.length,
      hits: this.#hits,
      misses: this.#misses,
      generated: this.#generated,
      failures: this.#failures,
    };
  }

  // Generate while fewer keys are ready or coming than the pool size plus the waiting
  // take() calls, never more than `concurrency` at once.
  #refill(): void {
    while (
      !this.#closed &&
      this.#inFlight < this.concurrency &&
      this.#ready.length + this.#inFlight < this.size + this.#waiters.length
    ) {
      this.#startOne();
    }
  }

  #startOne(): void {
    this.#inFlight++;
    let generation: Promise<RsaKeyPair>;
    try {
      generation = this.#generate(this.bits);
    } catch (err) {
      generation = Promise.reject(err);
    }
    generation.then(
      (key) => this.#finished(key, undefined),
      (err: unknown) => this.#finished(undefined, err ?? new Error('key generation failed')),
    );
  }

  #finished(key: RsaKeyPair | undefined, error: unknown): void {
    this.#inFlight--;
    if (this.#closed) {
      if (this.#inFlight === 0) for (const done of this.#closers.splice(0)) done();
      return;
    }
    if (key) {
      this.#generated++;
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(key);
      else this.#ready.push(key);
      if (this.#ready.length >= this.size) {
        for (const w of this.#warmers.splice(0)) w.resolve();
      }
      this.#refill();
      return;
    }
    // A failure goes to the oldest waiter (or the warm() callers). Retry only while
    // someone is waiting, so a broken generator cannot spin; the next take() or warm()
    // starts refilling again.
    this.#failures++;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.reject(error);
    else for (const w of this.#warmers.splice(0)) w.reject(error);
    if (this.#waiters.length > 0) this.#refill();
  }
}

function closedError(action: string): KeyPoolError {
  return new KeyPoolError(
    'ERR_KEY_POOL_CLOSED',
    `cannot ${action} a closed key pool: create a new KeyPool or generate the key directly`,
  );
}
