// Writing one SDMF version (tahoe-formats.md §5.2–§5.4): encrypt, split, zfec-encode, hash,
// sign, and lay out all N shares.
import { randomBytes } from 'node:crypto';
import { aesCtr } from '../crypto/aes.js';
import {
  blockHash,
  datakeyFromSalt,
  readkeyFromWritekey,
  writekeyFromPrivateKey,
} from '../crypto/derive.js';
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
} from './layout.js';

/** Identity and parameters of one published version. */
export interface VersionInfo {
  seqnum: number;
  rootHash: Uint8Array;
  salt: Uint8Array;
  k: number;
  N: number;
  segsize: number;
  datalen: number;
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
 * Produces all N shares of one version of a file. `keys` is the file's RSA key pair; the
 * writekey, readkey and data key derive from it. `saltOrOptions` may be the salt itself.
 */
export function buildShares(
  plaintext: Uint8Array,
  keys: RsaKeyPair,
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

  const writekey = writekeyFromPrivateKey(keys.privateKeyDer);
  const readkey = readkeyFromWritekey(writekey);
  const ciphertext = aesCtr(datakeyFromSalt(salt, readkey), plaintext);
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

  const prefixFields = { seqnum, rootHash, salt, k, N, segsize, datalen };
  const signedPrefix = packSignedPrefix(prefixFields);
  const signature = options.signature ?? signPss(keys.privateKeyDer, signedPrefix);
  if (!verifyPss(keys.publicKeyDer, signedPrefix, signature)) {
    throw new SdmfParameterError(
      'ERR_SDMF_SIGNATURE',
      options.signature
        ? 'the supplied signature does not verify over this version’s signed prefix with the public key'
        : 'the private and public keys do not belong together: a fresh signature does not verify',
    );
  }
  const encryptedPrivateKey = aesCtr(writekey, keys.privateKeyDer);

  const shares = blocks.map((shareData, i) =>
    packShare({
      ...prefixFields,
      verificationKey: keys.publicKeyDer,
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
