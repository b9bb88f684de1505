// What every mutable operation needs to know about one file and the grid: its keys,
// the servers in permuted order, and per-server secrets.
import { leaseSecretsFor, scheduleWriteEnabler } from '../crypto/derive.js';
import { toBase32 } from '../encoding/base32.js';
import type { SlotSecrets, StorageClient } from '../grid/storage-client.js';
import { permutedServers } from '../grid/servers.js';
import type { ResolvedCapKeys } from '../sdmf/cap-keys.js';

export interface FileContext {
  keys: ResolvedCapKeys;
  /** base32 storage index, for messages and cache keys. */
  siText: string;
  /** All servers, in permuted order for this storage index. */
  permuted: StorageClient[];
  /** The client's 32-byte lease secret. */
  leaseSecret: Uint8Array;
  /**
   * True for a server that failed to answer lately (src/grid/server-health.ts): plan
   * around it — ask it last, do not place new shares on it — but still ask it when
   * nothing else will do.
   */
  away: (server: StorageClient) => boolean;
}

export function fileContext(
  keys: ResolvedCapKeys,
  servers: readonly StorageClient[],
  leaseSecret: Uint8Array,
  away: (server: StorageClient) => boolean = () => false,
): FileContext {
  return {
    keys,
    siText: toBase32(keys.storageIndex),
    permuted: permutedServers(
      servers.map((s) => ({ id: s.serverId, permutationSeed: s.permutationSeed, client: s })),
      keys.storageIndex,
    ).map((e) => e.client),
    leaseSecret,
    away,
  };
}

/** Write enabler and lease secrets for one server; needs the writekey. */
export function slotSecrets(ctx: FileContext, server: StorageClient): SlotSecrets {
  const writekey = ctx.keys.writekey;
  if (!writekey) throw new Error('slot secrets need the writekey');
  const lease = leaseSecretsFor(ctx.leaseSecret, ctx.keys.storageIndex, server.serverId);
  return {
    writeEnabler: scheduleWriteEnabler(ctx.keys.format, writekey, server.serverId),
    leaseRenewSecret: lease.renew,
    leaseCancelSecret: lease.cancel,
  };
}

/** A one-line reason for a failed request, for servermaps and error messages. */
export function describeError(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') {
    return `${err.code}: ${err instanceof Error ? err.message : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
