// Failure modes of small mutable files on a grid of real server processes, with fault
// wrappers between each client and the servers: stale servers and the rollback
// guarantee, servers that are down, stall, answer garbage or corrupt shares, publishes
// interrupted at every point, the private key, and rebalancing after the grid grew.
// (Colliding writers: collisions.test.ts.)
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { ClientCache } from '../cache/client-cache.js';
import { parseCap, requireWriteCap } from '../caps/index.js';
import { toBase32 } from '../encoding/base32.js';
import {
  FaultGrid,
  SHARE_FIELDS,
  type Fault,
  type FaultyStorageClient,
} from '../grid/faults/index.js';
import { resolveCapKeys } from '../sdmf/cap-keys.js';
import { eachFormat, GridSuite, type SuiteClientOptions } from './test-support/grid-suite.js';
import { fileContext, slotSecrets } from './context.js';
import {
  NotEnoughServersError,
  PrivateKeyUnavailableError,
  RollbackError,
  UncoordinatedWriteError,
  UnrecoverableFileError,
} from './errors.js';
import { MutableClient, newLeaseSecret } from './mutable-client.js';

const suite = new GridSuite(10);

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

interface Harness {
  client: MutableClient;
  faults: FaultGrid;
  cache?: ClientCache;
  /** Another MutableClient over the same fault wrappers (options may differ). */
  make(options?: SuiteClientOptions): Promise<MutableClient>;
}

interface HarnessOptions extends SuiteClientOptions {
  /** Grid servers (indexes) this client knows; default all. */
  only?: number[];
  timeoutMs?: number;
  record?: boolean;
}

async function newClientOf(options: HarnessOptions = {}): Promise<Harness> {
  const { only, noCache, timeoutMs, record, ...rest } = options;
  const all = suite.grid.clients(timeoutMs ?? 5000);
  const http = only ? only.map((i) => all[i]) : all;
  const faults = new FaultGrid(http, { timeoutMs: 300, record });
  suite.onCleanup(async () => {
    await faults.close();
    await Promise.allSettled(all.map((c) => c.close()));
  });
  const make = async (o: SuiteClientOptions = {}) =>
    (await suite.client(faults.clients, { ...rest, ...o })).client;
  const { client, cache } = await suite.client(faults.clients, { ...rest, noCache });
  return { client, faults, cache, make };
}

/** The wrappers of `faults` in the permuted order of the file's storage index. */
function permuted(cap: string, faults: FaultGrid): FaultyStorageClient[] {
  return fileContext(resolveCapKeys(cap), faults.clients, new Uint8Array(32))
    .permuted as FaultyStorageClient[];
}

const storageIndex = (cap: string) => requireWriteCap(parseCap(cap)).storageIndex;

/** Share numbers each grid server holds for the file, by server name. */
async function sharesOn(cap: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const s of suite.direct) out.set(s.name, await s.listShares(storageIndex(cap)));
  return out;
}

/** Deletes every share of the file on the named servers (new length 0, write enabler). */
async function deleteShares(cap: string, names: string[]): Promise<void> {
  const ctx = fileContext(resolveCapKeys(cap), suite.direct, new Uint8Array(32));
  for (const server of suite.direct.filter((s) => names.includes(s.name))) {
    const numbers = await server.listShares(ctx.keys.storageIndex);
    if (numbers.length === 0) continue;
    const vectors = new Map(numbers.map((n) => [n, { test: [], write: [], newLength: 0 }]));
    const answer = await server.readTestWrite(
      ctx.keys.storageIndex,
      slotSecrets(ctx, server),
      vectors,
      [],
    );
    if (!answer.success) throw new Error(`could not delete shares on ${server.name}`);
  }
}

async function read(cap: string): Promise<string> {
  const reader = await newClientOf({ noCache: true });
  return str((await reader.client.retrieve(cap)).plaintext);
}

