// Tahoe's base32 ("b2a"/"a2b"): RFC 4648 alphabet in lowercase, no padding, and
// strict decoding (only lengths some byte count produces, unused trailing bits zero).

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Which rule a refused base32 string broke. */
export type Base32Failure = 'character' | 'length' | 'trailing-bits';

/**
 * Why a base32 string was refused: `reason` names the rule, `position` the offending
 * character, if any.
 */
export class Base32Error extends Error {
  readonly code = 'ERR_BASE32';
  constructor(
    message: string,
    readonly position?: number,
    readonly reason: Base32Failure = 'character',
  ) {
    super(message);
    this.name = 'Base32Error';
  }
}

/** Number of base32 characters that encode `byteLength` bytes. */
export function base32Length(byteLength: number): number {
  return Math.ceil((byteLength * 8) / 5);
}

export function toBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

const LEGAL_REMAINDERS = new Set([0, 2, 4, 5, 7]);

export function fromBase32(text: string): Uint8Array {
  if (!LEGAL_REMAINDERS.has(text.length % 8)) {
    throw new Base32Error(
      `base32 text of length ${text.length} cannot encode a whole number of bytes`,
      undefined,
      'length',
    );
  }
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? DECODE[c] : -1;
    if (v < 0) {
      throw new Base32Error(
        `invalid base32 character ${JSON.stringify(text[i])} at position ${i} (expected a-z or 2-7, lowercase)`,
        i,
        'character',
      );
    }
    buffer = ((buffer << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[o++] = (buffer >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  if (bits > 0 && (buffer & ((1 << bits) - 1)) !== 0) {
    throw new Base32Error(
      `base32 text has non-zero unused trailing bits in its last character ${JSON.stringify(text[text.length - 1])}`,
      text.length - 1,
      'trailing-bits',
    );
  }
  return out;
}
