// The mutable-file client against a grid of real server processes.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import {
  parseCap,
  readCapOf,
  requireWriteCap,
  formatCap,
  writeCapFromSeed,
} from '../caps/index.js';
import type { HttpStorageClient } from '../grid/http-client.js';
import { verifyShare } from '../sdmf/verify.js';
import { readkeyFromWritekey, storageIndexFromReadkey } from '../crypto/derive.js';
import { MutableClient, newLeaseSecret, type FileFormat } from './mutable-client.js';
import { WRITE_CAP } from './test-support/formats.js';
import { eachFormat, GridSuite } from './test-support/grid-suite.js';
import {
  NotEnoughServersError,
  ReadOnlyCapError,
  RollbackError,
  TooManyCollisionsError,
  UncoordinatedWriteError,
  UnrecoverableFileError,
} from './errors.js';

const suite = new GridSuite(10, { keyConcurrency: 2 });

/** A client straight on the servers (no fault wrappers), which it also returns. */
async function newClientOf(options: {
  noCache?: boolean;
  timeoutMs?: number;
  format: FileFormat;
}): Promise<{ client: MutableClient; servers: HttpStorageClient[] }> {
  const servers = suite.grid.clients(options.timeoutMs);
  suite.onCleanup(() => Promise.allSettled(servers.map((s) => s.close())));
  const { client } = await suite.client(servers, {
    noCache: options.noCache,
    format: options.format,
  });
  return { client, servers };
}

