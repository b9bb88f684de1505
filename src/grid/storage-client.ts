// The one interface for talking to one storage server about mutable slots
// (tahoe-formats.md §9.2–§9.4, §10.5). The HTTP client implements it; so do the
// in-memory reference used by tests and, later, the fault-injection wrappers (which wrap
// another StorageClient rather than adding flags to it). Every implementation must pass
// the compliance suite in ./test-support/compliance.ts.
//
// Every method rejects only with a StorageClientError (see ./errors.ts) naming this server.
import type {
  ReadTestWriteResponse,
  ReadVector,
  TestVector,
  TestWriteVectors,
  WriteVector,
} from '../storage/protocol.js';
import type { StorageClientError } from './errors.js';

export type { ReadTestWriteResponse, ReadVector, TestVector, TestWriteVectors, WriteVector };

/** The arguments of one readTestWrite, as an item of readTestWriteMany. */
export interface ReadTestWriteCall {
  storageIndex: Uint8Array;
  secrets: SlotSecrets;
  testWriteVectors: ReadonlyMap<number, TestWriteVectors>;
  readVector: readonly ReadVector[];
}

/** Secrets sent with a read-test-write (§10.3). */
export interface SlotSecrets {
  /** WE(writekey, serverId): 32 bytes in Tahoe; any non-empty value is accepted. */
  writeEnabler: Uint8Array;
  /** Per-server lease secrets, 32 bytes each (leaseSecretsFor in src/crypto). */
  leaseRenewSecret: Uint8Array;
  leaseCancelSecret: Uint8Array;
}

/** Secrets sent when allocating immutable shares (http-storage-node-protocol "Immutable"). */
export interface UploadSecrets {
  /** Authorises the chunk writes and the abort of this upload; any non-empty bytes. */
  uploadSecret: Uint8Array;
  leaseRenewSecret: Uint8Array;
  leaseCancelSecret: Uint8Array;
}

export interface AllocateResult {
  /** Immutable shares the server already holds for the SI (all of them, not only asked). */
  alreadyHave: number[];
  /** Shares this upload may now write. */
  allocated: number[];
}

export interface ImmutableWriteResult {
  /** This chunk completed the share: it is now readable. */
  complete: boolean;
  /** Byte ranges of the share still missing. */
  required: Array<{ begin: number; end: number }>;
}

/** What the server's version document says (§10.5), plus the slotfs extension. */
export interface ServerVersion {
  maximumImmutableShareSize: number;
  maximumMutableShareSize: number;
  availableSpace: number;
  applicationVersion: string;
  /**
   * Read vectors of readTestWrite may use negative offsets: `{offset: -K, size: S}` reads
   * the range [length − K, length − K + S) of each share's data, clipped to the data (so
   * `{offset: -K, size: K}` is the last K bytes, or the whole share if shorter). Only a
   * slotfs server advertises it.
   */
  readFromEnd: boolean;
  /** The node id the server says it records in containers, if it says (slotfs only). */
  announcedNodeId?: Uint8Array;
  /** The permutation seed the server announces, if it says (slotfs only). */
  announcedPermutationSeed?: Uint8Array;
}

export interface RequestOptions {
  /** Cancels the request; it then rejects with ERR_REQUEST_ABORTED. */
  signal?: AbortSignal;
}

export interface StorageClient {
  /** 20-byte node id used in write enablers and lease secrets (§3.3). */
  readonly serverId: Uint8Array;
  /** Bytes hashed with the SI to place this server on the permuted ring (§11.1). */
  readonly permutationSeed: Uint8Array;
  /** Short human name for logs and errors. */
  readonly name: string;

  /**
   * The version document. Fetched once and cached; `refresh` asks again.
   * Callers that want to use readFromEnd should call this first (e.g. when the grid
   * is opened) so that the first operation does not pay for it.
   */
  getVersion(options?: RequestOptions & { refresh?: boolean }): Promise<ServerVersion>;

  /**
   * §9.2 in one request: check the write enabler against every share of the slot, run
   * every test, read `readVector` from every share present (before any write), and — only
   * if all tests passed — apply the writes. `data` maps every share number present
   * before the call to one byte string per read-vector entry.
   *
   * With empty `testWriteVectors` this is a pure read of all shares of the slot (§10.7):
   * nothing is written and no lease is touched. A negative read offset needs
   * `readFromEnd` (else ERR_SERVER_UNSUPPORTED, nothing sent).
   * Wrong write enabler → WriteEnablerError (ERR_WRITE_ENABLER).
   */
  readTestWrite(
    storageIndex: Uint8Array,
    secrets: SlotSecrets,
    testWriteVectors: ReadonlyMap<number, TestWriteVectors>,
    readVector: readonly ReadVector[],
    options?: RequestOptions,
  ): Promise<ReadTestWriteResponse>;

