// Tahoe's hashing primitives (tahoe-formats.md §1.2–§1.4): SHA-256d, tagged hashes,
// the pair variant, and the non-standard dirnode "hmac".
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

function oneShot(data: Uint8Array): Uint8Array {
  return new Uint8Array(hash('sha256', data, 'buffer') as unknown as Buffer);
}

export function sha256d(...parts: Uint8Array[]): Uint8Array {
  return sha256(sha256(...parts));
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

/** H(tag, v) = SHA256d(netstring(tag) ‖ v), optionally truncated to the first `truncate` bytes. */
export function taggedHash(
  tag: Uint8Array | string,
  value: Uint8Array | string,
  truncate = 32,
): Uint8Array {
  return sha256d(tagNetstring(tag), asBytes(value)).slice(0, truncate);
}

/** H2(tag, a, b) = SHA256d(netstring(tag) ‖ netstring(a) ‖ netstring(b)). */
export function taggedPairHash(
  tag: Uint8Array | string,
  a: Uint8Array | string,
  b: Uint8Array | string,
  truncate = 32,
): Uint8Array {
  return sha256d(tagNetstring(tag), netstring(asBytes(a)), netstring(asBytes(b))).slice(
    0,
    truncate,
  );
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
