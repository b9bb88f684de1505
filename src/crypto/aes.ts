// AES-128-CTR with a zero initial counter block, as every Tahoe encryption uses (§3.1).
import { createCipheriv } from 'node:crypto';

const ZERO_IV = new Uint8Array(16);

/** Encrypts or decrypts (CTR is symmetric). Key must be 16 bytes. */
export function aesCtr(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 16) throw new RangeError(`AES-128 key must be 16 bytes, got ${key.length}`);
  const cipher = createCipheriv('aes-128-ctr', key, ZERO_IV);
  const out = new Uint8Array(data.length);
  const a = cipher.update(data);
  out.set(a, 0);
  const b = cipher.final();
  out.set(b, a.length);
  return out;
}
