// An in-memory StorageClient: the §9.2 slot semantics with no disk and no network. It is
// the executable reference the compliance suite is checked against, and a fast stand-in
// server for unit tests of the layers above (servermap, publish, retrieve). It publishes
// the same `slotfs:request` events as the HTTP client, so cost accounting works on it.
import { setTimeout as sleep } from 'node:timers/promises';
import { toBase32 } from '../../encoding/base32.js';
import { concatBytes, equalBytes } from '../../encoding/bytes.js';
import {
  encodeReadTestWriteResponse,
  encodeShareSet,
  type ReadTestWriteResponse,
} from '../../storage/protocol.js';
import {
  RequestAbortedError,
  StorageClientClosedError,
  StorageClientError,
  ServerHttpStatusError,
  ServerUnsupportedError,
  WriteEnablerError,
  type ServerRef,
} from '../errors.js';
import { startRequest } from '../request-events.js';
import type {
  AllocateResult,
  ImmutableWriteResult,
  UploadSecrets,
  ReadVector,
  RequestOptions,
  ServerVersion,
  SlotSecrets,
  StorageClient,
  TestWriteVectors,
} from '../storage-client.js';
import { StorageRequests, type CallArgs } from '../requests.js';

type ShareKind = 'mutable' | 'immutable';

interface MemoryShare {
  data: Uint8Array;
  writeEnabler: Uint8Array;
  leases: Array<{ renew: Uint8Array; cancel: Uint8Array; expiresAt: number }>;
}

const LEASE_SECONDS = 31 * 24 * 3600;

/** The state of one in-memory server: slots by base32 SI, then shares by number. */
interface MemoryUpload {
  secret: Uint8Array;
  data: Uint8Array;
  /** 1 for every byte written. */
  written: Uint8Array;
}

export class MemoryStorageServer {
  readonly slots = new Map<string, Map<number, MemoryShare>>();
  /** Finished immutable shares by base32 SI, then share number. */
  readonly immutable = new Map<string, Map<number, Uint8Array>>();
  /** Immutable uploads in progress by `si/shnum`. */
  readonly uploads = new Map<string, MemoryUpload>();
  readonly corruptionReports: Array<{ si: string; shnum: number; reason: string }> = [];
  constructor(
    readonly nodeId: Uint8Array,
    readonly options: { readFromEnd?: boolean; maximumMutableShareSize?: number } = {},
  ) {}
}

export interface MemoryClientOptions {
  name?: string;
  /** Simulated time per request (ms), for tests of ordering and round trips. */
  latencyMs?: number;
}

export class MemoryStorageClient implements StorageClient {
  readonly serverId: Uint8Array;
  readonly permutationSeed: Uint8Array;
  readonly name: string;
  private readonly ref: ServerRef;
  private readonly requests: StorageRequests;
  private closed = false;

  constructor(
    readonly server: MemoryStorageServer,
    private readonly options: MemoryClientOptions = {},
  ) {
    this.serverId = server.nodeId;
    this.permutationSeed = server.nodeId;
    this.name = options.name ?? `memory-${toBase32(server.nodeId).slice(0, 6)}`;
    this.ref = { serverId: this.serverId, name: this.name };
    this.requests = new StorageRequests(this.ref);
  }

  private version: ServerVersion | undefined;

  async getVersion(options: RequestOptions & { refresh?: boolean } = {}): Promise<ServerVersion> {
    if (this.version && !options.refresh) return this.version;
    this.version = await this.request('version', 0, options, () => ({
      value: {
        maximumImmutableShareSize: 0,
        maximumMutableShareSize: this.maxShareSize,
        availableSpace: 2 ** 40,
        applicationVersion: 'slotfs-memory',
        readFromEnd: this.server.options.readFromEnd ?? true,
        announcedNodeId: this.server.nodeId,
        announcedPermutationSeed: this.server.nodeId,
      },
      received: 100,
    }));
    return this.version;
  }

