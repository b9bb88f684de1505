// StorageClient over Tahoe's HTTP storage protocol (tahoe-formats.md §10), with undici:
// one keep-alive connection pool per server, TLS accepted only when the peer certificate's
// SPKI hash equals the NURL's (§10.2; no CA, hostname or date checks), strict validation
// of every response, and one `slotfs:request` diagnostics event per request start/end.
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Readable } from 'node:stream';
import { buildConnector, Client, errors as undiciErrors } from 'undici';
import type { Dispatcher } from 'undici';
import {
  AUTHORIZATION_HEADER,
  authorizationHeaderValue,
  CBOR_MIME_TYPE,
  decodeAllocateBucketsResponse,
  decodeReadTestWriteResponse,
  decodeRequiredRanges,
  decodeShareSet,
  decodeVersion,
  ERROR_CODE_HEADER,
  ERROR_CODES,
  EXTENSIONS_REQUEST_HEADER,
  EXTENSIONS_REQUEST_VALUE,
  OCTET_STREAM,
  parseContentRange,
  parseNurl,
  PATHS,
  rangeHeaderValue,
  SECRET_HEADER,
  SECRET_KINDS,
  secretHeaderValue,
  storageIndexToString,
  decodeReadManyResponse,
  encodeReadManyRequest,
  decodeReadTestWriteManyResponse,
  encodeReadTestWriteManyRequest,
  MAX_RTW_MANY_COUNT,
  type ReadTestWriteManyItem,
  type ReadTestWriteManyResult,
  MAX_READ_MANY_COUNT,
  MAX_READ_MANY_LENGTH,
  type Nurl,
  type SecretKind,
  type ReadTestWriteResponse,
  type ShareRef,
} from '../storage/protocol.js';
import {
  RequestAbortedError,
  ServerBadResponseError,
  ServerHttpStatusError,
  ServerTimeoutError,
  ServerTlsPinError,
  ServerUnauthorizedError,
  ServerUnreachableError,
  ServerUnsupportedError,
  StorageClientArgumentError,
  StorageClientClosedError,
  StorageClientError,
  WriteEnablerError,
  type ServerRef,
} from './errors.js';
import {
  currentOperationContext,
  inOperationsOf,
  startRequest,
  type OperationContext,
} from './request-events.js';
import type { ServerEntry } from './servers.js';
import {
  MAX_SHARE_NUMBER,
  type AllocateResult,
  type ImmutableWriteResult,
  type UploadSecrets,
  type ReadTestWriteCall,
  type ReadVector,
  type RequestOptions,
  type ServerVersion,
  type SlotSecrets,
  type StorageClient,
  type TestWriteVectors,
} from './storage-client.js';
import { StorageRequests, type CallArgs } from './requests.js';

export interface HttpClientTimeouts {
  /** TCP connect + TLS handshake. */
  connectMs: number;
  /** From sending the request to the end of the response headers. */
  headersMs: number;
  /** Longest silence between two chunks of the response body. */
  bodyMs: number;
}

export const DEFAULT_TIMEOUTS: HttpClientTimeouts = {
  connectMs: 10_000,
  headersMs: 30_000,
  bodyMs: 30_000,
};

export interface HttpStorageClientOptions {
  timeouts?: Partial<HttpClientTimeouts>;
  /** Most parallel connections to this server (default 8). */
  connections?: number;
  /** Responses larger than this are refused as ERR_SERVER_BAD_RESPONSE (default 256 MiB). */
  maxResponseBytes?: number;
  /**
   * Adaptive batching of read-test-writes to a slotfs server (read-test-write-many): a
   * write goes out at once while fewer than `maxInFlight` are in flight to this server and
   * none of them is small (bodies under `largeBytes`); the ones arriving meanwhile wait and
   * go out together when one returns, at most `maxCount` items or `maxBytes` of bodies per
   * request. `false` sends every write alone.
   */
  writeBatching?: Partial<WriteBatching> | false;
}

export interface WriteBatching {
  maxInFlight: number;
  maxCount: number;
  maxBytes: number;
  /** A request whose bodies are at least this large does not hold the others back. */
  largeBytes: number;
}

export const DEFAULT_WRITE_BATCHING: WriteBatching = {
  // Two, so that a small write need not wait behind a large one (a folder update); but
  // only one small request at once: the writes arriving meanwhile then go as one request,
  // and the servers spend their CPU per request (HTTP, one commit-log sync), not per write.
  maxInFlight: 2,
  maxCount: 64,
  maxBytes: 4 * 1024 * 1024,
  largeBytes: 64 * 1024,
};

/** A read-test-write waiting for a request to this server to return. */
interface QueuedWrite {
  item: ReadTestWriteManyItem;
  si: string;
  readVector: readonly ReadVector[];
  signal?: AbortSignal;
  context: OperationContext;
  settled: boolean;
  resolve(answer: ReadTestWriteResponse): void;
  reject(err: unknown): void;
  /** Removes the abort listener. */
  detach(): void;
}

