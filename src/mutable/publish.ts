// Publish (tahoe-formats.md §11.4), one read-test-write per server carrying all the share
// numbers placed there. Each share's test is what this client last saw in it — the
// checkstring of the version being replaced, or "no share" — so a change made by anybody
// else makes the test fail instead of being overwritten: that is how a colliding write
// is detected.
//
// Beyond Tahoe: shares whose server fails are placed again, on servers not used yet or
// else doubled up on servers that took shares (so every share number exists); the home
// server keeps an extra copy (the N+1th share); and when the plan moved shares to servers
// that hold none (rebalancing), the old copies are deleted — tested against what they
// held — only after the new version is placed.
import { equalBytes, toHex } from '../encoding/bytes.js';
import type { StorageClient, TestWriteVectors } from '../grid/storage-client.js';
import type { BuiltVersion } from '../sdmf/build.js';
import { buildSharesAsync } from './share-builder.js';
import { CHECKSTRING_SIZE } from '../sdmf/layout.js';
import type { SigningKeys } from '../sdmf/build.js';
import { describeError, slotSecrets, type FileContext } from './context.js';
import {
  NotEnoughServersError,
  UncoordinatedWriteError,
  type CollidingVersion,
  type ServerOutcome,
} from './errors.js';
import { happiness, planPlacement } from './placement.js';

/** What this client believes each server holds: share number → its first 57 bytes. */
export type ExpectedShares = Map<StorageClient, Map<number, Uint8Array>>;

export interface PublishInput {
  ctx: FileContext;
  keys: SigningKeys;
  plaintext: Uint8Array;
  seqnum: number;
  k: number;
  N: number;
  /** Current contents as last seen; unknown (server, share) pairs are tested as absent. */
  expected: ExpectedShares;
  /** Servers whose shares may be written (permuted order); by default all. */
  servers?: readonly StorageClient[];
  /**
   * Servers-of-happiness required for success (capped at N and at the number of servers
   * the client knows): that many servers must each hold a different share number.
   */
  happy: number;
  /** Servers known to be failing in this operation. */
  exclude?: ReadonlySet<StorageClient>;
  /** Where the extra (N+1th) share goes; default the first usable server; null: nowhere. */
  home?: StorageClient | null;
  /** Also require every share number 0…N−1 to be placed (recovery's "N shares"). */
  requireAllShares?: boolean;
}

export interface PublishResult {
  version: BuiltVersion;
  /** Server → share numbers now holding this version. */
  placed: Map<StorageClient, number[]>;
  /** The server holding the extra copy, if one was placed. */
  home?: StorageClient;
  happiness: number;
  /** Surplus copies deleted after the version was placed (rebalancing). */
  deleted: Array<{ server: StorageClient; shareNumber: number }>;
}

const NO_SHARE = new Uint8Array(0);

