// The HTTP face of the store (tahoe-formats.md §10): routing, authorization, secrets,
// content negotiation, body limits and status codes, in the order Tahoe's server applies
// them: route (404/405) → swissnum (401) → secrets (400) → Accept (406) → Content-Type
// (415) → body size (413) → CBOR/CDDL (400) → the operation.
//
// Error bodies follow Tahoe: a plain UTF-8 text message (Tahoe sends text or nothing), plus
// an `X-Slotfs-Error-Code` header with a stable code. One deliberate difference: Tahoe
// checks Accept only when it sends the response (after a write was applied); we refuse a
// bad Accept before doing anything.
import type { IncomingMessage } from 'node:http';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { ContainerFormatError, ShareTooLargeError, timingSafeEqualBytes } from './container.js';
import {
  authorizationHeaderValue,
  CBOR_MIME_TYPE,
  decodeAllocateBucketsRequest,
  decodeCorruptionAdvice,
  encodeAllocateBucketsResponse,
  encodeRequiredRanges,
  parseContentRange,
  decodeReadTestWriteRequest,
  encodeReadTestWriteResponse,
  decodeReadManyRequest,
  encodeReadManyResponse,
  decodeReadTestWriteManyRequest,
  encodeReadTestWriteManyResponse,
  type ReadTestWriteManyResult,
  type ReadTestWriteRequest,
  storageIndexToString,
  encodeShareSet,
  encodeVersion,
  ERROR_CODE_HEADER,
  ERROR_CODES,
  EXTENSIONS_REQUEST_HEADER,
  EXTENSIONS_REQUEST_VALUE,
  OCTET_STREAM,
  parseStorageIndex,
  ProtocolError,
  SECRET_HEADER,
  SECRET_KINDS,
  type SecretKind,
  type StorageErrorCode,
} from './protocol.js';
import { BadWriteEnablerError, type SlotSecrets } from './slot.js';
import { ImmutableUploadError, type ImmutableStore } from './immutable-store.js';
import { StoreIoError, type ShareStore } from './store.js';

export interface StorageAppOptions {
  store: ShareStore;
  immutable: ImmutableStore;
  swissnum: string;
  nodeId: Uint8Array;
  permutationSeed: Uint8Array;
  /** Largest share data a write may produce (bytes). */
  maxShareSize: number;
  /** Largest read-test-write request body (bytes). */
  maxBodySize: number;
  /** Advertise and accept the slotfs extensions (read-from-end). */
  extensions: boolean;
  applicationVersion: string;
  tls: { key: string; cert: string };
  /** Called with unexpected (500) errors. */
  onError?: (err: unknown) => void;
}

/** Tahoe's fixed limits for the small bodies (§10.4). */
const CORRUPTION_BODY_LIMIT = 32 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: StorageErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

type Handler = (ctx: RequestContext) => Promise<void>;
interface RequestContext {
  req: FastifyRequest;
  reply: FastifyReply;
  si: string;
  shnum: number;
  secrets: Map<SecretKind, Uint8Array>;
}

interface Route {
  pattern: RegExp;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  secrets: SecretKind[];
  /** Responds with CBOR, so the Accept header must allow it. */
  cbor: boolean;
  handler: Handler;
}

const SI = '([a-z2-7]{26})';
const SHNUM = '(\\d+)';

/** First value of a header as sent (Node would join repeated headers with ", "). */
function headerValues(req: IncomingMessage, name: string): string[] {
  return req.headersDistinct[name] ?? [];
}

/**
 * Tahoe answers CBOR iff the best entry of the first Accept header is application/cbor:
 * entries sorted by (value ≠ "*", q) descending, ties in their order; no header = CBOR.
 */
