// What a StorageClient checks and sends for each call, in one place: the HTTP client and
// the in-memory reference both go through it, so they refuse the same bad calls with the
// same ERR_STORAGE_CLIENT_ARGUMENT (in the same order) and encode the same bodies.
// Pure: no I/O.
import {
  encodeAllocateBucketsRequest,
  encodeCorruptionAdvice,
  encodeReadTestWriteRequest,
} from '../storage/protocol.js';
import type { ServerRef } from './errors.js';
import type { ReadVector, SlotSecrets, TestWriteVectors, UploadSecrets } from './storage-client.js';
import { ArgumentChecker } from './validate.js';

export class StorageRequests {
  private readonly check: ArgumentChecker;

  constructor(server: ServerRef) {
    this.check = new ArgumentChecker(server);
  }

  /** A read-test-write's CBOR body; `readsFromEnd` when it needs that extension. */
  readTestWrite(
    storageIndex: Uint8Array,
    secrets: SlotSecrets,
    testWriteVectors: ReadonlyMap<number, TestWriteVectors>,
    readVector: readonly ReadVector[],
  ): { body: Uint8Array; readsFromEnd: boolean } {
    this.check.storageIndex(storageIndex);
    this.check.secrets(secrets);
    const { readsFromEnd } = this.check.readTestWrite(testWriteVectors, readVector);
    const body = encodeReadTestWriteRequest({
      testWriteVectors: new Map(testWriteVectors),
      readVector: [...readVector],
    });
    return { body, readsFromEnd };
  }

  /** A ranged read of one share, mutable or immutable. */
  readShare(storageIndex: Uint8Array, shareNumber: number, offset: number, length: number): void {
    this.shareOf(storageIndex, shareNumber);
    this.check.range(offset, length);
  }

  /** Each share of a read-many (its length is checked where the extension is known). */
  readMany(reads: ReadonlyArray<{ storageIndex: Uint8Array; shareNumber: number }>): void {
    for (const r of reads) this.shareOf(r.storageIndex, r.shareNumber);
  }

  listShares(storageIndex: Uint8Array): void {
    this.check.storageIndex(storageIndex);
  }

  addLease(storageIndex: Uint8Array, renewSecret: Uint8Array, cancelSecret: Uint8Array): void {
    this.check.storageIndex(storageIndex);
    this.check.leaseSecrets(renewSecret, cancelSecret);
  }

  /** A corruption advisory's CBOR body, for a mutable or immutable share. */
  adviseCorrupt(storageIndex: Uint8Array, shareNumber: number, reason: string): Uint8Array {
    this.shareOf(storageIndex, shareNumber);
    this.check.reason(reason);
    return encodeCorruptionAdvice(reason);
  }

  /** An allocation's CBOR body. */
  allocateBuckets(
    storageIndex: Uint8Array,
    secrets: UploadSecrets,
    shareNumbers: readonly number[],
    allocatedSize: number,
  ): Uint8Array {
    this.check.storageIndex(storageIndex);
    this.check.uploadSecret(secrets.uploadSecret);
    this.check.leaseSecrets(secrets.leaseRenewSecret, secrets.leaseCancelSecret);
    shareNumbers.forEach((n) => this.check.shareNumber(n));
    this.check.nonNegative(allocatedSize, 'allocated size');
    return encodeAllocateBucketsRequest({ shareNumbers: [...shareNumbers], allocatedSize });
  }

  writeImmutableShare(
    storageIndex: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
    offset: number,
    data: Uint8Array,
  ): void {
    this.upload(storageIndex, shareNumber, uploadSecret);
    this.check.nonNegative(offset, 'offset');
    this.check.chunk(data);
  }

  abortImmutableUpload(
    storageIndex: Uint8Array,
    shareNumber: number,
    uploadSecret: Uint8Array,
  ): void {
    this.upload(storageIndex, shareNumber, uploadSecret);
  }

  private shareOf(storageIndex: Uint8Array, shareNumber: number): void {
    this.check.storageIndex(storageIndex);
    this.check.shareNumber(shareNumber);
  }

  private upload(storageIndex: Uint8Array, shareNumber: number, uploadSecret: Uint8Array): void {
    this.shareOf(storageIndex, shareNumber);
    this.check.uploadSecret(uploadSecret);
  }
}
