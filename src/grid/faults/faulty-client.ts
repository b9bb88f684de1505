// Fault injection as a wrapper around any StorageClient (restic's habit: faults are not
// flags inside the real client). With no fault set it only delegates, and passes the
// compliance suite; faults are switched per server at runtime by the test that owns it.
//
// Transport faults fail a call the way the HTTP client would fail it, with the same error
// classes, either before anything reaches the server or after the server has done the
// work (the answer is lost: "wrote, then died before answering"). Data faults change what
// comes back: corrupt one field of returned share data, serve a stale copy of a slot, or
// drop writes while answering success.
import { setTimeout as sleep } from 'node:timers/promises';
import { toBase32 } from '../../encoding/base32.js';
import { HEADER_SIZE } from '../../sdmf/layout.js';
import {
  RequestAbortedError,
  ServerBadResponseError,
  ServerHttpStatusError,
  ServerTimeoutError,
  ServerUnreachableError,
  type ServerRef,
  type StorageClientError,
} from '../errors.js';
import { startRequest } from '../request-events.js';
import type {
  AllocateResult,
  ImmutableWriteResult,
  UploadSecrets,
  ReadTestWriteResponse,
  ReadVector,
  RequestOptions,
  ServerVersion,
  SlotSecrets,
  StorageClient,
  TestWriteVectors,
} from '../storage-client.js';
import { corruptPiece, shareFieldRange, type ShareFieldName } from './share-fields.js';
import { StaleSlot } from './stale-slot.js';

export type FaultOp =
  | 'getVersion'
  | 'readTestWrite'
  | 'readShare'
  | 'listShares'
  | 'addLease'
  | 'adviseCorrupt'
  | ImmutableOp;

type ImmutableOp =
  | 'allocateBuckets'
  | 'writeImmutableShare'
  | 'abortImmutableUpload'
  | 'listImmutableShares'
  | 'readImmutableShare'
  | 'adviseCorruptImmutable';

/** Every operation on immutable shares: transport faults only. */
export const IMMUTABLE_OPS: readonly FaultOp[] = [
  'allocateBuckets',
  'writeImmutableShare',
  'abortImmutableUpload',
  'listImmutableShares',
  'readImmutableShare',
  'adviseCorruptImmutable',
];

/** Every operation on slots (getVersion is answered from the inner client's cache). */
export const SLOT_OPS: readonly FaultOp[] = [
  'readTestWrite',
  'readShare',
  'listShares',
  'addLease',
  'adviseCorrupt',
];

export type Fault =
  /** Refused at once, as an unreachable server is (ERR_SERVER_UNREACHABLE). */
  | { kind: 'down' }
  /** No answer until `ms` (default: the wrapper's timeoutMs), then ERR_SERVER_TIMEOUT. */
  | { kind: 'stall'; ms?: number; after?: boolean }
  /** An HTTP error status (default 500): ERR_SERVER_HTTP_STATUS. */
  | { kind: 'http-error'; status?: number; after?: boolean }
  /** The server does the work, then the connection drops mid-response. */
  | { kind: 'close-connection' }
  /** The answer is not valid CBOR (what the HTTP client reports: ERR_SERVER_BAD_RESPONSE). */
  | { kind: 'malformed-response'; after?: boolean }
  /** Not a StorageClientError at all: a bug below the caller. */
  | { kind: 'throw'; after?: boolean }
  /** One byte in the middle of `field` of every returned share (or of `shares`) inverted. */
  | { kind: 'corrupt'; field: ShareFieldName; shares?: readonly number[] }
  /** Calls on a slot with a snapshot are answered from the snapshot (see snapshot()). */
  | { kind: 'stale' }
  /** Read-test-writes that write report success, but nothing is tested or written. */
  | { kind: 'drop-writes' };

export interface FaultRule {
  fault: Fault;
  /** Operations affected (default SLOT_OPS and IMMUTABLE_OPS). */
  ops?: readonly FaultOp[];
  /** Only read-test-writes with test-write vectors (publishes, not reads). */
  writesOnly?: boolean;
  /** Only this slot. */
  storageIndex?: Uint8Array;
  /** Applies to this many matching calls, then removes itself. */
  times?: number;
}

/** What a call was about, for gates and the call log. */
export interface CallInfo {
  server: string;
  op: FaultOp;
  storageIndex?: Uint8Array;
  /** Share numbers a read-test-write writes to (data or new length > 0). */
  writes: number[];
  /** Share numbers a read-test-write deletes (new length 0). */
  deletes: number[];
}

