// zfec-compatible systematic erasure code (tahoe-formats.md §6): encode k equal-length
// blocks into m shares, the first k being copies of the blocks, and decode any k distinct
// shares back into the blocks. Byte-identical to zfec for 1 ≤ k ≤ m ≤ 256.
import { CodecError } from './errors.js';
import { typescriptKernel, type BackendName, type MulKernel } from './kernel.js';
import { decodingMatrix, encodingMatrix } from './matrix.js';
import { nativeKernel, nativeLoad } from './native.js';

/** zfec's limit on m (share numbers are one byte). SDMF shares allow at most 255. */
export const MAX_SHARES = 256;

export interface Codec {
  readonly backend: BackendName;
  encode(k: number, m: number, blocks: readonly Uint8Array[]): Uint8Array[];
  decode(
    k: number,
    m: number,
    shares: readonly Uint8Array[],
    shareNumbers: readonly number[],
  ): Uint8Array[];
}

/**
 * A codec bound to one backend: 'native' (the C addon; throws ERR_CODEC_NATIVE_UNAVAILABLE
 * when it is not built), 'typescript', or 'auto' (native when available).
 */
export function codecWith(backend: BackendName | 'auto'): Codec {
  let kernel: MulKernel;
  if (backend === 'typescript') kernel = typescriptKernel;
  else if (nativeKernel) kernel = nativeKernel;
  else if (backend === 'auto') kernel = typescriptKernel;
  else {
    throw new CodecError(
      'ERR_CODEC_NATIVE_UNAVAILABLE',
      `the native codec is not available (${nativeLoad.ok ? '' : nativeLoad.reason}); ` +
        `use codecWith('typescript') or 'auto'`,
    );
  }
  return {
    backend: kernel.name,
    encode: (k, m, blocks) => encodeWith(kernel, k, m, blocks),
    decode: (k, m, shares, numbers) => decodeWith(kernel, k, m, shares, numbers),
  };
}

const defaultCodec = codecWith('auto');

/** Which kernel `encode` and `decode` use: 'native' unless unbuilt or SLOTFS_CODEC=ts. */
export const codecBackend: BackendName = defaultCodec.backend;

/** Why the native kernel is not in use, or undefined when it is. */
export const nativeUnavailableReason: string | undefined = nativeLoad.ok
  ? undefined
  : nativeLoad.reason;

/** Encodes k blocks of equal length into m new shares; shares 0…k−1 equal the blocks. */
export function encode(k: number, m: number, blocks: readonly Uint8Array[]): Uint8Array[] {
  return defaultCodec.encode(k, m, blocks);
}

/**
 * Recovers the k original blocks from at least k distinct shares (any order; shareNumbers[i]
 * is the number of shares[i]). With more than k shares, primary shares (number < k) are
 * preferred, then the others in the order given. Returns new arrays.
 */
export function decode(
  k: number,
  m: number,
  shares: readonly Uint8Array[],
  shareNumbers: readonly number[],
): Uint8Array[] {
  return defaultCodec.decode(k, m, shares, shareNumbers);
}

function encodeWith(
  kernel: MulKernel,
  k: number,
  m: number,
  blocks: readonly Uint8Array[],
): Uint8Array[] {
  checkParameters(k, m);
  if (!Array.isArray(blocks) || blocks.length !== k) {
    const got = Array.isArray(blocks) ? `${blocks.length} blocks` : typeof blocks;
    throw new CodecError(
      'ERR_CODEC_BLOCK_COUNT',
      `encode(k=${k}, m=${m}) needs exactly k=${k} input blocks, got ${got}; ` +
        `split the data into k pieces first (splitIntoPieces)`,
    );
  }
  const length = commonLength(blocks, 'input block', 'encode');
  const shares = blocks.map((b) => b.slice());
  const secondaries: Uint8Array[] = [];
  for (let r = k; r < m; r++) secondaries.push(new Uint8Array(length));
  if (secondaries.length > 0 && length > 0) {
    kernel.mulMatrix(encodingMatrix(k, m).subarray(k * k), blocks, secondaries, length);
  }
  return shares.concat(secondaries);
}

