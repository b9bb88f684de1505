// MDMF shares (Tahoe's mutable/layout.py, MDMFSlotWriteProxy): a 59-byte signed header
// (version 1, seqnum, share-tree root hash, k, N, segment size, data length), eight 8-byte
// offsets, then the encrypted private key, share hash chain (2-byte index + 32-byte hash
// pairs), signature, verification key, the share data — per segment a 16-byte salt then
// the block — and the block hash tree. Each segment has its own salt and so its own AES
// key; block hashes cover salt‖block. Pure: bytes in, bytes out.
import { decode } from '../codec/index.js';
import { aesCtr } from '../crypto/aes.js';
import { blockHash, datakeyFromSalt, fingerprintFromPublicKey } from '../crypto/derive.js';
import { leafRowSize, treeRoot, verifyChain } from '../crypto/merkle.js';
import { verifyPss } from '../crypto/rsa.js';
import { concatBytes, equalBytes, toHex } from '../encoding/bytes.js';

export const MDMF_VERSION = 1;
const SIGNED_SIZE = 59;
const HEADER_SIZE = 123;
const SALT_SIZE = 16;

export class MdmfError extends Error {
  constructor(
    /** ERR_MDMF_LAYOUT: not a well-formed MDMF share; ERR_MDMF_VERIFY: a check failed. */
    readonly code: 'ERR_MDMF_LAYOUT' | 'ERR_MDMF_VERIFY',
    message: string,
  ) {
    super(message);
    this.name = 'MdmfError';
  }
}

export interface MdmfShare {
  seqnum: number;
  rootHash: Uint8Array;
  k: number;
  N: number;
  segmentSize: number;
  dataLength: number;
  /** The signed header; equal for exactly the shares of one version. */
  signedPrefix: Uint8Array;
  versionKey: string;
  signature: Uint8Array;
  verificationKey: Uint8Array;
  encryptedPrivateKey: Uint8Array;
  shareHashChain: Map<number, Uint8Array>;
  /** One entry per segment. */
  segments: Array<{ salt: Uint8Array; block: Uint8Array }>;
}

