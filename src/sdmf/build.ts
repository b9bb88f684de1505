// Writing one version (tahoe-formats.md §5.2–§5.4; docs/formats.md §3 for Ed25519):
// encrypt, split, zfec-encode, hash, sign, and lay out all N shares. The signing key
// chooses the format: an RSA key pair makes SDMF shares, an Ed25519 one Ed25519 shares.
import { randomBytes } from 'node:crypto';
import { aesCtr } from '../crypto/aes.js';
import {
  blockHash,
  datakeyFromSalt,
  ed25519DatakeyFromSalt,
  ed25519ReadkeyFromWritekey,
  ed25519WritekeyFromSeed,
  readkeyFromWritekey,
  writekeyFromPrivateKey,
} from '../crypto/derive.js';
import {
  ed25519PublicKey,
  signEd25519,
  verifyEd25519,
  type Ed25519KeyPair,
} from '../crypto/ed25519.js';
import { equalBytes } from '../encoding/bytes.js';
import { buildTree, emptyLeafHash, hashChain } from '../crypto/merkle.js';
import { signPss, verifyPss, type RsaKeyPair } from '../crypto/rsa.js';
import { encode, splitIntoPieces } from '../codec/index.js';
import { SdmfParameterError } from './errors.js';
import {
  MAX_SDMF_FILE_SIZE,
  MAX_SHARES,
  packShare,
  packSignedPrefix,
  SALT_SIZE,
  CHECKSTRING_SIZE,
  ED25519_VERSION,
  SDMF_VERSION,
  type PrefixFields,
} from './layout.js';

/** A file's signing key: RSA (SDMF shares) or Ed25519 (Ed25519 shares). */
export type SigningKeys = RsaKeyPair | Ed25519KeyPair;

/** True for an Ed25519 key pair (it has a seed), false for an RSA one. */
export const isEd25519Keys = (keys: SigningKeys): keys is Ed25519KeyPair => 'seed' in keys;

/** Identity and parameters of one published version. */
export interface VersionInfo extends PrefixFields {
  /** bytes [0, 57) of every share: publish's test-and-set specimen. */
  checkstring: Uint8Array;
  /** bytes [0, 75) of every share: what `signature` signs. */
  signedPrefix: Uint8Array;
  signature: Uint8Array;
}

export interface BuiltVersion extends VersionInfo {
  /** shares[i] is the complete share number i. */
  shares: Uint8Array[];
}

export interface BuildSharesOptions {
  /** 16 bytes; random when omitted (every publish must use a fresh salt). */
  salt?: Uint8Array;
  /**
   * A signature to store instead of signing. RSA-PSS is randomised, so rebuilding existing
   * shares byte for byte needs their signature; it is checked against the public key.
   * (Ed25519 signatures are deterministic; one given is checked all the same.)
   */
  signature?: Uint8Array;
}

/** segsize: datalen rounded up to a multiple of k (0 for an empty file). */
export const segmentSize = (datalen: number, k: number) => Math.ceil(datalen / k) * k;

export function checkEncodingParameters(k: number, N: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(N) || k < 1 || k > N || N > MAX_SHARES) {
    throw new SdmfParameterError(
      'ERR_SDMF_PARAMS',
      `k=${String(k)}, N=${String(N)} are not valid SDMF encoding parameters: need integers 1 ≤ k ≤ N ≤ ${MAX_SHARES}`,
    );
  }
}

/**
 * Produces all N shares of one version of a file. `keys` is the file's RSA key pair (SDMF)
 * or Ed25519 key pair; the writekey, readkey and data key derive from it.
 * `saltOrOptions` may be the salt itself.
 */
