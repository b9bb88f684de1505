// Building the shares of one MDMF version, laid out as Tahoe's MDMFSlotWriteProxy does:
// the encrypted private key, share hash chain, signature and verification key packed from
// byte 123, the share data at the fixed offset after the room Tahoe reserves for them, then
// the block hash tree. Every segment gets a fresh salt and so its own AES key. Pure.
import { randomBytes } from 'node:crypto';
import { encode } from '../codec/index.js';
import { aesCtr } from '../crypto/aes.js';
import { blockHash, datakeyFromSalt } from '../crypto/derive.js';
import { buildTree, hashChain } from '../crypto/merkle.js';
import { signPss } from '../crypto/rsa.js';
import { concatBytes } from '../encoding/bytes.js';
import { MDMF_VERSION, mdmfGeometry } from './share.js';

/** Tahoe's MDMF segment size before rounding up to a multiple of k. */
export const MDMF_MAX_SEGMENT_SIZE = 128 * 1024;
const HEADER_SIZE = 123;
/** Room Tahoe reserves before the share data: key, signature, verification key, chain. */
const RESERVED = 1220 + 260 + 292 + 34 * 8;
export const MDMF_CHECKSTRING_SIZE = 41;

export interface MdmfBuildInput {
  plaintext: Uint8Array;
  /** PKCS#8 DER of the file's signing key. */
  privateKeyDer: Uint8Array;
  /** SPKI DER (the verification key in every share). */
  publicKeyDer: Uint8Array;
  /** As stored in shares: AES-CTR(writekey, private key). */
  encryptedPrivateKey: Uint8Array;
  readkey: Uint8Array;
  seqnum: number;
  k: number;
  N: number;
  /** One salt per segment (tests); random by default. */
  salts?: Uint8Array[];
}

export interface BuiltMdmfVersion {
  shares: Uint8Array[];
  rootHash: Uint8Array;
  seqnum: number;
  /** The first 41 bytes of every share: version, seqnum, root hash (the write test). */
  checkstring: Uint8Array;
}

function putU64(b: Uint8Array, o: number, v: number) {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  view.setUint32(o, Math.floor(v / 0x100000000));
  view.setUint32(o + 4, v >>> 0);
}

export function buildMdmfShares(input: MdmfBuildInput): BuiltMdmfVersion {
  const { plaintext, k, N, readkey } = input;
  const segmentSize = Math.ceil(MDMF_MAX_SEGMENT_SIZE / k) * k;
  const { numSegments } = mdmfGeometry(k, segmentSize, plaintext.length);
  const salts: Uint8Array[] = [];
  // blocks[share][segment]
  const blocks: Uint8Array[][] = Array.from({ length: N }, () => []);
  for (let i = 0; i < numSegments; i++) {
    const salt = input.salts?.[i] ?? new Uint8Array(randomBytes(16));
    salts.push(salt);
    const segment = plaintext.subarray(i * segmentSize, (i + 1) * segmentSize);
    const crypttext = aesCtr(datakeyFromSalt(salt, readkey), segment);
    const pieceSize = Math.ceil(crypttext.length / k);
    const padded = new Uint8Array(pieceSize * k);
    padded.set(crypttext);
    const pieces = Array.from({ length: k }, (_, j) =>
      padded.subarray(j * pieceSize, (j + 1) * pieceSize),
    );
    encode(k, N, pieces).forEach((block, n) => blocks[n].push(block));
  }
  const blockTrees = blocks.map((own) =>
    buildTree(own.map((b, i) => blockHash(concatBytes(salts[i], b)))),
  );
  const shareTree = buildTree(blockTrees.map((t) => t[0]));
  const rootHash = shareTree[0];

  const signed = new Uint8Array(59);
  signed[0] = MDMF_VERSION;
  putU64(signed, 1, input.seqnum);
  signed.set(rootHash, 9);
  signed[41] = k;
  signed[42] = N;
  putU64(signed, 43, segmentSize);
  putU64(signed, 51, plaintext.length);
  const signature = signPss(input.privateKeyDer, signed);

  const shares = blocks.map((own, n) => {
    const chain = concatBytes(
      ...[...hashChain(shareTree, n)].map(([index, hash]) =>
        concatBytes(new Uint8Array([index >> 8, index & 0xff]), hash),
      ),
    );
    const front = concatBytes(input.encryptedPrivateKey, chain, signature, input.publicKeyDer);
    const shareData = Math.max(HEADER_SIZE + RESERVED, HEADER_SIZE + front.length);
    const data = concatBytes(...own.flatMap((b, i) => [salts[i], b]));
    const tree = concatBytes(...blockTrees[n]);
    const offsets = [
      HEADER_SIZE,
      HEADER_SIZE + input.encryptedPrivateKey.length,
      HEADER_SIZE + input.encryptedPrivateKey.length + chain.length,
      HEADER_SIZE + input.encryptedPrivateKey.length + chain.length + signature.length,
      HEADER_SIZE + front.length,
      shareData,
      shareData + data.length,
      shareData + data.length + tree.length,
    ];
    const share = new Uint8Array(offsets[7]);
    share.set(signed, 0);
    offsets.forEach((o, i) => putU64(share, 59 + 8 * i, o));
    share.set(front, HEADER_SIZE);
    share.set(data, shareData);
    share.set(tree, offsets[6]);
    return share;
  });
  return {
    shares,
    rootHash,
    seqnum: input.seqnum,
    checkstring: signed.slice(0, MDMF_CHECKSTRING_SIZE),
  };
}
