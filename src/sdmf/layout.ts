// The SDMF share layout (tahoe-formats.md §5.4): packing and parsing, structure only.
// Parsed fields are subarray views of the input (no copies); nothing here checks hashes
// or signatures — that is verify.ts.
import { SdmfParameterError, ShareFormatError, type ShareField } from './errors.js';

export const SDMF_VERSION = 0;
export const MDMF_VERSION = 1;
/**
 * slotfs's Ed25519 mutable share (docs/formats.md §3): SDMF's layout with a 32-byte raw
 * verification key, a 64-byte Ed25519 signature and no encrypted private key. 0xED is
 * neither SDMF's 0 nor MDMF's 1, which every Tahoe reader requires, and far from the
 * small numbers a future Tahoe format would take.
 */
export const ED25519_VERSION = 0xed;
/** Fixed header: signed prefix (75) + four u32 and two u64 offsets. */
export const HEADER_SIZE = 107;
/** version ‖ seqnum ‖ root hash ‖ salt: publish's test-and-set specimen. */
export const CHECKSTRING_SIZE = 57;
/** checkstring ‖ k ‖ N ‖ segsize ‖ datalen: the bytes the RSA-PSS signature covers. */
export const SIGNED_PREFIX_SIZE = 75;
export const HASH_SIZE = 32;
export const SALT_SIZE = 16;
/** One share-hash-chain entry: u16 node index ‖ 32-byte hash. */
export const CHAIN_ENTRY_SIZE = 2 + HASH_SIZE;
export const MAX_SHARES = 255;

/**
 * Largest plaintext slotfs writes or reads as one SDMF file: 64 MiB.
 *
 * The format itself would allow more (only the offsets up to the share data are u32, so the
 * parts before the share data must stay under 4 GiB), and Tahoe enforces no limit. But SDMF
 * is a single segment: every read downloads and decodes k whole shares and every write
 * re-encrypts, re-encodes and re-uploads all N of them, holding plaintext, ciphertext and
 * N/k × the file in memory at once (≈ 0.4 GiB at 64 MiB with k=3, N=10). Beyond this size
 * the cost per small edit is unreasonable and a client should refuse rather than thrash.
 */
export const MAX_SDMF_FILE_SIZE = 64 * 1024 * 1024;

const U32_MAX = 0xffffffff;

export interface ShareOffsets {
  signature: number;
  shareHashChain: number;
  blockHashTree: number;
  shareData: number;
  encryptedPrivateKey: number;
  eof: number;
}

/** The fixed 107-byte header, decoded. */
export interface ShareHeader extends Required<PrefixFields> {
  offsets: ShareOffsets;
  /** bytes [0, 57): version ‖ seqnum ‖ root hash ‖ salt. */
  checkstring: Uint8Array;
  /** bytes [0, 75): what the signature covers. */
  signedPrefix: Uint8Array;
}

export interface ChainEntry {
  index: number;
  hash: Uint8Array;
}

/** The fields after the header, in their order in the share (§5.4). */
export interface ShareBody {
  verificationKey: Uint8Array;
  signature: Uint8Array;
  shareHashChain: ChainEntry[];
  blockHashTree: Uint8Array[];
  shareData: Uint8Array;
  encryptedPrivateKey: Uint8Array;
}

/** Whatever a prefix of a share reveals: the header always, each body field once complete. */
export interface SharePrefix extends ShareHeader, Partial<ShareBody> {
  /** True when the bytes reach the EOF offset, i.e. every field is present. */
  complete: boolean;
}

