// Checking one share as a reader does (tahoe-formats.md §5.5): structure, parameters,
// fingerprint, signature, block hash and share hash chain. The first failing check names
// its field; when two fields could explain a hash mismatch, the other hashes decide which.
import { blockHash, fingerprintFromPublicKey } from '../crypto/derive.js';
import { chainIndexes, emptyLeafHash, leafRowSize, verifyChain } from '../crypto/merkle.js';
import { verifyPss } from '../crypto/rsa.js';
import { verifyEd25519 } from '../crypto/ed25519.js';
import { equalBytes, toHex } from '../encoding/bytes.js';
import { resolveCapKeys, type SdmfCap } from './cap-keys.js';
import { ShareVerificationError, type ShareField } from './errors.js';
import {
  ED25519_VERSION,
  MAX_SDMF_FILE_SIZE,
  parseShare,
  type ChainEntry,
  type ParsedShare,
} from './layout.js';

export interface VerifiedShare {
  shareNumber: number;
  share: ParsedShare;
  /** Equal for exactly the shares of one version (hex of the signed prefix). */
  versionKey: string;
}

function fail(code: string, field: ShareField, message: string): never {
  throw new ShareVerificationError(code, field, message);
}

/**
 * Verifies one share against a write, read or verify cap and returns it parsed. Throws
 * ShareFormatError for malformed bytes and ShareVerificationError for a failed check (both
 * are ShareError, with `code` and `field`). `shareNumber` is the number the server filed the
 * share under; without it the number is read from the share hash chain.
 */