/** A pin mismatch found in the connector; mapped to ServerTlsPinError. */
class PinMismatch extends Error {
  constructor(readonly actual: string | null) {
    super('TLS certificate does not match the pinned SPKI hash');
  }
}

type Endpoint =
  | 'version'
  | 'read-many'
  | 'read-test-write'
  | 'read-test-write-many'
  | 'read-share'
  | 'list-shares'
  | 'lease'
  | 'corrupt'
  | 'allocate'
  | 'upload'
  | 'abort';

interface Exchange {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Uint8Array;
}

export class HttpStorageClient implements StorageClient {
  readonly serverId: Uint8Array;
  readonly permutationSeed: Uint8Array;
  readonly name: string;
  readonly nurl: Nurl;
  readonly timeouts: HttpClientTimeouts;
  private readonly connections: ConnectionSet;
  private readonly authorization: string;
  private readonly requests: StorageRequests;
  private readonly ref: ServerRef;
  private readonly maxResponseBytes: number;
  private version: ServerVersion | undefined;
  private readonly batching: WriteBatching | undefined;
  /** Read-test-write requests (single or batch) in flight to this server. */
  private writesInFlight = 0;
  /** Of those, the ones with bodies under `largeBytes`. */
  private smallWritesInFlight = 0;
  private readonly queuedWrites: QueuedWrite[] = [];
  /** Set when the server answered read-test-write-many with 404 (an older slotfs server). */
  private writeManyMissing = false;
  private versionRequest: Promise<ServerVersion> | undefined;
  private closed = false;

  constructor(server: ServerEntry, options: HttpStorageClientOptions = {}) {
    this.serverId = server.id;
    this.permutationSeed = server.permutationSeed;
    this.name = server.name;
    this.ref = { serverId: server.id, name: server.name };
    this.requests = new StorageRequests(this.ref);
    try {
      this.nurl = parseNurl(server.nurl);
    } catch (err) {
      throw new StorageClientArgumentError(this.ref, (err as Error).message);
    }
    if (this.nurl.subscheme) {
      throw new StorageClientArgumentError(
        this.ref,
        `NURL scheme pb+${this.nurl.subscheme} is not supported (only direct TCP)`,
      );
    }
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.maxResponseBytes = options.maxResponseBytes ?? 256 * 1024 * 1024;
    this.batching =
      options.writeBatching === false
        ? undefined
        : { ...DEFAULT_WRITE_BATCHING, ...options.writeBatching };
    this.authorization = authorizationHeaderValue(this.nurl.swissnum);
    const host = this.nurl.host.includes(':') ? `[${this.nurl.host}]` : this.nurl.host;
    const connect = pinnedConnector(this.nurl.spkiHash, this.timeouts.connectMs);
    this.connections = new ConnectionSet(options.connections ?? 8, () => {
      return new Client(`https://${host}:${this.nurl.port}`, {
        connect,
        pipelining: 1,
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyMs,
      });
    });
  }

  /** The cached version document, if one was fetched. */
  get cachedVersion(): ServerVersion | undefined {
    return this.version;
  }

  async getVersion(options: RequestOptions & { refresh?: boolean } = {}): Promise<ServerVersion> {
    if (this.version && !options.refresh) return this.version;
    // Concurrent first callers share one request.
    if (!options.refresh && this.versionRequest) return this.versionRequest;
    const pending = this.fetchVersion(options.signal);
    this.versionRequest = pending;
    try {
      return await pending;
    } finally {
      if (this.versionRequest === pending) this.versionRequest = undefined;
    }
  }

  private async fetchVersion(signal?: AbortSignal): Promise<ServerVersion> {
    const request = {
      headers: { [EXTENSIONS_REQUEST_HEADER]: EXTENSIONS_REQUEST_VALUE },
      signal,
    };
    this.version = await this.call('version', 'GET', PATHS.version, request, (res) => {
      this.expectStatus('version', res, [200]);
      const doc = this.decode('version', res, decodeVersion);
      return {
        maximumImmutableShareSize: doc.maximumImmutableShareSize,
        maximumMutableShareSize: doc.maximumMutableShareSize,
        availableSpace: doc.availableSpace,
        applicationVersion: Buffer.from(doc.applicationVersion).toString('utf8'),
        readFromEnd: doc.slotfs?.readFromEnd ?? false,
        announcedNodeId: doc.slotfs?.nodeId,
        announcedPermutationSeed: doc.slotfs?.permutationSeed,
      };
    });
    return this.version;
  }

