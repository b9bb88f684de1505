// SDMF's split and join (tahoe-formats.md §5.2): k zero-padded pieces of ceil(len/k) bytes,
// and the reverse (concatenate, truncate to the original length).
import { CodecError } from './errors.js';
import { MAX_SHARES } from './codec.js';

export function splitIntoPieces(data: Uint8Array, k: number): Uint8Array[] {
  if (!Number.isInteger(k) || k < 1 || k > MAX_SHARES) {
    throw new CodecError(
      'ERR_CODEC_K_RANGE',
      `splitIntoPieces: k=${String(k)} is out of range: k must be an integer 1…${MAX_SHARES}`,
    );
  }
  if (!(data instanceof Uint8Array)) {
    throw new CodecError('ERR_CODEC_NOT_BYTES', 'splitIntoPieces: data is not a Uint8Array');
  }
  const size = Math.ceil(data.length / k);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < k; i++) {
    const piece = new Uint8Array(size); // zero-filled: the padding
    piece.set(
      data.subarray(Math.min(i * size, data.length), Math.min((i + 1) * size, data.length)),
    );
    pieces.push(piece);
  }
  return pieces;
}

export function joinPieces(pieces: readonly Uint8Array[], length: number): Uint8Array {
  let total = 0;
  for (const p of pieces) total += p.length;
  if (!Number.isInteger(length) || length < 0 || length > total) {
    throw new CodecError(
      'ERR_CODEC_JOIN_LENGTH',
      `joinPieces: length ${String(length)} is not an integer 0…${total} ` +
        `(the pieces hold ${total} bytes); pass the original data length`,
    );
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of pieces) {
    if (offset >= length) break;
    const take = Math.min(p.length, length - offset);
    out.set(p.subarray(0, take), offset);
    offset += take;
  }
  return out;
}
