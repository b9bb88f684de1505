// A small CBOR decoder (RFC 8949) for the hot messages of the storage protocol: every
// share write is a read-test-write request decoded by a server and an answer decoded by
// the client, and cbor2's general decoder (streams, tags, options) was a visible part of
// both sides' CPU. It reads the plain subset the protocol uses — unsigned and negative
// safe integers, byte and text strings, arrays, maps (as Map) and false/true/null, all
// with definite lengths in their shortest form — and gives the same value cbor2's decode
// gives with { preferMap, rejectDuplicateKeys, rejectBigInts, rejectFloats }. Anything
// else (floats, tags, indefinite lengths, long-form heads, big integers, other map keys,
// duplicate keys, bad UTF-8, truncated or trailing bytes) is `undefined` from
// `tryDecodeCbor`: the caller then decodes with cbor2, which accepts it or says what is
// wrong, so the fast path changes no answer and no error. Byte strings are views into the
// input (no copy).

const MAX_DEPTH = 32;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Thrown inside the reader when the input leaves the subset; never escapes. */
class Unsupported {}
const UNSUPPORTED = new Unsupported();

class Reader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** The argument of a head whose low five bits are `info`, in its shortest form only. */
  private argument(info: number): number {
    const b = this.bytes;
    if (info < 24) return info;
    if (info === 24) {
      if (this.at + 1 > b.length) throw UNSUPPORTED;
      const n = b[this.at++];
      if (n < 24) throw UNSUPPORTED;
      return n;
    }
    if (info === 25) {
      if (this.at + 2 > b.length) throw UNSUPPORTED;
      const n = (b[this.at] << 8) | b[this.at + 1];
      this.at += 2;
      if (n <= 0xff) throw UNSUPPORTED;
      return n;
    }
    if (info === 26) {
      if (this.at + 4 > b.length) throw UNSUPPORTED;
      const n = this.uint32(this.at);
      this.at += 4;
      if (n <= 0xffff) throw UNSUPPORTED;
      return n;
    }
    if (info === 27) {
      if (this.at + 8 > b.length) throw UNSUPPORTED;
      const hi = this.uint32(this.at);
      const lo = this.uint32(this.at + 4);
      this.at += 8;
      // Shortest form, and a safe integer (cbor2 would need a BigInt beyond).
      if (hi === 0 || hi >= 0x200000) throw UNSUPPORTED;
      return hi * 0x100000000 + lo;
    }
    throw UNSUPPORTED; // 28–30 reserved, 31 indefinite
  }

  /** The big-endian unsigned 32-bit number at `at` (the caller checked the length). */
  private uint32(at: number): number {
    const b = this.bytes;
    return b[at] * 0x1000000 + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
  }

  private take(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw UNSUPPORTED;
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  item(depth: number): unknown {
    if (this.at >= this.bytes.length || depth > MAX_DEPTH) throw UNSUPPORTED;
    const head = this.bytes[this.at++];
    const major = head >> 5;
    const info = head & 31;
    switch (major) {
      case 0:
        return this.argument(info);
      case 1: {
        const n = this.argument(info);
        if (n >= Number.MAX_SAFE_INTEGER) throw UNSUPPORTED;
        return -1 - n;
      }
      case 2:
        return this.take(this.argument(info));
      case 3: {
        const text = this.take(this.argument(info));
        try {
          return utf8.decode(text);
        } catch {
          throw UNSUPPORTED;
        }
      }
      case 4: {
        const n = this.argument(info);
        if (n > this.bytes.length - this.at) throw UNSUPPORTED; // each item is ≥ 1 byte
        const out: unknown[] = new Array<unknown>(n);
        for (let i = 0; i < n; i++) out[i] = this.item(depth + 1);
        return out;
      }
      case 5: {
        const n = this.argument(info);
        if (2 * n > this.bytes.length - this.at) throw UNSUPPORTED;
        const out = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) {
          const key = this.item(depth + 1);
          // Text and integer keys compare by value as cbor2's duplicate check does; others
          // (byte strings, arrays, maps) are left to cbor2.
          if (typeof key !== 'string' && typeof key !== 'number') throw UNSUPPORTED;
          if (out.has(key)) throw UNSUPPORTED;
          out.set(key, this.item(depth + 1));
        }
        return out;
      }
      case 7:
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        throw UNSUPPORTED; // undefined, other simple values, floats
      default:
        throw UNSUPPORTED; // tags
    }
  }
}

/** The value of `bytes` if they are one item of the plain subset, else undefined. */
export function tryDecodeCbor(bytes: Uint8Array): { value: unknown } | undefined {
  const reader = new Reader(bytes);
  try {
    const value = reader.item(0);
    if (reader.at !== bytes.length) return undefined;
    return { value };
  } catch (err) {
    if (err === UNSUPPORTED) return undefined;
    throw err;
  }
}