  async readTestWrite(
    storageIndex: Uint8Array,
    secrets: SlotSecrets,
    testWriteVectors: ReadonlyMap<number, TestWriteVectors>,
    readVector: readonly ReadVector[],
    options: RequestOptions = {},
  ): Promise<ReadTestWriteResponse> {
    const { body, readsFromEnd } = this.requests.readTestWrite(
      storageIndex,
      secrets,
      testWriteVectors,
      readVector,
    );
    if (readsFromEnd) {
      const version = await this.getVersion({ signal: options.signal });
      if (!version.readFromEnd) {
        throw new ServerUnsupportedError(this.ref, 'read-from-end (negative read offsets)');
      }
    }
    const si = storageIndexToString(storageIndex);
    const item: ReadTestWriteManyItem = { storageIndex, ...secrets, body };
    if (this.batchesWrites() && !this.mayStartWrite()) {
      return this.queueWrite(item, si, readVector, options.signal);
    }
    return this.sendWrite(item, si, readVector, options.signal);
  }

  /** Whether another write request may go out to this server now. */
  private mayStartWrite(): boolean {
    const limits = this.batching;
    if (!limits) return true;
    return this.writesInFlight < limits.maxInFlight && this.smallWritesInFlight === 0;
  }

  /** Counts a write request in flight until `sent` settles. */
  private async inFlight<T>(bodyBytes: number, sent: () => Promise<T>): Promise<T> {
    const small = bodyBytes < (this.batching?.largeBytes ?? 0);
    this.writesInFlight++;
    if (small) this.smallWritesInFlight++;
    try {
      return await sent();
    } finally {
      this.writesInFlight--;
      if (small) this.smallWritesInFlight--;
    }
  }

  /** Whether writes to this server may wait to go out together (slotfs servers only). */
  private batchesWrites(): boolean {
    return (
      this.batching !== undefined &&
      this.batching.maxCount > 1 &&
      this.version?.readFromEnd === true &&
      !this.writeManyMissing
    );
  }

  /** One read-test-write in its own request. */
  private async sendWrite(
    item: ReadTestWriteManyItem,
    si: string,
    readVector: readonly ReadVector[],
    signal?: AbortSignal,
  ): Promise<ReadTestWriteResponse> {
    try {
      const request = cborRequest(item.body, { signal }, [
        [SECRET_KINDS.writeEnabler, item.writeEnabler],
        [SECRET_KINDS.leaseRenew, item.leaseRenewSecret],
        [SECRET_KINDS.leaseCancel, item.leaseCancelSecret],
      ]);
      return await this.inFlight(item.body.length, () =>
        this.call('read-test-write', 'POST', PATHS.readTestWrite(si), request, (res) =>
          this.writeAnswer(si, readVector, res),
        ),
      );
    } finally {
      this.sendQueuedWrites();
    }
  }

