// A small CBOR encoder (RFC 8949) for the hot request of the storage protocol: every
// publish sends one read-test-write per server. It writes exactly the bytes cbor2's
// `encode` writes for the same value (definite lengths, shortest integer heads, map keys
// in insertion order), in one buffer sized beforehand; cbor2 re-copies its options and
// allocates a 4 KiB chunk per map key, which made encoding the largest CPU cost of a
// small publish. Supports null, booleans, safe integers, strings, byte strings, arrays
// and Maps — what the protocol uses; anything else is a TypeError.

const encoder = new TextEncoder();

function headSize(n: number): number {
  return n < 24 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
}

function unsupported(value: unknown): never {
  throw new TypeError(`cbor-writer cannot encode ${typeof value} ${String(value)}`);
}

/** Bytes `value` takes; strings are UTF-8 encoded once and kept in `texts`. */
function sizeOf(value: unknown, texts: Map<string, Uint8Array>): number {
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) unsupported(value);
    return headSize(value < 0 ? -1 - value : value);
  }
  if (typeof value === 'string') {
    let text = texts.get(value);
    if (!text) texts.set(value, (text = encoder.encode(value)));
    return headSize(text.length) + text.length;
  }
  if (value instanceof Uint8Array) return headSize(value.length) + value.length;
  if (Array.isArray(value)) {
    let size = headSize(value.length);
    for (const item of value) size += sizeOf(item, texts);
    return size;
  }
  if (value instanceof Map) {
    let size = headSize(value.size);
    for (const [k, v] of value) size += sizeOf(k, texts) + sizeOf(v, texts);
    return size;
  }
  return unsupported(value);
}

class Out {
  at = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly view: DataView,
  ) {}
  head(major: number, n: number): void {
    const m = major << 5;
    const b = this.bytes;
    if (n < 24) b[this.at++] = m | n;
    else if (n <= 0xff) {
      b[this.at++] = m | 24;
      b[this.at++] = n;
    } else if (n <= 0xffff) {
      b[this.at++] = m | 25;
      this.view.setUint16(this.at, n);
      this.at += 2;
    } else if (n <= 0xffffffff) {
      b[this.at++] = m | 26;
      this.view.setUint32(this.at, n);
      this.at += 4;
    } else {
      b[this.at++] = m | 27;
      this.view.setBigUint64(this.at, BigInt(n));
      this.at += 8;
    }
  }
  raw(bytes: Uint8Array): void {
    this.bytes.set(bytes, this.at);
    this.at += bytes.length;
  }
}

function write(value: unknown, out: Out, texts: Map<string, Uint8Array>): void {
  if (value === null) out.bytes[out.at++] = 0xf6;
  else if (value === true) out.bytes[out.at++] = 0xf5;
  else if (value === false) out.bytes[out.at++] = 0xf4;
  else if (typeof value === 'number') {
    if (value < 0) out.head(1, -1 - value);
    else out.head(0, value);
  } else if (typeof value === 'string') {
    const text = texts.get(value)!;
    out.head(3, text.length);
    out.raw(text);
  } else if (value instanceof Uint8Array) {
    out.head(2, value.length);
    out.raw(value);
  } else if (Array.isArray(value)) {
    out.head(4, value.length);
    for (const item of value) write(item, out, texts);
  } else if (value instanceof Map) {
    out.head(5, value.size);
    for (const [k, v] of value) {
      write(k, out, texts);
      write(v, out, texts);
    }
  }
}

/** The CBOR encoding of `value`, byte-identical to cbor2's `encode(value)`. */
export function encodeCborFast(value: unknown): Uint8Array {
  const texts = new Map<string, Uint8Array>();
  const bytes = new Uint8Array(sizeOf(value, texts));
  const out = new Out(bytes, new DataView(bytes.buffer));
  write(value, out, texts);
  return bytes;
}
