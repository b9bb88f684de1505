// CHK files made by Tahoe-LAFS (vectors/README.md): every share verifies, any k of N decode
// to the plaintext, and each kind of damage is refused with its code.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCap } from '../caps/parse.js';
import type { ImmutableCap } from '../caps/types.js';
import { taggedHash } from '../crypto/hash.js';
import { concatBytes, fromUtf8, utf8 } from '../encoding/bytes.js';
import {
  decodeChk,
  parseUriExtension,
  unpackUriExtension,
  uriExtensionBytes,
  verifyChkShare,
  type ChkErrorCode,
} from './index.js';

const DIR = path.join(import.meta.dirname, 'vectors');
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Record<
  string,
  { cap: string; size?: number; shares: { shnum: number }[] }
>;
const read = (name: string) => new Uint8Array(readFileSync(path.join(DIR, name)));

function vector(name: string) {
  const cap = parseCap(manifest[name].cap) as ImmutableCap;
  const shares = new Map<number, Uint8Array>();
  for (const { shnum } of manifest[name].shares)
    shares.set(shnum, read(`${name}.sh${shnum}.share`));
  return { cap, shares, plain: read(`${name}.plain`) };
}

// dir-mdmf.* sit with the MDMF vectors.
const CHK = Object.keys(manifest).filter(
  (n) => manifest[n].cap.startsWith('URI:CHK:') && !n.startsWith('dir-mdmf'),
);

test('the vectors hold CHK files of one and of several segments', (t) => {
  t.true(CHK.includes('chk-56') && CHK.includes('chk-300000'));
  const { cap, shares } = vector('chk-300000');
  const ueb = parseUriExtension(uriExtensionBytes(shares.get(0)!), cap);
  t.is(ueb.numSegments, 3);
  t.is(ueb.segmentSize, 131073); // 128 KiB rounded up to a multiple of k=3
});

for (const name of CHK) {
  test(`${name}: every share verifies and any k of them decode to the plaintext`, (t) => {
    const { cap, shares, plain } = vector(name);
    t.is(cap.kind, 'immutable');
    const ueb = parseUriExtension(uriExtensionBytes(shares.get(0)!), cap);
    const verified = [...shares].map(([n, s]) => verifyChkShare(s, n, ueb));
    t.is(verified.length, 5);
    for (const pick of [
      [0, 1, 2],
      [2, 3, 4],
      [4, 0, 3],
    ]) {
      const use = pick.map((n) => verified.find((v) => v.shareNumber === n)!);
      t.deepEqual(decodeChk(cap, ueb, use), plain, `shares ${pick.join(',')}`);
    }
  });
}

function expectCode(
  t: { is: (a: unknown, b: unknown, m?: string) => void },
  fn: () => unknown,
  code: ChkErrorCode,
) {
  try {
    fn();
    t.is('no error', code);
  } catch (err) {
    t.is((err as { code?: string }).code, code, (err as Error).message);
  }
}

test('damage is refused: a flipped block byte, a foreign UEB, an unknown layout version', (t) => {
  const { cap, shares } = vector('chk-300000');
  const ueb = parseUriExtension(uriExtensionBytes(shares.get(1)!), cap);
  const share = shares.get(1)!.slice();
  share[0x24 + 200_000 - 131073] ^= 1; // a byte inside the second block
  expectCode(t, () => verifyChkShare(share, 1, ueb), 'ERR_CHK_SHARE_HASH');
  // A good share under the wrong number does not verify either.
  expectCode(t, () => verifyChkShare(shares.get(2)!, 3, ueb), 'ERR_CHK_SHARE_HASH');
  const other = vector('chk-1000');
  expectCode(
    t,
    () => parseUriExtension(uriExtensionBytes(other.shares.get(0)!), cap),
    'ERR_CHK_URI_EXTENSION',
  );
  const v9 = shares.get(0)!.slice();
  v9[3] = 9;
  expectCode(t, () => uriExtensionBytes(v9), 'ERR_CHK_LAYOUT');
  expectCode(t, () => verifyChkShare(shares.get(0)!.subarray(0, 50_000), 0, ueb), 'ERR_CHK_LAYOUT');
});

test('ciphertext that disagrees with the crypttext root is never decrypted', (t) => {
  // A cap pinning a UEB whose crypttext root is wrong: the shares still verify (their
  // share root is untouched), but the decoded ciphertext does not match.
  const { cap, shares } = vector('chk-1000');
  const bytes = uriExtensionBytes(shares.get(0)!);
  const fields = unpackUriExtension(bytes);
  const root = fields.get('crypttext_root_hash')!.slice();
  root[0] ^= 1;
  fields.set('crypttext_root_hash', root);
  const packed = concatBytes(
    ...[...fields.keys()]
      .sort()
      .map((k) => concatBytes(utf8(`${k}:${fields.get(k)!.length}:`), fields.get(k)!, utf8(','))),
  );
  t.not(fromUtf8(packed.subarray(0, 10)), '');
  const forged: ImmutableCap = {
    ...cap,
    uriExtensionHash: taggedHash('allmydata_uri_extension_v1', packed),
  };
  const ueb = parseUriExtension(packed, forged);
  const verified = [0, 1, 2].map((n) => verifyChkShare(shares.get(n)!, n, ueb));
  expectCode(t, () => decodeChk(forged, ueb, verified), 'ERR_CHK_CRYPTTEXT_HASH');
});

test('LIT caps carry their contents', (t) => {
  for (const name of ['lit-0', 'lit-20', 'tree.lit', 'tree.empty']) {
    const cap = parseCap(manifest[name].cap);
    t.is(cap.kind, 'literal');
    if (cap.kind === 'literal') t.deepEqual(cap.data, read(`${name}.plain`));
  }
});
