// Writes src/sdmf/vectors/ed25519.json: known-answer vectors of the Ed25519 mutable slot
// (docs/formats.md §8), computed by slotfs's own code from fixed inputs. Run it only when
// the format changes on purpose: src/sdmf/ed25519-vectors.test.ts checks that the code
// still reproduces the file and that an independent reader decodes it.
//   node --import=tsx scripts/ed25519-vectors.ts
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { capsFromSeed, leaseSecretsForCap, writeEnablerFor } from '../src/caps/index.js';
import { ed25519WriteEnablerMaster } from '../src/crypto/derive.js';
import { sha256 } from '../src/crypto/hash.js';
import { toBase32 } from '../src/encoding/base32.js';
import { toHex, utf8 } from '../src/encoding/bytes.js';
import { buildShares } from '../src/sdmf/build.js';
import { ROOT } from './error-catalogue.js';

export const VECTORS = join(ROOT, 'src', 'sdmf', 'vectors', 'ed25519.json');

const hex = (b: Uint8Array) => toHex(b);
const SERVER_ID = Uint8Array.from({ length: 20 }, (_, i) => 0xa0 + i);
const LEASE_SECRET = new Uint8Array(32).fill(0x11);

/** Fixed seeds: 00 01 … 1f, and SHA-256 of an ASCII label. */
const SEEDS: Array<[string, Uint8Array]> = [
  ['counting', Uint8Array.from({ length: 32 }, (_, i) => i)],
  ['hashed', sha256(utf8('slotfs ed25519 vector seed 2'))],
];

export function computeVectors() {
  const keys = SEEDS.map(([name, seed]) => {
    const file = capsFromSeed(seed);
    const dir = capsFromSeed(seed, { directory: true });
    const lease = leaseSecretsForCap(file.cap, LEASE_SECRET, SERVER_ID);
    return {
      name,
      seed: hex(seed),
      verificationKey: hex(file.cap.fingerprint),
      writekey: hex(file.cap.writekey),
      readkey: hex(file.cap.readkey),
      storageIndex: hex(file.storageIndex),
      storageIndexBase32: file.storageIndexBase32,
      writeEnablerMaster: hex(ed25519WriteEnablerMaster(file.cap.writekey)),
      writeEnabler: hex(writeEnablerFor(file.cap, SERVER_ID)),
      leaseRenewSecret: hex(lease.renew),
      leaseCancelSecret: hex(lease.cancel),
      file: { writeCap: file.writeCap, readCap: file.readCap, verifyCap: file.verifyCap },
      directory: { writeCap: dir.writeCap, readCap: dir.readCap, verifyCap: dir.verifyCap },
    };
  });
  const seed = SEEDS[0][1];
  const { keys: pair, writeCap, readCap } = capsFromSeed(seed);
  const plaintext = utf8('Hello from an Ed25519 mutable slot!\n');
  const salt = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 - i);
  const [seqnum, k, N] = [1, 3, 10];
  const built = buildShares(plaintext, pair, seqnum, k, N, { salt });
  return {
    note: 'Known-answer vectors of the Ed25519 mutable slot (docs/formats.md); written by scripts/ed25519-vectors.ts. Byte strings are hex unless named base32.',
    serverId: hex(SERVER_ID),
    serverIdBase32: toBase32(SERVER_ID),
    leaseSecret: hex(LEASE_SECRET),
    keys,
    file: {
      seed: hex(seed),
      writeCap,
      readCap,
      plaintext: hex(plaintext),
      plaintextUtf8: new TextDecoder().decode(plaintext),
      salt: hex(salt),
      seqnum,
      k,
      N,
      rootHash: hex(built.rootHash),
      signature: hex(built.signature),
      shares: built.shares.map(hex),
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(VECTORS, JSON.stringify(computeVectors(), null, 2) + '\n');
  console.log(`wrote ${VECTORS}`);
}
