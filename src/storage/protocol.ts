// The wire of Tahoe's HTTP storage protocol ("GBS", tahoe-formats.md §10) as slotfs speaks
// it: paths, headers, NURLs, and strict CBOR codecs for every body. Shared by the server
// (src/storage) and the client (src/grid); pure apart from certificate parsing.
//
// Strictness: CDDL maps are closed (§10.4), so every decoder below rejects extra, missing
// or mistyped keys with a ProtocolError — the server answers those with 400, a client
// treats them as a misbehaving server.
import { createHash, X509Certificate } from 'node:crypto';
import { decode, encode } from 'cbor2';
import { encodeCborFast } from '../encoding/cbor-writer.js';
import { tryDecodeCbor } from '../encoding/cbor-reader.js';
import { fromBase32, toBase32 } from '../encoding/base32.js';
import { utf8 } from '../encoding/bytes.js';

// ---------------------------------------------------------------------------------------
// Paths (§10.5). SI = 26 lowercase base32 characters, share number = unsigned decimal.

export const PATHS = {
  version: '/storage/v1/version',
  readTestWrite: (si: string) => `/storage/v1/mutable/${si}/read-test-write`,
  readShare: (si: string, shnum: number) => `/storage/v1/mutable/${si}/${shnum}`,
  listShares: (si: string) => `/storage/v1/mutable/${si}/shares`,
  lease: (si: string) => `/storage/v1/lease/${si}`,
  adviseCorrupt: (si: string, shnum: number) => `/storage/v1/mutable/${si}/${shnum}/corrupt`,
  /** POST: allocate buckets. */
  immutableAllocate: (si: string) => `/storage/v1/immutable/${si}`,
  /** PATCH: upload a chunk; GET: read. */
  immutableShare: (si: string, shnum: number) => `/storage/v1/immutable/${si}/${shnum}`,
  immutableAbort: (si: string, shnum: number) => `/storage/v1/immutable/${si}/${shnum}/abort`,
  immutableShares: (si: string) => `/storage/v1/immutable/${si}/shares`,
  immutableCorrupt: (si: string, shnum: number) => `/storage/v1/immutable/${si}/${shnum}/corrupt`,
  /** POST (slotfs extension): the start of many mutable shares at once. */
  readMany: '/slotfs/v1/mutable/read-many',
  /** POST (slotfs extension): many read-test-writes (different slots) in one request. */
  readTestWriteMany: '/slotfs/v1/mutable/read-test-write-many',
  /** GET (slotfs extension): the server's commit counters, JSON. */
  metrics: '/slotfs/v1/metrics',
} as const;

export const STORAGE_INDEX_LENGTH = 16;
const STORAGE_INDEX_TEXT = /^[a-z2-7]{26}$/;

/** The 26-character base32 form of a 16-byte storage index, as used in URLs and on disk. */
export function storageIndexToString(si: Uint8Array): string {
  if (si.length !== STORAGE_INDEX_LENGTH) {
    throw new ProtocolError(
      'ERR_PROTOCOL_STORAGE_INDEX',
      `a storage index is ${STORAGE_INDEX_LENGTH} bytes, got ${si.length}`,
    );
  }
  return toBase32(si);
}

