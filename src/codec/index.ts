// slotfs/codec: zfec-compatible erasure coding, with SDMF's split/join helpers.
export {
  codecBackend,
  codecWith,
  decode,
  encode,
  MAX_SHARES,
  nativeUnavailableReason,
  type Codec,
} from './codec.js';
export { CodecError, type CodecErrorCode } from './errors.js';
export type { BackendName } from './kernel.js';
export { joinPieces, splitIntoPieces } from './pieces.js';