function u64(b: Uint8Array, o: number): number {
  const hi = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  const lo = ((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0;
  if (hi >= 0x200000) return Number.MAX_SAFE_INTEGER;
  return hi * 0x100000000 + lo;
}

/** Segments, block size and tail block size of a file (Tahoe's MDMF arithmetic). */
export function mdmfGeometry(k: number, segmentSize: number, dataLength: number) {
  const blockSize = segmentSize / k;
  const numSegments = Math.ceil(dataLength / segmentSize);
  const tail = dataLength % segmentSize;
  const tailBlockSize = tail === 0 ? blockSize : Math.ceil(tail / k);
  return { blockSize, numSegments, tailBlockSize };
}

/** True if the bytes start an MDMF share (version byte 1). */
export function isMdmfShare(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === MDMF_VERSION;
}

export function parseMdmfShare(bytes: Uint8Array): MdmfShare {
  const bad = (why: string): never => {
    throw new MdmfError('ERR_MDMF_LAYOUT', `MDMF share: ${why}`);
  };
  if (bytes.length < HEADER_SIZE) bad(`${bytes.length} bytes is shorter than the header`);
  if (bytes[0] !== MDMF_VERSION) bad(`version ${bytes[0]} is not MDMF`);
  const k = bytes[41];
  const N = bytes[42];
  const segmentSize = u64(bytes, 43);
  const dataLength = u64(bytes, 51);
  const o = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => u64(bytes, 59 + 8 * i));
  const [encPrivKey, chainAt, sigAt, vkAt, vkEnd, dataAt, bhtAt, eof] = o;
  if (k < 1 || N < k) bad(`k=${k}, N=${N}`);
  if (segmentSize < 1 || segmentSize % k !== 0) bad(`segment size ${segmentSize} for k=${k}`);
  if (
    encPrivKey < HEADER_SIZE ||
    !o.every((v, i) => i === 0 || v >= o[i - 1]) ||
    eof > bytes.length
  )
    bad('offsets out of order or beyond the share');
  const { blockSize, numSegments, tailBlockSize } = mdmfGeometry(k, segmentSize, dataLength);
  if ((sigAt - chainAt) % 34 !== 0) bad('share hash chain size');
  const shareHashChain = new Map<number, Uint8Array>();
  for (let at = chainAt; at < sigAt; at += 34) {
    shareHashChain.set((bytes[at] << 8) | bytes[at + 1], bytes.subarray(at + 2, at + 34));
  }
  const segments: MdmfShare['segments'] = [];
  let at = dataAt;
  for (let i = 0; i < numSegments; i++) {
    const size = i === numSegments - 1 ? tailBlockSize : blockSize;
    if (at + SALT_SIZE + size > bhtAt) bad(`segment ${i} runs past the share data`);
    segments.push({
      salt: bytes.subarray(at, at + SALT_SIZE),
      block: bytes.subarray(at + SALT_SIZE, at + SALT_SIZE + size),
    });
    at += SALT_SIZE + size;
  }
  const signedPrefix = bytes.subarray(0, SIGNED_SIZE);
  return {
    seqnum: u64(bytes, 1),
    rootHash: bytes.subarray(9, 41),
    k,
    N,
    segmentSize,
    dataLength,
    signedPrefix,
    versionKey: toHex(signedPrefix),
    signature: bytes.subarray(sigAt, vkAt),
    verificationKey: bytes.subarray(vkAt, vkEnd),
    encryptedPrivateKey: bytes.subarray(encPrivKey, chainAt),
    shareHashChain,
    segments,
  };
}

/**
 * Checks a parsed share as a reader does: the verification key matches the cap's
 * fingerprint, the signature covers the header, and salt‖block hashes chain up to the
 * signed root hash. Throws MdmfError ERR_MDMF_VERIFY.
 */
export function verifyMdmfShare(share: MdmfShare, fingerprint: Uint8Array, shareNumber: number) {
  const fail = (why: string): never => {
    throw new MdmfError('ERR_MDMF_VERIFY', `MDMF share ${shareNumber}: ${why}`);
  };
  if (shareNumber >= share.N) fail(`share number is not below N=${share.N}`);
  if (!equalBytes(fingerprintFromPublicKey(share.verificationKey), fingerprint))
    fail('verification key does not match the cap');
  if (!verifyPss(share.verificationKey, share.signedPrefix, share.signature))
    fail('signature does not verify');
  const leaf = treeRoot(share.segments.map((s) => blockHash(concatBytes(s.salt, s.block))));
  const stored = share.shareHashChain.get(leafRowSize(share.N) - 1 + shareNumber);
  if (
    (stored && !equalBytes(stored, leaf)) ||
    !verifyChain(share.rootHash, share.N, shareNumber, leaf, share.shareHashChain)
  )
    fail('blocks do not hash to the signed root hash');
}

/** Decodes and decrypts a version from k verified shares (share number → share). */
export function decodeMdmf(
  shares: ReadonlyMap<number, MdmfShare>,
  readkey: Uint8Array,
): Uint8Array {
  const [first] = shares.values();
  const { k, N, segmentSize, dataLength } = first;
  const numbers = [...shares.keys()].slice(0, k);
  if (numbers.length < k)
    throw new RangeError(`decodeMdmf needs ${k} shares, got ${numbers.length}`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < first.segments.length; i++) {
    const pieces = decode(
      k,
      N,
      numbers.map((n) => shares.get(n)!.segments[i].block),
      numbers,
    );
    const last = i === first.segments.length - 1;
    const length = last ? dataLength - i * segmentSize : segmentSize;
    const crypttext = concatBytes(...pieces).subarray(0, length);
    const salt = shares.get(numbers[0])!.segments[i].salt;
    out.push(aesCtr(datakeyFromSalt(salt, readkey), crypttext));
  }
  return concatBytes(...out);
}