export interface CallRecord extends CallInfo {
  started: number;
  ended?: number;
  /** 'ok', 'failed test', or an error code. */
  outcome?: string;
  /** The fault that applied, if any. */
  fault?: Fault['kind'];
}

export interface FaultyClientOptions {
  /** How long a stalled call waits before its timeout error (default 30 s). */
  timeoutMs?: number;
  /** Keep a log of every call in `calls`. */
  record?: boolean;
}

const TRANSPORT: ReadonlySet<Fault['kind']> = new Set([
  'down',
  'stall',
  'http-error',
  'close-connection',
  'malformed-response',
  'throw',
]);

const ENDPOINT: Record<FaultOp, string> = {
  getVersion: 'version',
  readTestWrite: 'read-test-write',
  readShare: 'read-share',
  listShares: 'list-shares',
  addLease: 'lease',
  adviseCorrupt: 'corrupt',
  allocateBuckets: 'allocate',
  writeImmutableShare: 'upload',
  abortImmutableUpload: 'abort',
  listImmutableShares: 'list-shares',
  readImmutableShare: 'read-share',
  adviseCorruptImmutable: 'corrupt',
};

export class FaultyStorageClient implements StorageClient {
  private rules: FaultRule[] = [];
  private readonly stale = new Map<string, StaleSlot>();
  private readonly ref: ServerRef;
  readonly calls: CallRecord[] = [];
  /** Awaited before each call is forwarded: tests use it to hold, order or kill. */
  gate?: (call: CallInfo) => Promise<void> | void;
  /** Called when a call has finished ('ok', 'failed test' or an error code). */
  after?: (call: CallInfo, outcome: string) => void;
  timeoutMs: number;
  private readonly record: boolean;

  constructor(
    readonly inner: StorageClient,
    options: FaultyClientOptions = {},
  ) {
    this.ref = { serverId: inner.serverId, name: inner.name };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.record = options.record ?? false;
  }

  get serverId(): Uint8Array {
    return this.inner.serverId;
  }
  get permutationSeed(): Uint8Array {
    return this.inner.permutationSeed;
  }
  get name(): string {
    return this.inner.name;
  }

  // --- switching faults -----------------------------------------------------------------

  /** Replaces every rule with this one (a bare fault applies to all slot operations). */
  set(rule: Fault | FaultRule): this {
    this.rules = [];
    return this.add(rule);
  }

  add(rule: Fault | FaultRule): this {
    this.rules.push('fault' in rule ? { ...rule } : { fault: rule });
    return this;
  }

  /** No faults; stale copies are kept (a later 'stale' fault serves them again). */
  clear(): this {
    this.rules = [];
    return this;
  }

  get activeFaults(): readonly FaultRule[] {
    return this.rules;
  }

  /**
   * Copies every share of the slot as the server holds it now. While a 'stale' fault is
   * set, calls on this slot see (and change) only this copy.
   */
  async snapshot(storageIndex: Uint8Array): Promise<void> {
    const shares = new Map<number, Uint8Array>();
    for (const n of await this.inner.listShares(storageIndex)) {
      const bytes = await this.inner.readShare(storageIndex, n, 0, 1 << 30);
      if (bytes) shares.set(n, bytes);
    }
    this.stale.set(toBase32(storageIndex), new StaleSlot(shares));
  }

  forgetSnapshot(storageIndex: Uint8Array): void {
    this.stale.delete(toBase32(storageIndex));
  }

  // --- StorageClient ----------------------------------------------------------------------

  getVersion(options?: RequestOptions & { refresh?: boolean }): Promise<ServerVersion> {
    const info: CallInfo = { server: this.name, op: 'getVersion', writes: [], deletes: [] };
    return this.run(info, options, () => this.inner.getVersion(options));
  }

