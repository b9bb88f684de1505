// Argument checks every StorageClient applies before sending anything, so that all
// implementations refuse the same bad calls with the same ERR_STORAGE_CLIENT_ARGUMENT.
import { utf8 } from '../encoding/bytes.js';
import { RTW_LIMITS, STORAGE_INDEX_LENGTH } from '../storage/protocol.js';
import { StorageClientArgumentError, type ServerRef } from './errors.js';
import {
  LEASE_SECRET_LENGTH,
  MAX_CORRUPTION_REASON_BYTES,
  MAX_SHARE_NUMBER,
  type ReadVector,
  type SlotSecrets,
  type TestVector,
  type TestWriteVectors,
  type WriteVector,
} from './storage-client.js';

export class ArgumentChecker {
  constructor(private readonly server: ServerRef) {}

  private fail(message: string): never {
    throw new StorageClientArgumentError(this.server, message);
  }

  storageIndex(si: unknown): asserts si is Uint8Array {
    if (!(si instanceof Uint8Array) || si.length !== STORAGE_INDEX_LENGTH) {
      this.fail(`a storage index is ${STORAGE_INDEX_LENGTH} bytes`);
    }
  }

  shareNumber(shnum: unknown, where = 'share number'): asserts shnum is number {
    if (!Number.isInteger(shnum) || (shnum as number) < 0 || (shnum as number) > MAX_SHARE_NUMBER) {
      this.fail(`${where} must be an integer 0..${MAX_SHARE_NUMBER}, got ${String(shnum)}`);
    }
  }

  nonNegative(n: unknown, where: string): asserts n is number {
    if (!Number.isSafeInteger(n) || (n as number) < 0) {
      this.fail(`${where} must be a non-negative safe integer, got ${String(n)}`);
    }
  }

  bytes(b: unknown, where: string): asserts b is Uint8Array {
    if (!(b instanceof Uint8Array)) this.fail(`${where} must be a Uint8Array`);
  }

  leaseSecret(secret: unknown, where: string): void {
    this.bytes(secret, where);
    if (secret.length !== LEASE_SECRET_LENGTH) {
      this.fail(`${where} must be ${LEASE_SECRET_LENGTH} bytes, got ${secret.length}`);
    }
  }

  leaseSecrets(renew: unknown, cancel: unknown): void {
    this.leaseSecret(renew, 'lease renew secret');
    this.leaseSecret(cancel, 'lease cancel secret');
  }

  secrets(secrets: SlotSecrets): void {
    this.bytes(secrets?.writeEnabler, 'write enabler');
    if (secrets.writeEnabler.length === 0) this.fail('the write enabler must not be empty');
    this.leaseSecrets(secrets.leaseRenewSecret, secrets.leaseCancelSecret);
  }

  /** The bytes of one immutable write: some, never none. */
  chunk(data: unknown): asserts data is Uint8Array {
    this.bytes(data, 'data');
    if (data.length === 0) this.fail('data must not be empty');
  }

  uploadSecret(secret: unknown): void {
    this.bytes(secret, 'upload secret');
    if (secret.length === 0) this.fail('the upload secret must not be empty');
  }

  /** Returns whether any read offset is negative (needs the read-from-end extension). */
  readTestWrite(
    tw: ReadonlyMap<number, TestWriteVectors>,
    readVector: readonly ReadVector[],
  ): { readsFromEnd: boolean } {
    if (!(tw instanceof Map))
      this.fail('test-write vectors must be a Map of share number → vectors');
    if (tw.size > RTW_LIMITS.shares) this.fail(`at most ${RTW_LIMITS.shares} shares per request`);
    for (const [shnum, v] of tw) {
      this.shareNumber(shnum, 'test-write share number');
      const where = `share ${shnum}`;
      const tests: unknown = v?.test;
      const writes: unknown = v?.write;
      if (!Array.isArray(tests) || !Array.isArray(writes)) {
        this.fail(`${where}: test and write must be arrays`);
      }
      if (v.test.length > RTW_LIMITS.testVectors) {
        this.fail(`${where}: at most ${RTW_LIMITS.testVectors} test vectors`);
      }
      v.test.forEach((t: TestVector, i: number) => {
        this.nonNegative(t.offset, `${where} test[${i}].offset`);
        this.nonNegative(t.size, `${where} test[${i}].size`);
        this.bytes(t.specimen, `${where} test[${i}].specimen`);
      });
      v.write.forEach((w: WriteVector, i: number) => {
        this.nonNegative(w.offset, `${where} write[${i}].offset`);
        this.bytes(w.data, `${where} write[${i}].data`);
      });
      if (v.newLength !== null) this.nonNegative(v.newLength, `${where} newLength`);
    }
    if (!Array.isArray(readVector)) this.fail('the read vector must be an array');
    if (readVector.length > RTW_LIMITS.readVectors) {
      this.fail(`at most ${RTW_LIMITS.readVectors} read vector entries`);
    }
    let readsFromEnd = false;
    readVector.forEach((r, i) => {
      if (!Number.isSafeInteger(r?.offset)) this.fail(`read[${i}].offset must be a safe integer`);
      if (r.offset < 0) readsFromEnd = true;
      this.nonNegative(r.size, `read[${i}].size`);
    });
    return { readsFromEnd };
  }

  range(offset: unknown, length: unknown): void {
    this.nonNegative(offset, 'offset');
    if (!Number.isSafeInteger(length) || (length as number) < 1) {
      this.fail(`length must be a positive safe integer, got ${String(length)}`);
    }
    if (!Number.isSafeInteger((offset as number) + (length as number))) {
      this.fail('offset + length is too large');
    }
  }

  reason(reason: unknown): void {
    if (typeof reason !== 'string') this.fail('the corruption reason must be a string');
    const n = utf8(reason).length;
    if (n < 1 || n > MAX_CORRUPTION_REASON_BYTES) {
      this.fail(`the corruption reason must be 1..${MAX_CORRUPTION_REASON_BYTES} bytes of UTF-8`);
    }
  }
}
