// The Ed25519 mutable slot's known-answer vectors (src/sdmf/vectors/ed25519.json,
// docs/formats.md §8): slotfs reproduces them, and a reader written from docs/formats.md
// alone — below, with its own base32, hashes, offsets and checks, and none of slotfs's
// parsers — verifies the shares and gets the plaintext back.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { computeVectors, VECTORS } from '../../scripts/ed25519-vectors.js';
import { parseCap, formatCap, readCapOf, verifyCapOf, requireWriteCap } from '../caps/index.js';
import { decodeShares, verifyShare } from './index.js';
import { b32decode, H, H2, readByTheDoc } from './test-support/doc-reader.js';

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