  private get maxShareSize(): number {
    return this.server.options.maximumMutableShareSize ?? 2 ** 40;
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
    if (readsFromEnd && !(this.server.options.readFromEnd ?? true)) {
      throw new ServerUnsupportedError(this.ref, 'read-from-end (negative read offsets)');
    }
    const si = toBase32(storageIndex);
    return this.request('read-test-write', body.length, options, () => {
      const slot = this.server.slots.get(si) ?? new Map<number, MemoryShare>();
      for (const share of slot.values()) {
        if (!equalBytes(share.writeEnabler, secrets.writeEnabler)) {
          throw new WriteEnablerError(this.ref, si);
        }
      }
      let success = true;
      for (const [shnum, v] of testWriteVectors) {
        const data = slot.get(shnum)?.data ?? new Uint8Array(0);
        for (const t of v.test) {
          if (!equalBytes(data.subarray(t.offset, t.offset + t.size), t.specimen)) success = false;
        }
      }
      const data = new Map<number, Uint8Array[]>();
      for (const [shnum, share] of [...slot].sort((a, b) => a[0] - b[0])) {
        data.set(
          shnum,
          readVector.map((r) => {
            // A negative offset counts from the data end; the range is then clipped.
            const start = r.offset < 0 ? share.data.length + r.offset : r.offset;
            return share.data.slice(Math.max(0, start), Math.max(0, start + r.size));
          }),
        );
      }
      if (success) {
        // Compute every new share first so that a refused write changes nothing.
        const updates = new Map<number, Uint8Array | null>();
        for (const [shnum, v] of testWriteVectors) {
          if (v.newLength === 0) {
            updates.set(shnum, null);
            continue;
          }
          let bytes = slot.get(shnum)?.data ?? new Uint8Array(0);
          for (const w of v.write) {
            const end = Math.max(bytes.length, w.offset + w.data.length);
            if (end > this.maxShareSize) {
              throw new ServerHttpStatusError(this.ref, 413, 'read-test-write', 'share too large');
            }
            bytes =
              end > bytes.length
                ? concatBytes(bytes, new Uint8Array(end - bytes.length))
                : bytes.slice();
            bytes.set(w.data, w.offset);
          }
          if (v.newLength !== null && v.newLength < bytes.length) {
            bytes = bytes.slice(0, v.newLength);
          }
          updates.set(shnum, bytes);
        }
        for (const [shnum, bytes] of updates) {
          if (bytes === null) {
            slot.delete(shnum);
            continue;
          }
          let share = slot.get(shnum);
          if (!share) {
            share = { data: bytes, writeEnabler: secrets.writeEnabler.slice(), leases: [] };
            slot.set(shnum, share);
          }
          share.data = bytes;
          renewLease(share, secrets.leaseRenewSecret, secrets.leaseCancelSecret);
        }
        if (slot.size) this.server.slots.set(si, slot);
        else this.server.slots.delete(si);
      }
      const value = { success, data };
      return { value, received: encodeReadTestWriteResponse(value).length };
    });
  }

  async readShare(...call: CallArgs<'readShare'>): Promise<Uint8Array | null> {
    return this.readRange('mutable', ...call);
  }

  async listShares(...call: CallArgs<'listShares'>): Promise<number[]> {
    return this.listSharesIn('mutable', ...call);
  }

  async addLease(
    storageIndex: Uint8Array,
    renewSecret: Uint8Array,
    cancelSecret: Uint8Array,
    options: RequestOptions = {},
  ): Promise<boolean> {
    this.requests.addLease(storageIndex, renewSecret, cancelSecret);
    const si = toBase32(storageIndex);
    return this.request('lease', 0, options, () => {
      const slot = this.server.slots.get(si);
      // Immutable shares take leases too; this reference does not keep theirs.
      if (!slot) return { value: this.server.immutable.has(si), received: 0 };
      for (const share of slot.values()) renewLease(share, renewSecret, cancelSecret);
      return { value: true, received: 0 };
    });
  }

