// Where each field of an SDMF share lies (tahoe-formats.md §5.4), so a fault can damage
// exactly one field of the share data a server returns. Pure: bytes in, ranges out.
import { HEADER_SIZE, parseHeader } from '../../sdmf/layout.js';

/** Fields a corruption fault can target. */
export const SHARE_FIELDS = [
  'version',
  'seqnum',
  'rootHash',
  'salt',
  'k',
  'N',
  'segsize',
  'datalen',
  'offsets',
  'verificationKey',
  'signature',
  'shareHashChain',
  'blockHashTree',
  'shareData',
  'encryptedPrivateKey',
] as const;

export type ShareFieldName = (typeof SHARE_FIELDS)[number];

/** Absolute byte range [start, end) of `field` in a share whose first bytes are `header`. */
export function shareFieldRange(header: Uint8Array, field: ShareFieldName): [number, number] {
  switch (field) {
    case 'version':
      return [0, 1];
    case 'seqnum':
      return [1, 9];
    case 'rootHash':
      return [9, 41];
    case 'salt':
      return [41, 57];
    case 'k':
      return [57, 58];
    case 'N':
      return [58, 59];
    case 'segsize':
      return [59, 67];
    case 'datalen':
      return [67, 75];
    case 'offsets':
      return [75, HEADER_SIZE];
  }
  const o = parseHeader(header.subarray(0, HEADER_SIZE)).offsets;
  switch (field) {
    case 'verificationKey':
      return [HEADER_SIZE, o.signature];
    case 'signature':
      return [o.signature, o.shareHashChain];
    case 'shareHashChain':
      return [o.shareHashChain, o.blockHashTree];
    case 'blockHashTree':
      return [o.blockHashTree, o.shareData];
    case 'shareData':
      return [o.shareData, o.encryptedPrivateKey];
    case 'encryptedPrivateKey':
      return [o.encryptedPrivateKey, o.eof];
  }
}

/**
 * A copy of `piece` — the bytes of a share from absolute offset `at` — with the byte in the
 * middle of `range` inverted, if that byte falls inside the piece. One flipped byte is
 * enough to break every hash or signature that covers it, and keeps lengths unchanged.
 */
export function corruptPiece(piece: Uint8Array, at: number, range: [number, number]): Uint8Array {
  const [start, end] = range;
  if (end <= start) return piece;
  const target = start + Math.floor((end - start) / 2);
  if (target < at || target >= at + piece.length) return piece;
  const out = piece.slice();
  out[target - at] ^= 0xff;
  return out;
}