export function acceptsCbor(accept: string | undefined): boolean {
  if (accept === undefined) return true;
  const entries: { value: string; q: number; i: number }[] = [];
  accept.split(',').forEach((raw, i) => {
    const parts = raw.split(';').map((p) => p.trim());
    const value = parts[0];
    if (!value) return;
    let q = 1;
    const params: string[] = [];
    for (const p of parts.slice(1)) {
      const m = /^q\s*=\s*(.*)$/i.exec(p);
      if (m) {
        if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(m[1])) return; // invalid q: entry ignored
        q = Number(m[1]);
      } else if (p) params.push(p);
    }
    entries.push({ value: params.length ? [value, ...params].join('; ') : value, q, i });
  });
  if (entries.length === 0) return false;
  entries.sort((a, b) => {
    const sa = a.value !== '*' ? 1 : 0;
    const sb = b.value !== '*' ? 1 : 0;
    return sb - sa || b.q - a.q || a.i - b.i;
  });
  return entries[0].value === CBOR_MIME_TYPE;
}

function decodeBase64Strict(text: string): Uint8Array | undefined {
  const t = text.trim();
  if (t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) return undefined;
  return new Uint8Array(Buffer.from(t, 'base64'));
}

/** §10.3: exactly the required set of secret kinds; lease secrets 32 bytes; none empty. */
export function extractSecrets(
  values: string[],
  required: SecretKind[],
): Map<SecretKind, Uint8Array> {
  const known = new Set<string>(Object.values(SECRET_KINDS));
  const out = new Map<SecretKind, Uint8Array>();
  for (const value of values) {
    const v = value.trim();
    const space = v.indexOf(' ');
    const kind = space < 0 ? v : v.slice(0, space);
    if (space < 0 || !known.has(kind)) {
      throw new HttpError(
        400,
        ERROR_CODES.badSecrets,
        `Bad X-Tahoe-Authorization header value ${JSON.stringify(value)}: expected "<kind> <base64>" with kind one of ${[...known].join(', ')}`,
      );
    }
    const secret = decodeBase64Strict(v.slice(space + 1));
    if (!secret || secret.length === 0) {
      throw new HttpError(400, ERROR_CODES.badSecrets, `Failed to decode secret ${kind}`);
    }
    if (
      (kind === SECRET_KINDS.leaseRenew || kind === SECRET_KINDS.leaseCancel) &&
      secret.length !== 32
    ) {
      throw new HttpError(
        400,
        ERROR_CODES.badSecrets,
        `Lease secrets must be 32 bytes long (${kind} has ${secret.length})`,
      );
    }
    out.set(kind as SecretKind, secret);
  }
  const got = [...out.keys()];
  if (got.length !== required.length || !required.every((k) => out.has(k))) {
    throw new HttpError(
      400,
      ERROR_CODES.badSecrets,
      `Expected [${required.join(', ')}] in X-Tahoe-Authorization headers, got [${got.join(', ')}]`,
    );
  }
  return out;
}

/** A secret of one read-test-write-many item, checked as §10.3 checks a header's. */
function itemSecret(secret: Uint8Array, kind: SecretKind): Uint8Array {
  if (secret.length === 0) {
    throw new HttpError(400, ERROR_CODES.badSecrets, `the ${kind} of this item is empty`);
  }
  if (kind !== SECRET_KINDS.writeEnabler && secret.length !== 32) {
    throw new HttpError(
      400,
      ERROR_CODES.badSecrets,
      `Lease secrets must be 32 bytes long (${kind} has ${secret.length})`,
    );
  }
  return secret;
}

