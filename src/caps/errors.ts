// Why a cap string or cap operation was refused. Messages name the cap kind, the field and
// the character position, but never echo the cap itself: caps are secrets.

export type CapErrorCode =
  /** Not `URI:` followed by a kind slotfs knows. */
  | 'ERR_CAP_UNKNOWN_PREFIX'
  /** Too few or too many `:`-separated fields for the kind. */
  | 'ERR_CAP_FIELD_COUNT'
  /** A base32 field holds a character outside `a-z2-7` (uppercase included). */
  | 'ERR_CAP_BASE32'
  /** A field has the wrong number of characters (or bytes, when formatting). */
  | 'ERR_CAP_FIELD_LENGTH'
  /** The last character of a base32 field has non-zero unused bits. */
  | 'ERR_CAP_TRAILING_BITS'
  /** A decimal field of a CHK cap is not a canonical non-negative integer. */
  | 'ERR_CAP_NUMBER'
  /** A read or verify cap was given where a write cap is required. */
  | 'ERR_CAP_NOT_WRITEABLE'
  /** A verify cap was given where a read (or write) cap is required. */
  | 'ERR_CAP_NOT_READABLE'
  /** An immutable or literal cap was given where slotfs needs a mutable one. */
  | 'ERR_CAP_UNSUPPORTED'
  /** `ro.` in front of a write cap. */
  | 'ERR_CAP_MUST_BE_READONLY'
  /** `imm.` in front of a mutable cap. */
  | 'ERR_CAP_MUST_BE_IMMUTABLE'
  /** A derivation was given a secret or server id of the wrong size. */
  | 'ERR_CAP_ARGUMENT';

export class CapError extends Error {
  constructor(
    readonly code: CapErrorCode,
    message: string,
    /** The field concerned, e.g. 'writekey', when there is one. */
    readonly field?: string,
    /** Character offset in the cap string, when there is one. */
    readonly position?: number,
  ) {
    super(message);
    this.name = 'CapError';
  }
}
