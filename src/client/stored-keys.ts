// RSA keys for format = "tahoe", generated ahead and kept in the client directory
// (`private/keys/`, one PKCS#8 DER file per key, mode 0600), so a burst of up to
// `key-pool-size` new files — also right after a restart, or from a one-shot command —
// costs no key generation (~100 ms of CPU each). Each key is used once: its file is
// deleted before the key is handed out, so a crash can lose a key but never reuse one.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { generateRsaKeyPair, keyPairFromPrivateKey, type RsaKeyPair } from '../crypto/rsa.js';

export interface StoredKeyPoolOptions {
  /** The folder the keys are kept in (created, mode 0700). */
  dir: string;
  /** Keys generated ahead up to this many; 0 generates none (stored ones are still used). */
  size: number;
  /** Generations at once in the background (default 1: leaves CPU for everything else). */
  concurrency?: number;
  generate?: () => Promise<RsaKeyPair>;
  warn?: (message: string) => void;
}

export interface StoredKeyPoolStats {
  size: number;
  ready: number;
  inFlight: number;
  /** take() calls answered from a stored key / that had to generate one. */
  hits: number;
  misses: number;
}

const KEY_FILE = /^[0-9a-f]{24}\.der$/;

export class StoredKeyPool {
  readonly #stored: Array<{ file: string; key: RsaKeyPair }> = [];
  #inFlight = 0;
  #closed = false;
  #hits = 0;
  #misses = 0;
  readonly #idle: Array<() => void> = [];

  private constructor(
    private readonly o: Required<Omit<StoredKeyPoolOptions, 'warn'>> &
      Pick<StoredKeyPoolOptions, 'warn'>,
  ) {}

  /**
   * Loads the stored keys (dropping unreadable ones) and starts refilling. Keys beyond
   * `size` (a smaller pool than the last run's, or a one-shot command with size 0) are
   * kept and used first, never generated.
   */
  static async open(options: StoredKeyPoolOptions): Promise<StoredKeyPool> {
    const pool = new StoredKeyPool({
      concurrency: 1,
      generate: () => generateRsaKeyPair(2048),
      ...options,
    });
    await fs.mkdir(options.dir, { recursive: true, mode: 0o700 });
    for (const name of (await fs.readdir(options.dir)).sort()) {
      const file = join(options.dir, name);
      if (!KEY_FILE.test(name)) {
        // A temporary file of a write that was interrupted.
        if (name.startsWith('.tmp-')) await fs.rm(file, { force: true });
        continue;
      }
      try {
        pool.#stored.push({ file, key: keyPairFromPrivateKey(await fs.readFile(file)) });
      } catch (err) {
        options.warn?.(`slotfs: dropping unreadable stored key ${file}: ${(err as Error).message}`);
        await fs.rm(file, { force: true });
      }
    }
    pool.#refill();
    return pool;
  }

  /** A key never handed out before: a stored one if any (its file deleted first), else a new one. */
  async take(): Promise<RsaKeyPair> {
    const stored = this.#stored.shift();
    if (!stored) {
      this.#misses++;
      const key = await this.o.generate();
      this.#refill();
      return key;
    }
    this.#hits++;
    await fs.rm(stored.file, { force: true });
    this.#refill();
    return stored.key;
  }

  /** Resolves once no generation is running (tests and benchmarks: the pool is full). */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((ok) => this.#idle.push(ok));
  }

  get stats(): StoredKeyPoolStats {
    return {
      size: this.o.size,
      ready: this.#stored.length,
      inFlight: this.#inFlight,
      hits: this.#hits,
      misses: this.#misses,
    };
  }

  /** Stops refilling; a generation still running is discarded (nothing half-written stays). */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #refill(): void {
    while (
      !this.#closed &&
      this.#inFlight < this.o.concurrency &&
      this.#stored.length + this.#inFlight < this.o.size
    ) {
      this.#inFlight++;
      this.#generateOne().then(
        () => {
          this.#inFlight--;
          this.#refill();
          if (this.#inFlight === 0) for (const ok of this.#idle.splice(0)) ok();
        },
        (err: unknown) => {
          this.#inFlight--;
          // No retry here (a broken generator must not spin): the next take() refills.
          this.o.warn?.(`slotfs: generating a key ahead failed: ${(err as Error).message}`);
          if (this.#inFlight === 0) for (const ok of this.#idle.splice(0)) ok();
        },
      );
    }
  }

  async #generateOne(): Promise<void> {
    const key = await this.o.generate();
    if (this.#closed) return;
    const name = `${randomBytes(12).toString('hex')}.der`;
    const temp = join(this.o.dir, `.tmp-${name}`);
    // Written whole under a temporary name, then renamed: a stored key is always complete.
    await fs.writeFile(temp, key.privateKeyDer, { mode: 0o600 });
    await fs.rename(temp, join(this.o.dir, name));
    if (this.#closed) return; // kept on disk for the next run
    this.#stored.push({ file: join(this.o.dir, name), key });
  }
}
