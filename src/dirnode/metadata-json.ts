// Metadata JSON written the way Tahoe's Python `json.dumps` writes it (tahoe-formats.md
// §8.1): ", " and ": " separators, ASCII only with \uXXXX escapes, keys in insertion order,
// and Python's float repr. JavaScript numbers cannot tell 1 from 1.0, so the rule is: every
// number inside the `tahoe` object (linkcrtime, linkmotime — floats in Tahoe) prints as a
// float, every other integral number as an int. Readers accept any JSON object, so this
// only matters for byte-exact output.
import { DirnodeFormatError } from './errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const NAMED_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** A JSON string literal with Python's ensure_ascii escaping (UTF-16 units, lowercase hex). */
export function pythonJsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ch = text[i];
    if (NAMED_ESCAPES[ch]) out += NAMED_ESCAPES[ch];
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** Python's repr(float): shortest round-trip digits, exponent form below 1e-4 or from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (!Number.isFinite(x)) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_METADATA',
      `metadata number ${x} is not finite; JSON cannot carry it`,
    );
  }
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() with no argument gives the shortest digits that round-trip, like repr.
  const [mantissa, exp] = x.toExponential().split('e');
  const exponent = Number(exp);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exponent < -4 || exponent >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${m}e${exponent < 0 ? '-' : '+'}${e}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1) || '0';
  return `${sign}${whole}.${fraction}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function dumps(value: unknown, floats: boolean, path: string): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') {
    if (!floats && Number.isInteger(value) && !Object.is(value, -0)) {
      return BigInt(value).toString(); // Python ints never use exponents
    }
    return pythonFloatRepr(value);
  }
  if (typeof value === 'string') return pythonJsonString(value);
  if (Array.isArray(value)) {
    return `[${value.map((v, i) => dumps(v, floats, `${path}[${i}]`)).join(', ')}]`;
  }
  if (isPlainObject(value)) {
    const parts = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) =>
        `${pythonJsonString(k)}: ${dumps(v, floats || (path === '' && k === 'tahoe'), `${path}.${k}`)}`,
    );
    return `{${parts.join(', ')}}`;
  }
  throw new DirnodeFormatError(
    'ERR_DIRNODE_METADATA',
    `metadata${path} is a ${typeof value}, which JSON cannot carry; use null, booleans, numbers, strings, arrays and plain objects`,
  );
}

/** Serialises a child's metadata object as Tahoe does. */
export function serializeMetadata(metadata: JsonObject): string {
  if (!isPlainObject(metadata)) {
    throw new DirnodeFormatError('ERR_DIRNODE_METADATA', 'metadata must be a plain JSON object');
  }
  return dumps(metadata, false, '');
}
