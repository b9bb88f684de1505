// An immutable share's layout (Tahoe's immutable/layout.py): a header of offsets (v1: 4-byte
// fields, v2: 8-byte), the blocks (one per segment), the plaintext hash tree (unused), the
// crypttext hash tree, the block hash tree, the share hash chain (pairs of a 2-byte node
// index and a 32-byte hash), then the URI extension block behind its length.
import { ChkError } from './errors.js';

export interface ShareLayout {
  version: 1 | 2;
  /** Bytes of every block but the last (as the writer recorded; not trusted). */
  blockSize: number;
  data: number;
  crypttextHashTree: number;
  blockHashes: number;
  shareHashes: number;
  uriExtension: number;
  /** Bytes of the URI extension length field. */
  uebLengthSize: number;
}

/** Bytes of the header: enough to parse the layout of either version. */
export const LAYOUT_HEADER_MAX = 0x44;

function u32(b: Uint8Array, o: number) {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function u64(b: Uint8Array, o: number) {
  const hi = u32(b, o);
  if (hi >= 0x200000) return Number.MAX_SAFE_INTEGER; // beyond any real share
  return hi * 0x100000000 + u32(b, o + 4);
}

/** The two header versions: v1 has 4-byte fields, v2 8-byte ones; both hold 8 of them. */
const HEADERS = {
  1: { size: 0x24, fieldSize: 4, read: u32 },
  2: { size: 0x44, fieldSize: 8, read: u64 },
} as const;

/** Parses the offsets at the start of share data (≥ 0x24 bytes for v1, 0x44 for v2). */
export function parseShareLayout(head: Uint8Array, shareNumber?: number): ShareLayout {
  const bad = (why: string) =>
    new ChkError(
      'ERR_CHK_LAYOUT',
      `immutable share ${shareNumber ?? ''}: ${why}`.trim(),
      shareNumber,
    );
  if (head.length < 4) throw bad('too short for a header');
  const version = u32(head, 0);
  if (version !== 1 && version !== 2) throw bad(`unknown share version ${version}`);
  const { size, fieldSize, read } = HEADERS[version];
  if (head.length < size) throw bad(`too short for a v${version} header`);
  const f = (i: number) => read(head, 4 + fieldSize * i);
  const layout: ShareLayout = {
    version,
    blockSize: f(0),
    data: f(2),
    crypttextHashTree: f(4),
    blockHashes: f(5),
    shareHashes: f(6),
    uriExtension: f(7),
    uebLengthSize: fieldSize,
  };
  // The blocks start right after the header.
  if (layout.data !== size) throw bad(`v${version} data offset ${layout.data}, expected ${size}`);
  const order = [
    layout.data,
    layout.crypttextHashTree,
    layout.blockHashes,
    layout.shareHashes,
    layout.uriExtension,
  ];
  for (let i = 1; i < order.length; i++) {
    if (order[i] < order[i - 1]) throw bad('section offsets are out of order');
  }
  if ((layout.shareHashes - layout.blockHashes) % 32 !== 0) throw bad('block hash region size');
  if ((layout.uriExtension - layout.shareHashes) % 34 !== 0) throw bad('share hash region size');
  return layout;
}

/** The URI extension block of a whole share. */
export function uriExtensionOf(share: Uint8Array, layout: ShareLayout, shareNumber?: number) {
  const at = layout.uriExtension;
  const n = layout.uebLengthSize;
  if (share.length < at + n) {
    throw new ChkError('ERR_CHK_LAYOUT', 'the share ends before its URI extension', shareNumber);
  }
  const length = n === 4 ? u32(share, at) : u64(share, at);
  if (share.length < at + n + length) {
    throw new ChkError('ERR_CHK_LAYOUT', 'the URI extension block is cut short', shareNumber);
  }
  return share.subarray(at + n, at + n + length);
}

/** The share hash chain: node index of the share hash tree → hash. */
export function shareHashChainOf(share: Uint8Array, layout: ShareLayout): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (let at = layout.shareHashes; at + 34 <= layout.uriExtension; at += 34) {
    out.set((share[at] << 8) | share[at + 1], share.subarray(at + 2, at + 34));
  }
  return out;
}
