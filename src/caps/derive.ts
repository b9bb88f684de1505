// Offline derivations between caps and from keys (tahoe-formats.md §3–§4): write → read →
// verify, storage index, write enabler, lease secrets, and caps from an RSA private key
// or an Ed25519 seed (docs/formats.md).
import {
  ed25519ReadkeyFromWritekey,
  ed25519StorageIndex,
  ed25519WriteEnabler,
  ed25519WritekeyFromSeed,
  fingerprintFromPublicKey,
  leaseSecretsFor,
  readkeyFromWritekey,
  storageIndexFromReadkey,
  writeEnabler,
  writekeyFromPrivateKey,
} from '../crypto/derive.js';
import { keyPairFromPrivateKey, type RsaKeyPair } from '../crypto/rsa.js';
import { ed25519KeyPairFromSeed, type Ed25519KeyPair } from '../crypto/ed25519.js';
import { Base32Error, fromBase32, toBase32 } from '../encoding/base32.js';
import { CapError } from './errors.js';
import { capKindName, formatCap, parseCap } from './parse.js';
import type {
  Cap,
  ImmutableCap,
  ImmutableVerifyCap,
  MutableCap,
  MutableFormat,
  MutableReadCap,
  MutableVerifyCap,
  MutableWriteCap,
} from './types.js';

export interface MutableCapOptions {
  /** Default 'sdmf'. RSA keys make 'sdmf' or 'mdmf' caps; 'ed25519' caps come from a seed. */
  format?: MutableFormat;
  /** Default false (a file cap). */
  directory?: boolean;
}

function requireLength(name: string, bytes: Uint8Array, size: number): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== size) {
    throw new CapError(
      'ERR_CAP_ARGUMENT',
      `${name} must be ${size} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`,
      name,
    );
  }
}

/** A write cap from its 16-byte writekey and 32-byte fingerprint. */
export function writeCapFromKeys(
  writekey: Uint8Array,
  fingerprint: Uint8Array,
  { format = 'sdmf', directory = false }: MutableCapOptions = {},
): MutableWriteCap {
  requireLength('writekey', writekey, 16);
  requireLength('fingerprint', fingerprint, 32);
  if (format === 'ed25519') {
    throw new CapError(
      'ERR_CAP_ARGUMENT',
      'an Ed25519 write cap is its seed, not a writekey and fingerprint: use writeCapFromSeed',
      'format',
    );
  }
  const readkey = readkeyFromWritekey(writekey);
  return {
    kind: 'ssk-write',
    format,
    directory,
    writekey: new Uint8Array(writekey),
    readkey,
    storageIndex: storageIndexFromReadkey(readkey),
    fingerprint: new Uint8Array(fingerprint),
    extraFields: [],
  };
}

/** The write cap of the file or directory whose signing key is `keys` (§3). */
export function writeCapFromKeyPair(keys: RsaKeyPair, options?: MutableCapOptions) {
  return writeCapFromKeys(
    writekeyFromPrivateKey(keys.privateKeyDer),
    fingerprintFromPublicKey(keys.publicKeyDer),
    options,
  );
}

/**
 * The Ed25519 write cap (`URI:ED25519:` or `URI:DIR2-ED25519:`) of a 32-byte seed, with
 * every derived field (docs/formats.md §2).
 */
export function writeCapFromSeed(
  seed: Uint8Array,
  { directory = false }: { directory?: boolean } = {},
): MutableWriteCap {
  requireLength('seed', seed, 32);
  const { publicKey } = ed25519KeyPairFromSeed(seed);
  const writekey = ed25519WritekeyFromSeed(seed);
  const readkey = ed25519ReadkeyFromWritekey(writekey);
  return {
    kind: 'ssk-write',
    format: 'ed25519',
    directory,
    seed: new Uint8Array(seed),
    writekey,
    readkey,
    storageIndex: ed25519StorageIndex(readkey, publicKey),
    fingerprint: publicKey,
    extraFields: [],
  };
}

/** The signing key of an Ed25519 write cap (the seed and its verification key). */
export function ed25519KeysOf(cap: MutableWriteCap): Ed25519KeyPair {
  if (cap.format !== 'ed25519' || !cap.seed) {
    throw new CapError(
      'ERR_CAP_ARGUMENT',
      `URI:${capKindName(cap)} is not an Ed25519 write cap, so it holds no signing key`,
    );
  }
  return { seed: cap.seed, publicKey: cap.fingerprint };
}

