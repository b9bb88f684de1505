// Reading a file from whatever shares were fetched (tahoe-formats.md §5.5, §5.2): verify
// each, group by version, take the best version with at least k valid shares, decode,
// truncate and decrypt.
import { aesCtr } from '../crypto/aes.js';
import { scheduleDatakey } from '../crypto/derive.js';
import { compareBytes, toHex } from '../encoding/bytes.js';
import { decode, joinPieces } from '../codec/index.js';
import { resolveCapKeys, type SdmfCap } from './cap-keys.js';
import {
  NotEnoughSharesError,
  SdmfCapError,
  ShareError,
  type RejectedShare,
  type VersionTally,
} from './errors.js';
import { CHECKSTRING_SIZE } from './layout.js';
import { verifyShare, type VerifiedShare } from './verify.js';
import type { VersionInfo } from './build.js';

export interface DecodedFile {
  plaintext: Uint8Array;
  version: VersionInfo;
  /** The k share numbers decoded from (lowest first). */
  sharesUsed: number[];
  /** Valid shares of every version seen, best version first. */
  versions: VersionTally[];
  /** Shares that failed verification, with the reason. */
  rejected: RejectedShare[];
}

/** Decodes the best recoverable version; see decodeSharesDetailed. */
export function decodeShares(readCap: SdmfCap, shares: Map<number, Uint8Array>): Uint8Array {
  return decodeSharesDetailed(readCap, shares).plaintext;
}

/**
 * Verifies every share (key = the share number it was stored under), then decodes the best
 * version — highest seqnum, then highest root hash, then salt, as Tahoe ranks them — among
 * those with at least k valid shares, using the lowest share numbers.
 */
export function decodeSharesDetailed(
  readCap: SdmfCap,
  shares: Map<number, Uint8Array>,
): DecodedFile {
  const keys = resolveCapKeys(readCap);
  if (!keys.readkey) {
    throw new SdmfCapError(
      'ERR_SDMF_NEED_READKEY',
      'decoding needs a read or write cap; a verify cap cannot decrypt',
    );
  }
  const rejected: RejectedShare[] = [];
  const byVersion = new Map<string, VerifiedShare[]>();
  for (const [number, bytes] of shares) {
    try {
      const v = verifyShare(bytes, keys, number);
      const group = byVersion.get(v.versionKey) ?? [];
      group.push(v);
      byVersion.set(v.versionKey, group);
    } catch (error) {
      if (!(error instanceof ShareError)) throw error;
      rejected.push({ shareNumber: number, error });
    }
  }
  const groups = [...byVersion.values()]
    .map((g) => g.sort((a, b) => a.shareNumber - b.shareNumber))
    .sort((a, b) => compareVersions(b[0], a[0]));
  const versions: VersionTally[] = groups.map((g) => ({
    seqnum: g[0].share.seqnum,
    rootHashHex: toHex(g[0].share.rootHash),
    k: g[0].share.k,
    N: g[0].share.N,
    shareNumbers: g.map((v) => v.shareNumber),
  }));
  const best = groups.find((g) => g.length >= g[0].share.k);
  if (!best) throw notEnough(shares.size, versions, rejected);

  const first = best[0].share;
  const used = best.slice(0, first.k);
  let plaintext: Uint8Array = new Uint8Array(0);
  if (first.datalen > 0) {
    const pieces = decode(
      first.k,
      first.N,
      used.map((v) => v.share.shareData),
      used.map((v) => v.shareNumber),
    );
    const ciphertext = joinPieces(pieces, first.datalen);
    plaintext = aesCtr(scheduleDatakey(keys.format, first.salt, keys.readkey), ciphertext);
  }
  return {
    plaintext,
    version: {
      version: first.version,
      seqnum: first.seqnum,
      rootHash: first.rootHash.slice(),
      salt: first.salt.slice(),
      k: first.k,
      N: first.N,
      segsize: first.segsize,
      datalen: first.datalen,
      checkstring: first.signedPrefix.slice(0, CHECKSTRING_SIZE),
      signedPrefix: first.signedPrefix.slice(),
      signature: first.signature.slice(),
    },
    sharesUsed: used.map((v) => v.shareNumber),
    versions,
    rejected,
  };
}

/** Tahoe's ranking: seqnum, then root hash, then salt (the rest of the prefix breaks ties). */
function compareVersions(a: VerifiedShare, b: VerifiedShare): number {
  if (a.share.seqnum !== b.share.seqnum) return a.share.seqnum - b.share.seqnum;
  return compareBytes(a.share.signedPrefix.subarray(9), b.share.signedPrefix.subarray(9));
}

function notEnough(
  total: number,
  versions: VersionTally[],
  rejected: RejectedShare[],
): NotEnoughSharesError {
  const seen = versions.map(
    (v) =>
      `seqnum ${v.seqnum} (root ${v.rootHashHex.slice(0, 8)}…) has ${v.shareNumbers.length} valid of k=${v.k}: shares [${v.shareNumbers.join(', ')}]`,
  );
  const why = rejected.map((r) => `share ${r.shareNumber}: ${r.error.code} in ${r.error.field}`);
  return new NotEnoughSharesError(
    `no version has enough valid shares among the ${total} given. ` +
      (seen.length ? `Versions: ${seen.join('; ')}. ` : 'No valid share at all. ') +
      (why.length ? `Rejected: ${why.join('; ')}. ` : '') +
      'Fetch more shares from other servers.',
    versions,
    rejected,
  );
}
