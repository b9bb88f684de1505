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
import type { StorageClient } from './storage-client.js';
import { ArgumentChecker } from './validate.js';

/**
 * The arguments of a StorageClient method: the checks below take exactly what the call
 * does, and a client whose mutable and immutable calls share one path passes them on whole.
 */
export type CallArgs<M extends keyof StorageClient> = Parameters<
  Extract<StorageClient[M], (...args: never[]) => unknown>
>;

export class StorageRequests {
  private readonly check: ArgumentChecker;

  constructor(server: ServerRef) {
    this.check = new ArgumentChecker(server);
  }

  /** A read-test-write's CBOR body; `readsFromEnd` when it needs that extension. */
  readTestWrite(
    ...[storageIndex, secrets, testWriteVectors, readVector]: CallArgs<'readTestWrite'>
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
  readShare(...[storageIndex, shareNumber, offset, length]: CallArgs<'readShare'>): void {
    this.shareOf(storageIndex, shareNumber);
    this.check.range(offset, length);
  }

  /** Each share of a read-many (its length is checked where the extension is known). */
  readMany(...[reads]: CallArgs<'readMany'>): void {
    for (const r of reads) this.shareOf(r.storageIndex, r.shareNumber);
  }

  listShares(...[storageIndex]: CallArgs<'listShares'>): void {
    this.check.storageIndex(storageIndex);
  }

  addLease(...[storageIndex, renewSecret, cancelSecret]: CallArgs<'addLease'>): void {
    this.check.storageIndex(storageIndex);
    this.check.leaseSecrets(renewSecret, cancelSecret);
  }

  /** A corruption advisory's CBOR body, for a mutable or immutable share. */
  adviseCorrupt(...[storageIndex, shareNumber, reason]: CallArgs<'adviseCorrupt'>): Uint8Array {
    this.shareOf(storageIndex, shareNumber);
    this.check.reason(reason);
    return encodeCorruptionAdvice(reason);
  }

  /** An allocation's CBOR body. */
  allocateBuckets(
    ...[storageIndex, secrets, shareNumbers, allocatedSize]: CallArgs<'allocateBuckets'>
  ): Uint8Array {
    this.check.storageIndex(storageIndex);
    this.check.uploadSecret(secrets.uploadSecret);
    this.check.leaseSecrets(secrets.leaseRenewSecret, secrets.leaseCancelSecret);
    shareNumbers.forEach((n) => this.check.shareNumber(n));
    this.check.nonNegative(allocatedSize, 'allocated size');
    return encodeAllocateBucketsRequest({ shareNumbers: [...shareNumbers], allocatedSize });
  }

  writeImmutableShare(
    ...[storageIndex, shareNumber, uploadSecret, offset, data]: CallArgs<'writeImmutableShare'>
  ): void {
    this.upload(storageIndex, shareNumber, uploadSecret);
    this.check.nonNegative(offset, 'offset');
    this.check.chunk(data);
  }

  abortImmutableUpload(
    ...[storageIndex, shareNumber, uploadSecret]: CallArgs<'abortImmutableUpload'>
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
