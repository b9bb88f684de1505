// Ed25519 (RFC 8032) for slotfs's own mutable format (docs/formats.md): the 32-byte seed
// is the signing key and the write cap; the 32-byte public key is the verification key
// stored in every share. Node's OpenSSL does the work: a key object is built from the
// seed with a fixed PKCS#8 prefix, a public key from the raw 32 bytes with a fixed SPKI
// prefix.
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { KeyFormatError } from './rsa.js';

/** PKCS#8 PrivateKeyInfo of an Ed25519 key, up to the 32-byte seed (RFC 8410). */
export const ED25519_PKCS8_PREFIX = Uint8Array.from(
  Buffer.from('302e020100300506032b657004220420', 'hex'),
);
/** SubjectPublicKeyInfo of an Ed25519 key, up to the 32-byte public key (RFC 8410). */
export const ED25519_SPKI_PREFIX = Uint8Array.from(Buffer.from('302a300506032b6570032100', 'hex'));
export const ED25519_SEED_SIZE = 32;
export const ED25519_PUBLIC_KEY_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;

/** An Ed25519 signing key: the seed (secret) and its public key (the verification key). */
export interface Ed25519KeyPair {
  /** 32 bytes: the RFC 8032 private key; the whole of a `URI:ED25519:` write cap. */
  seed: Uint8Array;
  /** 32 bytes: the RFC 8032 public key, stored raw in every share. */
  publicKey: Uint8Array;
}

function requireSize(what: string, bytes: Uint8Array, size: number): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== size) {
    throw new KeyFormatError(
      `an Ed25519 ${what} is ${size} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`,
    );
  }
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  requireSize('seed', seed, ED25519_SEED_SIZE);
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

// Parsing a write cap derives the public key; a mount parses the same caps again and
// again, so the last few hundred are remembered (public values only: seed hash → key).
const publicKeys = new Map<string, Uint8Array>();
const PUBLIC_KEY_CACHE = 512;

/** The public key (verification key) of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  requireSize('seed', seed, ED25519_SEED_SIZE);
  const id = Buffer.from(seed).toString('base64');
  const cached = publicKeys.get(id);
  if (cached) return cached.slice();
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(ED25519_SPKI_PREFIX.length));
  if (publicKeys.size >= PUBLIC_KEY_CACHE) publicKeys.delete(publicKeys.keys().next().value!);
  publicKeys.set(id, publicKey);
  return publicKey.slice();
}

/** The key pair of a seed. */
export function ed25519KeyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  return { seed: new Uint8Array(seed), publicKey: ed25519PublicKey(seed) };
}

/** A fresh key pair from 32 random bytes (about 0.1 ms; no key pool needed). */
export function generateEd25519KeyPair(): Ed25519KeyPair {
  return ed25519KeyPairFromSeed(new Uint8Array(randomBytes(ED25519_SEED_SIZE)));
}

/** The 64-byte Ed25519 signature of `message` (deterministic: same seed and message, same bytes). */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKeyObject(seed)));
}

/**
 * Whether `signature` is a valid Ed25519 signature of `message` under the 32-byte public
 * key. Wrong sizes and keys OpenSSL refuses are simply invalid (false), never an exception.
 */
export function verifyEd25519(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_SIZE) return false;
  if (signature.length !== ED25519_SIGNATURE_SIZE) return false;
  try {
    const key = createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
