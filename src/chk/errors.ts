// Typed errors of the CHK (immutable share) format. `code` is stable; `shareNumber` names
// the share when one share is at fault, so a downloader can drop it and use another.

export type ChkErrorCode =
  /** The share's bytes do not follow Tahoe's immutable share layout. */
  | 'ERR_CHK_LAYOUT'
  /** The URI extension block does not hash to the cap's, or its fields are unusable. */
  | 'ERR_CHK_URI_EXTENSION'
  /** A block, block hash tree or share hash chain does not verify. */
  | 'ERR_CHK_SHARE_HASH'
  /** Decoded ciphertext does not match the crypttext hash tree (bad shares combined). */
  | 'ERR_CHK_CRYPTTEXT_HASH';

export class ChkError extends Error {
  constructor(
    readonly code: ChkErrorCode,
    message: string,
    readonly shareNumber?: number,
  ) {
    super(message);
    this.name = 'ChkError';
  }
}