  async adviseCorrupt(...call: CallArgs<'adviseCorrupt'>): Promise<boolean> {
    return this.advise('mutable', ...call);
  }

  async allocateBuckets(
    storageIndex: Uint8Array,
    secrets: UploadSecrets,
    shareNumbers: readonly number[],
    allocatedSize: number,
    options: RequestOptions = {},
  ): Promise<AllocateResult> {
    const body = this.requests.allocateBuckets(storageIndex, secrets, shareNumbers, allocatedSize);
    const si = toBase32(storageIndex);
    return this.request('allocate', body.length, options, () => {
      const held = this.server.immutable.get(si) ?? new Map<number, Uint8Array>();
      const allocated: number[] = [];
      for (const shnum of [...new Set(shareNumbers)].sort((a, b) => a - b)) {
        if (held.has(shnum)) continue;
        const existing = this.server.uploads.get(`${si}/${shnum}`);
        if (existing) {
          if (equalBytes(existing.secret, secrets.uploadSecret)) allocated.push(shnum);
          continue;
        }
        this.server.uploads.set(`${si}/${shnum}`, {
          secret: secrets.uploadSecret.slice(),
          data: new Uint8Array(allocatedSize),
          written: new Uint8Array(allocatedSize),
        });
        allocated.push(shnum);
      }
      const alreadyHave = [...held.keys()].sort((a, b) => a - b);
      return { value: { alreadyHave, allocated }, received: 20 + allocated.length };
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
    const si = toBase32(storageIndex);
    return this.request('upload', data.length, options, () => {
      const key = `${si}/${shareNumber}`;
      const upload = this.server.uploads.get(key);
      const fail = (status: number, text: string) =>
        new ServerHttpStatusError(this.ref, status, 'upload', text);
      if (!upload) throw fail(404, `no upload of share ${shareNumber} in progress`);
      if (!equalBytes(upload.secret, uploadSecret)) throw fail(401, 'upload secret refused');
      if (offset + data.length > upload.data.length) throw fail(413, 'beyond the allocated size');
      for (let i = 0; i < data.length; i++) {
        if (upload.written[offset + i] && upload.data[offset + i] !== data[i]) {
          throw fail(409, 'conflicting write');
        }
      }
      upload.data.set(data, offset);
      upload.written.fill(1, offset, offset + data.length);
      const required: Array<{ begin: number; end: number }> = [];
      for (let i = 0; i < upload.written.length; i++) {
        if (upload.written[i]) continue;
        const last = required.at(-1);
        if (last && last.end === i) last.end = i + 1;
        else required.push({ begin: i, end: i + 1 });
      }
      if (required.length === 0) {
        this.server.uploads.delete(key);
        const held = this.server.immutable.get(si) ?? new Map<number, Uint8Array>();
        held.set(shareNumber, upload.data);
        this.server.immutable.set(si, held);
      }
      return { value: { complete: required.length === 0, required }, received: 20 };
    });
  }

  async abortImmutableUpload(
    storageIndex: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
    options: RequestOptions = {},
  ): Promise<boolean> {
    this.requests.abortImmutableUpload(storageIndex, shareNumber, uploadSecret);
    const si = toBase32(storageIndex);
    return this.request('abort', 0, options, () => {
      const key = `${si}/${shareNumber}`;
      const upload = this.server.uploads.get(key);
      if (!upload) return { value: false, received: 0 };
      if (!equalBytes(upload.secret, uploadSecret)) {
        throw new ServerHttpStatusError(this.ref, 401, 'abort', 'upload secret refused');
      }
      this.server.uploads.delete(key);
      return { value: true, received: 0 };
    });
  }

  async listImmutableShares(...call: CallArgs<'listImmutableShares'>): Promise<number[]> {
    return this.listSharesIn('immutable', ...call);
  }

  async readImmutableShare(...call: CallArgs<'readImmutableShare'>): Promise<Uint8Array | null> {
    return this.readRange('immutable', ...call);
  }

  async adviseCorruptImmutable(...call: CallArgs<'adviseCorruptImmutable'>): Promise<boolean> {
    return this.advise('immutable', ...call);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  // The calls that mutable and immutable shares share, `kind` naming which store they use.

  /** The data of every share the server holds for `si` of this kind, by share number. */
  private sharesOf(kind: ShareKind, si: string): Map<number, Uint8Array> {
    if (kind === 'immutable') return this.server.immutable.get(si) ?? new Map();
    const slot = this.server.slots.get(si) ?? new Map<number, MemoryShare>();
    return new Map([...slot].map(([shnum, share]) => [shnum, share.data]));
  }

  private async readRange(
    kind: ShareKind,
    ...[storageIndex, shareNumber, offset, length, options = {}]: CallArgs<'readShare'>
  ): Promise<Uint8Array | null> {
    this.requests.readShare(storageIndex, shareNumber, offset, length);
    const si = toBase32(storageIndex);
    return this.request('read-share', 0, options, () => {
      const share = this.sharesOf(kind, si).get(shareNumber);
      const value = share ? share.slice(offset, offset + length) : null;
      return { value, received: value?.length ?? 0 };
    });
  }

  private async listSharesIn(
    kind: ShareKind,
    ...[storageIndex, options = {}]: CallArgs<'listShares'>
  ): Promise<number[]> {
    this.requests.listShares(storageIndex);
    const si = toBase32(storageIndex);
    return this.request('list-shares', 0, options, () => {
      const value = [...this.sharesOf(kind, si).keys()].sort((a, b) => a - b);
      return { value, received: encodeShareSet(value).length };
    });
  }

  private async advise(
    kind: ShareKind,
    ...[storageIndex, shareNumber, reason, options = {}]: CallArgs<'adviseCorrupt'>
  ): Promise<boolean> {
    const body = this.requests.adviseCorrupt(storageIndex, shareNumber, reason);
    const si = toBase32(storageIndex);
    return this.request('corrupt', body.length, options, () => {
      if (!this.sharesOf(kind, si).has(shareNumber)) return { value: false, received: 0 };
      this.server.corruptionReports.push({ si, shnum: shareNumber, reason });
      return { value: true, received: 0 };
    });
  }

  /**
   * Runs `apply` atomically (JS is single-threaded and `apply` is synchronous) after the
   * simulated latency, publishing request events around it.
   */
  private async request<T>(
    endpoint: string,
    bytesSent: number,
    options: RequestOptions,
    apply: () => { value: T; received: number },
  ): Promise<T> {
    if (this.closed) throw new StorageClientClosedError(this.ref);
    const end = startRequest({
      serverId: this.serverId,
      serverName: this.name,
      method: endpoint === 'version' || endpoint === 'read-share' ? 'GET' : 'POST',
      endpoint,
      path: `memory:${endpoint}`,
      bytesSent,
    });
    let received = 0;
    let errorCode: string | null = null;
    try {
      // Always answer asynchronously, like a network: parallel calls overlap.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.options.latencyMs) {
        try {
          await sleep(this.options.latencyMs, undefined, { signal: options.signal });
        } catch (err) {
          throw new RequestAbortedError(this.ref, endpoint, { cause: err });
        }
      }
      if (options.signal?.aborted) throw new RequestAbortedError(this.ref, endpoint);
      const out = apply();
      received = out.received;
      return out.value;
    } catch (err) {
      errorCode = err instanceof StorageClientError ? err.code : 'ERR_UNKNOWN';
      throw err;
    } finally {
      end({ bytesReceived: received, status: errorCode ? null : 200, errorCode });
    }
  }
}

function renewLease(share: MemoryShare, renew: Uint8Array, cancel: Uint8Array): void {
  const expiresAt = Math.floor(Date.now() / 1000) + LEASE_SECONDS;
  const lease = share.leases.find((l) => equalBytes(l.renew, renew));
  if (lease) lease.expiresAt = Math.max(lease.expiresAt, expiresAt);
  else share.leases.push({ renew: renew.slice(), cancel: cancel.slice(), expiresAt });
}
