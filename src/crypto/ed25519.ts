// Ed25519 (RFC 8032) for slotfs's own mutable format (docs/formats.md): the 32-byte seed
// is the signing key and the write cap; the 32-byte public key is the verification key
// stored in every share. Node's OpenSSL does the work: a key object is built from the
// seed with a fixed PKCS#8 prefix, a public key from the raw 32 bytes with a fixed SPKI
// prefix.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
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

// Importing a PKCS#8 key costs ~0.3 ms, more than signing: the key objects of the last few
// hundred seeds used in this process are kept, with their public keys (a mount signs the
// same files again and again). Public keys alone are kept for many more seeds: parsing a
// write cap derives one, and listing a folder of thousands of files parses every cap.
interface KeyEntry {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}
const keyObjects = new Map<string, KeyEntry>();
const KEY_CACHE = 512;
const publicKeys = new Map<string, Uint8Array>();
const PUBLIC_KEY_CACHE = 65_536;

function remember(id: string, entry: KeyEntry): KeyEntry {
  if (keyObjects.size >= KEY_CACHE) keyObjects.delete(keyObjects.keys().next().value!);
  keyObjects.set(id, entry);
  rememberPublicKey(id, entry.publicKey);
  return entry;
}

function rememberPublicKey(id: string, publicKey: Uint8Array): void {
  if (publicKeys.has(id)) return;
  if (publicKeys.size >= PUBLIC_KEY_CACHE) publicKeys.delete(publicKeys.keys().next().value!);
  publicKeys.set(id, publicKey);
}

function entryOf(seed: Uint8Array): KeyEntry {
  requireSize('seed', seed, ED25519_SEED_SIZE);
  const id = Buffer.from(seed).toString('base64');
  const cached = keyObjects.get(id);
  if (cached) return cached;
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return remember(id, {
    privateKey,
    publicKey: new Uint8Array(spki.subarray(ED25519_SPKI_PREFIX.length)),
  });
}

/** The public key (verification key) of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  requireSize('seed', seed, ED25519_SEED_SIZE);
  const known = publicKeys.get(Buffer.from(seed).toString('base64'));
  return (known ?? entryOf(seed).publicKey).slice();
}

/** The key pair of a seed. */
export function ed25519KeyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  return { seed: new Uint8Array(seed), publicKey: ed25519PublicKey(seed) };
}

/** A fresh key pair from OpenSSL's random generator (about 0.05 ms; no key pool needed). */
export function generateEd25519KeyPair(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = new Uint8Array(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'));
  const raw = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  remember(Buffer.from(seed).toString('base64'), { privateKey, publicKey: raw });
  return { seed, publicKey: raw.slice() };
}

/** The 64-byte Ed25519 signature of `message` (deterministic: same seed and message, same bytes). */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, entryOf(seed).privateKey));
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
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

const publicKeyObjects = new Map<string, KeyObject>();

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('base64');
  let key = publicKeyObjects.get(id);
  if (!key) {
    key = createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    if (publicKeyObjects.size >= KEY_CACHE) {
      publicKeyObjects.delete(publicKeyObjects.keys().next().value!);
    }
    publicKeyObjects.set(id, key);
  }
  return key;
}