/** Parses a URL/disk storage index; returns undefined unless it is exactly Tahoe's form. */
export function parseStorageIndex(text: string): Uint8Array | undefined {
  if (!STORAGE_INDEX_TEXT.test(text)) return undefined;
  try {
    return fromBase32(text); // also refuses non-zero trailing bits
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Headers (§10.3, §10.4).

export const CBOR_MIME_TYPE = 'application/cbor';
export const OCTET_STREAM = 'application/octet-stream';

/** `Authorization: Tahoe-LAFS <base64(swissnum)>` on every request. */
export const AUTHORIZATION_HEADER = 'authorization';
export const SECRET_HEADER = 'x-tahoe-authorization';

export const SECRET_KINDS = {
  writeEnabler: 'write-enabler',
  leaseRenew: 'lease-renew-secret',
  leaseCancel: 'lease-cancel-secret',
  upload: 'upload-secret',
} as const;
export type SecretKind = (typeof SECRET_KINDS)[keyof typeof SECRET_KINDS];

export function authorizationHeaderValue(swissnum: string): string {
  return `Tahoe-LAFS ${Buffer.from(swissnum, 'utf8').toString('base64')}`;
}

export function secretHeaderValue(kind: SecretKind, secret: Uint8Array): string {
  return `${kind} ${Buffer.from(secret).toString('base64')}`;
}

/**
 * slotfs extension negotiation. A client that understands slotfs extensions sends this
 * request header on `GET /storage/v1/version`; a slotfs server then adds the extension
 * key below to the version document. Tahoe's client validates the version document
 * against a closed CDDL map, so the key is never sent to clients that did not ask, and a
 * Tahoe server simply ignores the header (the extension is then absent = not usable).
 */
export const EXTENSIONS_REQUEST_HEADER = 'x-slotfs-extensions';
export const EXTENSIONS_REQUEST_VALUE = 'v1';

/**
 * Error responses keep Tahoe's body shape (a UTF-8 text message, or empty) and add this
 * header with a stable `ERR_STORAGE_*` code, which Tahoe clients ignore.
 */
export const ERROR_CODE_HEADER = 'x-slotfs-error-code';

export const ERROR_CODES = {
  badAuthorization: 'ERR_STORAGE_AUTHORIZATION', // 401 wrong/missing swissnum
  badWriteEnabler: 'ERR_STORAGE_WRITE_ENABLER', // 401 write enabler mismatch
  badSecrets: 'ERR_STORAGE_SECRETS', // 400 missing/extra/undecodable X-Tahoe-Authorization
  badRequest: 'ERR_STORAGE_BAD_REQUEST', // 400 malformed CBOR or CDDL failure
  notFound: 'ERR_STORAGE_NOT_FOUND', // 404 unknown path, share or storage index
  methodNotAllowed: 'ERR_STORAGE_METHOD', // 405
  notAcceptable: 'ERR_STORAGE_NOT_ACCEPTABLE', // 406 Accept is not application/cbor
  bodyTooLarge: 'ERR_STORAGE_BODY_TOO_LARGE', // 413 request body over the limit
  shareTooLarge: 'ERR_STORAGE_SHARE_TOO_LARGE', // 413 a write would exceed the max share size
  unsupportedMediaType: 'ERR_STORAGE_MEDIA_TYPE', // 415 Content-Type is not application/cbor
  badRange: 'ERR_STORAGE_RANGE', // 416
  uploadSecret: 'ERR_STORAGE_UPLOAD_SECRET', // 401 upload secret differs from the allocation's
  writeConflict: 'ERR_STORAGE_WRITE_CONFLICT', // 409 a chunk differs from bytes already written
  ioError: 'ERR_STORAGE_IO', // 500 the disk failed; nothing was changed
  corruptContainer: 'ERR_STORAGE_CONTAINER', // 500 a stored container does not parse
  shuttingDown: 'ERR_STORAGE_SHUTTING_DOWN', // 503 server is stopping
  noSpace: 'ERR_STORAGE_NO_SPACE', // 507 disk full; nothing was changed
} as const;
export type StorageErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** `Range` header Tahoe's client sends for `size` bytes at `offset` (size ≥ 1). */
export function rangeHeaderValue(offset: number, size: number): string {
  return `bytes=${offset}-${offset + size - 1}`;
}

/** Parses `Content-Range: bytes a-b/*` into [first, last] inclusive, or undefined. */
export function parseContentRange(value: string): { first: number; last: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\*|\d+)$/.exec(value.trim());
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) return undefined;
  return { first, last };
}

// ---------------------------------------------------------------------------------------
// NURL (§10.1): pb://<spki_hash>@<host>:<port>/<swissnum>#v=1

export interface Nurl {
  /** Unpadded base64url SHA-256 of the certificate's SubjectPublicKeyInfo DER (43 chars). */
  spkiHash: string;
  host: string;
  port: number;
  swissnum: string;
  /** `tor` for `pb+tor://`; undefined for plain TCP. */
  subscheme?: string;
}

export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const NURL_RE =
  /^pb(?:\+([a-z0-9]+))?:\/\/([A-Za-z0-9_-]{43})@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/([A-Za-z0-9._~-]+)#v=1$/;

