// Flip bytes everywhere in valid shares: every change to signed or hashed content must be
// rejected with the right field named; the encrypted private key is covered by
// decryptPrivateKey instead.
import test from 'ava';
import { generateRsaKeyPair } from '../crypto/rsa.js';
import { fingerprintFromPublicKey, writekeyFromPrivateKey } from '../crypto/derive.js';
import {
  buildShares,
  decryptPrivateKey,
  packShare,
  parseShare,
  PrivateKeyError,
  ShareError,
  ShareFormatError,
  ShareVerificationError,
  verifyShare,
  type CapKeys,
  type ShareField,
  type ShareOffsets,
} from './index.js';
import { capKeysOf, interopVector } from './test-support/fixtures.js';

const keys = await generateRsaKeyPair();
const ownCap: CapKeys = {
  writekey: writekeyFromPrivateKey(keys.privateKeyDer),
  fingerprint: fingerprintFromPublicKey(keys.publicKeyDer),
};

// Fields whose flips may surface as a consistency failure of another parameter first.
const PARAMETERS: ShareField[] = ['k', 'N', 'segsize', 'datalen', 'shareData', 'shareNumber'];

/** Which fields may be named when byte `at` is flipped. */
function allowedFields(at: number, o: ShareOffsets): ShareField[] {
  if (at === 0) return ['version'];
  if (at < 9) return ['seqnum', 'signature'];
  if (at < 41) return ['rootHash'];
  if (at < 57) return ['salt', 'signature'];
  if (at === 57) return ['k', 'signature', ...PARAMETERS, 'shareHashChain'];
  if (at === 58) return ['N', 'signature', ...PARAMETERS, 'shareHashChain'];
  if (at < 67) return ['segsize', 'signature', ...PARAMETERS];
  if (at < 75) return ['datalen', 'signature', ...PARAMETERS];
  if (at < o.signature) return ['verificationKey'];
  if (at < o.shareHashChain) return ['signature'];
  if (at < o.blockHashTree) return ['shareHashChain', 'shareNumber'];
  if (at < o.shareData) return ['blockHashTree'];
  return ['shareData'];
}

/** Flips bits in every byte; returns what went wrong (asserted once, for speed). */
function flipEveryByte(
  share: Uint8Array,
  cap: CapKeys,
  shareNumber: number,
  writekey: Uint8Array,
): string[] {
  const o = parseShare(share).offsets;
  verifyShare(share, cap, shareNumber); // the unflipped share is valid
  const problems: string[] = [];
  const privateKeyCaught = (bad: Uint8Array) => {
    try {
      decryptPrivateKey(bad, writekey);
      return false;
    } catch (error) {
      return error instanceof PrivateKeyError && error.code === 'ERR_SDMF_PRIVKEY_MISMATCH';
    }
  };
  for (let at = 0; at < share.length; at++) {
    // Both ends of each header byte (offsets' high bits behave differently from low ones);
    // one bit elsewhere, where every bit is hashed alike. Readers' indifference to the
    // private key is sampled, to keep the test fast.
    const masks = at < 107 ? [0x01, 0x80] : [0x01];
    for (const mask of masks) {
      const bad = share.slice();
      bad[at] ^= mask;
      let error: unknown;
      const sampled = at < o.encryptedPrivateKey || at % 61 === 0;
      try {
        if (sampled) verifyShare(bad, cap, shareNumber);
      } catch (e) {
        error = e;
      }
      const where = `byte ${at} ^ 0x${mask.toString(16)}`;
      if (at >= 75 && at < 107) {
        // Offsets are neither signed nor hashed; a change must still be caught, by the
        // verifier or (for the EOF offset, which only delimits the private key) by the
        // private-key check.
        if (error === undefined && !(at >= 99 && privateKeyCaught(bad))) {
          problems.push(`${where}: offset change not caught`);
        } else if (error !== undefined && !(error instanceof ShareError)) {
          problems.push(`${where}: untyped ${String(error)}`);
        }
      } else if (at >= o.encryptedPrivateKey) {
        if (error !== undefined) problems.push(`${where}: readers should skip the private key`);
        if (!privateKeyCaught(bad)) problems.push(`${where}: private key change not caught`);
      } else if (error === undefined) {
        problems.push(`${where}: not caught`);
      } else if (!(
        error instanceof ShareVerificationError ||
        (error instanceof ShareFormatError && (at < 107 || error.code === 'ERR_SDMF_CHAIN_ORDER'))
      )) {
        problems.push(`${where}: unexpected ${String(error)}`);
      } else if (!allowedFields(at, o).includes((error as ShareError).field)) {
        problems.push(
          `${where}: named ${(error as ShareError).field}, expected one of ${allowedFields(at, o)}`,
        );
      }
    }
  }
  return problems;
}

test('every byte flip in a real Tahoe share (e=17) is caught and attributed', (t) => {
  const v = interopVector();
  const cap = capKeysOf(v.readCap);
  const writekey = capKeysOf(v.writeCap).writekey!;
  for (const n of [0, 4]) t.deepEqual(flipEveryByte(v.shares.get(n)!, cap, n, writekey), []);
});

