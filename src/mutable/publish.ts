// Publish (tahoe-formats.md §11.4), one read-test-write per server carrying all the share
// numbers placed there. Each share's test is what this client last saw in it — the
// checkstring of the version being replaced, or "no share" — so a change made by anybody
// else makes the test fail instead of being overwritten: that is how a colliding write
// is detected. Shares whose server fails are placed on the next unused servers.
import { equalBytes, toHex } from '../encoding/bytes.js';
import type { StorageClient, TestWriteVectors } from '../grid/storage-client.js';
import { buildShares, type BuiltVersion } from '../sdmf/build.js';
import { CHECKSTRING_SIZE } from '../sdmf/layout.js';
import type { RsaKeyPair } from '../crypto/rsa.js';
import { describeError, slotSecrets, type FileContext } from './context.js';
import {
  NotEnoughServersError,
  UncoordinatedWriteError,
  type CollidingVersion,
  type ServerOutcome,
} from './errors.js';
import { planPlacement } from './placement.js';

/** What this client believes each server holds: share number → its first 57 bytes. */
export type ExpectedShares = Map<StorageClient, Map<number, Uint8Array>>;

export interface PublishInput {
  ctx: FileContext;
  keys: RsaKeyPair;
  plaintext: Uint8Array;
  seqnum: number;
  k: number;
  N: number;
  /** Current contents as last seen; unknown (server, share) pairs are tested as absent. */
  expected: ExpectedShares;
  /** Servers whose shares may be written (permuted order); by default all. */
  servers?: readonly StorageClient[];
  /** Distinct share numbers that must be placed for success. */
  happy: number;
  /** Servers known to be failing in this operation. */
  exclude?: ReadonlySet<StorageClient>;
}

export interface PublishResult {
  version: BuiltVersion;
  /** Server → share numbers now holding this version. */
  placed: Map<StorageClient, number[]>;
}

const NO_SHARE = new Uint8Array(0);

export async function publishVersion(input: PublishInput): Promise<PublishResult> {
  const { ctx, expected, N } = input;
  const version = buildShares(input.plaintext, input.keys, input.seqnum, input.k, N);
  const servers = input.servers ?? ctx.permuted;
  const failed = new Set<StorageClient>(input.exclude ?? []);
  const placed = new Map<StorageClient, number[]>();
  const collisions: CollidingVersion[] = [];
  const outcomes = new Map<StorageClient, string>();

  const existing = new Map<StorageClient, number[]>();
  for (const [server, shares] of expected) existing.set(server, [...shares.keys()]);
  let plan = planPlacement({ permuted: servers, N, existing, exclude: failed });

  const writeTo = async (server: StorageClient, numbers: number[]): Promise<void> => {
    const seen = expected.get(server) ?? new Map<number, Uint8Array>();
    const vectors = new Map<number, TestWriteVectors>();
    for (const n of numbers) {
      const share = version.shares[n];
      const old = seen.get(n);
      vectors.set(n, {
        // (0, 1, "") passes only for an absent or empty share; (0, 57, old) only if unchanged.
        test: [
          old
            ? { offset: 0, size: CHECKSTRING_SIZE, specimen: old }
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
      for (const [n, [checkstring = NO_SHARE]] of answer.data) {
        const writing = vectors.has(n);
        const old = seen.get(n);
        const unchanged = old ? equalBytes(checkstring, old) : checkstring.length === 0;
        if ((writing && !answer.success && !unchanged) || (!writing && !unchanged)) {
          collisions.push(describeShare(server, n, checkstring));
        }
      }
      if (!answer.success) {
        // A test failed with no share looking changed: a share appeared where none was.
        if (!collisions.some((c) => c.server === server.name)) {
          for (const n of numbers)
            if (!answer.data.has(n)) collisions.push(describeShare(server, n, NO_SHARE));
        }
        outcomes.set(server, 'test failed: another writer changed the file');
        return;
      }
      placed.set(server, [...(placed.get(server) ?? []), ...numbers]);
      outcomes.set(server, `wrote shares ${numbers.join(',')}`);
    } catch (err) {
      failed.add(server);
      outcomes.set(server, describeError(err));
    }
  };

  for (let wave = 0; ; wave++) {
    await Promise.all([...plan].map(([server, numbers]) => writeTo(server, numbers)));
    if (collisions.length > 0) break;
    const homeless = missingShares(N, placed);
    const fresh = servers.filter((s) => !failed.has(s) && !placed.has(s) && !expected.has(s));
    if (homeless.length === 0 || fresh.length === 0 || wave > N) break;
    // Place the shares of failed servers on servers not used yet, which we test as empty.
    plan = new Map();
    homeless.forEach((n, i) => {
      const server = fresh[i % fresh.length];
      plan.set(server, [...(plan.get(server) ?? []), n]);
    });
    for (const s of plan.keys()) expected.set(s, new Map());
  }

  if (collisions.length > 0) {
    throw new UncoordinatedWriteError(ctx.siText, collisions, input.seqnum);
  }
  const distinct = N - missingShares(N, placed).length;
  if (distinct < Math.min(input.happy, N)) {
    const list: ServerOutcome[] = servers.map((s) => ({
      server: s.name,
      outcome: outcomes.get(s) ?? (failed.has(s) ? 'failed earlier' : 'not used'),
    }));
    throw new NotEnoughServersError(
      `publishing seqnum ${input.seqnum} of ${ctx.siText} placed ${distinct} of ${N} shares, fewer than the ${input.happy} required`,
      list,
    );
  }
  return { version, placed };
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
