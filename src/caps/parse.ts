// Cap strings ⇄ Cap objects (tahoe-formats.md §4), strict like Tahoe's regexes: lowercase
// base32 of exactly the right length with zero trailing bits.
import { Base32Error, base32Length, fromBase32, toBase32 } from '../encoding/base32.js';
import {
  ed25519ReadkeyFromWritekey,
  ed25519StorageIndex,
  ed25519WritekeyFromSeed,
  readkeyFromWritekey,
  storageIndexFromImmutableKey,
  storageIndexFromReadkey,
} from '../crypto/derive.js';
import { ed25519PublicKey } from '../crypto/ed25519.js';
import { CapError } from './errors.js';
import type { AllegedPrefix, Cap, CapKind, MutableCap, MutableFormat } from './types.js';

interface KindSpec {
  kind: CapKind;
  directory: boolean;
  format?: MutableFormat;
}

// Keyed by the text between `URI:` and the next `:`.
const KINDS = new Map<string, KindSpec>([
  ['SSK', { kind: 'ssk-write', format: 'sdmf', directory: false }],
  ['SSK-RO', { kind: 'ssk-read', format: 'sdmf', directory: false }],
  ['SSK-Verifier', { kind: 'ssk-verify', format: 'sdmf', directory: false }],
  ['MDMF', { kind: 'ssk-write', format: 'mdmf', directory: false }],
  ['MDMF-RO', { kind: 'ssk-read', format: 'mdmf', directory: false }],
  ['MDMF-Verifier', { kind: 'ssk-verify', format: 'mdmf', directory: false }],
  ['DIR2', { kind: 'ssk-write', format: 'sdmf', directory: true }],
  ['DIR2-RO', { kind: 'ssk-read', format: 'sdmf', directory: true }],
  ['DIR2-Verifier', { kind: 'ssk-verify', format: 'sdmf', directory: true }],
  ['DIR2-MDMF', { kind: 'ssk-write', format: 'mdmf', directory: true }],
  ['DIR2-MDMF-RO', { kind: 'ssk-read', format: 'mdmf', directory: true }],
  ['DIR2-MDMF-Verifier', { kind: 'ssk-verify', format: 'mdmf', directory: true }],
  ['ED25519', { kind: 'ssk-write', format: 'ed25519', directory: false }],
  ['ED25519-RO', { kind: 'ssk-read', format: 'ed25519', directory: false }],
  ['ED25519-Verifier', { kind: 'ssk-verify', format: 'ed25519', directory: false }],
  ['DIR2-ED25519', { kind: 'ssk-write', format: 'ed25519', directory: true }],
  ['DIR2-ED25519-RO', { kind: 'ssk-read', format: 'ed25519', directory: true }],
  ['DIR2-ED25519-Verifier', { kind: 'ssk-verify', format: 'ed25519', directory: true }],
  ['CHK', { kind: 'immutable', directory: false }],
  ['CHK-Verifier', { kind: 'immutable-verify', directory: false }],
  ['DIR2-CHK', { kind: 'immutable', directory: true }],
  ['DIR2-CHK-Verifier', { kind: 'immutable-verify', directory: true }],
  ['LIT', { kind: 'literal', directory: false }],
  ['DIR2-LIT', { kind: 'literal', directory: true }],
]);

/** The kind name of a cap, e.g. 'DIR2-MDMF-RO' (the text between `URI:` and `:`). */
export function capKindName(cap: Pick<Cap, 'kind' | 'directory'> & { format?: MutableFormat }) {
  const suffix =
    cap.kind === 'ssk-read'
      ? '-RO'
      : cap.kind === 'ssk-verify' || cap.kind === 'immutable-verify'
        ? '-Verifier'
        : '';
  switch (cap.kind) {
    case 'ssk-write':
    case 'ssk-read':
    case 'ssk-verify': {
      if (cap.format === 'ed25519') return (cap.directory ? 'DIR2-ED25519' : 'ED25519') + suffix;
      const base = cap.format === 'mdmf' ? 'MDMF' : 'SSK';
      return (cap.directory ? (base === 'SSK' ? 'DIR2' : 'DIR2-MDMF') : base) + suffix;
    }
    case 'immutable':
    case 'immutable-verify':
      return (cap.directory ? 'DIR2-CHK' : 'CHK') + suffix;
    case 'literal':
      return cap.directory ? 'DIR2-LIT' : 'LIT';
  }
}

