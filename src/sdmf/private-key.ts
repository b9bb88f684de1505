// Recovering the file's RSA private key from a share (tahoe-formats.md §3, §5.5 step 6):
// only holders of the writekey can, and the result must hash back to that writekey.
import { aesCtr } from '../crypto/aes.js';
import { writekeyFromPrivateKey } from '../crypto/derive.js';
import { equalBytes } from '../encoding/bytes.js';
import { resolveCapKeys, type SdmfCap } from './cap-keys.js';
import { SdmfCapError, PrivateKeyError } from './errors.js';
import { ED25519_VERSION, parseShare, type ParsedShare } from './layout.js';

/**
 * Decrypts the share's encrypted private key with the writekey (16 bytes, or a write cap)
 * and returns the PKCS#8 DER exactly as stored. Throws PrivateKeyError when it does not
 * hash back to the writekey (altered share, or a share of another file).
 */
export function decryptPrivateKey(
  share: Uint8Array | ParsedShare,
  writekey: Uint8Array | SdmfCap,
): Uint8Array {
  const parsed = share instanceof Uint8Array ? parseShare(share) : share;
  if (parsed.version === ED25519_VERSION) {
    throw new SdmfCapError(
      'ERR_SDMF_NO_PRIVATE_KEY',
      'an Ed25519 share carries no encrypted private key: the write cap (URI:ED25519:…) is the signing key',
    );
  }
  const key = writekey instanceof Uint8Array ? writekey : resolveCapKeys(writekey).writekey;
  if (!key || key.length !== 16) {
    throw new SdmfCapError(
      'ERR_SDMF_NEED_WRITEKEY',
      'recovering the private key needs the 16-byte writekey or a write cap',
    );
  }
  const der = aesCtr(key, parsed.encryptedPrivateKey);
  if (!equalBytes(writekeyFromPrivateKey(der), key)) {
    throw new PrivateKeyError(
      'the encrypted private key in the share does not decrypt to the key of this writekey: the share was altered or belongs to another file',
    );
  }
  return der;
}
