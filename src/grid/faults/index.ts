// Fault injection for tests: wrappers around real StorageClients (see faulty-client.ts).
import type { StorageClient } from '../storage-client.js';
import { FaultyStorageClient, type FaultyClientOptions } from './faulty-client.js';

export * from './faulty-client.js';
export { SHARE_FIELDS, shareFieldRange, type ShareFieldName } from './share-fields.js';

/** One wrapper per server, addressed by position or name. */
export class FaultGrid {
  readonly clients: FaultyStorageClient[];

  constructor(servers: readonly StorageClient[], options: FaultyClientOptions = {}) {
    this.clients = servers.map((s) => new FaultyStorageClient(s, options));
  }

  server(which: number | string | StorageClient): FaultyStorageClient {
    const found =
      typeof which === 'number'
        ? this.clients[which]
        : this.clients.find(
            (c) => c === which || c.name === (typeof which === 'string' ? which : which.name),
          );
    if (!found)
      throw new RangeError(`no server ${String(typeof which === 'object' ? which.name : which)}`);
    return found;
  }

  clearAll(): void {
    for (const c of this.clients) c.clear();
  }

  async snapshotAll(storageIndex: Uint8Array): Promise<void> {
    await Promise.all(this.clients.map((c) => c.snapshot(storageIndex)));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
  }
}
