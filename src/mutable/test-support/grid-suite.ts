// The set-up the mutable tests on a real grid share: one grid of server processes for the
// whole test file, a key pool, the test's own storage clients, and MutableClients made per
// test (each with a fresh cache unless told otherwise); everything is undone after the
// tests, also when they fail.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientCache } from '../../cache/client-cache.js';
import { KeyPool } from '../../crypto/keypool.js';
import type { HttpStorageClient } from '../../grid/http-client.js';
import type { StorageClient } from '../../grid/storage-client.js';
import {
  MutableClient,
  newLeaseSecret,
  type FileFormat,
  type MutableClientOptions,
} from '../mutable-client.js';
import { FORMATS, serialFor } from './formats.js';
import { TestGrid } from './test-grid.js';

export interface SuiteClientOptions extends Partial<MutableClientOptions> {
  /** No local cache: a client that has seen nothing (a cold reader). */
  noCache?: boolean;
}

export class GridSuite {
  readonly keys: KeyPool;
  private started: TestGrid | undefined;
  private directClients: HttpStorageClient[] | undefined;
  private readonly cleanups: Array<() => Promise<unknown>> = [];

  /**
   * Registers the file's before and after hooks: `servers` server processes; RSA keys made
   * `keyConcurrency` at a time (more is faster, but competes with the servers for the cores);
   * `onStart` runs once the grid is up (ava runs a file's before hooks concurrently, so what
   * needs the grid goes there rather than into another hook).
   */
  constructor(
    servers: number,
    options: { keyConcurrency?: number; onStart?: (grid: TestGrid) => Promise<void> } = {},
  ) {
    this.keys = new KeyPool({ size: 4, concurrency: options.keyConcurrency ?? 1 });
    test.before(async () => {
      this.started = await TestGrid.start(servers);
      await options.onStart?.(this.started);
    });
    test.after.always(async () => {
      for (const c of this.cleanups.reverse()) await c().catch(() => undefined);
      await this.keys.close();
      await this.started?.stop();
    });
  }

  get grid(): TestGrid {
    if (!this.started) throw new Error('the grid starts in test.before');
    return this.started;
  }

  /** The storage clients of the test itself (inspecting and damaging servers directly). */
  get direct(): HttpStorageClient[] {
    if (!this.directClients) {
      const clients = this.grid.clients();
      this.onCleanup(() => Promise.allSettled(clients.map((c) => c.close())));
      this.directClients = clients;
    }
    return this.directClients;
  }

  /** Runs `cleanup` after the tests, the last one registered first. */
  onCleanup(cleanup: () => Promise<unknown>): void {
    this.cleanups.push(cleanup);
  }

  /**
   * A connected MutableClient over `servers` with keys from the pool and, unless `noCache`
   * or a `cache` is given, a cache of its own in a fresh directory.
   */
  async client(
    servers: StorageClient[],
    options: SuiteClientOptions = {},
  ): Promise<{ client: MutableClient; cache?: ClientCache }> {
    const { noCache, ...rest } = options;
    const cache = noCache ? undefined : (rest.cache ?? (await this.freshCache()));
    const client = new MutableClient({
      servers,
      leaseSecret: newLeaseSecret(),
      keys: this.keys,
      ...rest,
      cache,
    });
    await client.connect();
    return { client, cache };
  }

  private async freshCache(): Promise<ClientCache> {
    const dir = await mkdtemp(join(tmpdir(), 'slotfs-mutable-'));
    const cache = await ClientCache.open(join(dir, 'cache'), { warn: () => undefined });
    this.onCleanup(async () => {
      await cache.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    });
    return cache;
  }
}

type Register = ReturnType<typeof serialFor>;

/**
 * The tests that `body` registers, once per format; `serial` titles them `title [format]`.
 * (SLOTFS_FORMATS narrows the formats: see formats.ts.)
 */
export function eachFormat(body: (format: FileFormat, serial: Register) => void): void {
  for (const format of FORMATS) body(format, serialFor(format));
}