  readTestWrite(
    storageIndex: Uint8Array,
    secrets: SlotSecrets,
    testWriteVectors: ReadonlyMap<number, TestWriteVectors>,
    readVector: readonly ReadVector[],
    options?: RequestOptions,
  ): Promise<ReadTestWriteResponse> {
    const writes: number[] = [];
    const deletes: number[] = [];
    for (const [n, v] of testWriteVectors) (v.newLength === 0 ? deletes : writes).push(n);
    const info: CallInfo = {
      server: this.name,
      op: 'readTestWrite',
      storageIndex,
      writes,
      deletes,
    };
    return this.run(info, options, async () => {
      const stale = this.staleSlot('readTestWrite', storageIndex);
      const dropping =
        testWriteVectors.size > 0 &&
        this.dataFault('readTestWrite', storageIndex, 'drop-writes', true);
      let answer: ReadTestWriteResponse;
      if (dropping) {
        const read = stale
          ? stale.readTestWrite(new Map(), readVector)
          : await this.inner.readTestWrite(storageIndex, secrets, new Map(), readVector, options);
        answer = { success: true, data: read.data };
      } else if (stale) {
        await new Promise((resolve) => setImmediate(resolve));
        answer = stale.readTestWrite(testWriteVectors, readVector);
      } else {
        answer = await this.inner.readTestWrite(
          storageIndex,
          secrets,
          testWriteVectors,
          readVector,
          options,
        );
      }
      const corrupt = this.corruption('readTestWrite', storageIndex);
      if (!corrupt) return answer;
      const data = new Map<number, Uint8Array[]>();
      for (const [n, parts] of answer.data) {
        if (corrupt.shares && !corrupt.shares.includes(n)) {
          data.set(n, parts);
          continue;
        }
        const zero = readVector.findIndex((r) => r.offset === 0);
        const header =
          zero >= 0 && parts[zero].length >= HEADER_SIZE
            ? parts[zero]
            : await this.header(storageIndex, n, stale);
        data.set(
          n,
          parts.map((piece, i) => {
            if (!header) return piece;
            const r = readVector[i];
            const eof = new DataView(header.buffer, header.byteOffset + 99, 8).getBigUint64(0);
            const at = r.offset >= 0 ? r.offset : Math.max(0, Number(eof) + r.offset);
            return corruptAt(piece, at, header, corrupt.field);
          }),
        );
      }
      return { success: answer.success, data };
    });
  }

  readShare(
    storageIndex: Uint8Array,
    shareNumber: number,
    offset: number,
    length: number,
    options?: RequestOptions,
  ): Promise<Uint8Array | null> {
    const info: CallInfo = {
      server: this.name,
      op: 'readShare',
      storageIndex,
      writes: [],
      deletes: [],
    };
    return this.run(info, options, async () => {
      const stale = this.staleSlot('readShare', storageIndex);
      let bytes: Uint8Array | null;
      if (stale) {
        await new Promise((resolve) => setImmediate(resolve));
        bytes = stale.read(shareNumber, offset, length);
      } else {
        bytes = await this.inner.readShare(storageIndex, shareNumber, offset, length, options);
      }
      const corrupt = this.corruption('readShare', storageIndex);
      if (!bytes || !corrupt || (corrupt.shares && !corrupt.shares.includes(shareNumber))) {
        return bytes;
      }
      const header =
        offset === 0 && bytes.length >= HEADER_SIZE
          ? bytes
          : await this.header(storageIndex, shareNumber, stale);
      return header ? corruptAt(bytes, offset, header, corrupt.field) : bytes;
    });
  }

  listShares(storageIndex: Uint8Array, options?: RequestOptions): Promise<number[]> {
    const info: CallInfo = {
      server: this.name,
      op: 'listShares',
      storageIndex,
      writes: [],
      deletes: [],
    };
    return this.run(info, options, async () => {
      const stale = this.staleSlot('listShares', storageIndex);
      if (!stale) return this.inner.listShares(storageIndex, options);
      await new Promise((resolve) => setImmediate(resolve));
      return stale.list();
    });
  }

  addLease(
    storageIndex: Uint8Array,
    renewSecret: Uint8Array,
    cancelSecret: Uint8Array,
    options?: RequestOptions,
  ): Promise<boolean> {
    const info: CallInfo = {
      server: this.name,
      op: 'addLease',
      storageIndex,
      writes: [],
      deletes: [],
    };
    return this.run(info, options, async () => {
      const stale = this.staleSlot('addLease', storageIndex);
      if (stale) return stale.list().length > 0;
      return this.inner.addLease(storageIndex, renewSecret, cancelSecret, options);
    });
  }

  adviseCorrupt(
    storageIndex: Uint8Array,
    shareNumber: number,
    reason: string,
    options?: RequestOptions,
  ): Promise<boolean> {
    const info: CallInfo = {
      server: this.name,
      op: 'adviseCorrupt',
      storageIndex,
      writes: [],
      deletes: [],
    };
    return this.run(info, options, async () => {
      const stale = this.staleSlot('adviseCorrupt', storageIndex);
      if (stale) return stale.list().includes(shareNumber);
      return this.inner.adviseCorrupt(storageIndex, shareNumber, reason, options);
    });
  }