export function parseNurl(text: string): Nurl {
  const m = NURL_RE.exec(text.trim());
  if (!m) {
    throw new ProtocolError(
      'ERR_NURL',
      `not an HTTP storage NURL: ${JSON.stringify(text)} (expected pb://<43-char spki hash>@<host>:<port>/<swissnum>#v=1)`,
    );
  }
  const port = Number(m[4]);
  if (port < 1 || port > 65535) {
    throw new ProtocolError('ERR_NURL', `NURL port ${port} is out of range 1..65535`);
  }
  const host = m[3].startsWith('[') ? m[3].slice(1, -1) : m[3];
  return { subscheme: m[1], spkiHash: m[2], host, port, swissnum: m[5] };
}

export function formatNurl(nurl: Nurl): string {
  const scheme = nurl.subscheme ? `pb+${nurl.subscheme}` : 'pb';
  const host = nurl.host.includes(':') ? `[${nurl.host}]` : nurl.host;
  return `${scheme}://${nurl.spkiHash}@${host}:${nurl.port}/${nurl.swissnum}#v=1`;
}

/** SPKI hash of a certificate (DER bytes or PEM text), as the NURL carries it. */
export function spkiHashFromCertificate(cert: Uint8Array | string): string {
  const x509 = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64url');
}

// ---------------------------------------------------------------------------------------
// CBOR (§10.4). Maps are decoded as Map (keys keep their CBOR type); floats, bignum tags
// and duplicate keys are refused.

const DECODE_OPTIONS = {
  preferMap: true,
  rejectDuplicateKeys: true,
  rejectBigInts: true,
  rejectFloats: true,
} as const;