test('every byte flip in a slotfs-built share is caught and attributed', (t) => {
  const built = buildShares(new TextEncoder().encode('hello, corrupted world'), keys, 3, 3, 10);
  for (const n of [2, 9])
    t.deepEqual(flipEveryByte(built.shares[n], ownCap, n, ownCap.writekey!), []);
});

test('every byte flip in an empty file’s share is caught and attributed', (t) => {
  const built = buildShares(new Uint8Array(0), keys, 1, 2, 3);
  t.deepEqual(flipEveryByte(built.shares[1], ownCap, 1, ownCap.writekey!), []);
});

test('exact fields for representative flips', (t) => {
  const built = buildShares(new Uint8Array(900).fill(7), keys, 1, 3, 10);
  const share = built.shares[5];
  const o = parseShare(share).offsets;
  const fieldOf = (at: number) => {
    const bad = share.slice();
    bad[at] ^= 0x10;
    const e = t.throws(() => verifyShare(bad, ownCap, 5), { instanceOf: ShareError });
    return [e.code, e.field];
  };
  t.deepEqual(fieldOf(3), ['ERR_SDMF_SIGNATURE', 'signature']); // seqnum
  t.deepEqual(fieldOf(20), ['ERR_SDMF_ROOT_HASH', 'rootHash']);
  t.deepEqual(fieldOf(50), ['ERR_SDMF_SIGNATURE', 'signature']); // salt
  t.deepEqual(fieldOf(57), ['ERR_SDMF_N', 'N']); // k 3 → 19 > N
  t.deepEqual(fieldOf(58), ['ERR_SDMF_CHAIN_INDEXES', 'shareHashChain']); // N 10 → 26
  t.deepEqual(fieldOf(70), ['ERR_SDMF_FILE_TOO_LARGE', 'datalen']);
  t.deepEqual(fieldOf(200), ['ERR_SDMF_FINGERPRINT', 'verificationKey']);
  t.deepEqual(fieldOf(o.signature + 9), ['ERR_SDMF_SIGNATURE', 'signature']);
  t.deepEqual(fieldOf(o.shareHashChain + 9), ['ERR_SDMF_SHARE_HASH_CHAIN', 'shareHashChain']);
  t.deepEqual(fieldOf(o.blockHashTree + 9), ['ERR_SDMF_BLOCK_HASH', 'blockHashTree']);
  t.deepEqual(fieldOf(o.shareData + 9), ['ERR_SDMF_BLOCK_HASH', 'shareData']);
});

test('structural verification errors', (t) => {
  const built = buildShares(new Uint8Array(90).fill(1), keys, 1, 3, 10);
  const share = built.shares[3];
  const o = parseShare(share).offsets;
  const check = (bytes: Uint8Array, n: number | undefined, code: string, field: ShareField) => {
    const e = t.throws(() => verifyShare(bytes, ownCap, n), { instanceOf: ShareVerificationError });
    t.like(e, { code, field });
  };
  check(share, 10, 'ERR_SDMF_SHARE_NUMBER', 'shareNumber');
  check(share, -1, 'ERR_SDMF_SHARE_NUMBER', 'shareNumber');
  check(share, 4, 'ERR_SDMF_SHARE_NUMBER', 'shareNumber');
  const k0 = share.slice();
  k0[57] = 0;
  check(k0, 3, 'ERR_SDMF_K', 'k');
  const nBelowK = share.slice();
  nBelowK[58] = 2;
  check(nBelowK, undefined, 'ERR_SDMF_N', 'N');
  // Two block hashes instead of one (offsets moved to keep the layout consistent).
  const s = parseShare(share);
  const twoTree = new Uint8Array(share.length + 32);
  twoTree.set(share.subarray(0, o.shareData));
  twoTree.set(share.subarray(o.shareData), o.shareData + 32);
  const dv = new DataView(twoTree.buffer);
  dv.setUint32(87, o.shareData + 32);
  dv.setBigUint64(91, BigInt(o.encryptedPrivateKey + 32));
  dv.setBigUint64(99, BigInt(o.eof + 32));
  t.is(parseShare(twoTree).blockHashTree.length, 2);
  check(twoTree, 3, 'ERR_SDMF_TREE_LENGTH', 'blockHashTree');
  t.is(s.shareHashChain.length, 4);

  const segsize = share.slice();
  new DataView(segsize.buffer).setBigUint64(59, BigInt(s.segsize + 3)); // a multiple of k, too big
  check(segsize, 3, 'ERR_SDMF_SEGSIZE', 'segsize');

  const fields = { ...s, shareData: new Uint8Array(s.shareData.length + 1) };
  check(packShare(fields), 3, 'ERR_SDMF_SHARE_DATA_LENGTH', 'shareData');

  // Ascending indexes, but no share of N=10 needs node 29 (leaf 15 is beyond N).
  const chain = s.shareHashChain.map((e, i) => (i === 3 ? { ...e, index: 29 } : e));
  check(
    packShare({ ...s, shareHashChain: chain }),
    undefined,
    'ERR_SDMF_CHAIN_INDEXES',
    'shareHashChain',
  );
  check(
    packShare({ ...s, shareHashChain: chain.slice(1) }),
    3,
    'ERR_SDMF_CHAIN_INDEXES',
    'shareHashChain',
  );
});