  /**
   * `length` (≥ 1) bytes of one share's data from `offset`, truncated at the data end
   * (empty when `offset` is past it); `null` when the server holds no such share.
   */
  readShare(
    storageIndex: Uint8Array,
    shareNumber: number,
    offset: number,
    length: number,
    options?: RequestOptions,
  ): Promise<Uint8Array | null>;

  /**
   * (slotfs servers only; optional) The first `length` bytes (1…1024) of each of many
   * mutable shares in one request, null for a share not held. A server without it
   * (Tahoe, or slotfs without extensions) fails with ServerUnsupportedError
   * (ERR_SERVER_UNSUPPORTED); callers then read share by share.
   */
  readMany?(
    reads: ReadonlyArray<{ storageIndex: Uint8Array; shareNumber: number }>,
    length: number,
    options?: RequestOptions,
  ): Promise<Array<Uint8Array | null>>;

  /**
   * (slotfs servers only; optional) Many read-test-writes of different slots in one
   * request (at most 256): each is applied exactly as readTestWrite would, independently of
   * the others, and gets its own answer or its own StorageClientError (a failed test, a wrong
   * write enabler…) in the array; the call itself rejects only when the request as a whole
   * failed (then any of the writes may or may not have been applied, as with a single
   * request). A server without it (Tahoe, or slotfs without extensions) fails with
   * ServerUnsupportedError (ERR_SERVER_UNSUPPORTED), nothing sent; callers then write one by
   * one. (The HTTP client also batches plain readTestWrite calls by itself.)
   */
  readTestWriteMany?(
    writes: ReadonlyArray<ReadTestWriteCall>,
    options?: RequestOptions,
  ): Promise<Array<ReadTestWriteResponse | StorageClientError>>;

  /** Share numbers the server holds for the slot, ascending (empty if none). */
  listShares(storageIndex: Uint8Array, options?: RequestOptions): Promise<number[]>;

  /** Adds or renews a lease on every share of the SI; false if the server holds none. */
  addLease(
    storageIndex: Uint8Array,
    renewSecret: Uint8Array,
    cancelSecret: Uint8Array,
    options?: RequestOptions,
  ): Promise<boolean>;

  /** Tells the administrator a share looks corrupt; false if the share is not held. */
  adviseCorrupt(
    storageIndex: Uint8Array,
    shareNumber: number,
    reason: string,
    options?: RequestOptions,
  ): Promise<boolean>;

  // --- immutable shares (CHK) ---

  /**
   * Opens uploads of `shareNumbers` (each `allocatedSize` bytes) and renews leases on the
   * shares already held. Shares held or being uploaded by another client are not allocated.
   */
  allocateBuckets(
    storageIndex: Uint8Array,
    secrets: UploadSecrets,
    shareNumbers: readonly number[],
    allocatedSize: number,
    options?: RequestOptions,
  ): Promise<AllocateResult>;

  /**
   * Writes `data` at `offset` of an allocated share; the write that supplies the last
   * missing byte makes the share visible. Rewriting bytes with other data → 409.
   */
  writeImmutableShare(
    storageIndex: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
    offset: number,
    data: Uint8Array,
    options?: RequestOptions,
  ): Promise<ImmutableWriteResult>;

  /** Cancels an upload in progress (nothing of it stays); false if there is none. */
  abortImmutableUpload(
    storageIndex: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
    options?: RequestOptions,
  ): Promise<boolean>;

  /** Finished immutable shares held for the SI, ascending. */
  listImmutableShares(storageIndex: Uint8Array, options?: RequestOptions): Promise<number[]>;

  /** As readShare, for a finished immutable share; null if not held. */
  readImmutableShare(
    storageIndex: Uint8Array,
    shareNumber: number,
    offset: number,
    length: number,
    options?: RequestOptions,
  ): Promise<Uint8Array | null>;

  /** As adviseCorrupt, for an immutable share. */
  adviseCorruptImmutable(
    storageIndex: Uint8Array,
    shareNumber: number,
    reason: string,
    options?: RequestOptions,
  ): Promise<boolean>;

  /** Releases connections; later calls fail. Idempotent. */
  close(): Promise<void>;
}

/** Limits shared by every implementation (Tahoe's CDDL, §10.5). */
export const MAX_SHARE_NUMBER = 255;
export const MAX_CORRUPTION_REASON_BYTES = 32765;
export const LEASE_SECRET_LENGTH = 32;