export async function publishVersion(input: PublishInput): Promise<PublishResult> {
  const { ctx, N } = input;
  const version = await buildSharesAsync(input.plaintext, input.keys, input.seqnum, input.k, N);
  const servers = input.servers ?? ctx.permuted;
  const position = new Map(servers.map((s, i) => [s, i]));
  const failed = new Set<StorageClient>(input.exclude ?? []);
  // What each server holds as far as this publish knows, updated as our writes land.
  const seen: ExpectedShares = new Map();
  for (const [server, shares] of input.expected) seen.set(server, new Map(shares));
  const placed = new Map<StorageClient, number[]>();
  const collisions: CollidingVersion[] = [];
  const outcomes = new Map<StorageClient, string>();

  // Per server, the checkstrings this publish expects to replace there: another share on
  // that server holding one of them (a reader's hint lists one share per server, missing
  // the home's extra copy) is a copy to overwrite, not another writer's work. Only on the
  // same server: elsewhere, a version seen on one server is still news on another.
  const replacing = new Map(
    [...seen].map(([server, m]) => [server, new Set([...m.values()].map(toHex))]),
  );
  const retry = new Map<StorageClient, number[]>();
  const existing = new Map([...seen].map(([s, m]) => [s, [...m.keys()]]));
  const plan = planPlacement({ permuted: servers, N, existing, exclude: failed, home: input.home });
  let home = plan.home;

  const writeTo = async (server: StorageClient, numbers: number[]): Promise<void> => {
    const held = seen.get(server) ?? new Map<number, Uint8Array>();
    const vectors = new Map<number, TestWriteVectors>();
    for (const n of numbers) {
      const share = version.shares[n];
      const old = held.get(n);
      vectors.set(n, {
        // (0, 1, "") passes only for an absent or empty share; (0, 57, old) only if unchanged.
        test: [
          old?.length
            ? { offset: 0, size: old.length, specimen: old }
            : { offset: 0, size: 1, specimen: NO_SHARE },
        ],
        write: [{ offset: 0, data: share }],
        // Truncate what an older, longer version left behind.
        newLength: share.length,
      });
    }
    try {
      const answer = await server.readTestWrite(
        ctx.keys.storageIndex,
        slotSecrets(ctx, server),
        vectors,
        [{ offset: 0, size: CHECKSTRING_SIZE }],
      );
      const unknownCopies: number[] = [];
      let surprises = 0;
      for (const [n, [checkstring = NO_SHARE]] of answer.data) {
        const writing = vectors.has(n);
        const old = held.get(n);
        const unchanged = old?.length ? startsWith(checkstring, old) : checkstring.length === 0;
        if (unchanged || (writing && answer.success)) continue;
        if (replacing.get(server)?.has(toHex(checkstring))) {
          held.set(n, checkstring);
          unknownCopies.push(n);
          continue;
        }
        collisions.push(describeShare(server, n, checkstring));
        surprises++;
      }
      seen.set(server, held);
      if (!answer.success) {
        if (surprises === 0 && unknownCopies.length > 0) {
          // Our tests were wrong about copies of the old version: again, with the right ones.
          retry.set(
            server,
            [...new Set([...numbers, ...unknownCopies])].sort((a, b) => a - b),
          );
          outcomes.set(server, 'found copies it did not know of; writing again');
          return;
        }
        // A test failed with no share looking changed: a share appeared where none was.
        if (surprises === 0) {
          for (const n of numbers)
            if (!answer.data.has(n)) collisions.push(describeShare(server, n, NO_SHARE));
        }
        outcomes.set(server, 'test failed: another writer changed the file');
        return;
      }
      if (unknownCopies.length > 0) retry.set(server, unknownCopies);
      for (const n of numbers) held.set(n, version.checkstring);
      seen.set(server, held);
      placed.set(
        server,
        [...(placed.get(server) ?? []), ...numbers].sort((a, b) => a - b),
      );
      outcomes.set(server, `wrote shares ${placed.get(server)!.join(',')}`);
    } catch (err) {
      failed.add(server);
      outcomes.set(server, describeError(err));
    }
  };

  let wave = plan.writes;
  for (let round = 0; ; round++) {
    await Promise.all([...wave].map(([server, numbers]) => writeTo(server, numbers)));
    if (collisions.length > 0 || round > N) break;
    wave = new Map(retry);
    retry.clear();
    const add = (server: StorageClient, n: number) =>
      wave.set(server, [...(wave.get(server) ?? []), n]);
    // Shares of failed servers: to servers not used yet (tested as empty), else doubled
    // up on the least-loaded server that took shares.
    const fresh = servers.filter((s) => !failed.has(s) && !placed.has(s) && !seen.get(s)?.size);
    const pending = new Set([...wave.values()].flat());
    missingShares(N, placed)
      .filter((n) => !pending.has(n))
      .forEach((n, i) => {
        if (fresh.length > 0) return add(fresh[i % fresh.length], n);
        const load = (s: StorageClient) =>
          (placed.get(s)?.length ?? 0) + (wave.get(s)?.length ?? 0);
        const target = [...placed.keys()]
          .filter((s) => !failed.has(s))
          .sort((a, b) => load(a) - load(b) || position.get(a)! - position.get(b)!)[0];
        if (target) add(target, n);
      });
    // The home failed: the first server that took shares keeps the extra copy instead.
    if (plan.extra !== undefined && (home === undefined || failed.has(home))) {
      home = servers.find((s) => placed.has(s) && !failed.has(s));
      if (home) {
        const have = new Set([...placed.get(home)!, ...(wave.get(home) ?? [])]);
        const extra = [...Array(N).keys()].find((n) => !have.has(n));
        if (extra !== undefined) add(home, extra);
      }
    }
    if (wave.size === 0) break;
  }

  if (collisions.length > 0) {
    throw new UncoordinatedWriteError(ctx.siText, collisions, input.seqnum, version.rootHash);
  }
  const achieved = happiness(placed);
  const required = Math.min(input.happy, N, ctx.permuted.length);
  const missing = missingShares(N, placed);
  if (achieved < required || (input.requireAllShares && missing.length > 0)) {
    const list: ServerOutcome[] = servers.map((s) => ({
      server: s.name,
      outcome: outcomes.get(s) ?? (failed.has(s) ? 'failed earlier' : 'not used'),
    }));
    throw new NotEnoughServersError(
      `publishing seqnum ${input.seqnum} of ${ctx.siText} placed ${N - missing.length} of ${N} share numbers on ${achieved} servers that each hold a different one; ${required} such servers${input.requireAllShares ? ' and all share numbers' : ''} are required`,
      list,
    );
  }
  const deleted = await deleteSurplus(ctx, plan.surplus, placed, seen, failed);
  return {
    version,
    placed,
    home: home && placed.has(home) ? home : undefined,
    happiness: achieved,
    deleted,
  };
}