function decodeWith(
  kernel: MulKernel,
  k: number,
  m: number,
  shares: readonly Uint8Array[],
  shareNumbers: readonly number[],
): Uint8Array[] {
  checkParameters(k, m);
  if (!Array.isArray(shares) || !Array.isArray(shareNumbers)) {
    throw new CodecError(
      'ERR_CODEC_SHARE_COUNT_MISMATCH',
      'decode needs an array of shares and an array of their share numbers',
    );
  }
  if (shares.length !== shareNumbers.length) {
    throw new CodecError(
      'ERR_CODEC_SHARE_COUNT_MISMATCH',
      `decode got ${shares.length} shares but ${shareNumbers.length} share numbers; ` +
        `pass one number per share, in the same order`,
    );
  }
  if (shares.length < k) {
    throw new CodecError(
      'ERR_CODEC_TOO_FEW_SHARES',
      `decode(k=${k}, m=${m}) needs at least k=${k} distinct shares, got ${shares.length}; ` +
        `fetch more shares`,
    );
  }
  const byNumber = new Map<number, Uint8Array>();
  shareNumbers.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 0 || n >= m) {
      throw new CodecError(
        'ERR_CODEC_SHARE_NUMBER_RANGE',
        `share number ${String(n)} (position ${i}) is out of range for m=${m}: ` +
          `share numbers are integers 0…${m - 1}`,
      );
    }
    if (byNumber.has(n)) {
      throw new CodecError(
        'ERR_CODEC_DUPLICATE_SHARE',
        `share number ${n} appears twice (positions ${shareNumbers.indexOf(n)} and ${i}); ` +
          `decode needs k=${k} distinct shares`,
      );
    }
    byNumber.set(n, shares[i]);
  });
  const length = commonLength(shares, 'share', 'decode');

  // Use every primary share we have, then other shares in the order given, up to k.
  const chosen = shareNumbers.filter((n) => n < k);
  for (const n of shareNumbers) if (chosen.length < k && n >= k) chosen.push(n);
  chosen.sort((a, b) => a - b); // canonical order, so the decoding matrix cache hits

  const blocks: Uint8Array[] = [];
  const missing: number[] = [];
  for (let p = 0; p < k; p++) {
    const primary = byNumber.get(p);
    // Primary shares are the blocks themselves: copy, don't recompute.
    blocks.push(primary ? primary.slice() : new Uint8Array(length));
    if (!primary) missing.push(p);
  }
  if (missing.length > 0 && length > 0) {
    const inverse = decodingMatrix(k, m, chosen);
    const coeffs = new Uint8Array(missing.length * k);
    missing.forEach((p, i) => coeffs.set(inverse.subarray(p * k, p * k + k), i * k));
    kernel.mulMatrix(
      coeffs,
      chosen.map((n) => byNumber.get(n) as Uint8Array),
      missing.map((p) => blocks[p]),
      length,
    );
  }
  return blocks;
}

function checkParameters(k: number, m: number): void {
  if (!Number.isInteger(k) || k < 1 || k > MAX_SHARES) {
    throw new CodecError(
      'ERR_CODEC_K_RANGE',
      `k=${String(k)} is out of range: k (shares needed) must be an integer 1…${MAX_SHARES}`,
    );
  }
  if (!Number.isInteger(m) || m < 1 || m > MAX_SHARES) {
    throw new CodecError(
      'ERR_CODEC_M_RANGE',
      `m=${String(m)} is out of range: m (total shares) must be an integer 1…${MAX_SHARES}`,
    );
  }
  if (k > m) {
    throw new CodecError(
      'ERR_CODEC_K_GREATER_THAN_M',
      `k=${k} is greater than m=${m}: the shares needed cannot exceed the total shares`,
    );
  }
}

/** The length all arrays share; throws if one is not bytes or the lengths differ. */
function commonLength(arrays: readonly Uint8Array[], what: string, op: string): number {
  arrays.forEach((a, i) => {
    if (!(a instanceof Uint8Array)) {
      throw new CodecError(
        'ERR_CODEC_NOT_BYTES',
        `${op}: ${what} ${i} is ${a === null ? 'null' : typeof a}, not a Uint8Array`,
      );
    }
  });
  const length = arrays[0]?.length ?? 0;
  const odd = arrays.findIndex((a) => a.length !== length);
  if (odd >= 0) {
    throw new CodecError(
      'ERR_CODEC_UNEQUAL_LENGTHS',
      `${op}: ${what} ${odd} is ${arrays[odd].length} bytes but ${what} 0 is ${length}; ` +
        `all ${what}s must have the same length (pad them)`,
    );
  }
  return length;
}
