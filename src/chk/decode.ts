// Verifying immutable shares and decoding the file (Tahoe's immutable download, done on whole
// shares). Every block is checked before use: block hashes → block hash tree root → share
// hash chain → the UEB's share_root_hash (the UEB being pinned by the cap). The decoded
// ciphertext is checked against the UEB's crypttext root before it is decrypted.
import { decode } from '../codec/index.js';
import type { ImmutableCap } from '../caps/types.js';
import { aesCtr } from '../crypto/aes.js';
import { TAGS } from '../crypto/derive.js';
import { taggedHash } from '../crypto/hash.js';
import { leafRowSize, treeRoot, verifyChain } from '../crypto/merkle.js';
import { concatBytes, equalBytes } from '../encoding/bytes.js';
import { ChkError } from './errors.js';
import { parseShareLayout, shareHashChainOf, uriExtensionOf } from './layout.js';
import type { UriExtension } from './uri-extension.js';

const CRYPTTEXT_SEGMENT_TAG = 'allmydata_crypttext_segment_v1';

export interface VerifiedChkShare {
  shareNumber: number;
  /** One block per segment, each checked against the share hash tree. */
  blocks: Uint8Array[];
}

/** Block sizes: every segment but the last is segmentSize/k bytes per share. */
export function blockSizes(ueb: UriExtension): { block: number; tail: number } {
  return { block: ueb.segmentSize / ueb.needed, tail: ueb.tailSegmentSize / ueb.needed };
}

/** The UEB bytes stored in a whole share (checked against the cap by parseUriExtension). */
export function uriExtensionBytes(share: Uint8Array, shareNumber?: number): Uint8Array {
  return uriExtensionOf(share, parseShareLayout(share, shareNumber), shareNumber);
}

/** Checks one whole share against the (cap-verified) UEB and returns its blocks. */
export function verifyChkShare(
  share: Uint8Array,
  shareNumber: number,
  ueb: UriExtension,
): VerifiedChkShare {
  if (!Number.isInteger(shareNumber) || shareNumber < 0 || shareNumber >= ueb.total) {
    throw new ChkError('ERR_CHK_LAYOUT', `share number ${shareNumber} is not below N=${ueb.total}`);
  }
  const layout = parseShareLayout(share, shareNumber);
  const { block, tail } = blockSizes(ueb);
  const blocks: Uint8Array[] = [];
  for (let i = 0; i < ueb.numSegments; i++) {
    const start = layout.data + i * block;
    const end = start + (i === ueb.numSegments - 1 ? tail : block);
    if (end > layout.crypttextHashTree || end > share.length) {
      throw new ChkError(
        'ERR_CHK_LAYOUT',
        `immutable share ${shareNumber}: block ${i} runs past the data section`,
        shareNumber,
      );
    }
    blocks.push(share.subarray(start, end));
  }
  const blockRoot = treeRoot(blocks.map((b) => taggedHash(TAGS.blockHash, b)));
  const chain = shareHashChainOf(share, layout);
  const leafIndex = leafRowSize(ueb.total) - 1 + shareNumber;
  const stored = chain.get(leafIndex);
  const ok =
    (!stored || equalBytes(stored, blockRoot)) &&
    verifyChain(ueb.shareRootHash, ueb.total, shareNumber, blockRoot, chain);
  if (!ok) {
    throw new ChkError(
      'ERR_CHK_SHARE_HASH',
      `immutable share ${shareNumber}: its blocks do not hash to the file's share root (corrupt share)`,
      shareNumber,
    );
  }
  return { shareNumber, blocks };
}

/**
 * Decodes segment `index` from k verified shares (distinct numbers) and returns its
 * ciphertext, without the tail padding.
 */
export function decodeSegment(
  ueb: UriExtension,
  shares: readonly VerifiedChkShare[],
  index: number,
): Uint8Array {
  const k = ueb.needed;
  const use = shares.slice(0, k);
  const pieces = decode(
    k,
    ueb.total,
    use.map((s) => s.blocks[index]),
    use.map((s) => s.shareNumber),
  );
  const segment = concatBytes(...pieces);
  const last = index === ueb.numSegments - 1;
  const length = last ? ueb.size - index * ueb.segmentSize : ueb.segmentSize;
  return segment.subarray(0, length);
}

/** The whole plaintext from at least k verified shares of distinct numbers. */
export function decodeChk(
  cap: ImmutableCap,
  ueb: UriExtension,
  shares: readonly VerifiedChkShare[],
): Uint8Array {
  const distinct = new Map(shares.map((s) => [s.shareNumber, s]));
  if (distinct.size < ueb.needed) {
    throw new RangeError(`decodeChk needs ${ueb.needed} distinct shares, got ${distinct.size}`);
  }
  const use = [...distinct.values()];
  const segments: Uint8Array[] = [];
  for (let i = 0; i < ueb.numSegments; i++) segments.push(decodeSegment(ueb, use, i));
  const root = treeRoot(segments.map((s) => taggedHash(CRYPTTEXT_SEGMENT_TAG, s)));
  if (!equalBytes(root, ueb.crypttextRootHash)) {
    throw new ChkError(
      'ERR_CHK_CRYPTTEXT_HASH',
      'the decoded ciphertext does not match the crypttext hash tree (the uploader wrote inconsistent shares)',
    );
  }
  return aesCtr(cap.key, concatBytes(...segments));
}
