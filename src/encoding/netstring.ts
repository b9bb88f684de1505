// Netstrings: `<decimal length>:<bytes>,` — used by tagged hashes and dirnode packing.
import { utf8 } from './bytes.js';

export class NetstringError extends Error {
  readonly code = 'ERR_NETSTRING';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'NetstringError';
  }
}

export function netstring(value: Uint8Array | string): Uint8Array {
  const body = typeof value === 'string' ? utf8(value) : value;
  // One buffer, the length written digit by digit: netstrings are made for every tagged
  // hash and dirnode entry, and the pieces joined were garbage at once.
  const length = String(body.length);
  const out = new Uint8Array(length.length + body.length + 2);
  for (let i = 0; i < length.length; i++) out[i] = length.charCodeAt(i);
  out[length.length] = 0x3a; // ':'
  out.set(body, length.length + 1);
  out[out.length - 1] = 0x2c; // ','
  return out;
}

/**
 * Splits a concatenation of netstrings. Throws NetstringError naming the byte offset of
 * the first malformed one. With `expected`, the count must match exactly.
 */
export function splitNetstrings(data: Uint8Array, expected?: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < data.length) {
    let colon = pos;
    while (colon < data.length && data[colon] !== 0x3a && colon - pos <= 20) colon++;
    if (colon >= data.length || data[colon] !== 0x3a || colon === pos) {
      throw new NetstringError(`malformed netstring length at byte ${pos}`, pos);
    }
    let length = 0;
    for (let i = pos; i < colon; i++) {
      const d = data[i] - 0x30;
      if (d < 0 || d > 9) throw new NetstringError(`non-digit in netstring length at byte ${i}`, i);
      length = length * 10 + d;
    }
    if (colon - pos > 1 && data[pos] === 0x30) {
      throw new NetstringError(`netstring length with a leading zero at byte ${pos}`, pos);
    }
    const start = colon + 1;
    const end = start + length;
    if (end + 1 > data.length) {
      throw new NetstringError(
        `netstring at byte ${pos} claims ${length} bytes but only ${Math.max(0, data.length - start - 1)} remain`,
        pos,
      );
    }
    if (data[end] !== 0x2c) {
      throw new NetstringError(`netstring at byte ${pos} is not terminated by ','`, end);
    }
    out.push(data.subarray(start, end));
    pos = end + 1;
  }
  if (expected !== undefined && out.length !== expected) {
    throw new NetstringError(`expected ${expected} netstrings, found ${out.length}`, 0);
  }
  return out;
}