/** The read cap of a write cap (offline: readkey = H(writekey)); a read cap is returned as is. */
export function readCapOf(cap: MutableWriteCap | MutableReadCap): MutableReadCap {
  if (cap.kind === 'ssk-read') return cap;
  if (cap.kind !== 'ssk-write') throw notReadable(cap);
  return {
    kind: 'ssk-read',
    format: cap.format,
    directory: cap.directory,
    readkey: cap.readkey,
    storageIndex: cap.storageIndex,
    fingerprint: cap.fingerprint,
    // Tahoe drops MDMF extra fields when deriving; so do we.
    extraFields: [],
  };
}

/**
 * The verify cap (storage index + fingerprint, or the CHK verifier); a verify cap is
 * returned as is. Literal caps have none.
 */
export function verifyCapOf(cap: MutableCap): MutableVerifyCap;
export function verifyCapOf(cap: ImmutableCap | ImmutableVerifyCap): ImmutableVerifyCap;
export function verifyCapOf(cap: Cap): MutableVerifyCap | ImmutableVerifyCap;
export function verifyCapOf(cap: Cap): MutableVerifyCap | ImmutableVerifyCap {
  switch (cap.kind) {
    case 'ssk-verify':
    case 'immutable-verify':
      return cap;
    case 'ssk-write':
    case 'ssk-read':
      return {
        kind: 'ssk-verify',
        format: cap.format,
        directory: cap.directory,
        storageIndex: cap.storageIndex,
        fingerprint: cap.fingerprint,
        extraFields: [],
      };
    case 'immutable':
      return {
        kind: 'immutable-verify',
        directory: cap.directory,
        storageIndex: cap.storageIndex,
        uriExtensionHash: cap.uriExtensionHash,
        needed: cap.needed,
        total: cap.total,
        size: cap.size,
      };
    case 'literal':
      throw new CapError(
        'ERR_CAP_UNSUPPORTED',
        'a literal (URI:LIT) cap has no verify cap: its data is in the cap itself',
      );
  }
}

/** The same cap as a directory (`URI:SSK:` → `URI:DIR2:` …) or back as a file cap. */
export function withDirectory<C extends Cap>(cap: C, directory: boolean): C {
  return { ...cap, directory };
}

/** The storage index of any cap but a literal one (which is stored nowhere). */
export function storageIndexOf(cap: Cap): Uint8Array {
  if (cap.kind === 'literal') {
    throw new CapError(
      'ERR_CAP_UNSUPPORTED',
      'a literal (URI:LIT) cap has no storage index: its data is in the cap itself',
    );
  }
  return cap.storageIndex;
}

/** The write enabler a server with this 20-byte id expects for this file (§1.3, §3.3). */
export function writeEnablerFor(cap: MutableWriteCap, serverId: Uint8Array): Uint8Array {
  requireWriteCap(cap);
  requireLength('serverId', serverId, 20);
  return cap.format === 'ed25519'
    ? ed25519WriteEnabler(cap.writekey, serverId)
    : writeEnabler(cap.writekey, serverId);
}

/** Per-server lease renew/cancel secrets from the client's 32-byte lease secret (§3). */
export function leaseSecretsForCap(cap: Cap, leaseSecret: Uint8Array, serverId: Uint8Array) {
  requireLength('leaseSecret', leaseSecret, 32);
  requireLength('serverId', serverId, 20);
  return leaseSecretsFor(leaseSecret, storageIndexOf(cap), serverId);
}

function notWriteable(cap: Cap): CapError {
  return new CapError(
    'ERR_CAP_NOT_WRITEABLE',
    `a ${cap.kind === 'ssk-read' ? 'read' : 'verify'} cap (URI:${capKindName(cap)}) was given where a write cap is required: use the URI:${capKindName({ kind: 'ssk-write', directory: cap.directory, format: 'format' in cap ? cap.format : 'sdmf' })} write cap`,
  );
}

function notReadable(cap: Cap): CapError {
  return new CapError(
    'ERR_CAP_NOT_READABLE',
    `a verify cap (URI:${capKindName(cap)}) cannot decrypt: a read or write cap is required`,
  );
}

function unsupported(cap: Cap, what: string): CapError {
  return new CapError(
    'ERR_CAP_UNSUPPORTED',
    `URI:${capKindName(cap)} is an immutable ${cap.kind === 'literal' ? 'literal ' : ''}cap; slotfs supports only mutable (SSK/MDMF) files for ${what}`,
  );
}

/** Narrows to a write cap, or throws saying why this cap cannot write. */
export function requireWriteCap(cap: Cap): MutableWriteCap {
  if (cap.kind === 'ssk-write') return cap;
  if (cap.kind === 'ssk-read' || cap.kind === 'ssk-verify') throw notWriteable(cap);
  throw unsupported(cap, 'writing');
}