export interface ParsedShare extends ShareHeader, ShareBody {
  /** Bytes past the EOF offset (left behind by an older, longer version); ignored. */
  trailingBytes: number;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readU64(dv: DataView, at: number, field: ShareField): number {
  const v = dv.getBigUint64(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ShareFormatError(
      'ERR_SDMF_INTEGER_RANGE',
      field,
      `share header field ${field} is ${v}, beyond what slotfs handles (2^53−1)`,
    );
  }
  return Number(v);
}

/** Decodes the header and checks that the offsets are ordered and consistent. */
export function parseHeader(bytes: Uint8Array): ShareHeader {
  if (bytes.length < HEADER_SIZE) {
    throw new ShareFormatError(
      'ERR_SDMF_TRUNCATED',
      'header',
      `share is ${bytes.length} bytes, shorter than the ${HEADER_SIZE}-byte SDMF header; read at least ${HEADER_SIZE} bytes`,
    );
  }
  const version = bytes[0];
  if (version !== SDMF_VERSION && version !== ED25519_VERSION) {
    const what = version === MDMF_VERSION ? 'an MDMF share (version 1)' : `version ${version}`;
    throw new ShareFormatError(
      'ERR_SDMF_VERSION',
      'version',
      `share is ${what}; only SDMF (version byte 0) and slotfs's Ed25519 format (0xED) are supported`,
    );
  }
  const dv = view(bytes);
  const offsets: ShareOffsets = {
    signature: dv.getUint32(75),
    shareHashChain: dv.getUint32(79),
    blockHashTree: dv.getUint32(83),
    shareData: dv.getUint32(87),
    encryptedPrivateKey: readU64(dv, 91, 'offsets.encryptedPrivateKey'),
    eof: readU64(dv, 99, 'offsets.eof'),
  };
  checkOffsets(offsets);
  return {
    version,
    seqnum: readU64(dv, 1, 'seqnum'),
    rootHash: bytes.subarray(9, 41),
    salt: bytes.subarray(41, 57),
    k: bytes[57],
    N: bytes[58],
    segsize: readU64(dv, 59, 'segsize'),
    datalen: readU64(dv, 67, 'datalen'),
    offsets,
    checkstring: bytes.subarray(0, CHECKSTRING_SIZE),
    signedPrefix: bytes.subarray(0, SIGNED_PREFIX_SIZE),
  };
}

function checkOffsets(o: ShareOffsets): void {
  // Each region runs from its offset to the next; the verification key starts right after
  // the header, so the signature offset must leave room for a non-empty key.
  const order: Array<[ShareField, number, number, string]> = [
    ['offsets.signature', o.signature, HEADER_SIZE + 1, 'the end of the header + 1'],
    ['offsets.shareHashChain', o.shareHashChain, o.signature + 1, 'the signature offset + 1'],
    ['offsets.blockHashTree', o.blockHashTree, o.shareHashChain, 'the share-hash-chain offset'],
    ['offsets.shareData', o.shareData, o.blockHashTree + HASH_SIZE, 'block-hash-tree offset + 32'],
    ['offsets.encryptedPrivateKey', o.encryptedPrivateKey, o.shareData, 'the share-data offset'],
    ['offsets.eof', o.eof, o.encryptedPrivateKey, 'the encrypted-private-key offset'],
  ];
  for (const [field, value, min, what] of order) {
    if (value < min) {
      throw new ShareFormatError(
        'ERR_SDMF_OFFSETS',
        field,
        `share offset ${field} = ${value} is before ${what} (${min}): offsets out of order`,
      );
    }
  }
  const chainLength = o.blockHashTree - o.shareHashChain;
  if (chainLength % CHAIN_ENTRY_SIZE !== 0) {
    throw new ShareFormatError(
      'ERR_SDMF_CHAIN_LENGTH',
      'shareHashChain',
      `share hash chain is ${chainLength} bytes, not a multiple of ${CHAIN_ENTRY_SIZE}`,
    );
  }
  const treeLength = o.shareData - o.blockHashTree;
  if (treeLength % HASH_SIZE !== 0) {
    throw new ShareFormatError(
      'ERR_SDMF_TREE_LENGTH',
      'blockHashTree',
      `block hash tree is ${treeLength} bytes, not a multiple of ${HASH_SIZE}`,
    );
  }
}

function parseChain(region: Uint8Array): ChainEntry[] {
  const dv = view(region);
  const entries: ChainEntry[] = [];
  for (let at = 0; at < region.length; at += CHAIN_ENTRY_SIZE) {
    const index = dv.getUint16(at);
    if (entries.length > 0 && index <= entries[entries.length - 1].index) {
      throw new ShareFormatError(
        'ERR_SDMF_CHAIN_ORDER',
        'shareHashChain',
        `share hash chain entry ${entries.length} has node index ${index}, not above the previous one: entries must be in ascending order`,
      );
    }
    entries.push({ index, hash: region.subarray(at + 2, at + CHAIN_ENTRY_SIZE) });
  }
  return entries;
}

function parseTree(region: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < region.length; at += HASH_SIZE)
    out.push(region.subarray(at, at + HASH_SIZE));
  return out;
}

/**
 * Parses the first bytes of a share (e.g. the first few KB a client reads): the header and
 * offsets always (at least HEADER_SIZE bytes are needed), and every body field that lies
 * entirely within `bytes`. `offsets.eof` says how long the whole share is.
 */
export function parseSharePrefix(bytes: Uint8Array): SharePrefix {
  const header = parseHeader(bytes);
  const o = header.offsets;
  const have = (end: number) => end <= bytes.length;
  const prefix: SharePrefix = { ...header, complete: have(o.eof) };
  if (have(o.signature)) prefix.verificationKey = bytes.subarray(HEADER_SIZE, o.signature);
  if (have(o.shareHashChain)) prefix.signature = bytes.subarray(o.signature, o.shareHashChain);
  if (have(o.blockHashTree)) {
    prefix.shareHashChain = parseChain(bytes.subarray(o.shareHashChain, o.blockHashTree));
  }
  if (have(o.shareData))
    prefix.blockHashTree = parseTree(bytes.subarray(o.blockHashTree, o.shareData));
  if (have(o.encryptedPrivateKey)) {
    prefix.shareData = bytes.subarray(o.shareData, o.encryptedPrivateKey);
  }
  if (have(o.eof)) prefix.encryptedPrivateKey = bytes.subarray(o.encryptedPrivateKey, o.eof);
  return prefix;
}

