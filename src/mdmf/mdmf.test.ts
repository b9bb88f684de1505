// MDMF files and a DIR2-MDMF directory made by Tahoe-LAFS (vectors/README.md): every share
// verifies against the cap, any k decode, and damage is refused.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCap } from '../caps/parse.js';
import { aesCtr } from '../crypto/aes.js';
import {
  buildMdmfShares,
  decodeMdmf,
  parseMdmfShare,
  verifyMdmfShare,
  type MdmfShare,
} from './index.js';

const DIR = path.join(import.meta.dirname, 'vectors');
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Record<
  string,
  { cap: string }
>;
const read = (name: string) => new Uint8Array(readFileSync(path.join(DIR, name)));

function vector(name: string) {
  const cap = parseCap(manifest[name].cap);
  if (cap.kind !== 'ssk-write' || cap.format !== 'mdmf') throw new Error(`${name} is not MDMF`);
  const shares = [0, 1, 2, 3, 4].map((n) => parseMdmfShare(read(`${name}.sh${n}.share`)));
  return { cap, shares };
}

for (const name of ['mdmf-1000', 'mdmf-300000']) {
  test(`${name}: shares verify and any k decode to the plaintext`, (t) => {
    const { cap, shares } = vector(name);
    shares.forEach((s, n) => verifyMdmfShare(s, cap.fingerprint, n));
    const plain = read(`${name}.plain`);
    for (const pick of [
      [0, 1, 2],
      [4, 2, 3],
    ]) {
      const use = new Map<number, MdmfShare>(pick.map((n) => [n, shares[n]]));
      t.deepEqual(decodeMdmf(use, cap.readkey), plain);
    }
    if (name === 'mdmf-300000') t.is(shares[0].segments.length, 3);
  });
}

test('a DIR2-MDMF directory decodes to a packed dirnode', (t) => {
  const { cap, shares } = vector('dir-mdmf');
  t.true(cap.directory);
  shares.forEach((s, n) => verifyMdmfShare(s, cap.fingerprint, n));
  const packed = decodeMdmf(new Map([0, 1, 2].map((n) => [n, shares[n]])), cap.readkey);
  // Entries are netstrings naming the children (a.txt, b.txt).
  const text = Buffer.from(packed).toString('latin1');
  t.true(text.includes('a.txt') && text.includes('b.txt'));
});

test('damaged MDMF shares are refused with ERR_MDMF_VERIFY or ERR_MDMF_LAYOUT', (t) => {
  const { cap } = vector('mdmf-300000');
  const bytes = read('mdmf-300000.sh1.share');
  const block = bytes.slice();
  block[5000] ^= 1; // inside the first block
  t.throws(() => verifyMdmfShare(parseMdmfShare(block), cap.fingerprint, 1), {
    message: /do not hash/,
  });
  const wrong = t.throws(() => verifyMdmfShare(parseMdmfShare(bytes), cap.fingerprint, 2));
  t.is((wrong as { code?: string }).code, 'ERR_MDMF_VERIFY');
  const other = vector('mdmf-1000').cap;
  t.throws(() => verifyMdmfShare(parseMdmfShare(bytes), other.fingerprint, 1), {
    message: /verification key/,
  });
  const short = t.throws(() => parseMdmfShare(bytes.subarray(0, 100)));
  t.is((short as { code?: string }).code, 'ERR_MDMF_LAYOUT');
});

test("rebuilt with Tahoe's key and salts, shares equal Tahoe's byte for byte (but the signature)", (t) => {
  for (const name of ['mdmf-1000', 'mdmf-300000']) {
    const { cap, shares } = vector(name);
    const privateKeyDer = aesCtr(cap.writekey, shares[0].encryptedPrivateKey);
    const built = buildMdmfShares({
      plaintext: read(`${name}.plain`),
      privateKeyDer,
      publicKeyDer: shares[0].verificationKey,
      encryptedPrivateKey: shares[0].encryptedPrivateKey,
      readkey: cap.readkey,
      seqnum: shares[0].seqnum,
      k: shares[0].k,
      N: shares[0].N,
      salts: shares[0].segments.map((s) => s.salt),
    });
    t.deepEqual(built.rootHash, shares[0].rootHash, name);
    built.shares.forEach((mine, n) => {
      const theirs = read(`${name}.sh${n}.share`);
      const ours = parseMdmfShare(mine);
      verifyMdmfShare(ours, cap.fingerprint, n);
      // Same bytes apart from the (randomised RSA-PSS) signature.
      const sig = ours.signature;
      const at = Number(Buffer.from(mine).readBigUInt64BE(75)); // the signature's offset
      t.is(mine.length, theirs.length);
      const masked = (b: Uint8Array) => {
        const c = b.slice();
        c.fill(0, at, at + sig.length);
        return c;
      };
      t.deepEqual(masked(mine), masked(theirs), `${name} share ${n}`);
    });
  }
});

test('a new version built by slotfs verifies and decodes', (t) => {
  const { cap, shares } = vector('mdmf-1000');
  const plaintext = new Uint8Array(300_001).map((_, i) => i * 7);
  const built = buildMdmfShares({
    plaintext,
    privateKeyDer: aesCtr(cap.writekey, shares[0].encryptedPrivateKey),
    publicKeyDer: shares[0].verificationKey,
    encryptedPrivateKey: shares[0].encryptedPrivateKey,
    readkey: cap.readkey,
    seqnum: 9,
    k: 3,
    N: 5,
  });
  const parsed = built.shares.map((s) => parseMdmfShare(s));
  parsed.forEach((s, n) => verifyMdmfShare(s, cap.fingerprint, n));
  t.is(parsed[0].seqnum, 9);
  t.deepEqual(decodeMdmf(new Map([1, 3, 4].map((n) => [n, parsed[n]])), cap.readkey), plaintext);
});