  // Immutable shares: transport faults and the gate apply; data faults are slot-only.
  private immutableCall<T>(
    op: ImmutableOp,
    storageIndex: Uint8Array,
    options: RequestOptions | undefined,
    forward: () => Promise<T>,
  ): Promise<T> {
    const info: CallInfo = { server: this.name, op, storageIndex, writes: [], deletes: [] };
    return this.run(info, options, forward);
  }

  allocateBuckets(
    si: Uint8Array,
    secrets: UploadSecrets,
    shareNumbers: readonly number[],
    allocatedSize: number,
    options?: RequestOptions,
  ): Promise<AllocateResult> {
    return this.immutableCall('allocateBuckets', si, options, () =>
      this.inner.allocateBuckets(si, secrets, shareNumbers, allocatedSize, options),
    );
  }

  writeImmutableShare(
    si: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
    offset: number,
    data: Uint8Array,
    options?: RequestOptions,
  ): Promise<ImmutableWriteResult> {
    return this.immutableCall('writeImmutableShare', si, options, () =>
      this.inner.writeImmutableShare(si, shareNumber, uploadSecret, offset, data, options),
    );
  }

  abortImmutableUpload(
    si: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
    options?: RequestOptions,
  ): Promise<boolean> {
    return this.immutableCall('abortImmutableUpload', si, options, () =>
      this.inner.abortImmutableUpload(si, shareNumber, uploadSecret, options),
    );
  }

  listImmutableShares(si: Uint8Array, options?: RequestOptions): Promise<number[]> {
    return this.immutableCall('listImmutableShares', si, options, () =>
      this.inner.listImmutableShares(si, options),
    );
  }

  readImmutableShare(
    si: Uint8Array,
    shareNumber: number,
    offset: number,
    length: number,
    options?: RequestOptions,
  ): Promise<Uint8Array | null> {
    return this.immutableCall('readImmutableShare', si, options, () =>
      this.inner.readImmutableShare(si, shareNumber, offset, length, options),
    );
  }