const FIELD_NAMES: Record<CapKind, string[]> = {
  'ssk-write': ['writekey', 'fingerprint'],
  'ssk-read': ['readkey', 'fingerprint'],
  'ssk-verify': ['storageIndex', 'fingerprint'],
  immutable: ['key', 'uriExtensionHash', 'needed', 'total', 'size'],
  'immutable-verify': ['storageIndex', 'uriExtensionHash', 'needed', 'total', 'size'],
  literal: ['data'],
};

/** Ed25519 caps (docs/formats.md §4): the write cap is the seed alone. */
const ED25519_FIELD_NAMES: Partial<Record<CapKind, string[]>> = {
  'ssk-write': ['seed'],
  'ssk-read': ['readkey', 'verificationKey'],
  'ssk-verify': ['storageIndex', 'verificationKey'],
};

const printable = (s: string, max = 24) =>
  JSON.stringify(s.length > max ? s.slice(0, max) + '…' : s);

// Tahoe refuses a write cap behind `ro.` and any read/write mutable cap behind `imm.`.
function checkAlleged(alleged: AllegedPrefix | undefined, kind: CapKind, label: string): void {
  if (alleged === 'imm' && (kind === 'ssk-write' || kind === 'ssk-read')) {
    throw new CapError(
      'ERR_CAP_MUST_BE_IMMUTABLE',
      `"imm." says this cap must be immutable, but URI:${label} is a mutable ${kind === 'ssk-write' ? 'write' : 'read'} cap`,
    );
  }
  if (alleged === 'ro' && kind === 'ssk-write') {
    throw new CapError(
      'ERR_CAP_MUST_BE_READONLY',
      `"ro." says this cap must be read-only, but URI:${label} is a write cap: use its read cap`,
    );
  }
}

/**
 * Parses any cap slotfs recognises. Throws CapError saying what is wrong: unknown prefix,
 * wrong field count, bad base32 character, wrong length, non-zero trailing bits, a bad
 * number, or a write cap behind `ro.` / a mutable cap behind `imm.`.
 */
export function parseCap(text: string): Cap {
  let offset = 0;
  let alleged: AllegedPrefix | undefined;
  if (text.startsWith('imm.')) [alleged, offset] = ['imm', 4];
  else if (text.startsWith('ro.')) [alleged, offset] = ['ro', 3];
  if (!text.startsWith('URI:', offset)) {
    const head = text.slice(offset, text.indexOf(':', offset) + 1 || undefined);
    throw new CapError(
      'ERR_CAP_UNKNOWN_PREFIX',
      `not a cap: expected "URI:" (optionally after "ro." or "imm."), got ${printable(head)}`,
      undefined,
      offset,
    );
  }
  const nameStart = offset + 4;
  const nameEnd = text.indexOf(':', nameStart);
  const name = text.slice(nameStart, nameEnd < 0 ? undefined : nameEnd);
  const spec = KINDS.get(name);
  if (!spec) {
    throw new CapError(
      'ERR_CAP_UNKNOWN_PREFIX',
      `unknown cap kind ${printable('URI:' + name)}; slotfs knows URI:${[...KINDS.keys()].join(', URI:')}`,
      undefined,
      offset,
    );
  }
  const label = name;
  checkAlleged(alleged, spec.kind, label);

  const fields: Array<{ text: string; at: number }> = [];
  if (nameEnd >= 0) {
    let at = nameEnd + 1;
    for (const part of text.slice(at).split(':')) {
      fields.push({ text: part, at });
      at += part.length + 1;
    }
  }
  const names =
    spec.format === 'ed25519' ? ED25519_FIELD_NAMES[spec.kind]! : FIELD_NAMES[spec.kind];
  const extraAllowed = spec.format === 'mdmf';
  if (fields.length < names.length || (!extraAllowed && fields.length > names.length)) {
    throw new CapError(
      'ERR_CAP_FIELD_COUNT',
      `URI:${label} cap has ${fields.length} field${fields.length === 1 ? '' : 's'} after the kind; expected ${extraAllowed ? 'at least ' : ''}${names.length} (${names.join(':')})`,
    );
  }
  const bytes = (i: number, size?: number) => decodeField(label, names[i], fields[i], size);
  const base = { ...(alleged ? { alleged } : {}), directory: spec.directory };

  if (spec.format === 'ed25519') return parseEd25519(spec, base, bytes);
  switch (spec.kind) {
    case 'ssk-write':
    case 'ssk-read':
    case 'ssk-verify': {
      const key = bytes(0, 16);
      const fingerprint = bytes(1, 32);
      const common = {
        ...base,
        format: spec.format!,
        fingerprint,
        extraFields: fields.slice(2).map((f) => f.text),
      };
      if (spec.kind === 'ssk-write') {
        const readkey = readkeyFromWritekey(key);
        return {
          kind: 'ssk-write',
          ...common,
          writekey: key,
          readkey,
          storageIndex: storageIndexFromReadkey(readkey),
        };
      }
      if (spec.kind === 'ssk-read') {
        return {
          kind: 'ssk-read',
          ...common,
          readkey: key,
          storageIndex: storageIndexFromReadkey(key),
        };
      }
      return { kind: 'ssk-verify', ...common, storageIndex: key };
    }
    case 'immutable':
    case 'immutable-verify': {
      const first = bytes(0, 16);
      const rest = {
        uriExtensionHash: bytes(1, 32),
        needed: decodeNumber(label, names[2], fields[2]),
        total: decodeNumber(label, names[3], fields[3]),
        size: decodeNumber(label, names[4], fields[4]),
      };
      return spec.kind === 'immutable'
        ? {
            kind: 'immutable',
            ...base,
            key: first,
            storageIndex: storageIndexFromImmutableKey(first),
            ...rest,
          }
        : { kind: 'immutable-verify', ...base, storageIndex: first, ...rest };
    }
    case 'literal':
      return { kind: 'literal', ...base, data: bytes(0) };
  }
}

