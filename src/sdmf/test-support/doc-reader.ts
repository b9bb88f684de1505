// An independent reader of Ed25519 mutable slots, written from docs/formats.md alone: its
// own base32, hashes, offsets and checks, and none of slotfs's parsers or key schedule.
// Shares are given in share-number order; shares 0…k−1 must be among them.
import { createCipheriv, createHash, createPublicKey, verify } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
export function b32decode(text: string, bytes: number): Buffer {
  if (text.length !== Math.ceil((bytes * 8) / 5)) throw new Error('base32 length');
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of text) {
    const v = ALPHABET.indexOf(c);
    if (v < 0) throw new Error('base32 character');
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  if ((value & ((1 << bits) - 1)) !== 0) throw new Error('base32 trailing bits');
  return Buffer.from(out);
}
const ns = (b: Buffer | string) => {
  const buf = Buffer.from(b);
  return Buffer.concat([Buffer.from(`${buf.length}:`), buf, Buffer.from(',')]);
};
const sha256d = (b: Buffer) =>
  createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
export const H = (tag: string, v: Buffer | string) =>
  sha256d(Buffer.concat([ns(tag), Buffer.from(v)]));
export const H2 = (tag: string, a: Buffer, b: Buffer) =>
  sha256d(Buffer.concat([ns(tag), ns(a), ns(b)]));

interface Share {
  version: number;
  seqnum: bigint;
  root: Buffer;
  salt: Buffer;
  k: number;
  N: number;
  segsize: number;
  datalen: number;
  prefix: Buffer;
  vk: Buffer;
  sig: Buffer;
  chain: Map<number, Buffer>;
  blockHash: Buffer;
  data: Buffer;
}

function parseByTheDoc(b: Buffer): Share {
  const o = {
    sig: b.readUInt32BE(75),
    chain: b.readUInt32BE(79),
    bht: b.readUInt32BE(83),
    data: b.readUInt32BE(87),
    epk: Number(b.readBigUInt64BE(91)),
    eof: Number(b.readBigUInt64BE(99)),
  };
  if (b[0] !== 0xed) throw new Error('version');
  if (o.sig !== 139 || o.chain !== 203) throw new Error('fixed offsets');
  if ((o.bht - o.chain) % 34 !== 0 || o.data - o.bht !== 32) throw new Error('offsets');
  if (o.epk !== o.eof || b.length < o.eof) throw new Error('private key region / length');
  const chain = new Map<number, Buffer>();
  for (let at = o.chain; at < o.bht; at += 34)
    chain.set(b.readUInt16BE(at), b.subarray(at + 2, at + 34));
  return {
    version: b[0],
    seqnum: b.readBigUInt64BE(1),
    root: b.subarray(9, 41),
    salt: b.subarray(41, 57),
    k: b[57],
    N: b[58],
    segsize: Number(b.readBigUInt64BE(59)),
    datalen: Number(b.readBigUInt64BE(67)),
    prefix: b.subarray(0, 75),
    vk: b.subarray(107, 139),
    sig: b.subarray(139, 203),
    chain,
    blockHash: b.subarray(o.bht, o.data),
    data: b.subarray(o.data, o.epk),
  };
}

/** The storage index of a read cap (docs/formats.md §2). */
export function storageIndexByTheDoc(readCap: string): Buffer {
  const [, , rk, vkText] = readCap.split(':');
  return H2(
    'slotfs_ed25519_readkey_and_verification_key_to_storage_index_v1',
    b32decode(rk, 16),
    b32decode(vkText, 32),
  ).subarray(0, 16);
}

/** Verifies every share (§5) and returns the plaintext. */
export function readByTheDoc(readCap: string, shares: Buffer[]): Buffer {
  const [, kind, rk, vkText] = readCap.split(':');
  if (kind !== 'ED25519-RO') throw new Error('kind');
  const readkey = b32decode(rk, 16);
  const vk = b32decode(vkText, 32);
  const spki = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), vk]),
    format: 'der',
    type: 'spki',
  });
  const parsed = shares.map((bytes, i) => {
    const s = parseByTheDoc(bytes);
    if (s.k < 1 || s.k > s.N || i >= s.N) throw new Error('k/N');
    if (s.segsize !== Math.ceil(s.datalen / s.k) * s.k || s.data.length !== s.segsize / s.k) {
      throw new Error('sizes');
    }
    if (!s.vk.equals(vk)) throw new Error('verification key is not the cap’s');
    if (!verify(null, s.prefix, spki, s.sig)) throw new Error('signature');
    const leafHash =
      s.datalen === 0
        ? H('Merkle tree empty leaf', '0')
        : H('allmydata_encoded_subshare_v1', s.data);
    if (!leafHash.equals(s.blockHash)) throw new Error('block hash');
    let P = 1;
    while (P < s.N) P *= 2;
    let node = P - 1 + i;
    let h = leafHash;
    while (node !== 0) {
      const sibling = node % 2 === 1 ? node + 1 : node - 1;
      const other = s.chain.get(sibling);
      if (!other) throw new Error('chain');
      h =
        node % 2 === 1
          ? H2('Merkle tree internal node', h, other)
          : H2('Merkle tree internal node', other, h);
      node = (node - 1) >> 1;
    }
    if (!h.equals(s.root)) throw new Error('root hash');
    return s;
  });
  const first = parsed[0];
  if (!parsed.every((s) => s.prefix.equals(first.prefix))) throw new Error('mixed versions');
  // Shares 0…k−1 are the pieces themselves.
  const ciphertext = Buffer.concat(parsed.slice(0, first.k).map((s) => s.data)).subarray(
    0,
    first.datalen,
  );
  const datakey = H2('slotfs_ed25519_readkey_and_salt_to_datakey_v1', first.salt, readkey).subarray(
    0,
    16,
  );
  const aes = createCipheriv('aes-128-ctr', datakey, Buffer.alloc(16));
  return Buffer.concat([aes.update(ciphertext), aes.final()]);
}