  private queueWrite(
    item: ReadTestWriteManyItem,
    si: string,
    readVector: readonly ReadVector[],
    signal?: AbortSignal,
  ): Promise<ReadTestWriteResponse> {
    if (this.closed) return Promise.reject(new StorageClientClosedError(this.ref));
    if (signal?.aborted) {
      return Promise.reject(new RequestAbortedError(this.ref, 'read-test-write'));
    }
    return new Promise((resolve, reject) => {
      const queued: QueuedWrite = {
        item,
        si,
        readVector,
        signal,
        context: currentOperationContext(),
        settled: false,
        resolve: (answer) => {
          if (queued.settled) return;
          queued.settled = true;
          queued.detach();
          resolve(answer);
        },
        reject: (err) => {
          if (queued.settled) return;
          queued.settled = true;
          queued.detach();
          reject(err);
        },
        detach: () => undefined,
      };
      if (signal) {
        // Cancels this write only: out of the queue, or (already sent in a batch) its
        // answer is not waited for — the server may still apply it, as with a single
        // request cancelled in flight.
        const onAbort = () => {
          const at = this.queuedWrites.indexOf(queued);
          if (at >= 0) this.queuedWrites.splice(at, 1);
          queued.reject(new RequestAbortedError(this.ref, 'read-test-write'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        queued.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.queuedWrites.push(queued);
    });
  }

  /** Sends what waits, as batches, while another write request may go out. */
  private sendQueuedWrites(): void {
    const limits = this.batching;
    while (limits && this.queuedWrites.length > 0 && this.mayStartWrite()) {
      const batch: QueuedWrite[] = [];
      let bytes = 0;
      while (this.queuedWrites.length > 0 && batch.length < limits.maxCount) {
        const next = this.queuedWrites[0];
        const size = next.item.body.length + 200; // + storage index, secrets, framing
        if (batch.length > 0 && bytes + size > limits.maxBytes) break;
        batch.push(this.queuedWrites.shift()!);
        bytes += size;
      }
      if (this.closed) {
        for (const q of batch) q.reject(new StorageClientClosedError(this.ref));
        continue;
      }
      if (batch.length === 1 || !this.batchesWrites()) {
        for (const q of batch) this.sendQueuedAlone(q);
        continue;
      }
      void this.sendBatch(batch, bytes);
    }
  }

  private sendQueuedAlone(q: QueuedWrite): void {
    inOperationsOf([q.context], () =>
      this.sendWrite(q.item, q.si, q.readVector, q.signal).then(q.resolve, q.reject),
    );
  }

  /** Many queued writes in one read-test-write-many request; each settles on its own. */
  private async sendBatch(batch: QueuedWrite[], bytes: number): Promise<void> {
    let missing = false;
    try {
      const results = await this.inFlight(bytes, () =>
        inOperationsOf(
          batch.map((q) => q.context),
          () => this.postMany(batch.map((q) => q.item)),
        ),
      );
      if (results === 'missing') {
        missing = true; // nothing was applied: each goes again alone
        return;
      }
      results.forEach((result, i) => {
        const q = batch[i];
        const answer = this.itemAnswer(q.si, q.readVector, result);
        if (answer instanceof StorageClientError) q.reject(answer);
        else q.resolve(answer);
      });
    } catch (err) {
      for (const q of batch) q.reject(err);
    } finally {
      if (missing) for (const q of batch) if (!q.settled) this.sendQueuedAlone(q);
      this.sendQueuedWrites();
    }
  }

  /**
   * One read-test-write-many request; 'missing' when the server does not know the
   * endpoint (404: an older slotfs server, which then gets no more batches).
   */
  private postMany(
    items: readonly ReadTestWriteManyItem[],
    signal?: AbortSignal,
  ): Promise<ReadTestWriteManyResult[] | 'missing'> {
    const request = cborRequest(encodeReadTestWriteManyRequest(items), { signal });
    const path = PATHS.readTestWriteMany;
    return this.call(
      'read-test-write-many',
      'POST',
      path,
      request,
      (res) => {
        if (res.status === 404) {
          this.writeManyMissing = true;
          return 'missing' as const;
        }
        this.expectStatus('read-test-write-many', res, [200]);
        return this.decode('read-test-write-many', res, (b) =>
          decodeReadTestWriteManyResponse(b, items.length),
        );
      },
      items.length,
    );
  }

  /** One item's answer, validated as its single request's would be (or its error). */
  private itemAnswer(
    si: string,
    readVector: readonly ReadVector[],
    result: ReadTestWriteManyResult,
  ): ReadTestWriteResponse | StorageClientError {
    try {
      return this.writeAnswer(si, readVector, itemExchange(result));
    } catch (err) {
      return this.mapError('read-test-write', err);
    }
  }

  async readTestWriteMany(
    writes: ReadonlyArray<ReadTestWriteCall>,
    options: RequestOptions = {},
  ): Promise<Array<ReadTestWriteResponse | StorageClientError>> {
    if (writes.length > MAX_RTW_MANY_COUNT) {
      throw new RangeError(`at most ${MAX_RTW_MANY_COUNT} writes at once, got ${writes.length}`);
    }
    const items = writes.map((w) => {
      const { body } = this.requests.readTestWrite(
        w.storageIndex,
        w.secrets,
        w.testWriteVectors,
        w.readVector,
      );
      return { storageIndex: w.storageIndex, ...w.secrets, body };
    });
    // Only slotfs servers (they advertise the extensions) know the endpoint.
    const version = await this.getVersion({ signal: options.signal });
    const unsupported = () =>
      new ServerUnsupportedError(this.ref, 'read-test-write-many (slotfs extension)');
    if (!version.readFromEnd || this.writeManyMissing) throw unsupported();
    if (items.length === 0) return [];
    const results = await this.postMany(items, options.signal);
    if (results === 'missing') throw unsupported();
    return results.map((result, i) =>
      this.itemAnswer(storageIndexToString(writes[i].storageIndex), writes[i].readVector, result),
    );
  }

  /** Validates a read-test-write answer (of a single request, or one item of a batch). */
  private writeAnswer(
    si: string,
    readVector: readonly ReadVector[],
    res: Exchange,
  ): ReadTestWriteResponse {
    if (res.status === 401 && this.errorCode(res) !== ERROR_CODES.badAuthorization) {
      // Tahoe answers a wrong write enabler with a bare 401 (§10.5); slotfs adds a code.
      throw new WriteEnablerError(this.ref, si);
    }
    this.expectStatus('read-test-write', res, [200]);
    const answer = this.decode('read-test-write', res, decodeReadTestWriteResponse);
    for (const [shnum, reads] of answer.data) {
      const bad = (detail: string) =>
        new ServerBadResponseError(this.ref, 'read-test-write', `share ${shnum}: ${detail}`);
      if (shnum > MAX_SHARE_NUMBER) throw bad('share number out of range');
      if (reads.length !== readVector.length) {
        throw bad(`${reads.length} reads for ${readVector.length} read vector entries`);
      }
      reads.forEach((r, i) => {
        if (r.length > readVector[i].size) {
          throw bad(`read ${i} returned ${r.length} bytes for ${readVector[i].size} requested`);
        }
      });
    }
    return answer;
  }

  async readShare(...call: CallArgs<'readShare'>): Promise<Uint8Array | null> {
    return this.readRange(PATHS.readShare, ...call);
  }

  /** Set when the server answered read-many with 404 (an older slotfs server). */
  private readManyMissing = false;

  async readMany(
    reads: readonly ShareRef[],
    length: number,
    options: RequestOptions = {},
  ): Promise<Array<Uint8Array | null>> {
    if (!Number.isInteger(length) || length < 1 || length > MAX_READ_MANY_LENGTH) {
      throw new RangeError(`read-many length must be 1…${MAX_READ_MANY_LENGTH}, got ${length}`);
    }
    if (reads.length > MAX_READ_MANY_COUNT) {
      throw new RangeError(`at most ${MAX_READ_MANY_COUNT} reads at once, got ${reads.length}`);
    }
    this.requests.readMany(reads, length);
    // Only slotfs servers (they advertise the extensions) know the endpoint.
    const version = await this.getVersion({ signal: options.signal });
    if (!version.readFromEnd || this.readManyMissing) {
      throw new ServerUnsupportedError(this.ref, 'read-many (slotfs extension)');
    }
    if (reads.length === 0) return [];
    const request = cborRequest(encodeReadManyRequest(length, reads), options);
    return this.call('read-many', 'POST', PATHS.readMany, request, (res) => {
      if (res.status === 404) {
        this.readManyMissing = true;
        throw new ServerUnsupportedError(this.ref, 'read-many (slotfs extension)');
      }
      this.expectStatus('read-many', res, [200]);
      return this.decode('read-many', res, (b) => decodeReadManyResponse(b, reads.length, length));
    });
  }

  /** A ranged read of one share (mutable or immutable: `path` names which). */
  private readRange(
    path: (si: string, shareNumber: number) => string,
    ...[storageIndex, shareNumber, offset, length, options = {}]: CallArgs<'readShare'>
  ): Promise<Uint8Array | null> {
    this.requests.readShare(storageIndex, shareNumber, offset, length);
    const si = storageIndexToString(storageIndex);
    const request = {
      headers: { range: rangeHeaderValue(offset, length) },
      signal: options.signal,
    };
    return this.call('read-share', 'GET', path(si, shareNumber), request, (res) =>
      this.rangedAnswer(res, offset, length),
    );
  }

  /** Validates the answer to a ranged share read (206 + Content-Range, 204, 404). */
  private rangedAnswer(res: Exchange, offset: number, length: number): Uint8Array | null {
    if (res.status === 404) return null;
    if (res.status === 204) return new Uint8Array(0);
    this.expectStatus('read-share', res, [206]);
    const header = res.headers['content-range'];
    const range = typeof header === 'string' ? parseContentRange(header) : undefined;
    const bad = (detail: string) => new ServerBadResponseError(this.ref, 'read-share', detail);
    if (!range) throw bad(`206 with a missing or malformed Content-Range (${String(header)})`);
    if (range.first !== offset) {
      throw bad(`asked for bytes from ${offset}, Content-Range starts at ${range.first}`);
    }
    if (range.last >= offset + length) {
      throw bad(`Content-Range ends at ${range.last}, beyond the ${length} bytes asked for`);
    }
    if (res.body.length !== range.last - range.first + 1) {
      throw bad(`body has ${res.body.length} bytes but Content-Range says ${header}`);
    }
    return res.body;
  }

  async listShares(...call: CallArgs<'listShares'>): Promise<number[]> {
    return this.listSharesAt(PATHS.listShares, ...call);
  }

  /** The share numbers a server holds (mutable or immutable: `path` names which). */
  private listSharesAt(
    path: (si: string) => string,
    ...[storageIndex, options = {}]: CallArgs<'listShares'>
  ): Promise<number[]> {
    this.requests.listShares(storageIndex);
    const si = storageIndexToString(storageIndex);
    const request = { signal: options.signal };
    return this.call('list-shares', 'GET', path(si), request, (res) => {
      this.expectStatus('list-shares', res, [200]);
      const shares = this.decode('list-shares', res, decodeShareSet);
      if (shares.some((s) => s > MAX_SHARE_NUMBER)) {
        throw new ServerBadResponseError(this.ref, 'list-shares', 'share number out of range');
      }
      return shares.sort((a, b) => a - b);
    });
  }

  async addLease(
    storageIndex: Uint8Array,
    renewSecret: Uint8Array,
    cancelSecret: Uint8Array,
    options: RequestOptions = {},
  ): Promise<boolean> {
    this.requests.addLease(storageIndex, renewSecret, cancelSecret);
    const si = storageIndexToString(storageIndex);
    const request = {
      headers: secretHeaders([
        [SECRET_KINDS.leaseRenew, renewSecret],
        [SECRET_KINDS.leaseCancel, cancelSecret],
      ]),
      signal: options.signal,
    };
    return this.call('lease', 'PUT', PATHS.lease(si), request, (res) => {
      if (res.status === 404) return false;
      this.expectStatus('lease', res, [204]);
      return true;
    });
  }

  async adviseCorrupt(...call: CallArgs<'adviseCorrupt'>): Promise<boolean> {
    return this.advise(PATHS.adviseCorrupt, ...call);
  }

  /** A corruption advisory for one share (mutable or immutable: `path` names which). */
  private advise(
    path: (si: string, shareNumber: number) => string,
    ...[storageIndex, shareNumber, reason, options = {}]: CallArgs<'adviseCorrupt'>
  ): Promise<boolean> {
    const body = this.requests.adviseCorrupt(storageIndex, shareNumber, reason);
    const si = storageIndexToString(storageIndex);
    const request = cborRequest(body, options);
    return this.call('corrupt', 'POST', path(si, shareNumber), request, (res) => {
      if (res.status === 404) return false;
      this.expectStatus('corrupt', res, [200]);
      return true;
    });
  }

  async allocateBuckets(
    storageIndex: Uint8Array,
    secrets: UploadSecrets,
    shareNumbers: readonly number[],
    allocatedSize: number,
    options: RequestOptions = {},
  ): Promise<AllocateResult> {
    const body = this.requests.allocateBuckets(storageIndex, secrets, shareNumbers, allocatedSize);
    const si = storageIndexToString(storageIndex);
    const request = cborRequest(body, options, [
      [SECRET_KINDS.leaseRenew, secrets.leaseRenewSecret],
      [SECRET_KINDS.leaseCancel, secrets.leaseCancelSecret],
      [SECRET_KINDS.upload, secrets.uploadSecret],
    ]);
    return this.call('allocate', 'POST', PATHS.immutableAllocate(si), request, (res) => {
      this.expectStatus('allocate', res, [200]);
      return this.decode('allocate', res, decodeAllocateBucketsResponse);
    });
  }

  async writeImmutableShare(
    storageIndex: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
    offset: number,
    data: Uint8Array,
    options: RequestOptions = {},
  ): Promise<ImmutableWriteResult> {
    this.requests.writeImmutableShare(storageIndex, shareNumber, uploadSecret, offset, data);
    const si = storageIndexToString(storageIndex);
    const request = {
      body: data,
      headers: {
        'content-type': OCTET_STREAM,
        'content-range': `bytes ${offset}-${offset + data.length - 1}/*`,
        ...secretHeaders([[SECRET_KINDS.upload, uploadSecret]]),
      },
      signal: options.signal,
    };
    const path = PATHS.immutableShare(si, shareNumber);
    return this.call('upload', 'PATCH', path, request, (res) => {
      this.uploadSecretRefused('upload', res);
      this.expectStatus('upload', res, [200, 201]);
      const required = this.decode('upload', res, decodeRequiredRanges);
      return { complete: res.status === 201, required };
    });
  }

  async abortImmutableUpload(
    storageIndex: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
    options: RequestOptions = {},
  ): Promise<boolean> {
    this.requests.abortImmutableUpload(storageIndex, shareNumber, uploadSecret);
    const si = storageIndexToString(storageIndex);
    const request = {
      headers: secretHeaders([[SECRET_KINDS.upload, uploadSecret]]),
      signal: options.signal,
    };
    return this.call('abort', 'PUT', PATHS.immutableAbort(si, shareNumber), request, (res) => {
      if (res.status === 404 || res.status === 405) return false;
      this.uploadSecretRefused('abort', res);
      this.expectStatus('abort', res, [200]);
      return true;
    });
  }

  async listImmutableShares(...call: CallArgs<'listImmutableShares'>): Promise<number[]> {
    return this.listSharesAt(PATHS.immutableShares, ...call);
  }

  async readImmutableShare(...call: CallArgs<'readImmutableShare'>): Promise<Uint8Array | null> {
    return this.readRange(PATHS.immutableShare, ...call);
  }

  async adviseCorruptImmutable(...call: CallArgs<'adviseCorruptImmutable'>): Promise<boolean> {
    return this.advise(PATHS.immutableCorrupt, ...call);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queuedWrites.splice(0)) q.reject(new StorageClientClosedError(this.ref));
    await this.connections.destroy();
  }

  // --- plumbing ---------------------------------------------------------------------------

  private errorCode(res: Exchange): string | undefined {
    const v = res.headers[ERROR_CODE_HEADER];
    return typeof v === 'string' ? v : undefined;
  }

  /** A 401 that is not about the swissnum refuses the upload secret (Tahoe sends it bare). */
  private uploadSecretRefused(endpoint: Endpoint, res: Exchange): void {
    if (res.status === 401 && this.errorCode(res) !== ERROR_CODES.badAuthorization) {
      throw new ServerHttpStatusError(this.ref, 401, endpoint, 'the upload secret was refused');
    }
  }

  private expectStatus(endpoint: Endpoint, res: Exchange, ok: number[]): void {
    if (ok.includes(res.status)) return;
    if (res.status === 401) throw new ServerUnauthorizedError(this.ref, endpoint);
    let text = Buffer.from(res.body.subarray(0, 300)).toString('utf8').replace(/\s+/g, ' ').trim();
    const code = this.errorCode(res);
    if (code) text = text ? `${code}: ${text}` : code;
    throw new ServerHttpStatusError(this.ref, res.status, endpoint, text);
  }

  private decode<T>(endpoint: Endpoint, res: Exchange, decoder: (b: Uint8Array) => T): T {
    const type = res.headers['content-type'];
    if (typeof type === 'string' && !type.toLowerCase().startsWith(CBOR_MIME_TYPE)) {
      throw new ServerBadResponseError(this.ref, endpoint, `Content-Type ${type}, expected CBOR`);
    }
    try {
      return decoder(res.body);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new ServerBadResponseError(this.ref, endpoint, detail, { cause: err });
    }
  }

  /**
   * One request: sends it, reads the whole body (bounded), and lets `interpret` validate
   * the answer; the start/end events carry the final outcome, including validation
   * failures.
   */
  private async call<T>(
    endpoint: Endpoint,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    path: string,
    req: {
      headers?: Record<string, string | string[]>;
      body?: Uint8Array;
      signal?: AbortSignal;
    },
    interpret: (res: Exchange) => T,
    items?: number,
  ): Promise<T> {
    if (this.closed) throw new StorageClientClosedError(this.ref);
    const end = startRequest({
      serverId: this.serverId,
      serverName: this.name,
      method,
      endpoint,
      path,
      bytesSent: req.body?.length ?? 0,
      ...(items === undefined ? {} : { items }),
    });
    const progress = { status: null as number | null, bytesReceived: 0 };
    let errorCode: string | null = null;
    try {
      return interpret(await this.transport(endpoint, method, path, req, progress));
    } catch (err) {
      const mapped = this.mapError(endpoint, err, req.signal);
      errorCode = mapped.code;
      throw mapped;
    } finally {
      end({ bytesReceived: progress.bytesReceived, status: progress.status, errorCode });
    }
  }

  private async transport(
    endpoint: Endpoint,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    path: string,
    req: { headers?: Record<string, string | string[]>; body?: Uint8Array; signal?: AbortSignal },
    progress: { status: number | null; bytesReceived: number },
  ): Promise<Exchange> {
    const sent = req.body && Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length);
    const res = await this.connections.pick().request({
      method,
      path,
      headers: {
        accept: CBOR_MIME_TYPE,
        [AUTHORIZATION_HEADER]: this.authorization,
        ...(sent && sent.length > BODY_PIECE ? { 'content-length': String(sent.length) } : {}),
        ...req.headers,
      },
      body: sent ? inPieces(sent) : null,
      signal: req.signal,
    });
    progress.status = res.statusCode;
    const chunks: Buffer[] = [];
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      progress.bytesReceived += chunk.length;
      if (progress.bytesReceived > this.maxResponseBytes) {
        res.body.destroy();
        throw new ServerBadResponseError(
          this.ref,
          endpoint,
          `response body exceeds ${this.maxResponseBytes} bytes`,
        );
      }
      chunks.push(chunk);
    }
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    return {
      status: res.statusCode,
      headers: res.headers,
      body: new Uint8Array(body.buffer, body.byteOffset, body.length),
    };
  }

  private mapError(endpoint: Endpoint, err: unknown, signal?: AbortSignal): StorageClientError {
    if (err instanceof StorageClientError) return err;
    if (err instanceof PinMismatch) {
      return new ServerTlsPinError(this.ref, this.nurl.spkiHash, err.actual);
    }
    if (signal?.aborted || err instanceof undiciErrors.RequestAbortedError) {
      return new RequestAbortedError(this.ref, endpoint, { cause: err });
    }
    if (err instanceof undiciErrors.ConnectTimeoutError) {
      return new ServerTimeoutError(this.ref, 'connect', this.timeouts.connectMs, { cause: err });
    }
    if (err instanceof undiciErrors.HeadersTimeoutError) {
      return new ServerTimeoutError(this.ref, 'headers', this.timeouts.headersMs, { cause: err });
    }
    if (err instanceof undiciErrors.BodyTimeoutError) {
      return new ServerTimeoutError(this.ref, 'body', this.timeouts.bodyMs, { cause: err });
    }
    const code = (err as { code?: unknown })?.code;
    if (typeof code === 'string' && code.startsWith('HPE_')) {
      // llhttp refused the bytes the server sent: not HTTP at all.
      return new ServerBadResponseError(this.ref, endpoint, `invalid HTTP (${code})`, {
        cause: err,
      });
    }
    if (err instanceof undiciErrors.ResponseContentLengthMismatchError) {
      return new ServerBadResponseError(this.ref, endpoint, (err as Error).message, { cause: err });
    }
    const detail =
      err instanceof Error ? `${err.message}${code ? ` (${String(code)})` : ''}` : String(err);
    return new ServerUnreachableError(
      this.ref,
      `cannot reach ${this.nurl.host}:${this.nurl.port} for ${endpoint}: ${detail}`,
      { cause: err },
    );
  }
}

/**
 * Keep-alive connections to one server, one request at a time each. A request goes to an
 * idle connection if there is one (undici's Pool can open a second connection for a
 * request that follows another immediately, costing a needless TLS handshake), else to
 * a new connection up to `max`, else queues on the least busy one.
 */
class ConnectionSet {
  private readonly clients: Client[] = [];
  constructor(
    private readonly max: number,
    private readonly create: () => Client,
  ) {}