/** The fields of an Ed25519 cap, and everything that derives from them (docs/formats.md §2). */
function parseEd25519(
  spec: KindSpec,
  base: { alleged?: AllegedPrefix; directory: boolean },
  bytes: (i: number, size?: number) => Uint8Array,
): Cap {
  const common = { ...base, format: 'ed25519' as const, extraFields: [] };
  if (spec.kind === 'ssk-write') {
    const seed = bytes(0, 32);
    const writekey = ed25519WritekeyFromSeed(seed);
    const readkey = ed25519ReadkeyFromWritekey(writekey);
    const verificationKey = ed25519PublicKey(seed);
    return {
      kind: 'ssk-write',
      ...common,
      seed,
      writekey,
      readkey,
      storageIndex: ed25519StorageIndex(readkey, verificationKey),
      fingerprint: verificationKey,
    };
  }
  const first = bytes(0, 16);
  const verificationKey = bytes(1, 32);
  if (spec.kind === 'ssk-read') {
    return {
      kind: 'ssk-read',
      ...common,
      readkey: first,
      storageIndex: ed25519StorageIndex(first, verificationKey),
      fingerprint: verificationKey,
    };
  }
  return { kind: 'ssk-verify', ...common, storageIndex: first, fingerprint: verificationKey };
}

function decodeField(
  label: string,
  name: string,
  field: { text: string; at: number },
  size?: number,
): Uint8Array {
  const what = `URI:${label} ${name}`;
  const bad = /[^a-z2-7]/.exec(field.text);
  if (bad) {
    const position = field.at + bad.index;
    throw new CapError(
      'ERR_CAP_BASE32',
      `${what}: invalid base32 character ${JSON.stringify(bad[0])} at position ${position} (caps use lowercase a-z and 2-7)`,
      name,
      position,
    );
  }
  if (size !== undefined && field.text.length !== base32Length(size)) {
    throw new CapError(
      'ERR_CAP_FIELD_LENGTH',
      `${what} is ${field.text.length} characters; a ${size}-byte field is ${base32Length(size)} (truncated or mis-pasted cap?)`,
      name,
      field.at,
    );
  }
  try {
    return fromBase32(field.text);
  } catch (err) {
    if (!(err instanceof Base32Error)) throw err;
    if (err.reason === 'trailing-bits') {
      const position = field.at + field.text.length - 1;
      throw new CapError(
        'ERR_CAP_TRAILING_BITS',
        `${what}: last character ${JSON.stringify(field.text.at(-1))} at position ${position} has non-zero unused bits, so no byte string encodes to it (corrupted cap?)`,
        name,
        position,
      );
    }
    throw new CapError(
      'ERR_CAP_FIELD_LENGTH',
      `${what}: ${field.text.length} base32 characters cannot encode a whole number of bytes`,
      name,
      field.at,
    );
  }
}