test('a home server the client does not know is refused at once', async (t) => {
  const error = t.throws(
    () =>
      new MutableClient({
        servers: suite.direct,
        leaseSecret: newLeaseSecret(),
        homeServer: 'nowhere',
      }),
    { instanceOf: RangeError },
  );
  t.regex(error?.message ?? '', /home server nowhere is not among the 10 configured servers/);
  const byId = new MutableClient({
    servers: suite.direct,
    leaseSecret: newLeaseSecret(),
    homeServer: toBase32(suite.direct[3].serverId),
  });
  t.is(byId.home, suite.direct[3]);
});

eachFormat((format, serial) => {
  const newClient = (options: HarnessOptions = {}) => newClientOf({ format, ...options });

  // --- stale servers and the rollback guarantee -------------------------------------------

  for (const k of [1, 2, 3]) {
    serial(
      `k=${k}, ε=2: 1 and ε stale servers never roll a reader back; ε+1 may fool a fresh reader only when ε+1 ≥ k+ε`,
      async (t) => {
        const epsilon = 2;
        const writer = await newClient({ k, N: 10 });
        const { cap } = await writer.client.create(text('version one'));
        const si = storageIndex(cap);
        // Stale copies are what each server holds now; "knows" will have verified version two.
        const reader = await newClient({ noCache: true });
        await reader.faults.snapshotAll(si);
        const knows = await newClient();
        await knows.faults.snapshotAll(si);
        await writer.client.update(cap, text('version two'));
        t.is(str((await knows.client.retrieve(cap)).plaintext), 'version two');

        for (const stale of [1, epsilon, epsilon + 1]) {
          for (const h of [reader, knows]) {
            h.faults.clearAll();
            // The worst place for stale servers: the start of the permuted list.
            for (const s of permuted(cap, h.faults).slice(0, stale)) s.set({ kind: 'stale' });
          }
          const fresh = await reader.make({ noCache: true });
          const got = str((await fresh.retrieve(cap)).plaintext);
          if (stale < k + epsilon) {
            t.is(got, 'version two', `${stale} stale of the first k+ε=${k + epsilon}`);
          } else {
            // Every answer the reader waits for may come from a stale server: the guarantee
            // does not cover this, and the reader may (or may not) be fooled.
            t.true(['version one', 'version two'].includes(got));
            t.log(`k=${k}, ${stale} stale servers: a fresh reader read "${got}"`);
          }
          // A client that verified version two is never taken back: it keeps asking.
          t.is(str((await knows.client.retrieve(cap)).plaintext), 'version two');
        }

        // Every server stale: a fresh reader cannot tell; the one that knows refuses.
        for (const h of [reader, knows]) for (const s of h.faults.clients) s.set({ kind: 'stale' });
        const fooled = await reader.make({ noCache: true });
        t.is(str((await fooled.retrieve(cap)).plaintext), 'version one');
        const refused = await t.throwsAsync(knows.client.retrieve(cap), {
          instanceOf: RollbackError,
        });
        t.is(refused?.knownSeqnum, 2);
        t.is(refused?.offeredSeqnum, 1);
        t.is(refused?.servers.length, 10);
      },
    );
  }

  // --- servers down, stalled, corrupt -----------------------------------------------------

  const readerFields = SHARE_FIELDS.filter((f) => f !== 'encryptedPrivateKey');

  const faultKinds: Array<{ name: string; make: (i: number) => Fault; outcome: RegExp }> = [
    { name: 'down', make: () => ({ kind: 'down' }), outcome: /ERR_SERVER_UNREACHABLE/ },
    { name: 'stalled', make: () => ({ kind: 'stall' }), outcome: /ERR_SERVER_TIMEOUT/ },
    {
      name: 'corrupt',
      // A different field on each server; the key is not part of what a reader checks.
      make: (i) => ({ kind: 'corrupt', field: readerFields[i % readerFields.length] }),
      outcome: /bad share \d+/,
    },
  ];

  for (const kind of faultKinds) {
    serial(
      `reads with N−k servers ${kind.name} return the file; with N−k+1, NotEnoughServersError names every server`,
      async (t) => {
        const writer = await newClient();
        const { cap } = await writer.client.create(text(`survives ${kind.name} servers`));
        const reader = await newClient({ noCache: true });
        const order = permuted(cap, reader.faults);
        order.slice(0, 7).forEach((s, i) => s.set(kind.make(i)));
        t.is(str((await reader.client.retrieve(cap)).plaintext), `survives ${kind.name} servers`);
        order[7].set(kind.make(7));
        const error = await t.throwsAsync(reader.client.retrieve(cap), {
          instanceOf: NotEnoughServersError,
        });
        t.is(error?.code, 'ERR_NOT_ENOUGH_SERVERS');
        t.is(error?.servers.length, 10, error?.message);
        for (const s of order.slice(0, 8)) {
          const line = error?.servers.find((o) => o.server === s.name);
          t.regex(line?.outcome ?? '', kind.outcome, `${s.name}: ${line?.outcome}`);
        }
        t.regex(error?.message ?? '', /Servers tried: .*server-\d: /);
      },
    );
  }

  serial(
    'every kind of bad server at once: N−k different faults are survived, one more is reported server by server',
    async (t) => {
      const writer = await newClient();
      const { cap } = await writer.client.create(text('seven kinds of trouble'));
      const reader = await newClient({ noCache: true });
      const order = permuted(cap, reader.faults);
      const faults: Array<[Fault, RegExp]> = [
        [{ kind: 'down' }, /ERR_SERVER_UNREACHABLE.*ECONNREFUSED/],
        [{ kind: 'stall' }, /ERR_SERVER_TIMEOUT/],
        [{ kind: 'http-error', status: 500 }, /ERR_SERVER_HTTP_STATUS.*500/],
        [{ kind: 'close-connection' }, /ERR_SERVER_UNREACHABLE.*other side closed/],
        [{ kind: 'malformed-response' }, /ERR_SERVER_BAD_RESPONSE/],
        [{ kind: 'throw' }, /injected fault: .* threw/],
        [{ kind: 'corrupt', field: 'signature' }, /bad share \d+: signature/],
      ];
      faults.forEach(([fault], i) => order[i].set(fault));
      const got = await reader.client.retrieve(cap);
      t.is(str(got.plaintext), 'seven kinds of trouble');
      order[7].set({ kind: 'corrupt', field: 'rootHash' });
      const error = await t.throwsAsync(reader.client.retrieve(cap), {
        instanceOf: NotEnoughServersError,
      });
      faults.forEach(([, pattern], i) => {
        const line = error?.servers.find((o) => o.server === order[i].name);
        t.regex(line?.outcome ?? '', pattern, `${order[i].name}: ${line?.outcome}`);
      });
      const last = error?.servers.find((o) => o.server === order[7].name);
      t.regex(last?.outcome ?? '', /bad share/);
    },
  );

  serial(
    'real processes: SIGSTOPped servers stall until the timeout, SIGKILLed ones refuse; reads and writes go on',
    async (t) => {
      const writer = await newClient({ timeoutMs: 2000 });
      const { cap } = await writer.client.create(text('through real trouble'));
      const order = permuted(cap, writer.faults).map((s) =>
        suite.grid.servers.findIndex((g) => g.entry.name === s.name),
      );
      suite.grid.pause(order[0]);
      suite.grid.pause(order[1]);
      await suite.grid.kill(order[2]);
      try {
        const reader = await newClient({ noCache: true, timeoutMs: 2000 });
        t.is(str((await reader.client.retrieve(cap)).plaintext), 'through real trouble');
        // A cold writer (no cache) still reaches happiness: seven servers answer.
        const cold = await newClient({ noCache: true, timeoutMs: 2000 });
        const updated = await cold.client.update(cap, text('written past them'));
        t.is(updated.seqnum, 2);
      } finally {
        suite.grid.resume(order[0]);
        suite.grid.resume(order[1]);
        await suite.grid.restart(order[2]);
      }
      t.is(await read(cap), 'written past them');
    },
  );

  serial(
    'a large file whose shares fail verification only once read whole: more servers are asked',
    async (t) => {
      const writer = await newClient();
      const body = new Uint8Array(randomBytes(100_000));
      const { cap } = await writer.client.create(body);
      // The first read covers 1 KiB of each share: signatures check out, the data does not.
      const reader = await newClient({ noCache: true, readSize: 1024 });
      const order = permuted(cap, reader.faults);
      for (const s of order.slice(0, 5)) s.set({ kind: 'corrupt', field: 'shareData' });
      const got = await reader.client.retrieve(cap);
      t.deepEqual(got.plaintext, body);
      for (const s of order.slice(0, 8)) s.set({ kind: 'corrupt', field: 'blockHashTree' });
      await t.throwsAsync(reader.client.retrieve(cap), { instanceOf: NotEnoughServersError });
    },
  );

  serial(
    'warm paths: a hinted server down makes the unchanged read and the one-round-trip update fall back, never fail',
    async (t) => {
      const w = await newClient();
      const { cap } = await w.client.create(text('warm one'));
      const order = permuted(cap, w.faults);
      order[2].set({ kind: 'down' });
      const read1 = await w.client.retrieve(cap);
      t.is(str(read1.plaintext), 'warm one');
      const updated = await w.client.update(cap, text('warm two'));
      t.is(updated.seqnum, 2);
      // The share of the missing server was placed on another one: all ten exist.
      const held = [...(await sharesOn(cap)).entries()];
      const numbers = new Set(held.flatMap(([name, n]) => (name === order[2].name ? [] : n)));
      t.is(numbers.size, 10);
      order[2].clear();
      t.is(await read(cap), 'warm two');
      // Four servers refuse writes: happiness 6 < 7. The error names them; nothing is lost.
      for (const s of order.slice(0, 4)) s.set({ fault: { kind: 'down' }, writesOnly: true });
      const error = await t.throwsAsync(w.client.update(cap, text('warm three')), {
        instanceOf: NotEnoughServersError,
      });
      t.regex(error?.message ?? '', /6 servers that each hold a different one; 7 such servers/);
      t.true(['warm two', 'warm three'].includes(await read(cap)));
    },
  );

  // --- publishes interrupted --------------------------------------------------------------

  const interruptions: Array<{ name: string; fault: Fault; wrote: boolean }> = [
    { name: 'refuse before writing', fault: { kind: 'http-error', status: 503 }, wrote: false },
    { name: 'write, then cut the connection', fault: { kind: 'close-connection' }, wrote: true },
    { name: 'write, then never answer', fault: { kind: 'stall', after: true }, wrote: true },
  ];

  for (const { name, fault, wrote } of interruptions) {
    serial(
      `publish with servers that ${name}: success only with happiness, the file reads old or new`,
      async (t) => {
        const w = await newClient();
        const { cap } = await w.client.create(text('old'));
        const order = permuted(cap, w.faults);
        // N − happy = 3 such servers: their shares go elsewhere, the publish succeeds.
        for (const s of order.slice(0, 3)) s.set({ fault, writesOnly: true });
        const ok = await w.client.update(cap, text('new'));
        t.is(ok.seqnum, 2);
        t.is(await read(cap), 'new');
        // One more: fewer than 7 servers took a distinct share → NotEnoughServersError.
        for (const s of order.slice(0, 4)) s.set({ fault, writesOnly: true });
        const error = await t.throwsAsync(w.client.update(cap, text('newer')), {
          instanceOf: NotEnoughServersError,
        });
        t.regex(error?.message ?? '', /placed \d+ of 10 share numbers on 6 servers/);
        w.faults.clearAll();
        const after = await read(cap);
        t.true(['new', 'newer'].includes(after), after);
        // Servers that wrote before failing hold the new version; the rest were re-placed.
        if (wrote) t.is(after, 'newer');
        // The next publish cleans up: one version, all share numbers.
        await w.client.update(cap, text('clean'));
        t.is(await read(cap), 'clean');
      },
    );
  }

  /**
   * A file ('one', then a publish of 'two' cut short) left with two shares of each
   * version and nothing else: no version has k = 3 shares, as while a writer is part-way.
   */
  async function halfPublished(): Promise<{ w: Harness; cap: string }> {
    const w = await newClient();
    const { cap } = await w.client.create(text('one'));
    const order = permuted(cap, w.faults);
    // Two servers take one share of 'two' and then fail like the rest (so nothing is
    // placed again on them); the home server (first) keeps an extra copy: not one of them.
    const updated = [order[1], order[2]];
    for (const s of order) {
      if (!updated.includes(s)) s.set({ fault: { kind: 'down' }, writesOnly: true });
    }
    for (const s of updated) {
      s.gate = (call) => {
        if (call.writes.length > 0) s.set({ fault: { kind: 'down' }, writesOnly: true });
      };
    }
    const cut = await w.client.update(cap, text('two')).then(
      () => undefined,
      (err: unknown) => err,
    );
    for (const s of updated) s.gate = undefined;
    w.faults.clearAll();
    if (!(cut instanceof NotEnoughServersError))
      throw new Error(`the publish was not cut short: ${String(cut)}`);
    await deleteShares(
      cap,
      [order[0], ...order.slice(3, 8)].map((s) => s.name),
    );
    return { w, cap };
  }

  serial(
    'a read finding only incomplete versions looks again, and reads the version a writer completes meanwhile',
    async (t) => {
      const { w, cap } = await halfPublished();
      const impatient = await newClient({ noCache: true, incompleteWaitMs: 0 });
      const first = await t.throwsAsync(impatient.client.retrieve(cap), {
        instanceOf: UnrecoverableFileError,
      });
      t.regex(first?.message ?? '', /no version has enough valid shares/);
      t.notRegex(first?.message ?? '', /Looked/);

      const reader = await newClient({ noCache: true });
      const reading = reader.client.retrieve(cap);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await w.client.update(cap, text('three'));
      t.is(str((await reading).plaintext), 'three');
    },
  );

  serial(
    'a read finding only incomplete versions gives up after incompleteWaitMs, saying so; a file with no shares fails at once',
    async (t) => {
      const { cap } = await halfPublished();
      const reader = await newClient({ noCache: true, incompleteWaitMs: 400 });
      const error = await t.throwsAsync(reader.client.retrieve(cap), {
        instanceOf: UnrecoverableFileError,
      });
      t.regex(
        error?.message ?? '',
        /Looked \d+ times over \d+\.\d s: a writer that stopped part-way/,
      );

      await deleteShares(
        cap,
        suite.direct.map((s) => s.name),
      );
      const none = await t.throwsAsync(reader.client.retrieve(cap), {
        instanceOf: UnrecoverableFileError,
      });
      t.regex(none?.message ?? '', /no server holds any share/);
      t.notRegex(none?.message ?? '', /Looked/);
    },
  );

  serial('publish while servers are SIGKILLed mid-request: never lost', async (t) => {
    const w = await newClient({ timeoutMs: 2000 });
    const { cap } = await w.client.create(text('before the crash'));
    const order = permuted(cap, w.faults);
    const victims = [order[1], order[4]].map((s) =>
      suite.grid.servers.findIndex((g) => g.entry.name === s.name),
    );
    let killed: Promise<unknown>[] = [];
    for (const v of victims) {
      w.faults.server(suite.grid.servers[v].entry.name).gate = (call) => {
        if (call.writes.length === 0) return;
        // The request leaves while the process dies: it may or may not be written.
        killed.push(suite.grid.kill(v));
      };
    }
    try {
      const result = await w.client.update(cap, text('after the crash'));
      t.is(result.seqnum, 2);
      t.is(await read(cap), 'after the crash');
    } finally {
      for (const c of w.faults.clients) c.gate = undefined;
      await Promise.all(killed);
      killed = [];
      for (const v of victims) await suite.grid.restart(v);
    }
    t.is(await read(cap), 'after the crash');
  });

  serial(
    'servers that drop writes while answering success are stale servers: up to ε of them are harmless',
    async (t) => {
      const w = await newClient();
      const { cap } = await w.client.create(text('kept'));
      const order = permuted(cap, w.faults);
      for (const s of order.slice(0, 2)) s.set({ kind: 'drop-writes' });
      const result = await w.client.update(cap, text('really kept'));
      t.is(result.seqnum, 2);
      t.is(await read(cap), 'really kept');
    },
  );

  serial(
    "a reader's hint misses the home's extra copy: the warm update finds it and overwrites it, no false collision",
    async (t) => {
      // r has the key cached (it created the file); after w's update, r's read leaves a
      // reader's hint: ε = 7, so all 10 servers, one share each — the home's extra missing.
      const r = await newClient({ epsilon: 7 });
      const { cap } = await r.client.create(text('zero'));
      // (A hint is forgotten after a failed publish; the key stays.)
      await r.cache!.forgetServermapHint(storageIndex(cap));
      const w = await newClient();
      await w.client.update(cap, text('one'));
      t.is(str((await r.client.retrieve(cap)).plaintext), 'one');
      const updated = await r.client.update(cap, text('two'));
      t.is(updated.seqnum, 3);
      t.is(updated.cost.roundTrips, 2, 'one wave, then the extra copy it found');
      const home = permuted(cap, r.faults)[0].name;
      const si = storageIndex(cap);
      const server = suite.direct.find((s) => s.name === home)!;
      const numbers = await server.listShares(si);
      t.deepEqual(numbers, [0, 1]);
      for (const n of numbers) {
        const bytes = (await server.readShare(si, n, 0, 9))!;
        t.is(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(1), 3n, `share ${n}`);
      }
      t.is(await read(cap), 'two');
    },
  );

  // --- the private key and the N+1th share --------------------------------------------------

  serial(
    'the home server keeps an extra share; with only it left, the file stays modifiable',
    async (t) => {
      const creator = await newClient({ N: 5, k: 2 });
      const { cap } = await creator.client.create(text('first'));
      // A home server that holds no share of this file (N=5 of 10 servers): the last one.
      const last = permuted(cap, creator.faults)[9].name;
      const w = await newClient({ N: 5, k: 2, homeServer: last });
      await w.client.update(cap, text('second'));
      const held = await sharesOn(cap);
      t.is(held.get(last)?.length, 1, 'the N+1th share: a copy of a share number held elsewhere');
      const copy = held.get(last)![0];
      t.is([...held.values()].filter((n) => n.includes(copy)).length, 2);

      // Every other share gone: a client without a cached key still updates the file.
      await deleteShares(
        cap,
        suite.direct.map((s) => s.name).filter((n) => n !== last),
      );
      const fresh = await newClient({ N: 5, k: 2, homeServer: last, noCache: true });
      await t.throwsAsync(fresh.client.retrieve(cap), { instanceOf: UnrecoverableFileError });
      const rewritten = await fresh.client.update(cap, text('third, from the home share'));
      t.is(rewritten.seqnum, 3);
      t.is(await read(cap), 'third, from the home share');

      // The home share gone: the key comes from the others, and the home gets its copy back.
      await deleteShares(cap, [last]);
      const again = await newClient({ N: 5, k: 2, homeServer: last, noCache: true });
      await again.client.modify(cap, (old) => text(`${str(old)}, fourth`));
      t.is(await read(cap), 'third, from the home share, fourth');
      t.is((await sharesOn(cap)).get(last)?.length, 1);
    },
  );

  if (format === 'tahoe')
    serial(
      'no reachable share with a usable key: PrivateKeyUnavailableError, and the file stays readable',
      async (t) => {
        const w = await newClient();
        const { cap } = await w.client.create(text('locked'));
        const fresh = await newClient({ noCache: true });
        for (const s of fresh.faults.clients)
          s.set({ kind: 'corrupt', field: 'encryptedPrivateKey' });
        const error = await t.throwsAsync(fresh.client.update(cap, text('x')), {
          instanceOf: PrivateKeyUnavailableError,
        });
        t.is(error?.code, 'ERR_PRIVATE_KEY_UNAVAILABLE');
        t.regex(error?.message ?? '', /usable encrypted private key.*stays readable/);
        t.is(str((await fresh.client.retrieve(cap)).plaintext), 'locked');
        // One good server is enough: the key is checked against the write cap, not trusted.
        permuted(cap, fresh.faults)[6].clear();
        await fresh.client.update(cap, text('unlocked'));
        t.is(await read(cap), 'unlocked');
      },
    );

  // --- rebalancing ----------------------------------------------------------------------------

  serial(
    'a reader that finds no share on the first k+ε servers asks the others, as Tahoe does',
    async (t: ExecutionContext) => {
      const { client, faults } = await newClient();
      const { cap } = await client.create(text('only at the end of the list'));
      // Only the last three servers of the file's permuted list keep their shares (k = 3).
      const first = permuted(cap, faults)
        .slice(0, 7)
        .map((s) => s.name);
      await deleteShares(cap, first);
      t.is(await read(cap), 'only at the end of the list');
    },
  );

  serial(
    'the grid grows from 3 to 10 servers: the next publish leaves one share per server (plus the home copy), deleting old copies only after the new ones are written',
    async (t: ExecutionContext) => {
      const small = await newClient({ only: [0, 1, 2] });
      const { cap } = await small.client.create(text('on three servers'));
      const before = await sharesOn(cap);
      const counts = [...before.values()].map((n) => n.length).sort((a, b) => b - a);
      t.deepEqual(counts, [5, 3, 3, 0, 0, 0, 0, 0, 0, 0], JSON.stringify([...before]));

      const big = await newClient({ record: true });
      const result = await big.client.update(cap, text('on ten servers'));
      t.is(result.seqnum, 2);
      const after = await sharesOn(cap);
      const homeName = permuted(cap, big.faults)[0].name;
      for (const [name, numbers] of after) {
        t.is(numbers.length, name === homeName ? 2 : 1, `${name}: ${numbers.join(',')}`);
      }
      t.is(new Set([...after.values()].flat()).size, 10);

      // Every delete started after the write of that share number elsewhere had ended.
      const calls = big.faults.clients.flatMap((c) => c.calls);
      const deletes = calls.filter((c) => c.deletes.length > 0);
      // Seven shares moved to the new servers; a second copy of one share number may have
      // been dropped too (when the home is a new server, the old extra copy is surplus).
      const deleted = deletes.flatMap((c) => c.deletes).length;
      t.true(deleted === 7 || deleted === 8, `${deleted} copies deleted`);
      for (const d of deletes) {
        for (const n of d.deletes) {
          const write = calls.find((c) => c.server !== d.server && c.writes.includes(n));
          t.truthy(write, `share ${n} written elsewhere`);
          t.true(write!.ended! <= d.started, `share ${n}: deleted after it was written`);
          t.is(write!.outcome, 'ok');
        }
      }
      t.is(await read(cap), 'on ten servers');
      // Balanced now: the next update from the same client is one round trip again.
      const warm = await big.client.update(cap, text('and stays balanced'));
      t.is(warm.cost.roundTrips, 1);
      t.is(await read(cap), 'and stays balanced');
    },
  );

  if (format === 'ed25519')
    serial(
      'an Ed25519 file never needs a private key from the grid: the write cap is the key',
      async (t) => {
        const w = await newClient();
        const { cap } = await w.client.create(text('never locked'));
        // A writer with no cache, and servers whose share tails are all damaged: nothing to
        // fetch or decrypt, so PrivateKeyUnavailableError cannot arise.
        const fresh = await newClient({ noCache: true });
        for (const s of fresh.faults.clients)
          s.set({ kind: 'corrupt', field: 'encryptedPrivateKey' });
        const updated = await fresh.client.update(cap, text('still writable'));
        t.is(updated.seqnum, 2);
        t.is(await read(cap), 'still writable');
      },
    );

  serial(
    'an update whose attempt timed out but landed: the next update based on the same version (also by a new process) is not a collision',
    async (t) => {
      const { client, faults, cache, make } = await newClient();
      const { cap, version: v1 } = await client.create(text('one'));
      // 8 of 10 servers do the write, then never answer: the attempt fails (too few
      // answers) although its shares are on the grid.
      const stalled = permuted(cap, faults).slice(2);
      for (const s of stalled) s.add({ fault: { kind: 'stall', after: true }, writesOnly: true });
      await t.throwsAsync(client.update(cap, text('one two'), { basedOn: v1 }), {
        instanceOf: NotEnoughServersError,
      });
      faults.clearAll();
      // The caller still holds v1 as its base and has written more meanwhile; it is another
      // process by now (a remount replaying its journal): the attempts are in the cache.
      const restarted = await make({ cache });
      const r = await restarted.update(cap, text('one two three'), { basedOn: v1 });
      t.true(r.seqnum > v1.seqnum);
      t.is(await read(cap), 'one two three');
    },
  );

  serial(
    'an update that succeeded but whose caller was killed before recording it: the next update from the old base (a new process) is not a collision',
    async (t) => {
      // A mount publishes a file, then its directory entry; kill -9 in between leaves the
      // journal saying the file is based on v1 although v2, published by this very client,
      // is on the grid. The replay updates from v1 again.
      const { client, cache, make } = await newClient();
      const { cap, version: v1 } = await client.create(text('one'));
      const v2 = await client.update(cap, text(''), { basedOn: v1 });
      t.true(v2.seqnum > v1.seqnum);
      const restarted = await make({ cache });
      const r = await restarted.update(cap, text('one two'), { basedOn: v1 });
      t.true(r.seqnum > v2.seqnum);
      t.is(await read(cap), 'one two');
      // Another writer's version is still a collision for an update based on v1.
      const other = await newClient({ noCache: true });
      await other.client.update(cap, text('theirs'));
      await t.throwsAsync(restarted.update(cap, text('mine'), { basedOn: v1 }), {
        instanceOf: UncoordinatedWriteError,
      });
      t.is(await read(cap), 'theirs');
    },
  );

  serial(
    'an update based on a version while no server answers: NotEnoughServers, not a collision',
    async (t) => {
      const { client, faults } = await newClient();
      const { cap, version: v1 } = await client.create(text('before the outage'));
      // A client cut off from the grid sees no version at all: that is not another writer.
      for (const s of faults.clients) s.set({ kind: 'down' });
      const err = await t.throwsAsync(client.update(cap, text('during'), { basedOn: v1 }));
      t.true(err instanceof NotEnoughServersError, `${err?.name}: ${err?.message}`);
      faults.clearAll();
      t.is(await read(cap), 'before the outage');
      // Once the grid is back, the same change based on the same version goes through.
      const r = await client.update(cap, text('after the outage'), { basedOn: v1 });
      t.true(r.seqnum > v1.seqnum);
      t.is(await read(cap), 'after the outage');
    },
  );
});
