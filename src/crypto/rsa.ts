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

function privateKeyObject(key: Uint8Array | string | KeyObject): KeyObject {
  if (!(key instanceof Uint8Array) && typeof key !== 'string') return key;
  try {
    if (typeof key === 'string') return createPrivateKey(key);
    // DER: PKCS#8 first (what Tahoe stores), then PKCS#1.
    try {
      return createPrivateKey({ key: Buffer.from(key), format: 'der', type: 'pkcs8' });
    } catch {
      return createPrivateKey({ key: Buffer.from(key), format: 'der', type: 'pkcs1' });
    }
  } catch (cause) {
    throw new KeyFormatError(
      'could not read the RSA private key: expected PKCS#8 or PKCS#1, PEM or DER',
      { cause },
    );
  }
}

/** Reads a private key in PKCS#1/PKCS#8, PEM/DER, and returns Tahoe's canonical DER pair. */
export function keyPairFromPrivateKey(key: Uint8Array | string): RsaKeyPair {
  const obj = privateKeyObject(key);
  if (obj.asymmetricKeyType !== 'rsa') {
    throw new KeyFormatError(
      `expected an RSA private key, got ${obj.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  return {
    privateKeyDer: new Uint8Array(obj.export({ type: 'pkcs8', format: 'der' })),
    publicKeyDer: new Uint8Array(createPublicKey(obj).export({ type: 'spki', format: 'der' })),
  };
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

/** Verifies a PSS signature; false (never a throw) for a bad signature or unreadable key. */
export function verifyPss(
  publicKeyDer: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
  } catch {
    return false;
  }
  try {
    return verify('sha256', message, { key, ...PSS }, signature);
  } catch {
    return false;
  }
}
