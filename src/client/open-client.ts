// Assembles a working client from a client directory: the servers file, one HTTP storage
// client per server, the LevelDB cache and, for format = "tahoe", a warm RSA key pool.
import { join } from 'node:path';
import { ClientCache } from '../cache/client-cache.js';
import { HttpStorageClient } from '../grid/http-client.js';
import { readServersFile } from '../grid/servers.js';
import { ServerHealth } from '../grid/server-health.js';
import { MutableClient } from '../mutable/mutable-client.js';
import { openClientDir, type ClientDir, type OpenClientDirOptions } from './client-dir.js';
import { StoredKeyPool } from './stored-keys.js';

export interface OpenClient {
  dir: ClientDir;
  client: MutableClient;
  servers: HttpStorageClient[];
  /** Which servers are away lately; the client plans its requests around them. */
  health: ServerHealth;
  cache: ClientCache;
  /** RSA keys kept ahead in CLIENTDIR/private/keys (format = "tahoe"). */
  keyPool: StoredKeyPool;
  close(): Promise<void>;
}

export interface OpenClientOptions extends OpenClientDirOptions {
  /**
   * RSA keys to generate ahead (overrides the config; 0 for one-shot commands that only
   * read). Only with format = "tahoe": Ed25519 keys cost ~0.1 ms and need no pool.
   */
  keyPoolSize?: number;
  /** Keys generated at once (default 1; the mount uses more to create many files fast). */
  keyPoolConcurrency?: number;
  warn?: (message: string) => void;
}

export async function openClient(
  dirPath?: string,
  options: OpenClientOptions = {},
): Promise<OpenClient> {
  const dir = await openClientDir(dirPath, options);
  const { config } = dir;
  const entries = await readServersFile(dir.serversFile);
  const servers = entries.map(
    (e) =>
      new HttpStorageClient(e, {
        timeouts: {
          connectMs: config.timeouts['connect-ms'],
          headersMs: config.timeouts['request-ms'],
          bodyMs: config.timeouts['request-ms'],
        },
      }),
  );
  const cache = await ClientCache.open(dir.cachePath, {
    maxDataBytes: config['cache-max-bytes'],
    warn: options.warn,
  });
  const keyPool = await StoredKeyPool.open({
    dir: join(dir.dir, 'private', 'keys'),
    size: config.format === 'tahoe' ? (options.keyPoolSize ?? config['key-pool-size']) : 0,
    concurrency: options.keyPoolConcurrency,
    warn: options.warn,
  });
  const health = new ServerHealth();
  let client: MutableClient;
  try {
    client = new MutableClient({
      servers,
      leaseSecret: dir.leaseSecret,
      cache,
      keys: keyPool,
      format: config.format,
      k: config.k,
      N: config.n,
      happy: config.happy,
      epsilon: config.epsilon,
      homeServer: config['home-server'],
      health,
    });
  } catch (err) {
    // A bad setting must not leave the cache locked or connections open.
    await keyPool.close();
    await Promise.allSettled(servers.map((s) => s.close()));
    await cache.close();
    throw err;
  }
  return {
    dir,
    client,
    servers,
    health,
    cache,
    keyPool,
    async close() {
      await keyPool.close();
      // Closing the connections ends any probe still waiting for an away server.
      await Promise.allSettled(servers.map((s) => s.close()));
      await health.settled();
      await cache.close();
    },
  };
}