export function verifyShare(bytes: Uint8Array, cap: SdmfCap, shareNumber?: number): VerifiedShare {
  const share = parseShare(bytes);
  const keys = resolveCapKeys(cap);
  const { k, N, datalen, segsize } = share;
  const ed = share.version === ED25519_VERSION;

  if (ed !== (keys.format === 'ed25519')) {
    fail(
      'ERR_SDMF_SHARE_FORMAT',
      'version',
      ed
        ? 'the share is an Ed25519 share (version 0xED) but the cap is an SDMF (RSA) cap: the share belongs to another file'
        : 'the share is an SDMF share (version 0) but the cap is an Ed25519 cap: the share belongs to another file',
    );
  }

  if (k < 1) fail('ERR_SDMF_K', 'k', `share header says k=${k}; k must be at least 1`);
  if (N < k) fail('ERR_SDMF_N', 'N', `share header says N=${N} < k=${k}; need k ≤ N`);
  if (shareNumber !== undefined && !(Number.isInteger(shareNumber) && shareNumber >= 0)) {
    fail('ERR_SDMF_SHARE_NUMBER', 'shareNumber', `share number ${shareNumber} is not valid`);
  }
  if (shareNumber !== undefined && shareNumber >= N) {
    fail(
      'ERR_SDMF_SHARE_NUMBER',
      'shareNumber',
      `share number ${shareNumber} is not below N=${N} from the share header`,
    );
  }
  if (datalen > MAX_SDMF_FILE_SIZE) {
    fail(
      'ERR_SDMF_FILE_TOO_LARGE',
      'datalen',
      `file is ${datalen} bytes; slotfs reads at most ${MAX_SDMF_FILE_SIZE} bytes (64 MiB) of SDMF`,
    );
  }
  if (segsize !== Math.ceil(datalen / k) * k) {
    fail(
      'ERR_SDMF_SEGSIZE',
      'segsize',
      `segsize ${segsize} is not datalen ${datalen} rounded up to a multiple of k=${k}`,
    );
  }
  if (share.shareData.length !== segsize / k) {
    fail(
      'ERR_SDMF_SHARE_DATA_LENGTH',
      'shareData',
      `share data is ${share.shareData.length} bytes; segsize ${segsize} / k=${k} = ${segsize / k} expected`,
    );
  }
  if (share.blockHashTree.length !== 1) {
    fail(
      'ERR_SDMF_TREE_LENGTH',
      'blockHashTree',
      `block hash tree has ${share.blockHashTree.length} hashes; an SDMF share has exactly one`,
    );
  }
  const leaf = leafOfChain(share.shareHashChain, N);
  if (shareNumber !== undefined && leaf !== shareNumber) {
    fail(
      'ERR_SDMF_SHARE_NUMBER',
      'shareNumber',
      `share was stored as number ${shareNumber} but its hash chain is that of share ${leaf}`,
    );
  }

  if (ed) {
    // The cap carries the verification key itself: compare before trusting a signature.
    if (!equalBytes(share.verificationKey, keys.fingerprint)) {
      fail(
        'ERR_SDMF_VERIFICATION_KEY',
        'verificationKey',
        `share ${leaf}: the share's Ed25519 verification key is not the one in the cap; the share belongs to another file or was altered`,
      );
    }
    if (share.encryptedPrivateKey.length !== 0) {
      fail(
        'ERR_SDMF_UNEXPECTED_PRIVATE_KEY',
        'encryptedPrivateKey',
        `share ${leaf}: an Ed25519 share carries no encrypted private key, but this one has ${share.encryptedPrivateKey.length} bytes there`,
      );
    }
  } else if (!equalBytes(fingerprintFromPublicKey(share.verificationKey), keys.fingerprint)) {
    fail(
      'ERR_SDMF_FINGERPRINT',
      'verificationKey',
      `share ${leaf}: the verification key's fingerprint does not match the cap; the share belongs to another file or was altered`,
    );
  }

  // Empty files have no block: the stored one-node tree is the empty tree (§5.3).
  const computed = datalen === 0 ? emptyLeafHash(0) : blockHash(share.shareData);
  const stored = share.blockHashTree[0];
  const chain = new Map(share.shareHashChain.map((e) => [e.index, e.hash]));
  const folds = (h: Uint8Array) => verifyChain(share.rootHash, N, leaf, h, chain);
  const consistent = equalBytes(computed, stored);

  const signed = ed
    ? verifyEd25519(share.verificationKey, share.signedPrefix, share.signature)
    : verifyPss(share.verificationKey, share.signedPrefix, share.signature);
  if (!signed) {
    // The data and chain still fold to some root: if not to the header's, the root hash
    // field is the likely culprit; otherwise the signature or another signed field is.
    if (consistent && !folds(computed)) {
      fail(
        'ERR_SDMF_ROOT_HASH',
        'rootHash',
        `share ${leaf}: the signature does not verify and the share's hashes do not lead to the header's root hash: the root hash was altered`,
      );
    }
    fail(
      'ERR_SDMF_SIGNATURE',
      'signature',
      `share ${leaf}: the ${ed ? 'Ed25519' : 'RSA-PSS'} signature does not verify over the signed prefix (bytes 0–75: seqnum, root hash, salt, k, N, segsize, datalen): the signature or a signed field was altered`,
    );
  }
  if (!consistent) {
    if (!folds(computed) || folds(stored)) {
      fail(
        'ERR_SDMF_BLOCK_HASH',
        'shareData',
        `share ${leaf}: the share data does not match its block hash: the share data was altered`,
      );
    }
    fail(
      'ERR_SDMF_BLOCK_HASH',
      'blockHashTree',
      `share ${leaf}: the stored block hash does not match the (correct) share data: the block hash tree was altered`,
    );
  }
  if (!folds(computed)) {
    fail(
      'ERR_SDMF_SHARE_HASH_CHAIN',
      'shareHashChain',
      `share ${leaf}: the block hash and share hash chain do not lead to the signed root hash: the chain was altered`,
    );
  }
  return { shareNumber: leaf, share, versionKey: toHex(share.signedPrefix) };
}

/**
 * The leaf whose chain this is: the deepest entry is the leaf's sibling. Also checks that
 * the chain has exactly the node indexes that leaf needs (§1.5).
 */
function leafOfChain(entries: ChainEntry[], N: number): number {
  const depth = Math.log2(leafRowSize(N));
  if (entries.length !== depth) {
    fail(
      'ERR_SDMF_CHAIN_INDEXES',
      'shareHashChain',
      `share hash chain has ${entries.length} entries; N=${N} needs ${depth}`,
    );
  }
  if (depth === 0) return 0;
  const deepest = entries[entries.length - 1].index; // ascending, so the last is deepest
  const node = deepest % 2 === 1 ? deepest + 1 : deepest - 1;
  const leaf = node - (leafRowSize(N) - 1);
  const expected = leaf >= 0 && leaf < N ? chainIndexes(N, leaf) : [];
  if (expected.length !== depth || expected.some((index, i) => entries[i].index !== index)) {
    fail(
      'ERR_SDMF_CHAIN_INDEXES',
      'shareHashChain',
      `share hash chain node indexes [${entries.map((e) => e.index).join(', ')}] are not those of any share 0…${N - 1}`,
    );
  }
  return leaf;
}
