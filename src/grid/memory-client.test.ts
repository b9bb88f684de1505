// The compliance suite against the in-memory reference client, and against deliberately
// broken clients to show that the suite catches each kind of bug (test.failing).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { runStorageClientCompliance } from './test-support/compliance.js';
import { MemoryStorageClient, MemoryStorageServer } from './test-support/memory-client.js';
import type { CallArgs } from './requests.js';
import type { ReadTestWriteResponse, StorageClient } from './storage-client.js';

const nodeId = () => new Uint8Array(randomBytes(20));

runStorageClientCompliance(
  test,
  async () => {
    const server = new MemoryStorageServer(nodeId());
    return { client: new MemoryStorageClient(server), peer: () => new MemoryStorageClient(server) };
  },
  { title: 'memory' },
);

runStorageClientCompliance(
  test,
  async () => ({
    client: new MemoryStorageClient(new MemoryStorageServer(nodeId(), { readFromEnd: false }), {
      latencyMs: 1,
    }),
  }),
  { title: 'memory without read-from-end, 1 ms latency' },
);

/** Delegates everything; subclasses override one method to add a bug. */
class Delegate implements StorageClient {
  constructor(readonly inner: StorageClient) {}
  get serverId() {
    return this.inner.serverId;
  }
  get permutationSeed() {
    return this.inner.permutationSeed;
  }
  get name() {
    return this.inner.name;
  }
  getVersion(...call: CallArgs<'getVersion'>) {
    return this.inner.getVersion(...call);
  }
  readTestWrite(...call: CallArgs<'readTestWrite'>) {
    return this.inner.readTestWrite(...call);
  }
  readShare(...call: CallArgs<'readShare'>) {
    return this.inner.readShare(...call);
  }
  listShares(...call: CallArgs<'listShares'>) {
    return this.inner.listShares(...call);
  }
  addLease(...call: CallArgs<'addLease'>) {
    return this.inner.addLease(...call);
  }
  adviseCorrupt(...call: CallArgs<'adviseCorrupt'>) {
    return this.inner.adviseCorrupt(...call);
  }
  allocateBuckets(...call: CallArgs<'allocateBuckets'>) {
    return this.inner.allocateBuckets(...call);
  }
  writeImmutableShare(...call: CallArgs<'writeImmutableShare'>) {
    return this.inner.writeImmutableShare(...call);
  }
  abortImmutableUpload(...call: CallArgs<'abortImmutableUpload'>) {
    return this.inner.abortImmutableUpload(...call);
  }
  listImmutableShares(...call: CallArgs<'listImmutableShares'>) {
    return this.inner.listImmutableShares(...call);
  }
  readImmutableShare(...call: CallArgs<'readImmutableShare'>) {
    return this.inner.readImmutableShare(...call);
  }
  adviseCorruptImmutable(...call: CallArgs<'adviseCorruptImmutable'>) {
    return this.inner.adviseCorruptImmutable(...call);
  }
  close() {
    return this.inner.close();
  }
}

/** Bug: one request per share, so a later failing test cannot undo earlier writes. */
class PerShareRequests extends Delegate {
  override async readTestWrite(
    ...[si, s, tw, rv]: CallArgs<'readTestWrite'>
  ): Promise<ReadTestWriteResponse> {
    let success = true;
    const first = await this.inner.readTestWrite(si, s, new Map(), rv);
    for (const entry of tw) {
      success = (await this.inner.readTestWrite(si, s, new Map([entry]), [])).success && success;
    }
    return { success, data: first.data };
  }
}

/** Bug: reads only the shares named in the request. */
class NamedSharesOnly extends Delegate {
  override async readTestWrite(
    ...[si, s, tw, rv]: CallArgs<'readTestWrite'>
  ): Promise<ReadTestWriteResponse> {
    const res = await this.inner.readTestWrite(si, s, tw, rv);
    return { success: res.success, data: new Map([...res.data].filter(([k]) => tw.has(k))) };
  }
}

/** Bug: an empty share is reported as absent (204 confused with 404). */
class EmptyIsAbsent extends Delegate {
  override async readShare(si: Uint8Array, shnum: number, offset: number, length: number) {
    const data = await this.inner.readShare(si, shnum, offset, length);
    return data && data.length ? data : null;
  }
}

const broken: Array<[string, (c: StorageClient) => StorageClient, string[]]> = [
  [
    'per-share requests',
    (c) => new PerShareRequests(c),
    ['one failing test aborts every write of the request'],
  ],
  [
    'named shares only',
    (c) => new NamedSharesOnly(c),
    ['read vectors cover every share of the slot and see pre-write data'],
  ],
  [
    'empty is absent',
    (c) => new EmptyIsAbsent(c),
    ['a named share with empty vectors is created, empty'],
  ],
];
for (const [title, wrap, only] of broken) {
  runStorageClientCompliance(
    test.failing,
    async () => ({ client: wrap(new MemoryStorageClient(new MemoryStorageServer(nodeId()))) }),
    { title: `broken client (${title}) fails`, only },
  );
}
