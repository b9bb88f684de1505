// RSA as Tahoe uses it (§2): PKCS#8 DER private keys, SPKI DER public keys, and
// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a fixed 32-byte salt. Node's OpenSSL does
// the work; node-forge would be far slower here.
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCb,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

export interface RsaKeyPair {
  /** PKCS#8 PrivateKeyInfo, DER: the exact bytes hashed into the writekey. */
  privateKeyDer: Uint8Array;
  /** SubjectPublicKeyInfo, DER: the "verification key" stored in every share. */
  publicKeyDer: Uint8Array;
}

export class KeyFormatError extends Error {
  readonly code = 'ERR_KEY_FORMAT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyFormatError';
  }
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

/** Bytes covered by the outer DER SEQUENCE, or undefined when `der` does not start with one. */
function derSequenceLength(der: Uint8Array): number | undefined {
  if (der.length < 2 || der[0] !== 0x30) return undefined;
  if (der[1] < 0x80) return 2 + der[1];
  const n = der[1] & 0x7f;
  if (n === 0 || n > 4 || der.length < 2 + n) return undefined;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + der[2 + i];
  return 2 + n + length;
}

// OpenSSL ignores bytes after the key; a key with trailing bytes would hash to a
// different writekey than the key it parses to, so refuse it.
function requireExactDer(der: Uint8Array, what: string): void {
  const length = derSequenceLength(der);
  if (length === undefined || length === der.length) return;
  throw new KeyFormatError(
    length < der.length
      ? `${what} DER has ${der.length - length} trailing bytes after its ${length}-byte ASN.1 SEQUENCE: pass exactly the key bytes`
      : `${what} DER is truncated: its ASN.1 SEQUENCE needs ${length} bytes, got ${der.length}`,
  );
}

function readPrivateKey(key: Uint8Array | string): { obj: KeyObject; pkcs8: boolean } {
  try {
    if (typeof key === 'string') return { obj: createPrivateKey(key), pkcs8: false };
    // DER: PKCS#8 first (what Tahoe stores), then PKCS#1. The order matters: OpenSSL's
    // PKCS#1 reader also accepts PKCS#8 input.
    try {
      return {
        obj: createPrivateKey({ key: Buffer.from(key), format: 'der', type: 'pkcs8' }),
        pkcs8: true,
      };
    } catch {
      return {
        obj: createPrivateKey({ key: Buffer.from(key), format: 'der', type: 'pkcs1' }),
        pkcs8: false,
      };
    }
  } catch (cause) {
    throw new KeyFormatError(
      'could not read the RSA private key: expected PKCS#8 or PKCS#1, PEM or DER',
      { cause },
    );
  }
}

function privateKeyObject(key: Uint8Array | string | KeyObject): KeyObject {
  if (!(key instanceof Uint8Array) && typeof key !== 'string') return key;
  return readPrivateKey(key).obj;
}

/** Parses a private key (PKCS#1/PKCS#8, PEM/DER) once, for repeated signing. */
export function loadPrivateKey(key: Uint8Array | string): KeyObject {
  const obj = privateKeyObject(key);
  if (obj.asymmetricKeyType !== 'rsa') {
    throw new KeyFormatError(
      `expected an RSA private key, got ${obj.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  return obj;
}

/**
 * Reads a private key in PKCS#1/PKCS#8, PEM/DER, and returns Tahoe's DER pair. A PKCS#8
 * DER input is returned byte for byte (Tahoe hashes the exact bytes, §2); other forms are
 * converted to PKCS#8 DER.
 */
export function keyPairFromPrivateKey(key: Uint8Array | string): RsaKeyPair {
  if (key instanceof Uint8Array) requireExactDer(key, 'private key');
  const { obj, pkcs8 } = readPrivateKey(key);
  if (obj.asymmetricKeyType !== 'rsa') {
    throw new KeyFormatError(
      `expected an RSA private key, got ${obj.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  return {
    privateKeyDer:
      pkcs8 && key instanceof Uint8Array
        ? new Uint8Array(key) // a copy, also when `key` is a Buffer (whose slice shares memory)
        : new Uint8Array(obj.export({ type: 'pkcs8', format: 'der' })),
    publicKeyDer: new Uint8Array(createPublicKey(obj).export({ type: 'spki', format: 'der' })),
  };
}

/** Parses an SPKI DER public key (any exponent, e.g. 17 in old Tahoe shares). */
export function loadPublicKey(spkiDer: Uint8Array): KeyObject {
  requireExactDer(spkiDer, 'public key');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new KeyFormatError('could not read the public key: expected SubjectPublicKeyInfo DER', {
      cause,
    });
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new KeyFormatError(
      `expected an RSA public key, got ${key.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  return key;
}

/** Modulus size and public exponent of an SPKI DER RSA public key. */
export function publicKeyInfo(spkiDer: Uint8Array): {
  modulusBits: number;
  publicExponent: bigint;
} {
  const details = loadPublicKey(spkiDer).asymmetricKeyDetails ?? {};
  return { modulusBits: details.modulusLength ?? 0, publicExponent: details.publicExponent ?? 0n };
}

/** Generates a key pair off the main thread (OpenSSL runs it in libuv's pool). */
export function generateRsaKeyPair(bits = 2048, publicExponent = 65537): Promise<RsaKeyPair> {
  return new Promise((resolve, reject) => {
    generateKeyPairCb(
      'rsa',
      {
        modulusLength: bits,
        publicExponent,
        publicKeyEncoding: { type: 'spki', format: 'der' },
        privateKeyEncoding: { type: 'pkcs8', format: 'der' },
      },
      (err, publicKey, privateKey) => {
        if (err) reject(err);
        else
          resolve({
            privateKeyDer: new Uint8Array(privateKey),
            publicKeyDer: new Uint8Array(publicKey),
          });
      },
    );
  });
}

/** RSA-PSS-SHA256 (salt 32) over the raw message; 256 bytes for a 2048-bit key. */
export function signPss(privateKey: Uint8Array | KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign('sha256', message, { key: privateKeyObject(privateKey), ...PSS }));
}

/**
 * Verifies a PSS signature; false (never a throw) for a bad signature or unreadable key.
 * Pass a KeyObject from loadPublicKey to avoid re-parsing the key for every share.
 */
export function verifyPss(
  publicKey: Uint8Array | KeyObject,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  let key: KeyObject;
  try {
    key = publicKey instanceof Uint8Array ? loadPublicKey(publicKey) : publicKey;
  } catch {
    return false;
  }
  try {
    return verify('sha256', message, { key, ...PSS }, signature);
  } catch {
    return false;
  }
}