function decodeNumber(label: string, name: string, field: { text: string; at: number }): number {
  const value = Number(field.text);
  if (!/^(0|[1-9][0-9]*)$/.test(field.text) || !Number.isSafeInteger(value)) {
    throw new CapError(
      'ERR_CAP_NUMBER',
      `URI:${label} ${name} must be a decimal integer without leading zeros, got ${printable(field.text)}`,
      name,
      field.at,
    );
  }
  return value;
}

function encodeBytes(label: string, name: string, bytes: Uint8Array, size: number): string {
  if (!(bytes instanceof Uint8Array) || bytes.length !== size) {
    throw new CapError(
      'ERR_CAP_FIELD_LENGTH',
      `cannot format URI:${label}: ${name} must be ${size} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`,
      name,
    );
  }
  return toBase32(bytes);
}

function encodeNumber(label: string, name: string, value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CapError(
      'ERR_CAP_NUMBER',
      `cannot format URI:${label}: ${name} must be a non-negative integer, got ${value}`,
      name,
    );
  }
  return String(value);
}

/** The cap string of a Cap object; the inverse of parseCap (format(parse(x)) === x). */
export function formatCap(cap: Cap): string {
  const label = capKindName(cap);
  checkAlleged(cap.alleged, cap.kind, label);
  const prefix = `${cap.alleged ? cap.alleged + '.' : ''}URI:${label}:`;
  switch (cap.kind) {
    case 'ssk-write':
    case 'ssk-read':
    case 'ssk-verify': {
      if (cap.format === 'ed25519') return prefix + formatEd25519(label, cap);
      const key =
        cap.kind === 'ssk-write'
          ? encodeBytes(label, 'writekey', cap.writekey, 16)
          : cap.kind === 'ssk-read'
            ? encodeBytes(label, 'readkey', cap.readkey, 16)
            : encodeBytes(label, 'storageIndex', cap.storageIndex, 16);
      const extra = cap.extraFields ?? [];
      if (extra.length > 0 && cap.format !== 'mdmf') {
        throw new CapError(
          'ERR_CAP_FIELD_COUNT',
          `cannot format URI:${label}: only MDMF caps carry extra fields`,
        );
      }
      if (extra.some((f) => f.includes(':'))) {
        throw new CapError(
          'ERR_CAP_FIELD_COUNT',
          `cannot format URI:${label}: an extra field contains ":"`,
        );
      }
      const fields = [key, encodeBytes(label, 'fingerprint', cap.fingerprint, 32), ...extra];
      return prefix + fields.join(':');
    }
    case 'immutable':
    case 'immutable-verify': {
      const first =
        cap.kind === 'immutable'
          ? encodeBytes(label, 'key', cap.key, 16)
          : encodeBytes(label, 'storageIndex', cap.storageIndex, 16);
      return (
        prefix +
        [
          first,
          encodeBytes(label, 'uriExtensionHash', cap.uriExtensionHash, 32),
          encodeNumber(label, 'needed', cap.needed),
          encodeNumber(label, 'total', cap.total),
          encodeNumber(label, 'size', cap.size),
        ].join(':')
      );
    }
    case 'literal':
      return prefix + toBase32(cap.data);
  }
}

function formatEd25519(label: string, cap: MutableCap): string {
  if ((cap.extraFields ?? []).length > 0) {
    throw new CapError(
      'ERR_CAP_FIELD_COUNT',
      `cannot format URI:${label}: only MDMF caps carry extra fields`,
    );
  }
  if (cap.kind === 'ssk-write') {
    if (!cap.seed) {
      throw new CapError(
        'ERR_CAP_FIELD_LENGTH',
        `cannot format URI:${label}: an Ed25519 write cap needs its 32-byte seed`,
        'seed',
      );
    }
    return encodeBytes(label, 'seed', cap.seed, 32);
  }
  const first =
    cap.kind === 'ssk-read'
      ? encodeBytes(label, 'readkey', cap.readkey, 16)
      : encodeBytes(label, 'storageIndex', cap.storageIndex, 16);
  return `${first}:${encodeBytes(label, 'verificationKey', cap.fingerprint, 32)}`;
}
