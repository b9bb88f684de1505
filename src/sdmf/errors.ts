// Typed errors of the SDMF layer. Every error has a stable `code`; share errors also name
// the share field (`field`) that failed, so callers can log and tests can assert it.

/** Names of the regions and header fields of an SDMF share (tahoe-formats.md §5.4). */
export type ShareField =
  | 'header'
  | 'version'
  | 'seqnum'
  | 'rootHash'
  | 'salt'
  | 'k'
  | 'N'
  | 'segsize'
  | 'datalen'
  | 'offsets.signature'
  | 'offsets.shareHashChain'
  | 'offsets.blockHashTree'
  | 'offsets.shareData'
  | 'offsets.encryptedPrivateKey'
  | 'offsets.eof'
  | 'verificationKey'
  | 'signature'
  | 'shareHashChain'
  | 'blockHashTree'
  | 'shareData'
  | 'encryptedPrivateKey'
  | 'shareNumber';

/** Base class of everything wrong with one share, structural or cryptographic. */
export class ShareError extends Error {
  constructor(
    readonly code: string,
    readonly field: ShareField,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ShareError';
  }
}

/** The bytes are not a well-formed SDMF share (too short, bad version, bad offsets, …). */
export class ShareFormatError extends ShareError {
  constructor(code: string, field: ShareField, message: string) {
    super(code, field, message);
    this.name = 'ShareFormatError';
  }
}

/** The share is well-formed but fails a check of §5.5 (fingerprint, signature, hashes, …). */
export class ShareVerificationError extends ShareError {
  constructor(code: string, field: ShareField, message: string) {
    super(code, field, message);
    this.name = 'ShareVerificationError';
  }
}

/** Bad arguments to a writer: k/N out of range, file too large, wrong salt length, … */
export class SdmfParameterError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SdmfParameterError';
  }
}

/** The cap given cannot do what was asked (e.g. decrypt with a verify cap). */
export class SdmfCapError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SdmfCapError';
  }
}

/** The encrypted private key in a share does not decrypt to the key of this writekey. */
export class PrivateKeyError extends Error {
  readonly code = 'ERR_SDMF_PRIVKEY_MISMATCH';
  constructor(message: string) {
    super(message);
    this.name = 'PrivateKeyError';
  }
}

/** One share that decodeShares could not use, and why. */
export interface RejectedShare {
  shareNumber: number;
  error: ShareError;
}

/** Per version seen: how many valid shares it had. */
export interface VersionTally {
  seqnum: number;
  rootHashHex: string;
  k: number;
  N: number;
  shareNumbers: number[];
}

/** decodeShares found no version with at least k valid shares. */
export class NotEnoughSharesError extends Error {
  readonly code = 'ERR_SDMF_NOT_ENOUGH_SHARES';
  constructor(
    message: string,
    readonly versions: VersionTally[],
    readonly rejected: RejectedShare[],
  ) {
    super(message);
    this.name = 'NotEnoughSharesError';
  }
}