  pick(): Client {
    let best: Client | undefined;
    for (const client of this.clients) {
      const size = client.stats.size;
      if (size === 0) return client;
      if (!best || size < best.stats.size) best = client;
    }
    if (!best || this.clients.length < this.max) {
      const client = this.create();
      this.clients.push(client);
      return client;
    }
    return best;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.destroy()));
    this.clients.length = 0;
  }
}

/**
 * undici connector that completes the TLS handshake without CA checks and then accepts
 * the socket only if the peer certificate's SPKI SHA-256 equals `spkiHash` (base64url).
 * TLS session resumption is off so that every connection presents its certificate.
 */
function pinnedConnector(spkiHash: string, timeoutMs: number): buildConnector.connector {
  const connect = buildConnector({
    rejectUnauthorized: false,
    maxCachedSessions: 0,
    timeout: timeoutMs,
  });
  return (options, callback) => {
    connect(options, (err, socket) => {
      if (err) {
        callback(err, null);
        return;
      }
      const actual = peerSpkiHash(socket as TLSSocket);
      if (actual !== spkiHash) {
        socket?.destroy();
        callback(new PinMismatch(actual), null);
        return;
      }
      callback(null, socket as TLSSocket);
    });
  };
}

function peerSpkiHash(socket: TLSSocket): string | null {
  const cert = socket.getPeerX509Certificate?.();
  if (!cert) return null;
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64url');
}

