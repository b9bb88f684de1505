// The Ed25519 mutable slot's known-answer vectors (src/sdmf/vectors/ed25519.json,
// docs/formats.md §8): slotfs reproduces them, and a reader written from docs/formats.md
// alone — below, with its own base32, hashes, offsets and checks, and none of slotfs's
// parsers — verifies the shares and gets the plaintext back.
import test from 'ava';
import { createCipheriv, createHash, createPublicKey, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { computeVectors, VECTORS } from '../../scripts/ed25519-vectors.js';
import { parseCap, formatCap, readCapOf, verifyCapOf, requireWriteCap } from '../caps/index.js';
import { decodeShares, verifyShare } from './index.js';

const stored = JSON.parse(await readFile(VECTORS, 'utf8')) as ReturnType<typeof computeVectors>;

test('slotfs reproduces every vector byte for byte', (t) => {
  t.deepEqual(computeVectors(), stored);
});

test('caps parse, format and derive write → read → verify offline', (t) => {
  for (const k of stored.keys) {
    for (const caps of [k.file, k.directory]) {
      const write = requireWriteCap(parseCap(caps.writeCap));
      t.is(formatCap(write), caps.writeCap);
      t.is(formatCap(readCapOf(write)), caps.readCap);
      t.is(formatCap(verifyCapOf(write)), caps.verifyCap);
      t.is(formatCap(verifyCapOf(parseCap(caps.readCap))), caps.verifyCap);
      t.is(Buffer.from(write.storageIndex).toString('hex'), k.storageIndex);
      t.is(Buffer.from(write.fingerprint).toString('hex'), k.verificationKey);
    }
  }
});

test('slotfs verifies and decodes the vector shares with the read cap', (t) => {
  const f = stored.file;
  const shares = new Map(f.shares.map((h, i) => [i, Buffer.from(h, 'hex')] as const));
  for (const [i, bytes] of shares) t.is(verifyShare(bytes, f.readCap, i).shareNumber, i);
  t.is(Buffer.from(decodeShares(f.readCap, shares)).toString('hex'), f.plaintext);
});

// ---------------------------------------------------------------------------------------
// An independent reader, from docs/formats.md only.

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
function b32decode(text: string, bytes: number): Buffer {
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
const H = (tag: string, v: Buffer | string) => sha256d(Buffer.concat([ns(tag), Buffer.from(v)]));
const H2 = (tag: string, a: Buffer, b: Buffer) => sha256d(Buffer.concat([ns(tag), ns(a), ns(b)]));

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

function readByTheDoc(readCap: string, shares: Buffer[]): Buffer {
  const [, kind, rk, vkText] = readCap.split(':');
  if (kind !== 'ED25519-RO') throw new Error('kind');
  const readkey = b32decode(rk, 16);
  const vk = b32decode(vkText, 32);
  const si = H2('slotfs_ed25519_readkey_and_verification_key_to_storage_index_v1', readkey, vk);
  if (si.length !== 32) throw new Error('si');
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

test('a reader written from docs/formats.md alone decodes the vector shares', (t) => {
  const f = stored.file;
  const shares = f.shares.map((h) => Buffer.from(h, 'hex'));
  t.is(readByTheDoc(f.readCap, shares).toString('hex'), f.plaintext);
  // and refuses a share whose key or signature was changed
  const bad = Buffer.from(shares[0]);
  bad[120] ^= 1;
  t.throws(() => readByTheDoc(f.readCap, [bad, ...shares.slice(1)]), {
    message: /verification key/,
  });
  const badSig = Buffer.from(shares[0]);
  badSig[150] ^= 1;
  t.throws(() => readByTheDoc(f.readCap, [badSig, ...shares.slice(1)]), { message: /signature/ });
});

test('the doc reader derives the key schedule of docs/formats.md §2 from the seed', (t) => {
  for (const k of stored.keys) {
    const seed = b32decode(k.file.writeCap.split(':')[2], 32);
    t.is(seed.toString('hex'), k.seed);
    const writekey = H('slotfs_ed25519_seed_to_writekey_v1', seed).subarray(0, 16);
    const readkey = H('slotfs_ed25519_writekey_to_readkey_v1', writekey).subarray(0, 16);
    const vk = Buffer.from(k.verificationKey, 'hex');
    const si = H2('slotfs_ed25519_readkey_and_verification_key_to_storage_index_v1', readkey, vk);
    const master = H('slotfs_ed25519_writekey_to_write_enabler_master_v1', writekey);
    const we = H2(
      'slotfs_ed25519_write_enabler_master_and_nodeid_to_write_enabler_v1',
      master,
      Buffer.from(stored.serverId, 'hex'),
    );
    t.is(writekey.toString('hex'), k.writekey);
    t.is(readkey.toString('hex'), k.readkey);
    t.is(si.subarray(0, 16).toString('hex'), k.storageIndex);
    t.is(master.toString('hex'), k.writeEnablerMaster);
    t.is(we.toString('hex'), k.writeEnabler);
  }
});