/**
 * Deletes the old copies the plan moved or dropped, once the new version is placed: only
 * where that share number now lives on another server, and only if the copy still holds
 * what this publish saw there (new length 0, tested). Best effort: a failure leaves a
 * harmless old copy for the next publish to deal with.
 */
async function deleteSurplus(
  ctx: FileContext,
  surplus: ReadonlyArray<{ server: StorageClient; shareNumber: number }>,
  placed: Map<StorageClient, number[]>,
  seen: ExpectedShares,
  failed: ReadonlySet<StorageClient>,
): Promise<Array<{ server: StorageClient; shareNumber: number }>> {
  const byServer = new Map<StorageClient, Map<number, TestWriteVectors>>();
  for (const { server, shareNumber: n } of surplus) {
    if (failed.has(server) || placed.get(server)?.includes(n)) continue;
    if (![...placed].some(([s, numbers]) => s !== server && numbers.includes(n))) continue;
    const old = seen.get(server)?.get(n);
    if (!old?.length) continue;
    const vectors = byServer.get(server) ?? new Map<number, TestWriteVectors>();
    vectors.set(n, {
      test: [{ offset: 0, size: old.length, specimen: old }],
      write: [],
      newLength: 0,
    });
    byServer.set(server, vectors);
  }
  const deleted: Array<{ server: StorageClient; shareNumber: number }> = [];
  await Promise.all(
    [...byServer].map(async ([server, vectors]) => {
      try {
        const answer = await server.readTestWrite(
          ctx.keys.storageIndex,
          slotSecrets(ctx, server),
          vectors,
          [],
        );
        if (answer.success)
          for (const n of vectors.keys()) deleted.push({ server, shareNumber: n });
      } catch {
        // left for the next publish
      }
    }),
  );
  return deleted;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length >= prefix.length && equalBytes(bytes.subarray(0, prefix.length), prefix);
}

function missingShares(N: number, placed: Map<StorageClient, number[]>): number[] {
  const have = new Set([...placed.values()].flat());
  const out: number[] = [];
  for (let n = 0; n < N; n++) if (!have.has(n)) out.push(n);
  return out;
}

function describeShare(
  server: StorageClient,
  shareNumber: number,
  checkstring: Uint8Array,
): CollidingVersion {
  if (checkstring.length < CHECKSTRING_SIZE) {
    return { server: server.name, shareNumber, seqnum: null, rootHashHex: null };
  }
  const view = new DataView(checkstring.buffer, checkstring.byteOffset, checkstring.byteLength);
  return {
    server: server.name,
    shareNumber,
    seqnum: Number(view.getBigUint64(1)),
    rootHashHex: toHex(checkstring.subarray(9, 41)),
  };
}
