// The server list a client knows (servers.yaml) and the permuted ring over it
// (tahoe-formats.md §11.1): for a storage index SI, servers sorted by
// (not preferred, SHA-1(SI ‖ permutation seed)), plain SHA-1, not a tagged hash.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { fromBase32, toBase32 } from '../encoding/base32.js';
import { compareBytes, concatBytes } from '../encoding/bytes.js';
import { sha1 } from '../crypto/hash.js';
import { parseNurl } from '../storage/protocol.js';

/** One storage server as a client knows it. */
export interface ServerEntry {
  /** 20-byte node id: the server id in write enablers and lease secrets (§3.3). */
  readonly id: Uint8Array;
  /** Short human name for logs and errors (e.g. "server-3"). */
  readonly name: string;
  /** `pb://<spki hash>@<host>:<port>/<swissnum>#v=1` */
  readonly nurl: string;
  /** Bytes hashed with the SI to place this server on the ring; defaults to `id`. */
  readonly permutationSeed: Uint8Array;
}

export class ServersFileError extends Error {
  readonly code = 'ERR_SERVERS_FILE';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ServersFileError';
  }
}

export const SERVER_ID_LENGTH = 20;

/** The permutation key of one server for one storage index (§11.1). */
export function permutationKey(storageIndex: Uint8Array, seed: Uint8Array): Uint8Array {
  return sha1(concatBytes(storageIndex, seed));
}

/**
 * The servers in the order every algorithm walks them for `storageIndex`: preferred
 * servers (by base32 id) first, then by SHA-1(SI ‖ seed); ties (equal seeds) by id.
 */
export function permutedServers<S extends Pick<ServerEntry, 'id' | 'permutationSeed'>>(
  servers: readonly S[],
  storageIndex: Uint8Array,
  preferred: ReadonlySet<string> = new Set(),
): S[] {
  const keyed = servers.map((server) => ({
    server,
    notPreferred: preferred.has(toBase32(server.id)) ? 0 : 1,
    key: permutationKey(storageIndex, server.permutationSeed),
  }));
  keyed.sort(
    (a, b) =>
      a.notPreferred - b.notPreferred ||
      compareBytes(a.key, b.key) ||
      compareBytes(a.server.id, b.server.id),
  );
  return keyed.map((k) => k.server);
}

// servers.yaml:
//   servers:
//     <base32 node id>:
//       name: server-0
//       nurl: pb://…#v=1
//       permutation-seed: <base32>     (optional; defaults to the node id)

/** Parses the text of a servers file; `file` names it in errors. */
export function parseServersYaml(text: string, file = 'servers.yaml'): ServerEntry[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ServersFileError(file, `not valid YAML (${(err as Error).message})`);
  }
  if (!isRecord(doc) || !isRecord(doc.servers)) {
    throw new ServersFileError(file, 'expected a top-level `servers:` map of node id → server');
  }
  const extra = Object.keys(doc).filter((k) => k !== 'servers');
  if (extra.length)
    throw new ServersFileError(file, `unknown top-level key(s): ${extra.join(', ')}`);
  const entries: ServerEntry[] = [];
  for (const [idText, value] of Object.entries(doc.servers)) {
    const where = `server ${idText}`;
    const id = decodeBase32Field(file, where, 'id', idText);
    if (id.length !== SERVER_ID_LENGTH) {
      throw new ServersFileError(file, `${where}: a node id is 20 bytes (32 base32 characters)`);
    }
    if (!isRecord(value)) throw new ServersFileError(file, `${where}: expected a map`);
    const unknown = Object.keys(value).filter(
      (k) => !['name', 'nurl', 'permutation-seed'].includes(k),
    );
    if (unknown.length) {
      throw new ServersFileError(file, `${where}: unknown key(s) ${unknown.join(', ')}`);
    }
    const { name, nurl } = value;
    const seedText = value['permutation-seed'];
    if (typeof nurl !== 'string') {
      throw new ServersFileError(
        file,
        `${where}: nurl must be a string pb://<hash>@<host>:<port>/<swissnum>#v=1`,
      );
    }
    try {
      parseNurl(nurl);
    } catch (err) {
      throw new ServersFileError(file, `${where}: ${(err as Error).message}`);
    }
    if (name !== undefined && typeof name !== 'string') {
      throw new ServersFileError(file, `${where}: name must be a string`);
    }
    if (seedText !== undefined && typeof seedText !== 'string') {
      throw new ServersFileError(file, `${where}: permutation-seed must be a base32 string`);
    }
    entries.push({
      id,
      name: name ?? idText.slice(0, 8),
      nurl,
      permutationSeed:
        seedText === undefined ? id : decodeBase32Field(file, where, 'permutation-seed', seedText),
    });
  }
  if (entries.length === 0) throw new ServersFileError(file, 'lists no servers');
  return entries;
}

export async function readServersFile(file: string): Promise<ServerEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ServersFileError(
      file,
      `cannot read it (${(err as Error).message}); run \`slotfs grid up\` to create a local grid`,
    );
  }
  return parseServersYaml(text, file);
}

export function formatServersYaml(servers: readonly ServerEntry[]): string {
  const map: Record<string, Record<string, string>> = {};
  for (const s of servers) {
    const entry: Record<string, string> = { name: s.name, nurl: s.nurl };
    if (compareBytes(s.permutationSeed, s.id) !== 0) {
      entry['permutation-seed'] = toBase32(s.permutationSeed);
    }
    map[toBase32(s.id)] = entry;
  }
  return (
    '# Storage servers this client uses: node id (base32) → NURL. Written by `slotfs grid up`.\n' +
    stringifyYaml({ servers: map }, { lineWidth: 0 })
  );
}

function decodeBase32Field(file: string, where: string, field: string, text: string): Uint8Array {
  try {
    return fromBase32(text);
  } catch (err) {
    throw new ServersFileError(
      file,
      `${where}: ${field} is not base32 (${(err as Error).message})`,
    );
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
