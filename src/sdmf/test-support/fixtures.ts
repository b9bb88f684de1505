// Test-only helpers: loading the copied Tahoe vectors and unwrapping server containers.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromBase32 } from '../../encoding/base32.js';
import type { CapKeys } from '../cap-keys.js';

const here = (name: string) => fileURLToPath(new URL(`../vectors/${name}`, import.meta.url));

export const readVector = (name: string) => new Uint8Array(readFileSync(here(name)));
export const readVectorText = (name: string) => readFileSync(here(name), 'utf8');

/** The share inside a mutable container (§9.1): data length at 84 (u64), data at 468. */
export function unwrapContainer(container: Uint8Array): Uint8Array {
  const dv = new DataView(container.buffer, container.byteOffset, container.byteLength);
  const length = Number(dv.getBigUint64(84));
  return container.subarray(468, 468 + length);
}

/** Key fields of a URI:SSK/DIR2 write or read cap, without slotfs/caps. */
export function capKeysOf(cap: string): CapKeys {
  const [, kind, key, fingerprint] = cap.trim().split(':');
  const bytes = fromBase32(key);
  if (kind === 'SSK' || kind === 'DIR2')
    return { writekey: bytes, fingerprint: fromBase32(fingerprint) };
  if (kind === 'SSK-RO' || kind === 'DIR2-RO')
    return { readkey: bytes, fingerprint: fromBase32(fingerprint) };
  return { storageIndex: bytes, fingerprint: fromBase32(fingerprint) };
}

export interface InteropVector {
  writeCap: string;
  readCap: string;
  verifyCap: string;
  plaintext: Uint8Array;
  /** Bare SDMF shares by share number. */
  shares: Map<number, Uint8Array>;
}

export function interopVector(): InteropVector {
  const v = JSON.parse(readVectorText('tahoe-sdmf-interop-shares-all.json'));
  const shares = new Map<number, Uint8Array>();
  for (const [n, b64] of Object.entries(v.containersBase64 as Record<string, string>)) {
    shares.set(Number(n), unwrapContainer(new Uint8Array(Buffer.from(b64, 'base64'))));
  }
  return {
    writeCap: v.writeCap,
    readCap: v.derivedWithDigestRules.readCap,
    verifyCap: v.derivedWithDigestRules.verifyCap,
    plaintext: new TextEncoder().encode(v.plaintextUtf8),
    shares,
  };
}

export function gridSample(which: 'file' | 'dir') {
  const shares = new Map<number, Uint8Array>();
  for (let i = 0; i < 4; i++) shares.set(i, readVector(`grid-${which}-sh${i}.sdmf`));
  return {
    writeCap: readVectorText(`grid-${which}-cap.txt`).trim(),
    plaintext: readVector(`grid-${which}-plaintext.bin`),
    shares,
  };
}

/** Every k-subset of 0…n−1 (small n only). */
export function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n - 1])];
}
