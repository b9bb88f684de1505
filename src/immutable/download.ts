// Reading an immutable file: LIT caps from the cap itself, CHK files from the grid. Every
// server is asked which shares it holds (in parallel); then whole shares are fetched, k
// distinct share numbers at a time, spread over servers, until k verify — from any server
// that holds them, several per server if need be (a small grid, shares doubled up). A share
// that fails verification is reported to its server as corrupt and another is fetched.
import type { ImmutableCap, LiteralCap } from '../caps/types.js';
import {
  ChkError,
  decodeChk,
  parseUriExtension,
  uriExtensionBytes,
  verifyChkShare,
  type UriExtension,
  type VerifiedChkShare,
} from '../chk/index.js';
import { toBase32 } from '../encoding/base32.js';
import { permutedServers } from '../grid/servers.js';
import type { RequestOptions, StorageClient } from '../grid/storage-client.js';
import { ImmutableReadError } from './errors.js';

export interface ImmutableReadOptions extends RequestOptions {
  /** Called for each share found corrupt (after the server was told). */
  onCorruptShare?: (server: StorageClient, shareNumber: number, reason: string) => void;
  /**
   * Servers away lately (src/grid/server-health.ts): asked only when the others do not
   * hold k distinct shares, so a read does not wait for them needlessly.
   */
  away?: (server: StorageClient) => boolean;
}

export interface ImmutableReadResult {
  plaintext: Uint8Array;
  /** Where the verified shares came from. */
  sharesUsed: Array<{ server: string; shareNumber: number }>;
}

/** The contents of a LIT cap. */
export function readLiteral(cap: LiteralCap): Uint8Array {
  return cap.data;
}

function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') {
    return `${err.code}: ${err instanceof Error ? err.message : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

interface Candidate {
  server: StorageClient;
  shareNumber: number;
}

/** Downloads and verifies a CHK file. */
export async function readImmutable(
  cap: ImmutableCap,
  servers: readonly StorageClient[],
  options: ImmutableReadOptions = {},
): Promise<ImmutableReadResult> {
  const si = cap.storageIndex;
  const siText = toBase32(si);
  const k = cap.needed;
  const outcomes = new Map<StorageClient, string[]>();
  const note = (s: StorageClient, what: string) =>
    outcomes.set(s, [...(outcomes.get(s) ?? []), what]);
  const ordered = permutedServers(
    servers.map((s) => ({ id: s.serverId, permutationSeed: s.permutationSeed, client: s })),
    si,
  ).map((e) => e.client);

  const list = (from: StorageClient[]) =>
    Promise.all(
      from.map(async (server) => {
        try {
          const shares = await server.listImmutableShares(si, { signal: options.signal });
          note(server, shares.length ? `holds ${shares.join(',')}` : 'holds none');
          return shares.map((shareNumber) => ({ server, shareNumber }));
        } catch (err) {
          note(server, `list failed (${describe(err)})`);
          return [];
        }
      }),
    );
  const away = ordered.filter((s) => options.away?.(s) ?? false);
  const listed = await list(ordered.filter((s) => !away.includes(s)));
  if (away.length > 0 && new Set(listed.flat().map((c) => c.shareNumber)).size < k) {
    listed.push(...(await list(away)));
  }
  // Round-robin over servers in permuted order, so one wave spreads over many servers.
  const queue: Candidate[] = [];
  for (let i = 0; listed.some((l) => i < l.length); i++) {
    for (const l of listed) if (i < l.length) queue.push(l[i]);
  }

  // A whole share is at most the file's share of data plus hashes; the server truncates.
  const readLength = Math.min(2 ** 31 - 1, Math.ceil(cap.size / k) + (1 << 20));
  let ueb: UriExtension | undefined;
  const verified = new Map<number, VerifiedChkShare & { server: StorageClient }>();

  const corrupt = async (c: Candidate, reason: string) => {
    note(c.server, `share ${c.shareNumber} corrupt (${reason})`);
    await c.server
      .adviseCorruptImmutable(si, c.shareNumber, reason.slice(0, 1000), { signal: options.signal })
      .catch(() => false);
    options.onCorruptShare?.(c.server, c.shareNumber, reason);
  };

  const fetchOne = async (c: Candidate) => {
    let share: Uint8Array | null;
    try {
      share = await c.server.readImmutableShare(si, c.shareNumber, 0, readLength, {
        signal: options.signal,
      });
    } catch (err) {
      note(c.server, `read of share ${c.shareNumber} failed (${describe(err)})`);
      return;
    }
    if (!share) {
      note(c.server, `share ${c.shareNumber} vanished`);
      return;
    }
    try {
      if (!ueb) ueb = parseUriExtension(uriExtensionBytes(share, c.shareNumber), cap);
      if (verified.has(c.shareNumber)) return;
      verified.set(c.shareNumber, {
        ...verifyChkShare(share, c.shareNumber, ueb),
        server: c.server,
      });
    } catch (err) {
      if (err instanceof ChkError) await corrupt(c, err.message);
      else throw err;
    }
  };

  while (verified.size < k && queue.length > 0) {
    // The next wave: share numbers not yet verified, distinct, up to what is missing.
    const wave: Candidate[] = [];
    const numbers = new Set<number>();
    const busy = new Set<StorageClient>();
    for (let i = 0; i < queue.length && wave.length < k - verified.size; i++) {
      const c = queue[i];
      if (verified.has(c.shareNumber) || numbers.has(c.shareNumber)) continue;
      // Prefer other servers first; a server's second share waits for a later wave
      // unless no other server can help.
      if (
        busy.has(c.server) &&
        queue.some(
          (o, j) =>
            j > i &&
            !busy.has(o.server) &&
            !numbers.has(o.shareNumber) &&
            !verified.has(o.shareNumber),
        )
      )
        continue;
      wave.push(c);
      numbers.add(c.shareNumber);
      busy.add(c.server);
    }
    if (wave.length === 0) break;
    for (const c of wave) queue.splice(queue.indexOf(c), 1);
    await Promise.all(wave.map(fetchOne));
    // Drop candidates whose number is now verified.
    for (let i = queue.length - 1; i >= 0; i--)
      if (verified.has(queue[i].shareNumber)) queue.splice(i, 1);
  }

  if (verified.size < k || !ueb) {
    throw new ImmutableReadError(
      siText,
      k,
      verified.size,
      ordered.map((s) => ({
        name: s.name,
        outcome: (outcomes.get(s) ?? ['not asked']).join(', '),
      })),
    );
  }
  const use = [...verified.values()].slice(0, k);
  return {
    plaintext: decodeChk(cap, ueb, use),
    sharesUsed: use.map((v) => ({ server: v.server.name, shareNumber: v.shareNumber })),
  };
}