/** Parses a whole share; bytes past the EOF offset are tolerated and ignored. */
export function parseShare(bytes: Uint8Array): ParsedShare {
  const p = parseSharePrefix(bytes);
  if (!p.complete) {
    throw new ShareFormatError(
      'ERR_SDMF_TRUNCATED',
      fieldAt(p.offsets, bytes.length),
      `share is ${bytes.length} bytes but its EOF offset is ${p.offsets.eof}: the share is truncated`,
    );
  }
  return { ...(p as Required<SharePrefix>), trailingBytes: bytes.length - p.offsets.eof };
}

/** The body field that contains byte position `at` (for "truncated in field X"). */
function fieldAt(o: ShareOffsets, at: number): ShareField {
  if (at < o.signature) return 'verificationKey';
  if (at < o.shareHashChain) return 'signature';
  if (at < o.blockHashTree) return 'shareHashChain';
  if (at < o.shareData) return 'blockHashTree';
  if (at < o.encryptedPrivateKey) return 'shareData';
  return 'encryptedPrivateKey';
}

/** Header values a writer chooses; the signed prefix is derived from them. */
export interface PrefixFields {
  /** SDMF_VERSION (default) or ED25519_VERSION. */
  version?: number;
  seqnum: number;
  rootHash: Uint8Array;
  salt: Uint8Array;
  k: number;
  N: number;
  segsize: number;
  datalen: number;
}

/** The 75 signed bytes: version (0, or 0xED) ‖ seqnum ‖ root hash ‖ salt ‖ k ‖ N ‖ segsize ‖ datalen. */
export function packSignedPrefix(f: PrefixFields): Uint8Array {
  if (f.rootHash.length !== HASH_SIZE || f.salt.length !== SALT_SIZE) {
    throw new SdmfParameterError(
      'ERR_SDMF_FIELD_SIZE',
      `root hash must be ${HASH_SIZE} bytes and salt ${SALT_SIZE}, got ${f.rootHash.length} and ${f.salt.length}`,
    );
  }
  const out = new Uint8Array(SIGNED_PREFIX_SIZE);
  const dv = view(out);
  const version = f.version ?? SDMF_VERSION;
  if (version !== SDMF_VERSION && version !== ED25519_VERSION) {
    throw new SdmfParameterError(
      'ERR_SDMF_PARAMS',
      `share version ${version} is neither SDMF (0) nor Ed25519 (0xED)`,
    );
  }
  out[0] = version;
  dv.setBigUint64(1, BigInt(f.seqnum));
  out.set(f.rootHash, 9);
  out.set(f.salt, 41);
  out[57] = f.k;
  out[58] = f.N;
  dv.setBigUint64(59, BigInt(f.segsize));
  dv.setBigUint64(67, BigInt(f.datalen));
  return out;
}

/** What packShare lays out: the header values a writer chooses and the body. */
export interface ShareFields extends PrefixFields, ShareBody {}

/** Lays out one share: header, offsets, then the body fields in §5.4 order, no gaps. */
export function packShare(f: ShareFields): Uint8Array {
  const signed = packSignedPrefix(f);
  const o = {} as ShareOffsets;
  o.signature = HEADER_SIZE + f.verificationKey.length;
  o.shareHashChain = o.signature + f.signature.length;
  o.blockHashTree = o.shareHashChain + f.shareHashChain.length * CHAIN_ENTRY_SIZE;
  o.shareData = o.blockHashTree + f.blockHashTree.length * HASH_SIZE;
  o.encryptedPrivateKey = o.shareData + f.shareData.length;
  o.eof = o.encryptedPrivateKey + f.encryptedPrivateKey.length;
  if (o.shareData > U32_MAX) {
    throw new SdmfParameterError(
      'ERR_SDMF_FIELD_SIZE',
      `share fields before the share data take ${o.shareData} bytes; their offsets must fit in 32 bits`,
    );
  }
  const out = new Uint8Array(o.eof);
  const dv = view(out);
  out.set(signed, 0);
  dv.setUint32(75, o.signature);
  dv.setUint32(79, o.shareHashChain);
  dv.setUint32(83, o.blockHashTree);
  dv.setUint32(87, o.shareData);
  dv.setBigUint64(91, BigInt(o.encryptedPrivateKey));
  dv.setBigUint64(99, BigInt(o.eof));
  out.set(f.verificationKey, HEADER_SIZE);
  out.set(f.signature, o.signature);
  let at = o.shareHashChain;
  for (const { index, hash } of f.shareHashChain) {
    if (hash.length !== HASH_SIZE) {
      throw new SdmfParameterError('ERR_SDMF_FIELD_SIZE', `chain hash must be ${HASH_SIZE} bytes`);
    }
    dv.setUint16(at, index);
    out.set(hash, at + 2);
    at += CHAIN_ENTRY_SIZE;
  }
  at = o.blockHashTree;
  for (const hash of f.blockHashTree) {
    if (hash.length !== HASH_SIZE) {
      throw new SdmfParameterError('ERR_SDMF_FIELD_SIZE', `tree hash must be ${HASH_SIZE} bytes`);
    }
    out.set(hash, at);
    at += HASH_SIZE;
  }
  out.set(f.shareData, o.shareData);
  out.set(f.encryptedPrivateKey, o.encryptedPrivateKey);
  return out;
}
