// Colliding writers and recovery (tahoe-formats.md §11.6) on a grid of real server
// processes: the pathological layouts recovery must repair, interleavings forced with
// gates (every writer wins exactly two servers, so no new version is recoverable and the
// old one is gone), and randomized runs with 2, 3 and 5 writers as separate processes
// with separate caches. Invariants: every run ends with a recoverable, safely placed
// version; with modify() no change is lost.
//
// Randomized runs: SLOTFS_TRIALS per property (default 6) and SLOTFS_SEED to replay.
import fc from 'fast-check';
import { keyPairFromPrivateKey } from '../crypto/rsa.js';
import { aesCtr } from '../crypto/aes.js';
import { toHex } from '../encoding/bytes.js';
import { FaultGrid } from '../grid/faults/index.js';
import { buildShares } from '../sdmf/build.js';
import { resolveCapKeys } from '../sdmf/cap-keys.js';
import { parseShare } from '../sdmf/layout.js';
import { fileContext, slotSecrets } from './context.js';
import { RecoveryFailedError, UncoordinatedWriteError } from './errors.js';
import type { MutableClient } from './mutable-client.js';
import { WriterProcess } from './test-support/writer-pool.js';
import { eachFormat, GridSuite, type SuiteClientOptions } from './test-support/grid-suite.js';
import { appendLine } from './test-support/writer-process.js';

const TRIALS = Number(process.env.SLOTFS_TRIALS ?? 6);
const SEED = Number(process.env.SLOTFS_SEED ?? Date.now() % 2 ** 31);

let writers: WriterProcess[] = [];
const suite = new GridSuite(10, {
  onStart: async (grid) => {
    suite.onCleanup(() => Promise.allSettled(writers.map((w) => w.stop())));
    writers = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        WriterProcess.start(`w${i}`, grid, { backoffMs: 20, modifyAttempts: 30 }),
      ),
    );
  },
});

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** A client behind fault wrappers of its own, quick to retry a collision. */
async function newClientOf(
  options: SuiteClientOptions = {},
): Promise<{ client: MutableClient; faults: FaultGrid }> {
  const faults = new FaultGrid(suite.grid.clients());
  suite.onCleanup(() => faults.close());
  const { client } = await suite.client(faults.clients, {
    backoffMs: 20,
    modifyAttempts: 30,
    ...options,
  });
  return { client, faults };
}

/** What the grid holds for a file: versions (by seqnum) with their servers and shares. */
async function census(cap: string) {
  const si = resolveCapKeys(cap).storageIndex;
  const versions = new Map<string, { seqnum: number; servers: Set<string>; shares: Set<number> }>();
  for (const s of suite.direct) {
    for (const n of await s.listShares(si)) {
      const share = parseShare((await s.readShare(si, n, 0, 1 << 20))!);
      const key = `${share.seqnum}:${toHex(share.rootHash)}`;
      const v = versions.get(key) ?? {
        seqnum: share.seqnum,
        servers: new Set(),
        shares: new Set(),
      };
      v.servers.add(s.name);
      v.shares.add(n);
      versions.set(key, v);
    }
  }
  return [...versions.values()].sort((a, b) => b.seqnum - a.seqnum);
}

async function readFresh(cap: string): Promise<{ text: string; seqnum: number }> {
  const { client } = await newClientOf({ noCache: true });
  const r = await client.retrieve(cap);
  return { text: str(r.plaintext), seqnum: r.seqnum };
}

/** The newest version is the only one left and sits on enough servers. */
async function assertConverged(t: import('ava').ExecutionContext, cap: string) {
  const versions = await census(cap);
  t.true(versions.length >= 1, 'some version is on the grid');
  const top = versions[0];
  t.true(top.servers.size >= 7, `newest version on ${top.servers.size} servers`);
  t.is(top.shares.size, 10, 'all ten share numbers of the newest version');
}

// --- pathological layouts (§11.6) ---------------------------------------------------------

/**
 * Writes versions of a file directly: each entry puts the shares of one version (its
 * own plaintext and seqnum) on the servers at the given permuted positions.
 */
