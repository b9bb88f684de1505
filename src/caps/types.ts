// Parsed caps: one discriminated union over every kind slotfs recognises (§4). Byte
// fields are raw bytes; formatCap turns them back into the exact string.

/**
 * Mutable file formats. SDMF and MDMF (Tahoe's, RSA-signed) differ only in the prefix;
 * 'ed25519' is slotfs's own format (docs/formats.md): the write cap is the 32-byte
 * Ed25519 seed, and the read and verify caps carry the verification key itself.
 */
export type MutableFormat = 'sdmf' | 'mdmf' | 'ed25519';

/** Tahoe's "alleged" prefixes: `ro.` (must not be a write cap), `imm.` (must be immutable). */
export type AllegedPrefix = 'ro' | 'imm';

interface CapBase {
  /** The `ro.`/`imm.` prefix the string carried, if any; formatCap writes it back. */
  alleged?: AllegedPrefix;
  /** A directory (`URI:DIR2…`) rather than a file cap. */
  directory: boolean;
}

interface MutableCapBase extends CapBase {
  format: MutableFormat;
  /** 16 bytes: locates the shares on servers. */
  storageIndex: Uint8Array;
  /**
   * 32 bytes that pin the signing key: for SDMF/MDMF the hash of the verification key
   * (SPKI DER); for Ed25519 the verification key (raw public key) itself, which is as
   * short as a hash, so readers compare it with the share's key byte for byte.
   */
  fingerprint: Uint8Array;
  /**
   * MDMF only: fields after the fingerprint, verbatim. Tahoe ignores (and drops) them;
   * slotfs keeps them so formatCap reproduces the parsed string. Always [] for SDMF.
   */
  extraFields: readonly string[];
}

/**
 * `URI:SSK:`, `URI:MDMF:`, `URI:DIR2:`, `URI:DIR2-MDMF:`, `URI:ED25519:`,
 * `URI:DIR2-ED25519:` — read and write.
 */
export interface MutableWriteCap extends MutableCapBase {
  kind: 'ssk-write';
  /**
   * Ed25519 only: the 32-byte signing-key seed, which is all the cap holds; the writekey,
   * readkey, storage index and verification key (`fingerprint`) derive from it.
   */
  seed?: Uint8Array;
  /** 16 bytes. */
  writekey: Uint8Array;
  /** 16 bytes, derived from the writekey. */
  readkey: Uint8Array;
}

/** `URI:SSK-RO:`, `URI:MDMF-RO:`, `URI:DIR2-RO:`, `URI:DIR2-MDMF-RO:`, `URI:ED25519-RO:`, … — read only. */
export interface MutableReadCap extends MutableCapBase {
  kind: 'ssk-read';
  /** 16 bytes. */
  readkey: Uint8Array;
}

/** `URI:SSK-Verifier:` and friends — locate and check shares, no decryption. */
export interface MutableVerifyCap extends MutableCapBase {
  kind: 'ssk-verify';
}

/** `URI:CHK:` / `URI:DIR2-CHK:` — recognised, not supported for writing. */
export interface ImmutableCap extends CapBase {
  kind: 'immutable';
  /** 16-byte AES key. */
  key: Uint8Array;
  /** 16 bytes, derived from the key. */
  storageIndex: Uint8Array;
  /** 32-byte hash of the URI extension block. */
  uriExtensionHash: Uint8Array;
  /** k */
  needed: number;
  /** N */
  total: number;
  size: number;
}

/** `URI:CHK-Verifier:` / `URI:DIR2-CHK-Verifier:`. */
export interface ImmutableVerifyCap extends CapBase {
  kind: 'immutable-verify';
  storageIndex: Uint8Array;
  uriExtensionHash: Uint8Array;
  needed: number;
  total: number;
  size: number;
}

/** `URI:LIT:` / `URI:DIR2-LIT:` — the (tiny) contents are in the cap itself. */
export interface LiteralCap extends CapBase {
  kind: 'literal';
  data: Uint8Array;
}

export type MutableCap = MutableWriteCap | MutableReadCap | MutableVerifyCap;
export type Cap = MutableCap | ImmutableCap | ImmutableVerifyCap | LiteralCap;
export type CapKind = Cap['kind'];