export function decodeCbor(bytes: Uint8Array): unknown {
  // The protocol's own messages take the fast path; anything else (and every error) is
  // cbor2's, so answers and messages are the same either way.
  const fast = tryDecodeCbor(bytes);
  if (fast) return fast.value;
  try {
    return decode(bytes, DECODE_OPTIONS);
  } catch (err) {
    throw new ProtocolError(
      'ERR_PROTOCOL_CBOR',
      `malformed CBOR: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** Buffer would be encoded by cbor2 as a {type,data} map; make every byte string plain. */
function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeCbor(value: unknown): Uint8Array {
  return encode(value);
}

// --- validation helpers ------------------------------------------------------------------

function fail(where: string, what: string): never {
  throw new ProtocolError('ERR_PROTOCOL_SCHEMA', `${where}: ${what}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return 'a byte string';
  if (v instanceof Map) return 'a map';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? (v.constructor?.name ?? 'an object') : typeof v;
}

/** Closed map with exactly `keys` (text or byte-string keys, compared as text). */
function closedMap(v: unknown, where: string, keys: readonly string[], byteKeys = false) {
  if (!(v instanceof Map)) fail(where, `expected a map, got ${describe(v)}`);
  const out = new Map<string, unknown>();
  for (const [k, val] of v) {
    let name: string;
    if (byteKeys) {
      if (!(k instanceof Uint8Array)) fail(where, `keys must be byte strings, got ${describe(k)}`);
      name = Buffer.from(k).toString('latin1');
    } else {
      if (typeof k !== 'string') fail(where, `keys must be text strings, got ${describe(k)}`);
      name = k;
    }
    if (!keys.includes(name)) fail(where, `unexpected key ${JSON.stringify(name)}`);
    out.set(name, val);
  }
  for (const k of keys) if (!out.has(k)) fail(where, `missing key ${JSON.stringify(k)}`);
  return out;
}

/** CBOR uint → number; values above 2^53 saturate (they only ever mean "far beyond"). */
function uint(v: unknown, where: string): number {
  if (typeof v === 'bigint') {
    if (v < 0n) fail(where, 'expected an unsigned integer, got a negative one');
    return Number.MAX_SAFE_INTEGER;
  }
  if (typeof v !== 'number' || !Number.isInteger(v))
    fail(where, `expected an unsigned integer, got ${describe(v)}`);
  if (v < 0) fail(where, `expected an unsigned integer, got ${v}`);
  return v;
}

/** uint, or (with the read-from-end extension) a negative integer counted from the end. */
function int(v: unknown, where: string): number {
  if (typeof v === 'bigint') return v < 0n ? -Number.MAX_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  if (typeof v !== 'number' || !Number.isInteger(v))
    fail(where, `expected an integer, got ${describe(v)}`);
  return v;
}

function bstr(v: unknown, where: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(where, `expected a byte string, got ${describe(v)}`);
  return plain(v);
}

function array(v: unknown, where: string, max = Infinity): unknown[] {
  if (!Array.isArray(v)) fail(where, `expected an array, got ${describe(v)}`);
  if (v.length > max) fail(where, `at most ${max} entries allowed, got ${v.length}`);
  return v;
}

// ---------------------------------------------------------------------------------------
// Version document (§10.5), plus the slotfs extension.

export const STORAGE_V1_KEY = 'http://allmydata.org/tahoe/protocols/storage/v1';
/** Top-level version-document key of the slotfs extension map (byte-string key). */
export const SLOTFS_EXTENSION_KEY = 'https://slotfs.dev/protocols/storage/v1';

export interface SlotfsExtension {
  /** Read vectors of read-test-write may use negative offsets, counted from the share end. */
  readFromEnd: boolean;
  /** The 20-byte node id the server records in containers and leases (§3.3). */
  nodeId: Uint8Array;
  /** Bytes for the permuted server list (SHA-1(SI ‖ seed), §11.1). */
  permutationSeed: Uint8Array;
}

export interface VersionInfo {
  maximumImmutableShareSize: number;
  maximumMutableShareSize: number;
  availableSpace: number;
  applicationVersion: Uint8Array;
  /** Present only if the server is slotfs and the request carried the extensions header. */
  slotfs?: SlotfsExtension;
}

const b = (s: string) => utf8(s);

export function encodeVersion(v: VersionInfo): Uint8Array {
  const doc = new Map<Uint8Array, unknown>([
    [
      b(STORAGE_V1_KEY),
      new Map<Uint8Array, unknown>([
        [b('maximum-immutable-share-size'), v.maximumImmutableShareSize],
        [b('maximum-mutable-share-size'), v.maximumMutableShareSize],
        [b('available-space'), v.availableSpace],
      ]),
    ],
    [b('application-version'), plain(v.applicationVersion)],
  ]);
  if (v.slotfs) {
    doc.set(
      b(SLOTFS_EXTENSION_KEY),
      new Map<Uint8Array, unknown>([
        [b('read-from-end'), v.slotfs.readFromEnd],
        [b('node-id'), plain(v.slotfs.nodeId)],
        [b('permutation-seed'), plain(v.slotfs.permutationSeed)],
      ]),
    );
  }
  return encode(doc);
}

/** Decodes a version document; the slotfs key is accepted but not required. */
export function decodeVersion(bytes: Uint8Array): VersionInfo {
  const raw = decodeCbor(bytes);
  const hasExt =
    raw instanceof Map &&
    [...raw.keys()].some(
      (k) => k instanceof Uint8Array && Buffer.from(k).toString('latin1') === SLOTFS_EXTENSION_KEY,
    );
  const top = closedMap(
    raw,
    'version document',
    hasExt
      ? [STORAGE_V1_KEY, 'application-version', SLOTFS_EXTENSION_KEY]
      : [STORAGE_V1_KEY, 'application-version'],
    true,
  );
  const v1 = closedMap(
    top.get(STORAGE_V1_KEY),
    'version document v1 map',
    ['maximum-immutable-share-size', 'maximum-mutable-share-size', 'available-space'],
    true,
  );
  const info: VersionInfo = {
    maximumImmutableShareSize: uint(v1.get('maximum-immutable-share-size'), 'version document'),
    maximumMutableShareSize: uint(v1.get('maximum-mutable-share-size'), 'version document'),
    availableSpace: uint(v1.get('available-space'), 'version document'),
    applicationVersion: bstr(top.get('application-version'), 'application-version'),
  };
  if (hasExt) {
    const ext = closedMap(
      top.get(SLOTFS_EXTENSION_KEY),
      'slotfs extension map',
      ['read-from-end', 'node-id', 'permutation-seed'],
      true,
    );
    const rfe = ext.get('read-from-end');
    if (typeof rfe !== 'boolean') fail('read-from-end', `expected a bool, got ${describe(rfe)}`);
    info.slotfs = {
      readFromEnd: rfe,
      nodeId: bstr(ext.get('node-id'), 'node-id'),
      permutationSeed: bstr(ext.get('permutation-seed'), 'permutation-seed'),
    };
  }
  return info;
}

// ---------------------------------------------------------------------------------------
// Read-test-write (§10.5, semantics §9.2).

export interface TestVector {
  offset: number;
  size: number;
  specimen: Uint8Array;
}
export interface WriteVector {
  offset: number;
  data: Uint8Array;
}
/** With the read-from-end extension, `offset` may be negative: counted from the data end. */
export interface ReadVector {
  offset: number;
  size: number;
}
export interface TestWriteVectors {
  test: TestVector[];
  write: WriteVector[];
  /** null = leave the length; 0 = delete the share; smaller = truncate; larger = ignored. */
  newLength: number | null;
}
export interface ReadTestWriteRequest {
  testWriteVectors: Map<number, TestWriteVectors>;
  readVector: ReadVector[];
}
export interface ReadTestWriteResponse {
  success: boolean;
  data: Map<number, Uint8Array[]>;
}

/** CDDL limits Tahoe's server enforces: 0*256 shares, 0*30 test and read vectors. */
export const RTW_LIMITS = { shares: 256, testVectors: 30, readVectors: 30 } as const;

export function encodeReadTestWriteRequest(req: ReadTestWriteRequest): Uint8Array {
  const tw = new Map<number, unknown>();
  for (const [shnum, v] of req.testWriteVectors) {
    tw.set(
      shnum,
      new Map<string, unknown>([
        [
          'test',
          v.test.map(
            (t) =>
              new Map<string, unknown>([
                ['offset', t.offset],
                ['size', t.size],
                ['specimen', plain(t.specimen)],
              ]),
          ),
        ],
        [
          'write',
          v.write.map(
            (w) =>
              new Map<string, unknown>([
                ['offset', w.offset],
                ['data', plain(w.data)],
              ]),
          ),
        ],
        ['new-length', v.newLength],
      ]),
    );
  }
  // Sent once per server in every publish: the fast encoder (same bytes as cbor2's).
  return encodeCborFast(
    new Map<string, unknown>([
      ['test-write-vectors', tw],
      [
        'read-vector',
        req.readVector.map(
          (r) =>
            new Map<string, unknown>([
              ['offset', r.offset],
              ['size', r.size],
            ]),
        ),
      ],
    ]),
  );
}

/**
 * Strict decoder for the request body. `allowReadFromEnd` admits negative read-vector
 * offsets (the slotfs extension); otherwise they fail the CDDL `uint` like Tahoe.
 */
export function decodeReadTestWriteRequest(
  bytes: Uint8Array,
  options: { allowReadFromEnd?: boolean } = {},
): ReadTestWriteRequest {
  const top = closedMap(decodeCbor(bytes), 'read-test-write request', [
    'test-write-vectors',
    'read-vector',
  ]);
  const twRaw = top.get('test-write-vectors');
  if (!(twRaw instanceof Map)) fail('test-write-vectors', `expected a map, got ${describe(twRaw)}`);
  if (twRaw.size > RTW_LIMITS.shares)
    fail('test-write-vectors', `at most ${RTW_LIMITS.shares} shares, got ${twRaw.size}`);
  const testWriteVectors = new Map<number, TestWriteVectors>();
  for (const [k, v] of twRaw) {
    const shnum = uint(k, 'test-write-vectors share number');
    if (!Number.isSafeInteger(shnum) || shnum === Number.MAX_SAFE_INTEGER)
      fail('test-write-vectors', 'share number too large');
    const where = `test-write-vectors[${shnum}]`;
    const m = closedMap(v, where, ['test', 'write', 'new-length']);
    const test = array(m.get('test'), `${where}.test`, RTW_LIMITS.testVectors).map((t, i) => {
      const tm = closedMap(t, `${where}.test[${i}]`, ['offset', 'size', 'specimen']);
      return {
        offset: uint(tm.get('offset'), `${where}.test[${i}].offset`),
        size: uint(tm.get('size'), `${where}.test[${i}].size`),
        specimen: bstr(tm.get('specimen'), `${where}.test[${i}].specimen`),
      };
    });
    const write = array(m.get('write'), `${where}.write`).map((w, i) => {
      const wm = closedMap(w, `${where}.write[${i}]`, ['offset', 'data']);
      return {
        offset: uint(wm.get('offset'), `${where}.write[${i}].offset`),
        data: bstr(wm.get('data'), `${where}.write[${i}].data`),
      };
    });
    const nl = m.get('new-length');
    const newLength = nl === null ? null : uint(nl, `${where}.new-length`);
    testWriteVectors.set(shnum, { test, write, newLength });
  }
  const readVector = array(top.get('read-vector'), 'read-vector', RTW_LIMITS.readVectors).map(
    (r, i) => {
      const rm = closedMap(r, `read-vector[${i}]`, ['offset', 'size']);
      return {
        offset: options.allowReadFromEnd
          ? int(rm.get('offset'), `read-vector[${i}].offset`)
          : uint(rm.get('offset'), `read-vector[${i}].offset`),
        size: uint(rm.get('size'), `read-vector[${i}].size`),
      };
    },
  );
  return { testWriteVectors, readVector };
}

export function encodeReadTestWriteResponse(res: ReadTestWriteResponse): Uint8Array {
  const data = new Map<number, Uint8Array[]>();
  for (const [shnum, reads] of res.data) data.set(shnum, reads.map(plain));
  // Once per share write: the fast encoder (same bytes as cbor2's).
  return encodeCborFast(
    new Map<string, unknown>([
      ['success', res.success],
      ['data', data],
    ]),
  );
}

export function decodeReadTestWriteResponse(bytes: Uint8Array): ReadTestWriteResponse {
  const top = closedMap(decodeCbor(bytes), 'read-test-write response', ['success', 'data']);
  const success = top.get('success');
  if (typeof success !== 'boolean') fail('success', `expected a bool, got ${describe(success)}`);
  const raw = top.get('data');
  if (!(raw instanceof Map)) fail('data', `expected a map, got ${describe(raw)}`);
  const data = new Map<number, Uint8Array[]>();
  for (const [k, v] of raw) {
    const shnum = uint(k, 'data share number');
    data.set(
      shnum,
      array(v, `data[${shnum}]`).map((x, i) => bstr(x, `data[${shnum}][${i}]`)),
    );
  }
  return { success, data };
}

// ---------------------------------------------------------------------------------------
// Share-number sets (tag 258) and corruption advice.

export function encodeShareSet(shares: Iterable<number>): Uint8Array {
  return encode(new Set([...shares].sort((a, b2) => a - b2)));
}

export function decodeShareSet(bytes: Uint8Array): number[] {
  const raw = decodeCbor(bytes);
  if (!(raw instanceof Set))
    fail('share list', `expected a CBOR set (tag 258), got ${describe(raw)}`);
  if (raw.size > 256) fail('share list', `at most 256 shares, got ${raw.size}`);
  return [...raw].map((x) => uint(x, 'share list entry'));
}

export function encodeCorruptionAdvice(reason: string): Uint8Array {
  return encode(new Map([['reason', reason]]));
}

export function decodeCorruptionAdvice(bytes: Uint8Array): string {
  const m = closedMap(decodeCbor(bytes), 'corruption advice', ['reason']);
  const reason = m.get('reason');
  if (typeof reason !== 'string') fail('reason', `expected a text string, got ${describe(reason)}`);
  // CDDL `tstr .size (1..32765)` counts bytes of the UTF-8 encoding.
  const n = utf8(reason).length;
  if (n < 1 || n > 32765) fail('reason', `must be 1..32765 bytes of UTF-8, got ${n}`);
  return reason;
}

// ---------------------------------------------------------------------------------------
// Immutable uploads (http-storage-node-protocol.rst, "Immutable").

export interface AllocateBucketsRequest {
  shareNumbers: number[];
  allocatedSize: number;
}
export interface AllocateBucketsResponse {
  alreadyHave: number[];
  allocated: number[];
}

function shareSet(v: unknown, where: string): number[] {
  if (!(v instanceof Set)) fail(where, `expected a CBOR set (tag 258), got ${describe(v)}`);
  if (v.size > 256) fail(where, `at most 256 shares, got ${v.size}`);
  return [...v].map((x) => uint(x, `${where} entry`)).sort((a, b2) => a - b2);
}

export function encodeAllocateBucketsRequest(req: AllocateBucketsRequest): Uint8Array {
  return encode(
    new Map<string, unknown>([
      ['share-numbers', new Set(req.shareNumbers)],
      ['allocated-size', req.allocatedSize],
    ]),
  );
}

export function decodeAllocateBucketsRequest(bytes: Uint8Array): AllocateBucketsRequest {
  const m = closedMap(decodeCbor(bytes), 'allocate-buckets request', [
    'share-numbers',
    'allocated-size',
  ]);
  return {
    shareNumbers: shareSet(m.get('share-numbers'), 'share-numbers'),
    allocatedSize: uint(m.get('allocated-size'), 'allocated-size'),
  };
}

export function encodeAllocateBucketsResponse(res: AllocateBucketsResponse): Uint8Array {
  return encode(
    new Map<string, unknown>([
      ['already-have', new Set(res.alreadyHave)],
      ['allocated', new Set(res.allocated)],
    ]),
  );
}

export function decodeAllocateBucketsResponse(bytes: Uint8Array): AllocateBucketsResponse {
  const m = closedMap(decodeCbor(bytes), 'allocate-buckets response', [
    'already-have',
    'allocated',
  ]);
  return {
    alreadyHave: shareSet(m.get('already-have'), 'already-have'),
    allocated: shareSet(m.get('allocated'), 'allocated'),
  };
}

/** The byte ranges of a share still to be uploaded (answer to a PATCH). */
export type RequiredRanges = Array<{ begin: number; end: number }>;

export function encodeRequiredRanges(required: RequiredRanges): Uint8Array {
  return encode(
    new Map<string, unknown>([
      [
        'required',
        required.map(
          (r) =>
            new Map<string, unknown>([
              ['begin', r.begin],
              ['end', r.end],
            ]),
        ),
      ],
    ]),
  );
}

export function decodeRequiredRanges(bytes: Uint8Array): RequiredRanges {
  const m = closedMap(decodeCbor(bytes), 'upload progress', ['required']);
  return array(m.get('required'), 'required').map((r, i) => {
    const rm = closedMap(r, `required[${i}]`, ['begin', 'end']);
    return { begin: uint(rm.get('begin'), 'begin'), end: uint(rm.get('end'), 'end') };
  });
}

// ---------------------------------------------------------------------------------------
// Read-many (slotfs extension): the first `length` bytes of many mutable shares in one
// request — what a mount asks when it checks that the files of a folder it has cached are
// still the versions it holds (the 57-byte checkstring of one share of each). Request:
// [length, [[storage index, share number], …]]; answer: one byte string (or null for a
// share not held) per read, in order. Tahoe servers answer 404 (no such resource).

export const MAX_READ_MANY_COUNT = 4096;
export const MAX_READ_MANY_LENGTH = 1024;

export interface ShareRef {
  storageIndex: Uint8Array;
  shareNumber: number;
}

export function encodeReadManyRequest(length: number, reads: readonly ShareRef[]): Uint8Array {
  return encode([length, reads.map((r) => [plain(r.storageIndex), r.shareNumber])]);
}

export function decodeReadManyRequest(bytes: Uint8Array): { length: number; reads: ShareRef[] } {
  const raw = decodeCbor(bytes);
  if (!Array.isArray(raw) || raw.length !== 2)
    fail('read-many request', 'expected [length, reads]');
  const length = uint(raw[0], 'read-many length');
  if (length < 1 || length > MAX_READ_MANY_LENGTH) {
    fail('read-many length', `must be 1…${MAX_READ_MANY_LENGTH}, got ${length}`);
  }
  const list: unknown = raw[1];
  if (!Array.isArray(list)) fail('read-many reads', `expected an array, got ${describe(list)}`);
  if (list.length > MAX_READ_MANY_COUNT) {
    fail('read-many reads', `at most ${MAX_READ_MANY_COUNT} reads, got ${list.length}`);
  }
  const reads = list.map((item: unknown, i) => {
    if (!Array.isArray(item) || item.length !== 2) {
      fail(`read-many read ${i}`, 'expected [storage index, share number]');
    }
    const storageIndex = bstr(item[0], `read-many read ${i} storage index`);
    if (storageIndex.length !== STORAGE_INDEX_LENGTH) {
      fail(`read-many read ${i}`, `a storage index is 16 bytes, got ${storageIndex.length}`);
    }
    const shareNumber = uint(item[1], `read-many read ${i} share number`);
    if (shareNumber > 255) fail(`read-many read ${i}`, `share number ${shareNumber} > 255`);
    return { storageIndex, shareNumber };
  });
  return { length, reads };
}

export function encodeReadManyResponse(results: ReadonlyArray<Uint8Array | null>): Uint8Array {
  return encode(results.map((r) => (r === null ? null : plain(r))));
}

export function decodeReadManyResponse(
  bytes: Uint8Array,
  count: number,
  length: number,
): Array<Uint8Array | null> {
  const raw = decodeCbor(bytes);
  if (!Array.isArray(raw) || raw.length !== count) {
    fail('read-many answer', `expected an array of ${count} results`);
  }
  return raw.map((r: unknown, i) => {
    if (r === null) return null;
    const data = bstr(r, `read-many result ${i}`);
    if (data.length > length) fail(`read-many result ${i}`, `${data.length} bytes > ${length}`);
    return data;
  });
}

// ---------------------------------------------------------------------------------------
// Read-test-write-many (slotfs extension): many independent §9.2 operations in one
// request, so that a burst of small writes to one server costs one TLS record, one HTTP
// exchange and one commit-log batch instead of one of each per write. Request: an array
// of [storage index, write enabler, lease renew secret, lease cancel secret, body], where
// body is the byte string a single read-test-write would send. Answer: one entry per item,
// in order — the byte string the single request would have answered with 200, or
// [status, error code, message] for what it would have answered with an error. Each item
// succeeds or fails on its own. Tahoe servers answer 404 (no such resource).

export const MAX_RTW_MANY_COUNT = 256;

export interface ReadTestWriteManyItem {
  storageIndex: Uint8Array;
  writeEnabler: Uint8Array;
  leaseRenewSecret: Uint8Array;
  leaseCancelSecret: Uint8Array;
  /** The CBOR body of the single read-test-write (encodeReadTestWriteRequest). */
  body: Uint8Array;
}

/** The single request's 200 body, or the error it would have answered. */
export type ReadTestWriteManyResult =
  Uint8Array | { status: number; code: string; message: string };

export function encodeReadTestWriteManyRequest(
  items: readonly ReadTestWriteManyItem[],
): Uint8Array {
  return encodeCborFast(
    items.map((i) => [
      plain(i.storageIndex),
      plain(i.writeEnabler),
      plain(i.leaseRenewSecret),
      plain(i.leaseCancelSecret),
      plain(i.body),
    ]),
  );
}

/**
 * Decodes the batch's frame. Secrets and bodies are checked item by item later (a bad one
 * fails only its item); what is wrong here fails the whole request.
 */
export function decodeReadTestWriteManyRequest(bytes: Uint8Array): ReadTestWriteManyItem[] {
  const list = array(decodeCbor(bytes), 'read-test-write-many request', MAX_RTW_MANY_COUNT);
  return list.map((item: unknown, i) => {
    const where = `read-test-write-many item ${i}`;
    if (!Array.isArray(item) || item.length !== 5) {
      fail(
        where,
        `expected [storage index, write enabler, lease renew secret, lease cancel secret, body], got ${describe(item)}${Array.isArray(item) ? ` of ${item.length}` : ''}`,
      );
    }
    const storageIndex = bstr(item[0], `${where} storage index`);
    if (storageIndex.length !== STORAGE_INDEX_LENGTH) {
      fail(where, `a storage index is ${STORAGE_INDEX_LENGTH} bytes, got ${storageIndex.length}`);
    }
    return {
      storageIndex,
      writeEnabler: bstr(item[1], `${where} write enabler`),
      leaseRenewSecret: bstr(item[2], `${where} lease renew secret`),
      leaseCancelSecret: bstr(item[3], `${where} lease cancel secret`),
      body: bstr(item[4], `${where} body`),
    };
  });
}

export function encodeReadTestWriteManyResponse(
  results: readonly ReadTestWriteManyResult[],
): Uint8Array {
  return encodeCborFast(
    results.map((r) => (r instanceof Uint8Array ? plain(r) : [r.status, r.code, r.message])),
  );
}

export function decodeReadTestWriteManyResponse(
  bytes: Uint8Array,
  count: number,
): ReadTestWriteManyResult[] {
  const raw = decodeCbor(bytes);
  if (!Array.isArray(raw) || raw.length !== count) {
    fail('read-test-write-many answer', `expected an array of ${count} results`);
  }
  return raw.map((r: unknown, i) => {
    if (r instanceof Uint8Array) return plain(r);
    const where = `read-test-write-many result ${i}`;
    if (!Array.isArray(r) || r.length !== 3) {
      fail(where, `expected a byte string or [status, code, message], got ${describe(r)}`);
    }
    const status = uint(r[0], `${where} status`);
    if (status < 400 || status > 599) fail(where, `error status ${status} is not 4xx/5xx`);
    if (typeof r[1] !== 'string') fail(where, `code: expected text, got ${describe(r[1])}`);
    if (typeof r[2] !== 'string') fail(where, `message: expected text, got ${describe(r[2])}`);
    return { status, code: r[1], message: r[2] };
  });
}