async function layout(
  cap: string,
  versions: Array<{ plaintext: string; seqnum: number; at: Array<[number, number[]]> }>,
) {
  const keysOfCap = resolveCapKeys(cap);
  const ctx = fileContext(keysOfCap, suite.direct, new Uint8Array(32));
  const some = (await Promise.all(ctx.permuted.map((s) => s.listShares(keysOfCap.storageIndex))))
    .map((numbers, i) => ({ numbers, server: ctx.permuted[i] }))
    .find((x) => x.numbers.length > 0)!;
  const share = parseShare(
    (await some.server.readShare(keysOfCap.storageIndex, some.numbers[0], 0, 1 << 20))!,
  );
  // The file's signing key: an Ed25519 cap is its key; SDMF's is in the shares.
  const signing =
    keysOfCap.format === 'ed25519'
      ? { seed: keysOfCap.seed!, publicKey: keysOfCap.fingerprint }
      : keyPairFromPrivateKey(aesCtr(keysOfCap.writekey!, share.encryptedPrivateKey));
  // Start from nothing: every share of the file deleted.
  for (const s of ctx.permuted) {
    const numbers = await s.listShares(keysOfCap.storageIndex);
    if (numbers.length === 0) continue;
    await s.readTestWrite(
      keysOfCap.storageIndex,
      slotSecrets(ctx, s),
      new Map(numbers.map((n) => [n, { test: [], write: [], newLength: 0 }])),
      [],
    );
  }
  for (const v of versions) {
    const built = buildShares(text(v.plaintext), signing, v.seqnum, 3, 10);
    for (const [position, numbers] of v.at) {
      const server = ctx.permuted[position];
      await server.readTestWrite(
        keysOfCap.storageIndex,
        slotSecrets(ctx, server),
        new Map(
          numbers.map((n) => [
            n,
            { test: [], write: [{ offset: 0, data: built.shares[n] }], newLength: null },
          ]),
        ),
        [],
      );
    }
  }
}

const two = (p: number, n: number): [number, number[]] => [p, [n]];
/** Share numbers from … from+count−1, each on the server at the same permuted position. */
const at = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => two(from + i, from + i));