export function buildShares(
  plaintext: Uint8Array,
  keys: SigningKeys,
  seqnum: number,
  k: number,
  N: number,
  saltOrOptions: Uint8Array | BuildSharesOptions = {},
): BuiltVersion {
  const options: BuildSharesOptions =
    saltOrOptions instanceof Uint8Array ? { salt: saltOrOptions } : saltOrOptions;
  checkEncodingParameters(k, N);
  if (!Number.isSafeInteger(seqnum) || seqnum < 0) {
    throw new SdmfParameterError(
      'ERR_SDMF_SEQNUM',
      `seqnum ${String(seqnum)} must be a non-negative safe integer (1 for the first publish)`,
    );
  }
  if (plaintext.length > MAX_SDMF_FILE_SIZE) {
    throw new SdmfParameterError(
      'ERR_SDMF_FILE_TOO_LARGE',
      `file is ${plaintext.length} bytes; slotfs stores at most ${MAX_SDMF_FILE_SIZE} bytes (64 MiB) as one SDMF file`,
    );
  }
  const salt = options.salt ?? new Uint8Array(randomBytes(SALT_SIZE));
  if (salt.length !== SALT_SIZE) {
    throw new SdmfParameterError(
      'ERR_SDMF_SALT',
      `salt must be ${SALT_SIZE} bytes, got ${salt.length}`,
    );
  }

  const ed = isEd25519Keys(keys);
  if (ed && !equalBytes(ed25519PublicKey(keys.seed), keys.publicKey)) {
    throw new SdmfParameterError(
      'ERR_SDMF_SIGNATURE',
      'the Ed25519 seed and public key do not belong together',
    );
  }
  const writekey = ed
    ? ed25519WritekeyFromSeed(keys.seed)
    : writekeyFromPrivateKey(keys.privateKeyDer);
  const readkey = ed ? ed25519ReadkeyFromWritekey(writekey) : readkeyFromWritekey(writekey);
  const datakey = ed ? ed25519DatakeyFromSalt(salt, readkey) : datakeyFromSalt(salt, readkey);
  const ciphertext = aesCtr(datakey, plaintext);
  const datalen = plaintext.length;
  const segsize = segmentSize(datalen, k);

  // An empty file is not encoded: every share's data is empty (§5.2 step 6), and its
  // one-node block hash tree is the empty tree's root.
  const blocks =
    datalen === 0
      ? Array.from({ length: N }, () => new Uint8Array(0))
      : encode(k, N, splitIntoPieces(ciphertext, k));
  const blockRoots = blocks.map((b) => (datalen === 0 ? emptyLeafHash(0) : blockHash(b)));
  const shareTree = buildTree(blockRoots);
  const rootHash = shareTree[0];

  const version = ed ? ED25519_VERSION : SDMF_VERSION;
  const prefixFields = { version, seqnum, rootHash, salt, k, N, segsize, datalen };
  const signedPrefix = packSignedPrefix(prefixFields);
  const signature =
    options.signature ??
    (ed ? signEd25519(keys.seed, signedPrefix) : signPss(keys.privateKeyDer, signedPrefix));
  const verificationKey = ed ? keys.publicKey : keys.publicKeyDer;
  // A fresh Ed25519 signature by a seed whose public key was just checked always verifies
  // (Ed25519 is deterministic); a supplied one, or an RSA one, is checked.
  const verifies =
    ed && !options.signature
      ? true
      : ed
        ? verifyEd25519(verificationKey, signedPrefix, signature)
        : verifyPss(verificationKey, signedPrefix, signature);
  if (!verifies) {
    throw new SdmfParameterError(
      'ERR_SDMF_SIGNATURE',
      options.signature
        ? 'the supplied signature does not verify over this version’s signed prefix with the public key'
        : 'the private and public keys do not belong together: a fresh signature does not verify',
    );
  }
  // Ed25519: the write cap is the key, so the share carries no encrypted private key.
  const encryptedPrivateKey = ed ? new Uint8Array(0) : aesCtr(writekey, keys.privateKeyDer);

  const shares = blocks.map((shareData, i) =>
    packShare({
      ...prefixFields,
      verificationKey,
      signature,
      shareHashChain: [...hashChain(shareTree, i)].map(([index, hash]) => ({ index, hash })),
      blockHashTree: [blockRoots[i]],
      shareData,
      encryptedPrivateKey,
    }),
  );
  return {
    ...prefixFields,
    checkstring: signedPrefix.slice(0, CHECKSTRING_SIZE),
    signedPrefix,
    signature,
    shares,
  };
}
