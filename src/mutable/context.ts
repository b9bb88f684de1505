// What every mutable operation needs to know about one file and the grid: its keys,
// the servers in permuted order, and per-server secrets.
import {
  clientCancelSecret,
  clientRenewalSecret,
  ed25519WriteEnablerMaster,
  fileCancelSecret,
  fileRenewalSecret,
  leaseCancelSecret,
  leaseRenewSecret,
  TAGS,
  ED25519_TAGS,
  writeEnablerMaster,
} from '../crypto/derive.js';
import { taggedPairHash } from '../crypto/hash.js';
import { toHex } from '../encoding/bytes.js';
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

/** The per-file halves of the slot secrets, and the per-server results so far. */
interface FileSecrets {
  renew: Uint8Array;
  cancel: Uint8Array;
  enablerMaster: Uint8Array;
  servers: Map<StorageClient, SlotSecrets>;
}

// A publish sends secrets to every server, and each takes three to five tagged hashes
// to derive from scratch. The client-level and per-file steps are the same for every
// server, so they are made once: per lease secret (a client has one), and per context.
const clientSecrets = new Map<string, { renew: Uint8Array; cancel: Uint8Array }>();
const fileSecrets = new WeakMap<FileContext, FileSecrets>();

function clientSecretsOf(leaseSecret: Uint8Array): { renew: Uint8Array; cancel: Uint8Array } {
  const key = toHex(leaseSecret);
  let found = clientSecrets.get(key);
  if (!found) {
    found = { renew: clientRenewalSecret(leaseSecret), cancel: clientCancelSecret(leaseSecret) };
    if (clientSecrets.size >= 16) clientSecrets.clear();
    clientSecrets.set(key, found);
  }
  return found;
}

/**
 * Write enabler and lease secrets for one server; needs the writekey. The same values as
 * leaseSecretsFor and scheduleWriteEnabler (src/crypto/derive.ts), remembered per context:
 * the caller must not change the bytes.
 */
export function slotSecrets(ctx: FileContext, server: StorageClient): SlotSecrets {
  const writekey = ctx.keys.writekey;
  if (!writekey) throw new Error('slot secrets need the writekey');
  let file = fileSecrets.get(ctx);
  if (!file) {
    const client = clientSecretsOf(ctx.leaseSecret);
    const si = ctx.keys.storageIndex;
    file = {
      renew: fileRenewalSecret(client.renew, si),
      cancel: fileCancelSecret(client.cancel, si),
      enablerMaster:
        ctx.keys.format === 'ed25519'
          ? ed25519WriteEnablerMaster(writekey)
          : writeEnablerMaster(writekey),
      servers: new Map(),
    };
    fileSecrets.set(ctx, file);
  }
  let secrets = file.servers.get(server);
  if (!secrets) {
    const tag = ctx.keys.format === 'ed25519' ? ED25519_TAGS.writeEnabler : TAGS.writeEnabler;
    secrets = {
      writeEnabler: taggedPairHash(tag, file.enablerMaster, server.serverId),
      leaseRenewSecret: leaseRenewSecret(file.renew, server.serverId),
      leaseCancelSecret: leaseCancelSecret(file.cancel, server.serverId),
    };
    file.servers.set(server, secrets);
  }
  return secrets;
}

/** A one-line reason for a failed request, for servermaps and error messages. */
export function describeError(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') {
    return `${err.code}: ${err instanceof Error ? err.message : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