eachFormat((format, serial) => {
  const newClient = (options: SuiteClientOptions = {}) => newClientOf({ format, ...options });

  serial(
    'recovery: several versions on fewer than k servers and one on k — the recoverable one is pushed to N shares with a new seqnum',
    async (t) => {
      const { client } = await newClient();
      const { cap } = await client.create(text('start'));
      await layout(cap, [
        { plaintext: 'newest, unrecoverable', seqnum: 9, at: [two(0, 0), two(1, 1)] },
        { plaintext: 'rival a', seqnum: 8, at: [two(2, 2), two(3, 3)] },
        { plaintext: 'rival b', seqnum: 8, at: [two(4, 4)] },
        { plaintext: 'the survivor', seqnum: 7, at: [two(5, 5), two(6, 6), two(7, 7)] },
      ]);
      const fixer = await newClient({ noCache: true });
      const result = await fixer.client.recover(cap);
      t.true(result.pushed);
      t.is(str(result.plaintext), 'the survivor');
      t.is(result.seqnum, 10, 'max seen + 1');
      const versions = await census(cap);
      t.is(versions[0].seqnum, 10);
      t.is(versions[0].shares.size, 10);
      t.is(versions[0].servers.size, 10);
      t.is(versions.length, 1, 'every other version was overwritten');
      t.deepEqual(await readFresh(cap), { text: 'the survivor', seqnum: 10 });
      // Nothing left to do: a second recovery pushes nothing.
      const again = await fixer.client.recover(cap);
      t.false(again.pushed);
      t.is(again.seqnum, 10);
    },
  );

  serial(
    'recovery order: highest seqnum first, then the most shares; an older version with more shares loses',
    async (t) => {
      const { client } = await newClient();
      const { cap } = await client.create(text('start'));
      await layout(cap, [
        { plaintext: 'seq 5, six shares', seqnum: 5, at: at(0, 6) },
        { plaintext: 'seq 6, three shares', seqnum: 6, at: at(6, 3) },
      ]);
      const r1 = await (await newClient({ noCache: true })).client.recover(cap);
      t.is(str(r1.plaintext), 'seq 6, three shares');
      await layout(cap, [
        { plaintext: 'seq 6, four shares', seqnum: 6, at: at(0, 4) },
        { plaintext: 'seq 6, five shares', seqnum: 6, at: at(4, 5) },
      ]);
      const r2 = await (await newClient({ noCache: true })).client.recover(cap);
      t.is(str(r2.plaintext), 'seq 6, five shares');
      t.is(r2.seqnum, 7);
      await assertConverged(t, cap);
    },
  );

  serial(
    'recovery with no recoverable version gives up after its deadline with a clear error',
    async (t) => {
      const { client } = await newClient();
      const { cap } = await client.create(text('start'));
      await layout(cap, [
        { plaintext: 'a', seqnum: 3, at: [two(0, 0), two(1, 1)] },
        { plaintext: 'b', seqnum: 3, at: [two(2, 2), two(3, 3)] },
      ]);
      const fixer = await newClient({ noCache: true, recoveryTimeoutMs: 300 });
      const error = await t.throwsAsync(fixer.client.recover(cap), {
        instanceOf: RecoveryFailedError,
      });
      t.is(error?.code, 'ERR_RECOVERY_FAILED');
      t.regex(error?.message ?? '', /gave up after \d+ ms: .*no version has enough valid shares/);
      // A blind overwrite still brings the file back.
      await client.update(cap, text('rescued'));
      t.is((await readFresh(cap)).text, 'rescued');
    },
  );

  // --- forced interleavings: every writer wins exactly two servers ---------------------------

  /**
   * Gates the first write of each writer to each server so that the server at permuted
   * position p takes the write of writer owner(p) first: every other writer's test then
   * fails there. Later writes (retries, recovery) are not held.
   */
  function forceSplit(cap: string, clients: FaultGrid[], owner: (position: number) => number) {
    const positions = new Map(
      fileContext(resolveCapKeys(cap), clients[0].clients, new Uint8Array(32)).permuted.map(
        (s, i) => [s.name, i],
      ),
    );
    // No write goes out before every writer has read the grid (all maps see the old version).
    const arrived = new Set<number>();
    let allArrived!: () => void;
    const barrier = new Promise<void>((r) => (allArrived = r));
    const done = new Map<number, { promise: Promise<void>; resolve: () => void }>();
    for (const p of positions.values()) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      done.set(p, { promise, resolve });
    }
    clients.forEach((grid, w) => {
      for (const server of grid.clients) {
        const p = positions.get(server.name)!;
        let first = true;
        server.gate = async (call) => {
          if (call.writes.length === 0 || !first) return;
          first = false;
          arrived.add(w);
          if (arrived.size === clients.length) allArrived();
          await barrier;
          if (owner(p) !== w) await done.get(p)!.promise;
        };
        server.after = (call) => {
          if (call.writes.length > 0 && owner(p) === w) done.get(p)!.resolve();
        };
      }
    });
  }

  /** A new file holding `base`, and `count` cold writers split over its servers by `owner`. */
  async function splitWriters(
    base: Uint8Array,
    count: number,
    owner: (position: number) => number,
  ) {
    const { client } = await newClient();
    const { cap } = await client.create(base);
    const harnesses = await Promise.all(
      Array.from({ length: count }, () => newClient({ noCache: true })),
    );
    forceSplit(
      cap,
      harnesses.map((h) => h.faults),
      owner,
    );
    return { cap, harnesses };
  }

  serial(
    '5 writers each win two servers: no new version is recoverable and the old one is gone — modify() still loses nothing',
    async (t) => {
      const { cap, harnesses } = await splitWriters(text('base\n'), 5, (p) => Math.floor(p / 2));
      const results = await Promise.all(
        harnesses.map((h, i) => h.client.modify(cap, (old) => appendLine(old, `line ${i}`))),
      );
      t.true(
        results.every((r) => r.attempts > 1),
        'every writer collided at least once',
      );
      const final = await readFresh(cap);
      for (let i = 0; i < 5; i++) t.true(final.text.includes(`line ${i}\n`), final.text);
      t.true(final.text.startsWith('base\n'));
      await assertConverged(t, cap);
    },
  );

  serial(
    '5 writers each win two servers with update(): one version wins, the others are told, the file is never lost',
    async (t) => {
      const { cap, harnesses } = await splitWriters(text('base'), 5, (p) => Math.floor(p / 2));
      const outcomes = await Promise.allSettled(
        harnesses.map((h, i) => h.client.update(cap, text(`overwrite ${i}`))),
      );
      const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
      for (const o of outcomes) {
        if (o.status === 'rejected')
          t.true(o.reason instanceof UncoordinatedWriteError, String(o.reason));
      }
      const final = await readFresh(cap);
      t.regex(final.text, /^overwrite [0-4]$/);
      t.true(won.length <= 1, `winners: ${won.join(',')}`);
      if (won.length === 1) t.is(final.text, `overwrite ${won[0]}`);
      await assertConverged(t, cap);
    },
  );

  serial(
    'modify() that changes nothing still completes a newest version missing a share number (an older share left on one server)',
    async (t) => {
      // What a publish cut short by a collision leaves: the newest version (holding the
      // change) on nine servers, the tenth still on the version before. A writer whose
      // change is already in must not return before the tenth share number is placed.
      const { client } = await newClient();
      const { cap } = await client.create(text('start'));
      await layout(cap, [
        { plaintext: 'base\n', seqnum: 4, at: [two(9, 9)] },
        { plaintext: 'base\nmine\n', seqnum: 5, at: at(0, 9) },
      ]);
      const writer = await newClient({ noCache: true });
      const r = await writer.client.modify(cap, (old) => appendLine(old, 'mine'));
      t.is(str(r.plaintext), 'base\nmine\n');
      await assertConverged(t, cap);
      const versions = await census(cap);
      t.is(versions.length, 1, 'the older share was overwritten');
      t.is((await readFresh(cap)).text, 'base\nmine\n');
    },
  );

  serial(
    "a slow write of the version before lands on one server between a writer's read and its write: the grid still ends with all ten share numbers of the newest version",
    async (t) => {
      // The 9-of-10 interleaving seen under load: B publishes v2 and its write to the last
      // server of the list is slow. A reads the grid meanwhile — v2 on nine servers, v1 on
      // the tenth — and publishes v3 built on v2. B's slow write lands first, so B's
      // publish succeeds and A's test fails on that one server only: A's v3 is on nine,
      // and A's retry finds its change already in v3.
      const { client } = await newClient();
      const { cap } = await client.create(text('base\n'));
      const [a, b] = await Promise.all([0, 1].map(() => newClient({ noCache: true })));
      const permuted = fileContext(resolveCapKeys(cap), suite.direct, new Uint8Array(32)).permuted;
      const slow = permuted[permuted.length - 1].name;
      const signal = () => {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        return { promise, resolve };
      };
      const bWroteOthers = signal();
      const aReadSlow = signal();
      const bWroteSlow = signal();
      let bWrites = 0;
      for (const server of b.faults.clients) {
        if (server.name === slow) {
          server.gate = async (call) => {
            if (call.writes.length > 0) await aReadSlow.promise;
          };
          server.after = (call) => {
            if (call.writes.length > 0) bWroteSlow.resolve();
          };
        } else {
          server.after = (call) => {
            if (call.writes.length > 0 && ++bWrites === permuted.length - 1) bWroteOthers.resolve();
          };
        }
      }
      const slowForA = a.faults.server(slow);
      slowForA.after = (call) => {
        if (call.op === 'readTestWrite' && call.writes.length === 0) aReadSlow.resolve();
      };
      let aWrites = 0;
      slowForA.gate = async (call) => {
        if (call.writes.length > 0 && aWrites++ === 0) await bWroteSlow.promise;
      };
      const bDone = b.client.modify(cap, (old) => appendLine(old, 'from b'));
      await bWroteOthers.promise;
      const aResult = await a.client.modify(cap, (old) => appendLine(old, 'from a'));
      const bResult = await bDone;
      t.is(bResult.attempts, 1, "B's publish succeeded on all ten servers");
      t.true(aResult.attempts > 1, 'A collided on the slow server');
      t.deepEqual((await readFresh(cap)).text.split('\n').filter(Boolean), [
        'base',
        'from b',
        'from a',
      ]);
      await assertConverged(t, cap);
      t.is((await census(cap)).length, 1, 'no share of an older version is left');
    },
  );

  serial(
    'two versions with one seqnum: a fresh reader asks on and returns the one on more servers, not an abandoned publish that landed late on the first few',
    async (t) => {
      // A publish that failed (its writes timed out on stalled servers, whose queues ran
      // them after they resumed) and the next, successful publish, which never saw it: both
      // have seqnum 6. The failed one sits on the first three servers of the list, the
      // successful one on the other seven.
      const { client } = await newClient();
      const { cap } = await client.create(text('start'));
      await layout(cap, [
        { plaintext: 'abandoned', seqnum: 6, at: at(0, 3) },
        { plaintext: 'acknowledged', seqnum: 6, at: at(3, 7) },
      ]);
      const reader = await newClient({ noCache: true });
      const r = await reader.client.retrieve(cap);
      t.is(str(r.plaintext), 'acknowledged');
      t.is(r.seqnum, 6);
    },
  );

  serial('2 writers split the servers 5/5: both modify() calls land', async (t) => {
    const { cap, harnesses } = await splitWriters(text(''), 2, (p) => p % 2);
    await Promise.all(harnesses.map((h, i) => h.client.modify(cap, (o) => appendLine(o, `w${i}`))));
    const final = await readFresh(cap);
    t.deepEqual(final.text.split('\n').filter(Boolean).sort(), ['w0', 'w1']);
    await assertConverged(t, cap);
  });

  // --- randomized: writers in separate processes ---------------------------------------------

  interface WriterPlan {
    warm: boolean;
    delays: number[];
  }

  const plans = (count: number, maxOps: number) =>
    fc.array(
      fc.record({
        warm: fc.boolean(),
        delays: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: maxOps }),
      }),
      { minLength: count, maxLength: count },
    );

  const trialArbitrary = fc
    .constantFrom(2, 3, 5)
    .chain((n) => plans(n, 2).map((p) => ({ writers: n, plans: p as WriterPlan[] })));

  const stats = {
    trials: 0,
    changes: 0,
    lost: 0,
    retried: 0,
    updates: 0,
    refused: 0,
  };

  /**
   * After concurrent writers settle, the newest version holds every share number 0…9 on
   * at least shares-of-happiness (7) servers: a publish that returned, and every
   * recovery, leaves no share number of the file on an older version.
   */
  function checkPlacement(versions: Awaited<ReturnType<typeof census>>): void {
    const top = versions[0];
    if (top.servers.size < 7 || top.shares.size !== 10) {
      throw new Error(
        `not converged: ${JSON.stringify(versions.map((v) => [v.seqnum, [...v.servers].sort(), [...v.shares].sort((a, b) => a - b)]))}`,
      );
    }
  }

  async function runProperty(
    t: import('ava').ExecutionContext,
    name: string,
    body: (trial: { writers: number; plans: WriterPlan[] }) => Promise<void>,
  ) {
    t.log(
      `${name}: ${TRIALS} trials, seed ${SEED} (SLOTFS_SEED=${SEED} SLOTFS_TRIALS=${TRIALS} to replay)`,
    );
    await fc.assert(
      fc.asyncProperty(trialArbitrary, async (trial) => {
        try {
          await body(trial);
        } catch (err) {
          t.log(`failing trial ${JSON.stringify(trial)}: ${(err as Error).message}`);
          throw err;
        }
      }),
      { numRuns: TRIALS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
    );
  }

  serial(
    'randomized: 2, 3 or 5 writer processes append with modify() — every run converges, no change is lost',
    async (t) => {
      const { client } = await newClient({ noCache: true });
      Object.assign(stats, { trials: 0, changes: 0, lost: 0, retried: 0 });
      await runProperty(t, 'modify', async ({ writers: n, plans: trial }) => {
        const { cap } = await client.create(text(''));
        // Some writers start with the file in their cache: their first try is the one
        // round-trip test-and-write from a cached view that others are about to change.
        await Promise.all(
          trial.map((p, w) => (p.warm ? writers[w].send({ op: 'read', cap }) : null)),
        );
        const expected: string[] = [];
        const replies = await Promise.all(
          trial.map(async (plan, w) => {
            const out = [];
            for (const [i, delayMs] of plan.delays.entries()) {
              const line = `t${stats.trials} w${w} op${i}`;
              expected.push(line);
              out.push(await writers[w].send({ op: 'append', cap, line, delayMs }));
            }
            return out;
          }),
        );
        stats.trials++;
        const failures = replies.flat().filter((r) => !r.ok);
        if (failures.length > 0) throw new Error(`writers failed: ${JSON.stringify(failures)}`);
        stats.retried += replies.flat().filter((r) => r.ok && (r.attempts ?? 1) > 1).length;
        const final = await readFresh(cap);
        const lines = final.text.split('\n').filter(Boolean);
        const missing = expected.filter((l) => !lines.includes(l));
        stats.changes += expected.length;
        stats.lost += missing.length;
        if (missing.length > 0 || lines.length !== expected.length) {
          throw new Error(`${n} writers: lost ${missing.join(', ')}; file: ${final.text}`);
        }
        checkPlacement(await census(cap));
      });
      t.log(
        `modify: ${stats.trials} trials, ${stats.changes} changes (${stats.retried} had to be re-applied after a collision), ${stats.lost} lost`,
      );
      t.is(stats.trials, TRIALS);
      t.is(stats.lost, 0);
    },
  );

  serial(
    'randomized: 2, 3 or 5 writer processes overwrite with update() — every run ends with a recoverable version one of them wrote',
    async (t) => {
      const { client } = await newClient({ noCache: true });
      let trials = 0;
      await runProperty(t, 'update', async ({ writers: n, plans: trial }) => {
        const { cap } = await client.create(text('initial'));
        await Promise.all(
          trial.map((p, w) => (p.warm ? writers[w].send({ op: 'read', cap }) : null)),
        );
        const written = new Map<string, number | null>();
        await Promise.all(
          trial.map(async (plan, w) => {
            for (const [i, delayMs] of plan.delays.entries()) {
              const body = `trial ${trials} writer ${w} op ${i}`;
              const reply = await writers[w].send({ op: 'update', cap, text: body, delayMs });
              if (!reply.ok && reply.error.code !== 'ERR_UNCOORDINATED_WRITE') {
                throw new Error(`writer ${w}: ${reply.error.message}`);
              }
              written.set(body, reply.ok ? (reply.seqnum ?? null) : null);
              if (!reply.ok) stats.refused++;
            }
          }),
        );
        trials++;
        stats.updates += written.size;
        const final = await readFresh(cap);
        if (!written.has(final.text)) {
          throw new Error(`${n} writers: final text "${final.text}" was never written`);
        }
        const newestSuccess = Math.max(0, ...[...written.values()].map((s) => s ?? 0));
        if (final.seqnum < newestSuccess) {
          throw new Error(
            `final seqnum ${final.seqnum} below a successful update's ${newestSuccess}`,
          );
        }
        checkPlacement(await census(cap));
      });
      t.log(
        `update: ${trials} trials, ${stats.updates} updates (${stats.refused} lost a collision and were told so), every run ended readable and converged`,
      );
      t.is(trials, TRIALS);
    },
  );
});
