// Retrieve (tahoe-formats.md §11.3): read one version from the shares a servermap found.
// Lowest share numbers first, exactly k at a time; the rest of a share that the first
// read did not cover is fetched in one parallel wave; every share is verified, a bad one
// is marked and replaced by the next.
import { concatBytes } from '../encoding/bytes.js';
import type { VersionInfo } from '../sdmf/build.js';
import { decodeSharesDetailed } from '../sdmf/decode.js';
import { ShareError } from '../sdmf/errors.js';
import { CHECKSTRING_SIZE } from '../sdmf/layout.js';
import { verifyShare } from '../sdmf/verify.js';
import { describeError, type FileContext } from './context.js';
import { UnrecoverableFileError } from './errors.js';
import type { ShareRecord, Servermap, VersionSummary } from './servermap.js';

export interface RetrievedVersion {
  plaintext: Uint8Array;
  version: VersionInfo;
  /** The records the plaintext was decoded from. */
  used: ShareRecord[];
}

export async function retrieveVersion(
  ctx: FileContext,
  map: Servermap,
  version: VersionSummary,
): Promise<RetrievedVersion> {
  const k = version.k;
  // Alternatives per share number, servers in permuted order.
  const byNumber = new Map<number, ShareRecord[]>();
  for (const r of version.shares) {
    const list = byNumber.get(r.shareNumber) ?? [];
    list.push(r);
    byNumber.set(r.shareNumber, list);
  }
  const good = new Map<number, { record: ShareRecord; bytes: Uint8Array }>();
  const numbers = [...byNumber.keys()].sort((a, b) => a - b);

  while (good.size < k) {
    // Pick the lowest share numbers still missing, one candidate each.
    const picks: ShareRecord[] = [];
    for (const n of numbers) {
      if (good.size + picks.length >= k) break;
      if (good.has(n)) continue;
      const candidate = byNumber.get(n)?.shift();
      if (candidate) picks.push(candidate);
    }
    if (picks.length === 0) break;
    const results = await Promise.all(picks.map((r) => completeAndVerify(ctx, map, r)));
    results.forEach((bytes, i) => {
      if (bytes) good.set(picks[i].shareNumber, { record: picks[i], bytes });
    });
  }
  if (good.size < k) {
    throw new UnrecoverableFileError(
      ctx.siText,
      `only ${good.size} of the k=${k} shares of seqnum ${version.seqnum} needed could be verified (${map.describeVersions()})`,
      map.outcomes(),
    );
  }
  const shares = new Map([...good].map(([n, g]) => [n, g.bytes]));
  const decoded = decodeSharesDetailed(ctx.keys, shares);
  return {
    plaintext: decoded.plaintext,
    version: decoded.version,
    used: [...good.values()].map((g) => g.record),
  };
}

/** The whole share, verified; or undefined after marking it bad in the map. */
async function completeAndVerify(
  ctx: FileContext,
  map: Servermap,
  record: ShareRecord,
): Promise<Uint8Array | undefined> {
  let bytes = record.bytes;
  const eof = record.prefix.offsets.eof;
  try {
    if (bytes.length < eof) {
      const rest = await record.server.readShare(
        ctx.keys.storageIndex,
        record.shareNumber,
        bytes.length,
        eof - bytes.length,
      );
      if (rest === null) throw new Error('the share disappeared from the server');
      bytes = concatBytes(bytes, rest);
      verifyShare(bytes, ctx.keys, record.shareNumber);
    }
    return bytes;
  } catch (err) {
    const reason = err instanceof ShareError ? `${err.field}: ${err.message}` : describeError(err);
    map.markBad({
      server: record.server,
      shareNumber: record.shareNumber,
      checkstring: bytes.slice(0, CHECKSTRING_SIZE),
      reason,
    });
    return undefined;
  }
}