/** Narrows to a cap that can decrypt a mutable file (write or read cap). */
export function requireReadCap(cap: Cap): MutableWriteCap | MutableReadCap {
  if (cap.kind === 'ssk-write' || cap.kind === 'ssk-read') return cap;
  if (cap.kind === 'ssk-verify') throw notReadable(cap);
  throw unsupported(cap, 'reading');
}

/** Narrows to any mutable cap (including verify caps). */
export function requireMutableCap(cap: Cap): MutableCap {
  if (cap.kind === 'ssk-write' || cap.kind === 'ssk-read' || cap.kind === 'ssk-verify') return cap;
  throw unsupported(cap, 'this operation');
}

export const parseWriteCap = (text: string) => requireWriteCap(parseCap(text));
export const parseReadCap = (text: string) => requireReadCap(parseCap(text));
export const parseMutableCap = (text: string) => requireMutableCap(parseCap(text));

/** Every cap of one file or directory, and its signing key (of type K). */
export interface CapsOfKey<K> {
  writeCap: string;
  readCap: string;
  verifyCap: string;
  /** 16 raw bytes: what the storage protocol uses. */
  storageIndex: Uint8Array;
  /** The same, as the 26-character base32 Tahoe shows and uses in share paths. */
  storageIndexBase32: string;
  /** The parsed write cap. */
  cap: MutableWriteCap;
  keys: K;
}

/** What capsFromPrivateKey returns: `keys` as Tahoe serialises them (PKCS#8 and SPKI DER). */
export type CapsFromKey = CapsOfKey<RsaKeyPair>;

/** What capsFromSeed returns: the caps of an Ed25519 seed. */
export type CapsFromSeed = CapsOfKey<Ed25519KeyPair>;

/** The one derivation of the cap strings from a write cap, whatever its format. */
function capsOfKey<K>(cap: MutableWriteCap, keys: K): CapsOfKey<K> {
  return {
    writeCap: formatCap(cap),
    readCap: formatCap(readCapOf(cap)),
    verifyCap: formatCap(verifyCapOf(cap)),
    storageIndex: cap.storageIndex,
    storageIndexBase32: toBase32(cap.storageIndex),
    cap,
    keys,
  };
}

/**
 * The caps of the file (or directory) signed by this RSA private key: PKCS#1 or PKCS#8,
 * PEM (string) or DER (bytes). The writekey hashes the PKCS#8 DER (§2), so PKCS#1 keys are
 * converted first; a PKCS#8 DER input is hashed as given.
 */
export function capsFromPrivateKey(
  pemOrDer: string | Uint8Array,
  options?: MutableCapOptions,
): CapsFromKey {
  const keys = keyPairFromPrivateKey(pemOrDer);
  return capsOfKey(writeCapFromKeyPair(keys, options), keys);
}

/** The caps of the Ed25519 file (or directory) whose signing-key seed is `seed` (32 bytes). */
export function capsFromSeed(
  seed: Uint8Array,
  options: { directory?: boolean } = {},
): CapsFromSeed {
  const cap = writeCapFromSeed(seed, options);
  return capsOfKey(cap, ed25519KeysOf(cap));
}

/** Tahoe's si_b2a: 26 lowercase base32 characters. */
export function storageIndexToBase32(storageIndex: Uint8Array): string {
  requireLength('storageIndex', storageIndex, 16);
  return toBase32(storageIndex);
}

/** Tahoe's si_a2b, strict: exactly 26 lowercase base32 characters. */
export function storageIndexFromBase32(text: string): Uint8Array {
  const bad = /[^a-z2-7]/.exec(text);
  if (bad) {
    throw new CapError(
      'ERR_CAP_BASE32',
      `storage index: invalid base32 character ${JSON.stringify(bad[0])} at position ${bad.index}`,
      'storageIndex',
      bad.index,
    );
  }
  if (text.length !== 26) {
    throw new CapError(
      'ERR_CAP_FIELD_LENGTH',
      `storage index is ${text.length} characters; it must be 26`,
      'storageIndex',
    );
  }
  try {
    return fromBase32(text);
  } catch (err) {
    if (!(err instanceof Base32Error)) throw err;
    throw new CapError(
      'ERR_CAP_TRAILING_BITS',
      `storage index: last character ${JSON.stringify(text.at(-1))} has non-zero unused bits`,
      'storageIndex',
      25,
    );
  }
}