/** Reads the body as CBOR input: 415 for another Content-Type, 413 over `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const contentType = req.headers['content-type'];
  if (contentType !== undefined) {
    const mime = contentType.split(';')[0].trim().toLowerCase();
    if (mime !== CBOR_MIME_TYPE && mime !== '') {
      throw new HttpError(
        415,
        ERROR_CODES.unsupportedMediaType,
        `Content-Type ${JSON.stringify(contentType)} is not supported; send ${CBOR_MIME_TYPE}`,
      );
    }
  }
  const tooLarge = () =>
    new HttpError(
      413,
      ERROR_CODES.bodyTooLarge,
      `request body is larger than this endpoint's limit of ${limit} bytes`,
      { connection: 'close' },
    );
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

/** Reads a raw (octet-stream) body of exactly `expected` bytes: 413 over `limit`. */
async function readRawBody(
  req: IncomingMessage,
  limit: number,
  expected: number,
): Promise<Uint8Array> {
  if (expected > limit) {
    throw new HttpError(
      413,
      ERROR_CODES.bodyTooLarge,
      `request body is larger than this endpoint's limit of ${limit} bytes`,
      { connection: 'close' },
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > expected) break;
    chunks.push(chunk);
  }
  if (total !== expected) {
    throw new HttpError(
      400,
      ERROR_CODES.badRequest,
      `the body has ${total} bytes but Content-Range announced ${expected}`,
      { connection: 'close' },
    );
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

interface ParsedRange {
  first: bigint;
  endExclusive: bigint;
}

/**
 * The subset of Range Tahoe serves: `bytes=<first>-<last>`, one range, both ends given,
 * last ≥ first (werkzeug's parser plus Tahoe's checks). Anything else → undefined (416).
 */
export function parseRangeHeader(value: string): ParsedRange | undefined {
  const eq = value.indexOf('=');
  if (eq < 0) return undefined;
  if (value.slice(0, eq).trim().toLowerCase() !== 'bytes') return undefined;
  const items = value.slice(eq + 1).split(',');
  if (items.length !== 1) return undefined;
  const item = items[0].trim();
  const dash = item.indexOf('-');
  if (dash <= 0) return undefined; // no dash, or a suffix range "-N"
  const a = item.slice(0, dash).trim();
  const b = item.slice(dash + 1).trim();
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined; // open-ended "N-" included
  const first = BigInt(a);
  const endExclusive = BigInt(b) + 1n;
  if (first >= endExclusive) return undefined;
  return { first, endExclusive };
}

export function buildStorageApp(opts: StorageAppOptions): FastifyInstance {
  const app = Fastify({
    https: { key: opts.tls.key, cert: opts.tls.cert },
    logger: false,
    // (With no logger, fastify would still build a log call per request and per answer.)
    disableRequestLogging: true,
    forceCloseConnections: 'idle',
    // New requests during a stop get our own 503 (below), with the error-code header.
    return503OnClosing: false,
    keepAliveTimeout: 30_000,
  });
  // While stopping, in-flight requests finish; their connections must then close instead
  // of idling until the keep-alive timeout (Node only closes connections idle at close()).
  let stopping = false;
  const expectedAuth = Buffer.from(authorizationHeaderValue(opts.swissnum), 'utf8');
  const { store } = opts;

  // We read bodies ourselves (after the authorization checks), so hand fastify's parser
  // the raw stream for every content type, including none.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  const sendCbor = (reply: FastifyReply, status: number, body: Uint8Array) =>
    reply.code(status).header('content-type', CBOR_MIME_TYPE).send(Buffer.from(body));

  type Reader = (
    offset: number,
    end: number | undefined,
  ) => Promise<{ data: Uint8Array; dataLength: number } | undefined>;

  /** GET of share data, whole or one `Range` (mutable and immutable alike). */
  async function serveRead(
    req: FastifyRequest,
    reply: FastifyReply,
    si: string,
    shnum: number,
    read: Reader,
  ) {
    reply.header('content-type', OCTET_STREAM);
    const rangeHeader = req.headers.range;
    let range: ParsedRange | undefined;
    if (rangeHeader !== undefined) {
      range = parseRangeHeader(rangeHeader);
      if (!range) {
        throw new HttpError(
          416,
          ERROR_CODES.badRange,
          `unsupported Range ${JSON.stringify(rangeHeader)}: send one "bytes=<first>-<last>" range`,
        );
      }
    }
    const cap = (n: bigint) =>
      n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
    const result = await read(
      range ? cap(range.first) : 0,
      range ? cap(range.endExclusive) : undefined,
    );
    if (!result) {
      throw new HttpError(404, ERROR_CODES.notFound, `no share ${shnum} of ${si} here`);
    }
    if (!range) {
      await reply.code(200).send(Buffer.from(result.data));
      return;
    }
    if (result.data.length === 0) {
      await reply.code(204).send(); // Content-Range cannot express an empty range
      return;
    }
    const first = cap(range.first);
    await reply
      .code(206)
      .header('content-range', `bytes ${first}-${first + result.data.length - 1}/*`)
      .send(Buffer.from(result.data));
  }

  const routes: Route[] = [
    {
      pattern: /^\/storage\/v1\/version$/,
      method: 'GET',
      secrets: [],
      cbor: true,
      async handler({ req, reply }) {
        const wantsExtensions =
          opts.extensions &&
          headerValues(req.raw, EXTENSIONS_REQUEST_HEADER).some((v) =>
            v.split(',').some((x) => x.trim() === EXTENSIONS_REQUEST_VALUE),
          );
        const available = await store.availableSpace().catch(() => 0);
        await sendCbor(
          reply,
          200,
          encodeVersion({
            // As Tahoe: an immutable share may take whatever the disk has left.
            maximumImmutableShareSize: available,
            maximumMutableShareSize: opts.maxShareSize,
            availableSpace: available,
            applicationVersion: new TextEncoder().encode(opts.applicationVersion),
            slotfs: wantsExtensions
              ? { readFromEnd: true, nodeId: opts.nodeId, permutationSeed: opts.permutationSeed }
              : undefined,
          }),
        );
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/mutable/${SI}/read-test-write$`),
      method: 'POST',
      secrets: [SECRET_KINDS.writeEnabler, SECRET_KINDS.leaseRenew, SECRET_KINDS.leaseCancel],
      cbor: true,
      async handler({ req, reply, si, secrets }) {
        const body = await readBody(req.raw, opts.maxBodySize);
        const request = decodeReadTestWriteRequest(body, { allowReadFromEnd: opts.extensions });
        const outcome = await store.readTestWrite(si, request, {
          writeEnabler: secrets.get(SECRET_KINDS.writeEnabler)!,
          leaseRenewSecret: secrets.get(SECRET_KINDS.leaseRenew)!,
          leaseCancelSecret: secrets.get(SECRET_KINDS.leaseCancel)!,
        });
        await sendCbor(reply, 200, encodeReadTestWriteResponse(outcome));
      },
    },
    ...(opts.extensions
      ? [
          {
            pattern: /^\/slotfs\/v1\/mutable\/read-many$/,
            method: 'POST',
            secrets: [],
            cbor: true,
            async handler({ req, reply }: RequestContext) {
              const body = await readBody(req.raw, opts.maxBodySize);
              const { length, reads } = decodeReadManyRequest(body);
              const results = await store.readShareStarts(
                reads.map((r) => ({
                  si: storageIndexToString(r.storageIndex),
                  shnum: r.shareNumber,
                })),
                length,
              );
              await sendCbor(reply, 200, encodeReadManyResponse(results));
            },
          } satisfies Route,
          {
            pattern: /^\/slotfs\/v1\/mutable\/read-test-write-many$/,
            method: 'POST',
            secrets: [],
            cbor: true,
            async handler({ req, reply }: RequestContext) {
              const body = await readBody(req.raw, opts.maxBodySize);
              const items = decodeReadTestWriteManyRequest(body);
              // Each item is checked and run as its single request would be; what is wrong
              // with one item is that item's answer only.
              const results: ReadTestWriteManyResult[] = new Array(items.length);
              const valid: Array<{
                at: number;
                si: string;
                req: ReadTestWriteRequest;
                secrets: SlotSecrets;
              }> = [];
              items.forEach((item, at) => {
                try {
                  valid.push({
                    at,
                    si: storageIndexToString(item.storageIndex),
                    req: decodeReadTestWriteRequest(item.body, { allowReadFromEnd: true }),
                    secrets: {
                      writeEnabler: itemSecret(item.writeEnabler, SECRET_KINDS.writeEnabler),
                      leaseRenewSecret: itemSecret(item.leaseRenewSecret, SECRET_KINDS.leaseRenew),
                      leaseCancelSecret: itemSecret(
                        item.leaseCancelSecret,
                        SECRET_KINDS.leaseCancel,
                      ),
                    },
                  });
                } catch (err) {
                  results[at] = errorResult(err);
                }
              });
              const outcomes = await store.readTestWriteMany(valid);
              outcomes.forEach((o, i) => {
                results[valid[i].at] =
                  o.status === 'fulfilled'
                    ? encodeReadTestWriteResponse(o.value)
                    : errorResult(o.reason);
              });
              await sendCbor(reply, 200, encodeReadTestWriteManyResponse(results));
            },
          } satisfies Route,
          {
            // Counters of how this server commits (tests and benchmarks read them).
            pattern: /^\/slotfs\/v1\/metrics$/,
            method: 'GET',
            secrets: [],
            cbor: false,
            async handler({ reply }: RequestContext) {
              await reply
                .code(200)
                .header('content-type', 'application/json')
                .send(JSON.stringify({ commit: store.commitCounters }));
            },
          } satisfies Route,
        ]
      : []),
    {
      pattern: new RegExp(`^/storage/v1/mutable/${SI}/shares$`),
      method: 'GET',
      secrets: [],
      cbor: true,
      async handler({ reply, si }) {
        await sendCbor(reply, 200, encodeShareSet(await store.listShares(si)));
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/mutable/${SI}/${SHNUM}$`),
      method: 'GET',
      secrets: [],
      cbor: false,
      async handler({ req, reply, si, shnum }) {
        await serveRead(req, reply, si, shnum, (o, e) => store.readShare(si, shnum, o, e));
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/mutable/${SI}/${SHNUM}/corrupt$`),
      method: 'POST',
      secrets: [],
      cbor: false,
      async handler({ req, reply, si, shnum }) {
        if (!(await store.listShares(si)).includes(shnum)) {
          throw new HttpError(404, ERROR_CODES.notFound, `no share ${shnum} of ${si} here`);
        }
        const reason = decodeCorruptionAdvice(await readBody(req.raw, CORRUPTION_BODY_LIMIT));
        await store.adviseCorrupt(si, shnum, reason);
        await reply.code(200).send();
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/immutable/${SI}$`),
      method: 'POST',
      secrets: [SECRET_KINDS.leaseRenew, SECRET_KINDS.leaseCancel, SECRET_KINDS.upload],
      cbor: true,
      async handler({ req, reply, si, secrets }) {
        // Tahoe's limit for this small body.
        const request = decodeAllocateBucketsRequest(await readBody(req.raw, 8192));
        // A share the disk cannot hold is not allocated (the client goes elsewhere).
        const room = await store.availableSpace().catch(() => Number.MAX_SAFE_INTEGER);
        const result = await opts.immutable.allocate(
          si,
          request.shareNumbers,
          request.allocatedSize,
          room,
          {
            upload: secrets.get(SECRET_KINDS.upload)!,
            renew: secrets.get(SECRET_KINDS.leaseRenew)!,
            cancel: secrets.get(SECRET_KINDS.leaseCancel)!,
          },
        );
        await sendCbor(reply, 200, encodeAllocateBucketsResponse(result));
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/immutable/${SI}/${SHNUM}$`),
      method: 'PATCH',
      secrets: [SECRET_KINDS.upload],
      cbor: true,
      async handler({ req, reply, si, shnum, secrets }) {
        const header = req.headers['content-range'];
        const range = typeof header === 'string' ? parseContentRange(header) : undefined;
        if (!range) {
          throw new HttpError(
            416,
            ERROR_CODES.badRange,
            `PATCH needs a "Content-Range: bytes <first>-<last>/*" header, got ${JSON.stringify(header ?? null)}`,
          );
        }
        const data = await readRawBody(req.raw, opts.maxBodySize, range.last - range.first + 1);
        const result = await opts.immutable.write(
          si,
          shnum,
          secrets.get(SECRET_KINDS.upload)!,
          range.first,
          data,
        );
        await sendCbor(reply, result.complete ? 201 : 200, encodeRequiredRanges(result.required));
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/immutable/${SI}/${SHNUM}/abort$`),
      method: 'PUT',
      secrets: [SECRET_KINDS.upload],
      cbor: false,
      async handler({ reply, si, shnum, secrets }) {
        await opts.immutable.abort(si, shnum, secrets.get(SECRET_KINDS.upload)!);
        await reply.code(200).send();
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/immutable/${SI}/shares$`),
      method: 'GET',
      secrets: [],
      cbor: true,
      async handler({ reply, si }) {
        await sendCbor(reply, 200, encodeShareSet(await opts.immutable.list(si)));
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/immutable/${SI}/${SHNUM}$`),
      method: 'GET',
      secrets: [],
      cbor: false,
      async handler({ req, reply, si, shnum }) {
        await serveRead(req, reply, si, shnum, (o, e) => opts.immutable.read(si, shnum, o, e));
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/immutable/${SI}/${SHNUM}/corrupt$`),
      method: 'POST',
      secrets: [],
      cbor: false,
      async handler({ req, reply, si, shnum }) {
        if (!(await opts.immutable.list(si)).includes(shnum)) {
          throw new HttpError(404, ERROR_CODES.notFound, `no share ${shnum} of ${si} here`);
        }
        const reason = decodeCorruptionAdvice(await readBody(req.raw, CORRUPTION_BODY_LIMIT));
        await opts.immutable.adviseCorrupt(si, shnum, reason);
        await reply.code(200).send();
      },
    },
    {
      pattern: new RegExp(`^/storage/v1/lease/${SI}$`),
      method: 'PUT',
      secrets: [SECRET_KINDS.leaseRenew, SECRET_KINDS.leaseCancel],
      cbor: false,
      async handler({ reply, si, secrets }) {
        const found = await store.addOrRenewLease(
          si,
          secrets.get(SECRET_KINDS.leaseRenew)!,
          secrets.get(SECRET_KINDS.leaseCancel)!,
        );
        if (!found) throw new HttpError(404, ERROR_CODES.notFound, `no shares of ${si} here`);
        await reply.code(204).send();
      },
    },
  ];

  /** What the single request would have answered for `err`, as one item's result. */
  function errorResult(err: unknown): ReadTestWriteManyResult {
    const e = toHttpError(err);
    return { status: e.status, code: e.errorCode, message: e.message };
  }

  function sendError(reply: FastifyReply, err: HttpError) {
    for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
    return reply
      .code(err.status)
      .header('content-type', 'text/plain; charset=utf-8')
      .header(ERROR_CODE_HEADER, err.errorCode)
      .send(err.message);
  }

  function toHttpError(err: unknown): HttpError {
    if (err instanceof HttpError) return err;
    if (err instanceof ProtocolError)
      return new HttpError(400, ERROR_CODES.badRequest, err.message);
    if (err instanceof ImmutableUploadError) {
      const [status, code] = {
        ERR_STORAGE_NO_UPLOAD: [404, ERROR_CODES.notFound],
        ERR_STORAGE_UPLOAD_SECRET: [401, ERROR_CODES.uploadSecret],
        ERR_STORAGE_WRITE_CONFLICT: [409, ERROR_CODES.writeConflict],
        ERR_STORAGE_SHARE_TOO_LARGE: [413, ERROR_CODES.shareTooLarge],
        ERR_STORAGE_ALREADY_UPLOADED: [405, ERROR_CODES.methodNotAllowed],
      }[err.code] as [number, StorageErrorCode];
      return new HttpError(status, code, err.message);
    }
    if (err instanceof BadWriteEnablerError)
      return new HttpError(401, ERROR_CODES.badWriteEnabler, err.message);
    if (err instanceof ShareTooLargeError)
      return new HttpError(413, ERROR_CODES.shareTooLarge, err.message);
    if (err instanceof StoreIoError) {
      opts.onError?.(err);
      return err.code === 'ERR_STORAGE_NO_SPACE'
        ? new HttpError(507, ERROR_CODES.noSpace, err.message)
        : new HttpError(500, ERROR_CODES.ioError, err.message);
    }
    if (err instanceof ContainerFormatError) {
      opts.onError?.(err);
      return new HttpError(
        500,
        ERROR_CODES.corruptContainer,
        `stored share is damaged: ${err.message}`,
      );
    }
    opts.onError?.(err);
    const message = err instanceof Error ? err.message : String(err);
    return new HttpError(500, ERROR_CODES.ioError, `internal server error: ${message}`);
  }

  async function dispatch(req: FastifyRequest, reply: FastifyReply) {
    if (stopping) {
      throw new HttpError(
        503,
        ERROR_CODES.shuttingDown,
        'the server is stopping; retry elsewhere or later',
      );
    }
    const pathname = (req.raw.url ?? '/').split('?')[0];
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const matching = routes
      .map((route) => ({ route, m: route.pattern.exec(pathname) }))
      .filter((x) => x.m !== null);
    // A malformed storage index (bad trailing bits) does not match the route (werkzeug).
    const valid = matching.filter(({ m }) => m![1] === undefined || parseStorageIndex(m![1]));
    if (valid.length === 0) {
      throw new HttpError(404, ERROR_CODES.notFound, `no such resource: ${pathname}`);
    }
    const hit = valid.find(({ route }) => route.method === method);
    if (!hit) {
      throw new HttpError(
        405,
        ERROR_CODES.methodNotAllowed,
        `${req.method} is not allowed on ${pathname}`,
        { allow: [...new Set(valid.map(({ route }) => route.method))].join(', ') },
      );
    }
    const { route, m } = hit;
    const shnum = m![2] === undefined ? -1 : Number(m![2]);
    if (m![2] !== undefined && !Number.isSafeInteger(shnum)) {
      throw new HttpError(404, ERROR_CODES.notFound, `no such share number: ${m![2]}`);
    }

    const auth = Buffer.from(headerValues(req.raw, 'authorization')[0] ?? '', 'utf8');
    if (!timingSafeEqualBytes(auth, expectedAuth)) {
      throw new HttpError(401, ERROR_CODES.badAuthorization, 'Wrong Authorization header');
    }
    const secrets = extractSecrets(headerValues(req.raw, SECRET_HEADER), route.secrets);
    if (route.cbor && !acceptsCbor(headerValues(req.raw, 'accept')[0])) {
      throw new HttpError(
        406,
        ERROR_CODES.notAcceptable,
        `this server only answers ${CBOR_MIME_TYPE}; send "Accept: ${CBOR_MIME_TYPE}" (or no Accept header)`,
      );
    }
    await route.handler({ req, reply, si: m![1] ?? '', shnum, secrets });
  }

  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: '*',
    exposeHeadRoute: false,
    handler: async (req, reply) => {
      try {
        await dispatch(req, reply);
      } catch (err) {
        await sendError(reply, toHttpError(err));
      }
      return reply;
    },
  });
  app.addHook('preClose', (done) => {
    stopping = true;
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (stopping) reply.header('connection', 'close');
    done(null, payload);
  });
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const status =
      typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) opts.onError?.(err);
    void sendError(
      reply,
      new HttpError(
        status,
        status === 413
          ? ERROR_CODES.bodyTooLarge
          : status === 415
            ? ERROR_CODES.unsupportedMediaType
            : status >= 500
              ? ERROR_CODES.ioError
              : ERROR_CODES.badRequest,
        err.message,
      ),
    );
  });
  return app;
}