type Secrets = ReadonlyArray<readonly [SecretKind, Uint8Array]>;

/** The secrets of a request, in one X-Tahoe-Authorization header per secret (§10.3). */
function secretHeaders(secrets: Secrets): Record<string, string | string[]> {
  const values = secrets.map(([kind, secret]) => secretHeaderValue(kind, secret));
  return { [SECRET_HEADER]: values.length === 1 ? values[0] : values };
}

/** A request with a CBOR body (and the secrets it carries, if any). */
function cborRequest(body: Uint8Array, options: RequestOptions, secrets: Secrets = []) {
  return {
    body,
    headers: {
      'content-type': CBOR_MIME_TYPE,
      ...(secrets.length > 0 ? secretHeaders(secrets) : {}),
    },
    signal: options.signal,
  };
}

/** One item's answer in a batch, as the response its single request would have had. */
function itemExchange(result: ReadTestWriteManyResult): Exchange {
  if (result instanceof Uint8Array) {
    return { status: 200, headers: { 'content-type': CBOR_MIME_TYPE }, body: result };
  }
  return {
    status: result.status,
    headers: { 'content-type': 'text/plain; charset=utf-8', [ERROR_CODE_HEADER]: result.code },
    body: new TextEncoder().encode(result.message),
  };
}

/** One client per server of a servers file. */
export function httpStorageClients(
  servers: readonly ServerEntry[],
  options?: HttpStorageClientOptions,
): HttpStorageClient[] {
  return servers.map((s) => new HttpStorageClient(s, options));
}

/**
 * Bodies larger than this go out piece by piece: TLS encrypts what is written in one go
 * synchronously, and the mount serves file operations on this same thread, so a share of
 * megabytes written at once would hold them all up. Writing a piece waits for the socket
 * to drain before the next one, which lets the event loop turn in between.
 */
const BODY_PIECE = 256 * 1024;

function inPieces(body: Buffer): Buffer | Readable {
  if (body.length <= BODY_PIECE) return body;
  return Readable.from(
    (function* () {
      for (let at = 0; at < body.length; at += BODY_PIECE) {
        yield body.subarray(at, at + BODY_PIECE);
      }
    })(),
    { objectMode: false },
  );
}
