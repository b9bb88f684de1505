// Tahoe's hashing primitives (tahoe-formats.md §1.2–§1.4): SHA-256d, tagged hashes,
// the pair variant, and the non-standard dirnode "hmac".
//
// Every publish computes over a hundred tagged hashes of a few dozen bytes each (block
// hashes, Merkle nodes, per-server secrets) on the mount's main thread. So the framed
// input is written into one buffer and hashed in one call, with no netstring pieces
// joined on the way: allocations there fed the garbage collector.
import { createHash, hash } from 'node:crypto';
import { netstring } from '../encoding/netstring.js';
import { concatBytes, utf8 } from '../encoding/bytes.js';

/** Inputs up to this size are joined and hashed in one call (cheaper than a Hash object). */
const ONE_SHOT_BYTES = 4096;

export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return oneShot(parts[0]);
  let size = 0;
  for (const p of parts) size += p.length;
  if (size <= ONE_SHOT_BYTES) return oneShot(concatBytes(...parts));
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** The digest as a Buffer (a Uint8Array); callers that hand it out copy it. */
function digestOf(data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer') as unknown as Buffer;
}

function oneShot(data: Uint8Array): Uint8Array {
  return new Uint8Array(digestOf(data));
}

export function sha256d(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return outer(parts[0], 32);
  return sha256(sha256(...parts));
}

/** SHA-256(SHA-256(data)), first `truncate` bytes, as a Uint8Array of its own. */
function outer(data: Uint8Array, truncate: number): Uint8Array {
  const inner = data.length <= ONE_SHOT_BYTES ? digestOf(data) : sha256(data);
  const d = digestOf(inner);
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice(0, truncate);
}

function asBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? utf8(v) : v;
}

// Tags are a few constant strings: their netstrings are made once.
const tagNetstrings = new Map<string, Uint8Array>();

function tagNetstring(tag: Uint8Array | string): Uint8Array {
  if (typeof tag !== 'string') return netstring(tag);
  let framed = tagNetstrings.get(tag);
  if (!framed) {
    framed = netstring(utf8(tag));
    if (tagNetstrings.size < 256) tagNetstrings.set(tag, framed);
  }
  return framed;
}

/** Decimal digits of a length (netstring header). */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Writes netstring(value) at `at`; returns the offset after it. */
function putNetstring(out: Uint8Array, at: number, value: Uint8Array): number {
  const n = value.length;
  const d = digits(n);
  for (let i = d - 1, v = n; i >= 0; i--, v = Math.floor(v / 10)) out[at + i] = 0x30 + (v % 10);
  at += d;
  out[at++] = 0x3a; // ':'
  out.set(value, at);
  at += n;
  out[at++] = 0x2c; // ','
  return at;
}

/** H(tag, v) = SHA256d(netstring(tag) ‖ v), optionally truncated to the first `truncate` bytes. */
export function taggedHash(
  tag: Uint8Array | string,
  value: Uint8Array | string,
  truncate = 32,
): Uint8Array {
  const t = tagNetstring(tag);
  const v = asBytes(value);
  const input = new Uint8Array(t.length + v.length);
  input.set(t, 0);
  input.set(v, t.length);
  return outer(input, truncate);
}

/** H2(tag, a, b) = SHA256d(netstring(tag) ‖ netstring(a) ‖ netstring(b)). */
export function taggedPairHash(
  tag: Uint8Array | string,
  a: Uint8Array | string,
  b: Uint8Array | string,
  truncate = 32,
): Uint8Array {
  const t = tagNetstring(tag);
  const x = asBytes(a);
  const y = asBytes(b);
  const input = new Uint8Array(
    t.length + digits(x.length) + x.length + 2 + digits(y.length) + y.length + 2,
  );
  input.set(t, 0);
  putNetstring(input, putNetstring(input, t.length, x), y);
  return outer(input, truncate);
}

/** Tahoe's dirnode MAC: SHA-256(K⊕0x5c ‖ SHA-256(K⊕0x36 ‖ data)) with K unpadded. Not RFC 2104. */
export function tahoeHmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  const ipad = key.map((b) => b ^ 0x36);
  const opad = key.map((b) => b ^ 0x5c);
  return sha256(opad, sha256(ipad, data));
}

export function sha1(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
