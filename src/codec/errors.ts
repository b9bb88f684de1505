// The one error type of the codec. `code` is stable (match on it, not on the message);
// the message says which argument was wrong and what a valid call looks like.

export type CodecErrorCode =
  | 'ERR_CODEC_K_RANGE'
  | 'ERR_CODEC_M_RANGE'
  | 'ERR_CODEC_K_GREATER_THAN_M'
  | 'ERR_CODEC_BLOCK_COUNT'
  | 'ERR_CODEC_NOT_BYTES'
  | 'ERR_CODEC_UNEQUAL_LENGTHS'
  | 'ERR_CODEC_SHARE_COUNT_MISMATCH'
  | 'ERR_CODEC_TOO_FEW_SHARES'
  | 'ERR_CODEC_SHARE_NUMBER_RANGE'
  | 'ERR_CODEC_DUPLICATE_SHARE'
  | 'ERR_CODEC_JOIN_LENGTH'
  | 'ERR_CODEC_NATIVE_UNAVAILABLE';

export class CodecError extends Error {
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CodecError';
  }
}