eachFormat((format, serial) => {
  const newClient = (options: { noCache?: boolean; timeoutMs?: number } = {}) =>
    newClientOf({ ...options, format });

  const sizes = [0, 1, 1024, 1024 * 1024];
  for (const size of sizes) {
    serial(`create, read and update a ${size}-byte file`, async (t) => {
      const { client } = await newClient();
      const first = new Uint8Array(randomBytes(size));
      const created = await client.create(first);
      t.is(created.seqnum, 1);
      t.regex(created.cap, WRITE_CAP[format]);
      const reader = (await newClient()).client;
      t.deepEqual((await reader.retrieve(created.cap)).plaintext, first);
      const second = new Uint8Array(randomBytes(size + 7));
      const updated = await client.update(created.cap, second);
      t.is(updated.seqnum, 2);
      t.deepEqual((await reader.retrieve(created.cap)).plaintext, second);
    });
  }

  serial('a read cap reads but cannot update', async (t) => {
    const { client } = await newClient();
    const { cap } = await client.create(new TextEncoder().encode('read only please'));
    const readCap = formatCap(readCapOf(requireWriteCap(parseCap(cap))));
    const other = (await newClient()).client;
    t.is(new TextDecoder().decode((await other.retrieve(readCap)).plaintext), 'read only please');
    const error = await t.throwsAsync(other.update(readCap, new Uint8Array([1])), {
      instanceOf: ReadOnlyCapError,
    });
    t.is(error?.code, 'ERR_READ_ONLY_CAP');
    await t.throwsAsync(
      other.modify(readCap, (b) => b),
      { instanceOf: ReadOnlyCapError },
    );
  });

  serial(
    'round trips: create 1, cold read 1, warm update 1, unchanged read 1 without share data',
    async (t) => {
      const { client } = await newClient();
      const created = await client.create(new Uint8Array(randomBytes(1024)));
      t.is(created.cost.roundTrips, 1);
      const cold = (await newClient()).client;
      const coldRead = await cold.retrieve(created.cap);
      t.is(coldRead.cost.roundTrips, 1);
      t.false(coldRead.fromCache);
      const update = await client.update(created.cap, new Uint8Array(randomBytes(1024)));
      t.is(update.cost.roundTrips, 1);
      const unchanged = await client.retrieve(created.cap);
      t.true(unchanged.fromCache);
      t.is(unchanged.cost.roundTrips, 1);
      t.true(unchanged.cost.bytesReceived < 1024, `received ${unchanged.cost.bytesReceived} bytes`);
      // After another client's update the probe sees a new checkstring and reads the new data.
      const other = (await newClient()).client;
      const third = new Uint8Array(randomBytes(100));
      await other.update(created.cap, third);
      const fresh = await client.retrieve(created.cap);
      t.false(fresh.fromCache);
      t.deepEqual(fresh.plaintext, third);
    },
  );

  serial('every share slotfs writes validates with the sdmf module alone (§5.5)', async (t) => {
    const { client, servers } = await newClient();
    const created = await client.create(new TextEncoder().encode('validate me, share by share'));
    const cap = requireWriteCap(parseCap(created.cap));
    let seen = 0;
    for (const server of servers) {
      for (const shnum of await server.listShares(cap.storageIndex)) {
        const bytes = await server.readShare(cap.storageIndex, shnum, 0, 1 << 20);
        t.truthy(bytes);
        const verified = verifyShare(bytes!, created.cap, shnum);
        t.is(verified.share.seqnum, 1);
        t.is(verified.share.k, 3);
        t.is(verified.share.N, 10);
        seen++;
      }
    }
    t.is(seen, 11, 'N shares plus the extra copy on the home server');
  });

  serial('a missing file is reported with the servers asked', async (t) => {
    const { client } = await newClient();
    const { cap } = await client.create(new Uint8Array([1]));
    // A different key: same shape, no shares anywhere.
    const other = (await newClient()).client;
    const fresh = await (await newClient()).client.create(new Uint8Array([2]));
    t.not(cap, fresh.cap);
    const parsed = requireWriteCap(parseCap(fresh.cap));
    if (format === 'tahoe') {
      parsed.fingerprint[0] ^= 1; // a cap for which no share verifies
      // Every server answers with shares that fail verification: each is bad for this
      // read, and running out of good servers is NotEnoughServersError naming them all.
      const error = await t.throwsAsync(other.retrieve(formatCap(parsed)), {
        instanceOf: NotEnoughServersError,
      });
      t.regex(error?.message ?? '', /server-\d/);
      t.is(error?.servers.length, 10);
    } else {
      // The same for an Ed25519 read cap paired with another verification key: the key is
      // bound into the storage index, so the cap names another slot, holding no share.
      const read = readCapOf(parsed);
      const forged = { ...read, fingerprint: read.fingerprint.slice() };
      forged.fingerprint[0] ^= 1;
      const error = await t.throwsAsync(other.retrieve(formatCap(forged)), {
        instanceOf: UnrecoverableFileError,
      });
      t.regex(error?.message ?? '', /no server holds any share/);
    }
    // A file that was never created: every server answers, none holds a share.
    const never =
      format === 'tahoe'
        ? { ...parsed, writekey: parsed.writekey.slice() }
        : writeCapFromSeed(new Uint8Array(randomBytes(32)));
    if (format === 'tahoe') {
      never.writekey[0] ^= 1;
      never.storageIndex = storageIndexFromReadkey(readkeyFromWritekey(never.writekey));
    }
    const missing = await t.throwsAsync(other.retrieve(formatCap(never)), {
      instanceOf: UnrecoverableFileError,
    });
    t.is(missing?.code, 'ERR_UNRECOVERABLE');
    t.regex(missing?.message ?? '', /no server holds any share/);
  });

  serial('the rollback guard refuses an older version the servers were made to hold', async (t) => {
    const writer = await newClient();
    const { cap } = await writer.client.create(new TextEncoder().encode('version one'));
    const parsed = requireWriteCap(parseCap(cap));
    const si = parsed.storageIndex;
    // Snapshot every share of version 1 (what a stale server would serve later).
    const snapshot = new Map<HttpStorageClient, Map<number, Uint8Array>>();
    for (const s of writer.servers) {
      const shares = new Map<number, Uint8Array>();
      for (const n of await s.listShares(si))
        shares.set(n, (await s.readShare(si, n, 0, 1 << 20))!);
      snapshot.set(s, shares);
    }
    await writer.client.update(cap, new TextEncoder().encode('version two'));
    const reader = await newClient();
    t.is(new TextDecoder().decode((await reader.client.retrieve(cap)).plaintext), 'version two');
    // Put version 1 back on every server, as if all of them had been rolled back.
    const { slotSecrets, fileContext } = await import('./context.js');
    const ctx = fileContext(
      {
        format: parsed.format === 'ed25519' ? 'ed25519' : 'sdmf',
        seed: parsed.seed,
        fingerprint: parsed.fingerprint,
        storageIndex: si,
        writekey: parsed.writekey,
        readkey: parsed.readkey,
      },
      writer.servers,
      newLeaseSecret(),
    );
    for (const [server, shares] of snapshot) {
      const vectors = new Map(
        [...shares].map(([n, bytes]) => [
          n,
          { test: [], write: [{ offset: 0, data: bytes }], newLength: bytes.length },
        ]),
      );
      await server.readTestWrite(si, slotSecrets(ctx, server), vectors, []);
    }
    const error = await t.throwsAsync(reader.client.retrieve(cap), { instanceOf: RollbackError });
    t.is(error?.code, 'ERR_ROLLBACK');
    t.is(error?.knownSeqnum, 2);
    t.is(error?.offeredSeqnum, 1);
    // A client that never saw version 2 cannot tell, and reads version 1: the guard is per client.
    const naive = await newClient();
    t.is(new TextDecoder().decode((await naive.client.retrieve(cap)).plaintext), 'version one');
  });

  serial('modify re-applies the change when another writer got there first', async (t) => {
    const a = await newClient();
    const b = await newClient();
    const { cap } = await a.client.create(new TextEncoder().encode(''));
    await b.client.retrieve(cap); // b's cache now holds version 1
    const append = (line: string) => (old: Uint8Array) => {
      const text = new TextDecoder().decode(old);
      return new TextEncoder().encode(text.split('\n').includes(line) ? text : `${text}${line}\n`);
    };
    await a.client.modify(cap, append('from a'));
    const result = await b.client.modify(cap, append('from b')); // b's cached view is stale
    const text = new TextDecoder().decode(result.plaintext);
    t.true(text.includes('from a') && text.includes('from b'), text);
    const final = new TextDecoder().decode(
      (await (await newClient()).client.retrieve(cap)).plaintext,
    );
    t.is(final, text);
  });

  serial('concurrent modifies from separate clients lose no change', async (t) => {
    const writers = await Promise.all([newClient(), newClient(), newClient()]);
    const { cap } = await writers[0].client.create(new Uint8Array(0));
    const append = (line: string) => (old: Uint8Array) => {
      const text = new TextDecoder().decode(old);
      return new TextEncoder().encode(text.split('\n').includes(line) ? text : `${text}${line}\n`);
    };
    await Promise.all(
      writers.flatMap((w, i) =>
        [0, 1].map((j) => w.client.modify(cap, append(`writer ${i} line ${j}`))),
      ),
    );
    const text = new TextDecoder().decode(
      (await (await newClient()).client.retrieve(cap)).plaintext,
    );
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 2; j++) t.true(text.includes(`writer ${i} line ${j}`), text);
  });

  serial('update with basedOn refuses to overwrite a version it did not start from', async (t) => {
    const a = await newClient();
    const b = await newClient();
    const created = await a.client.create(new TextEncoder().encode('v1'));
    const base = (await b.client.retrieve(created.cap)).version;
    await a.client.update(created.cap, new TextEncoder().encode('v2 by a'));
    // b's cache still says v1: the warm path is skipped or its test fails; nothing is written.
    const error = await t.throwsAsync(
      b.client.update(created.cap, new TextEncoder().encode('v2 by b'), { basedOn: base }),
      { instanceOf: UncoordinatedWriteError },
    );
    t.is(error?.code, 'ERR_UNCOORDINATED_WRITE');
    const reader = await newClient();
    t.is(
      new TextDecoder().decode((await reader.client.retrieve(created.cap)).plaintext),
      'v2 by a',
    );
    // Based on the current version, the same update goes through.
    const current = (await b.client.retrieve(created.cap)).version;
    const ok = await b.client.update(created.cap, new TextEncoder().encode('v3 by b'), {
      basedOn: current,
    });
    t.is(ok.seqnum, 3);
  });

  serial('createMutableFile(grid, bytes, {k, N}) encodes with the given k and N', async (t) => {
    const { client, servers } = await newClient();
    const { createMutableFile } = await import('./index.js');
    const cap = await createMutableFile(client, new TextEncoder().encode('two of five'), {
      k: 2,
      N: 5,
    });
    const parsed = requireWriteCap(parseCap(cap));
    const found: number[] = [];
    for (const server of servers) {
      for (const n of await server.listShares(parsed.storageIndex)) {
        const share = verifyShare(
          (await server.readShare(parsed.storageIndex, n, 0, 1 << 16))!,
          cap,
          n,
        );
        t.is(share.share.k, 2);
        t.is(share.share.N, 5);
        found.push(n);
      }
    }
    // Every share number once, plus the home server's extra copy of one of them.
    t.is(found.length, 6);
    t.deepEqual([...new Set(found)].sort(), [0, 1, 2, 3, 4]);
    const reader = await newClient();
    t.is(new TextDecoder().decode((await reader.client.retrieve(cap)).plaintext), 'two of five');
    // Its later versions keep the file's own encoding, not the client's default.
    await client.update(cap, new TextEncoder().encode('still two of five'));
    const share = (await servers[0].listShares(parsed.storageIndex))[0];
    if (share !== undefined) {
      const bytes = (await servers[0].readShare(parsed.storageIndex, share, 0, 1 << 16))!;
      t.is(verifyShare(bytes, cap, share).share.N, 5);
    }
  });

  serial(
    'modify gives up with TooManyCollisionsError when another writer always wins',
    async (t) => {
      const other = await newClient();
      const servers = suite.grid.clients();
      suite.onCleanup(() => Promise.allSettled(servers.map((s) => s.close())));
      const stubborn = new MutableClient({
        servers,
        leaseSecret: newLeaseSecret(),
        keys: suite.keys,
        format,
        modifyAttempts: 2,
        backoffMs: 1,
      });
      const { cap } = await stubborn.create(new TextEncoder().encode('start'));
      let round = 0;
      const error = await t.throwsAsync(
        stubborn.modify(cap, async (old) => {
          // Between our read and our write, the other writer publishes: every attempt collides.
          await other.client.update(cap, new TextEncoder().encode(`other ${round++}`));
          return new Uint8Array([...old, 33]);
        }),
        { instanceOf: TooManyCollisionsError },
      );
      t.is(error?.code, 'ERR_TOO_MANY_COLLISIONS');
      t.is(round, 2);
      const final = await (await newClient()).client.retrieve(cap);
      t.is(new TextDecoder().decode(final.plaintext), 'other 1');
    },
  );
});

test.serial(
  'newEd25519Cap makes a cap without the grid; createAs publishes it later (once)',
  async (t) => {
    const { client } = await newClientOf({ format: 'ed25519' });
    const cap = client.newEd25519Cap({ directory: true });
    t.regex(cap, /^URI:DIR2-ED25519:/);
    const reader = (await newClientOf({ format: 'ed25519' })).client;
    await t.throwsAsync(reader.retrieve(cap), { instanceOf: UnrecoverableFileError });
    const created = await client.createAs(cap, new Uint8Array(0));
    t.is(created.cap, cap);
    t.is(created.seqnum, 1);
    t.is((await reader.retrieve(cap)).plaintext.length, 0);
    await t.throwsAsync(client.createAs(cap, new Uint8Array([1])));
    t.is((await reader.retrieve(cap)).plaintext.length, 0);
    await t.throwsAsync(client.createAs('URI:LIT:aaaa', new Uint8Array(0)), {
      instanceOf: TypeError,
    });
  },
);