  adviseCorruptImmutable(
    si: Uint8Array,
    shareNumber: number,
    reason: string,
    options?: RequestOptions,
  ): Promise<boolean> {
    return this.immutableCall('adviseCorruptImmutable', si, options, () =>
      this.inner.adviseCorruptImmutable(si, shareNumber, reason, options),
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  // --- machinery --------------------------------------------------------------------------

  private matches(rule: FaultRule, op: FaultOp, si: Uint8Array | undefined, writes: boolean) {
    if (!(rule.ops ?? [...SLOT_OPS, ...IMMUTABLE_OPS]).includes(op)) return false;
    if (rule.writesOnly && !writes) return false;
    if (rule.storageIndex && (!si || toBase32(si) !== toBase32(rule.storageIndex))) return false;
    return true;
  }

  /** The first matching rule of the given kinds; uses up one of its `times`. */
  private take(
    op: FaultOp,
    si: Uint8Array | undefined,
    writes: boolean,
    kinds: (kind: Fault['kind']) => boolean,
  ): Fault | undefined {
    const rule = this.rules.find((r) => kinds(r.fault.kind) && this.matches(r, op, si, writes));
    if (!rule) return undefined;
    if (rule.times !== undefined && --rule.times <= 0) {
      this.rules = this.rules.filter((r) => r !== rule);
    }
    return rule.fault;
  }

  private dataFault(op: FaultOp, si: Uint8Array, kind: Fault['kind'], writes = false): boolean {
    return this.take(op, si, writes, (k) => k === kind) !== undefined;
  }

  private staleSlot(op: FaultOp, si: Uint8Array): StaleSlot | undefined {
    const slot = this.stale.get(toBase32(si));
    return slot && this.dataFault(op, si, 'stale') ? slot : undefined;
  }

  private corruption(op: FaultOp, si: Uint8Array) {
    const fault = this.take(op, si, false, (k) => k === 'corrupt');
    return fault?.kind === 'corrupt' ? fault : undefined;
  }

  /** The first bytes of a share, to find its fields; undefined if it has none. */
  private async header(
    si: Uint8Array,
    shareNumber: number,
    stale: StaleSlot | undefined,
  ): Promise<Uint8Array | undefined> {
    const bytes = stale
      ? stale.read(shareNumber, 0, HEADER_SIZE)
      : await this.inner.readShare(si, shareNumber, 0, HEADER_SIZE).catch(() => null);
    return bytes && bytes.length >= HEADER_SIZE ? bytes : undefined;
  }

  private async run<T>(
    call: CallInfo,
    options: RequestOptions | undefined,
    forward: () => Promise<T>,
  ): Promise<T> {
    const record: CallRecord = { ...call, started: performance.now() };
    if (this.record) this.calls.push(record);
    const writes = call.writes.length + call.deletes.length > 0;
    const fault = this.take(call.op, call.storageIndex, writes, (k) => TRANSPORT.has(k));
    if (fault) record.fault = fault.kind;
    try {
      const after =
        fault && (fault.kind === 'close-connection' || ('after' in fault && fault.after));
      if (fault && !after) await this.failBefore(call, fault, options);
      await this.gate?.(call);
      const result = await forward();
      if (fault) await this.failAfter(call, fault, options);
      const failedTest = call.op === 'readTestWrite' && !(result as ReadTestWriteResponse).success;
      record.outcome = failedTest ? 'failed test' : 'ok';
      return result;
    } catch (err) {
      record.outcome = (err as { code?: string }).code ?? String(err);
      throw err;
    } finally {
      record.ended = performance.now();
      this.after?.(call, record.outcome ?? 'unknown');
    }
  }

  /** A failure before the server saw anything, with request events like a real one. */
  private async failBefore(call: CallInfo, fault: Fault, options?: RequestOptions): Promise<never> {
    const end = startRequest({
      serverId: this.serverId,
      serverName: this.name,
      method: call.op === 'readTestWrite' ? 'POST' : 'GET',
      endpoint: ENDPOINT[call.op],
      path: `fault:${ENDPOINT[call.op]}`,
      bytesSent: 0,
    });
    let code: string | null = 'ERR_UNKNOWN';
    try {
      if (fault.kind === 'stall') await this.stall(call, fault, options);
      throw this.error(call, fault);
    } catch (err) {
      code = (err as Partial<StorageClientError>).code ?? 'ERR_UNKNOWN';
      throw err;
    } finally {
      end({ bytesReceived: 0, status: null, errorCode: code });
    }
  }

  /** The server did the work; the answer is lost. */
  private async failAfter(call: CallInfo, fault: Fault, options?: RequestOptions): Promise<void> {
    if (fault.kind === 'stall') await this.stall(call, fault, options);
    throw this.error(call, fault);
  }

  private async stall(
    call: CallInfo,
    fault: Extract<Fault, { kind: 'stall' }>,
    options?: RequestOptions,
  ): Promise<void> {
    try {
      await sleep(fault.ms ?? this.timeoutMs, undefined, { signal: options?.signal });
    } catch (err) {
      throw new RequestAbortedError(this.ref, ENDPOINT[call.op], { cause: err });
    }
  }

  private error(call: CallInfo, fault: Fault): Error {
    const endpoint = ENDPOINT[call.op];
    switch (fault.kind) {
      case 'down':
        return new ServerUnreachableError(
          this.ref,
          `cannot reach the server for ${endpoint}: connect ECONNREFUSED (fault: down)`,
        );
      case 'stall':
        return new ServerTimeoutError(this.ref, 'headers', fault.ms ?? this.timeoutMs);
      case 'http-error':
        return new ServerHttpStatusError(this.ref, fault.status ?? 500, endpoint, 'injected fault');
      case 'close-connection':
        return new ServerUnreachableError(
          this.ref,
          `cannot reach the server for ${endpoint}: other side closed (UND_ERR_SOCKET)`,
        );
      case 'malformed-response':
        return new ServerBadResponseError(
          this.ref,
          endpoint,
          'invalid CBOR: unexpected end of input (injected fault)',
        );
      default:
        return new TypeError(`injected fault: ${this.name} threw during ${endpoint}`);
    }
  }
}

function corruptAt(
  piece: Uint8Array,
  at: number,
  header: Uint8Array,
  field: ShareFieldName,
): Uint8Array {
  let range: [number, number];
  try {
    range = shareFieldRange(header, field);
  } catch {
    return piece; // not a share: nothing to aim at
  }
  return corruptPiece(piece, at, range);
}
