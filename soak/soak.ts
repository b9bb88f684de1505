// The soak (issue 14): writers in processes of their own — mounts written with dd and
// fsync, and `slotfs put` — against a grid while a seeded schedule kills, stalls and
// partitions servers and kills clients. Each trial is one round of that, after which
// every fault is healed, the writers pause, and a fresh client (new client directory, new
// mount) checks every acknowledged write (ledger.ts says how it is judged).
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openClient } from '../src/client/open-client.js';
import type { ClientConfig, SoakGrid } from './grid.js';
import { Ledger, summaryLine, type FileVerdict } from './ledger.js';
import { planRound, prng, type FaultEvent } from './schedule.js';
import { MountWriter, PutWriter, finished, sha256 } from './writers.js';

export interface SoakOptions {
  minutes: number;
  seed: number;
  /** Opens the grid the soak runs on (in `work`). */
  grid: (work: string) => Promise<SoakGrid>;
  mounts?: number;
  puts?: number;
  /** Files each writer keeps writing. */
  files?: number;
  /** Length of one trial's fault period. */
  roundSeconds?: number;
  /** Most servers faulty at once (default 3 = N − happiness). */
  maxDown?: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  grid: string;
  trials: number;
  attempts: number;
  acknowledged: number;
  lost: number;
  rolledBack: number;
  /** Every bad verdict, from whichever check found it. */
  bad: Array<FileVerdict & { trial: number }>;
  faults: Record<string, number>;
  line: string;
}

export const CLIENT_CONFIG: ClientConfig = {
  timeouts: { 'connect-ms': 2000, 'request-ms': 5000 },
  mount: {
    'dir-cache-ms': 1000,
    'attr-cache-ms': 1000,
    'kernel-cache-ms': 200,
    'write-back-ms': 200,
    'op-timeout-ms': 60_000,
  },
};

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const mountCount = options.mounts ?? 2;
  const putCount = options.puts ?? 2;
  const files = options.files ?? 4;
  const work = await mkdtemp(join(tmpdir(), 'slotfs-soak-'));
  const ledger = new Ledger();
  const schedule = prng(options.seed);
  const faults: Record<string, number> = {};
  const bad: SoakReport['bad'] = [];
  const mounts: MountWriter[] = [];
  const puts: PutWriter[] = [];
  let grid: SoakGrid | undefined;
  let trials = 0;
  try {
    grid = await options.grid(work);
    log(
      `soak: seed ${options.seed}, ${+options.minutes.toFixed(2)} min on the ${grid.description}`,
    );
    const g = grid;
    // Mounts share one root, each writing in a folder of its own.
    for (let i = 0; i < mountCount; i++) {
      const dir = await g.clientDir(`client-m${i}`, CLIENT_CONFIG);
      if (i > 0) await copyFile(rootCapFile(mounts[0].clientDir), rootCapFile(dir));
      const w = new MountWriter(
        `m${i}`,
        g,
        ledger,
        prng(options.seed + 1000 * (i + 1)),
        join(work, `work-m${i}`),
        files,
        dir,
        join(work, `mnt-m${i}`),
        `m${i}`,
      );
      await w.start();
      mounts.push(w);
      const made = await finished(
        g.spawn('mkdir', ['-p', join(w.mountpoint, w.folder)], { stdio: 'pipe' }),
        120_000,
      );
      if (made.code !== 0) throw new Error(`mkdir in mount m${i} failed: ${made.output}`);
    }
    for (let i = 0; i < putCount; i++) {
      const dir = await g.clientDir(`client-p${i}`, CLIENT_CONFIG);
      puts.push(
        new PutWriter(
          `p${i}`,
          g,
          ledger,
          prng(options.seed + 1000 * (mountCount + i + 1)),
          join(work, `work-p${i}`),
          files,
          dir,
        ),
      );
    }
    const writers = [...mounts, ...puts];
    const roundMs = (options.roundSeconds ?? 90) * 1000;
    // `minutes` of writes under faults, counted from here; each trial's check comes on top.
    const deadline = Date.now() + options.minutes * 60_000;
    do {
      trials++;
      const activeMs = Math.max(10_000, Math.min(roundMs, deadline - Date.now()));
      const plan = planRound(schedule, {
        servers: g.servers.length,
        mounts: mountCount,
        puts: putCount,
        activeMs,
        maxDown: options.maxDown ?? 3,
        serverFaults: g.faults,
      });
      for (const w of writers) w.resume();
      await playRound(g, plan, mounts, puts, faults, log);
      for (const w of writers) await w.pause();
      const verdicts = await check(log, g, work, trials, ledger, mounts, puts);
      const found = verdicts.filter((v) => v.verdict !== 'ok');
      bad.push(...found.map((v) => ({ ...v, trial: trials })));
      for (const v of found) explain(v, mounts, log);
      log(
        `trial ${trials}: ${plan.length} faults (${describeFaults(plan)}); ${ledger.acknowledgedWrites} of ${ledger.attempts} writes acknowledged so far; checked ${verdicts.length} files: ${found.length === 0 ? 'all as acknowledged' : found.map((v) => `${v.file} ${v.verdict} (${v.detail})`).join('; ')}`,
      );
    } while (deadline - Date.now() > 10_000);
    // Last, with every writer gone (mounts unmounted, their journals published): once more.
    await Promise.all(writers.map((w) => w.close()));
    const verdicts = await check(log, g, work, trials + 1, ledger, mounts, puts);
    const found = verdicts.filter((v) => v.verdict !== 'ok');
    bad.push(...found.map((v) => ({ ...v, trial: trials })));
    log(
      `after the writers stopped: checked ${verdicts.length} files: ${found.length === 0 ? 'all as acknowledged' : found.map((v) => `${v.file} ${v.verdict}`).join('; ')}`,
    );
    for (const w of writers) {
      log(
        `${w.name}: ${w.stats.attempts} attempts, ${w.stats.acknowledged} acknowledged, ${w.stats.failed} failed, ${w.stats.crashes} crashes${w.lastErrors.length ? `; last failure: ${w.lastErrors.at(-1)!.replace(/\s+/g, ' ')}` : ''}`,
      );
    }
  } finally {
    await Promise.allSettled([...mounts, ...puts].map((w) => w.close()));
    await grid?.close().catch(() => undefined);
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
  // A file judged bad in several checks counts once.
  const distinct = (verdict: string) =>
    new Set(
      bad.filter((b) => b.verdict === verdict).map((b) => `${b.file}@${b.latestAcknowledged}`),
    ).size;
  const lost = distinct('lost');
  const rolledBack = distinct('rolled back');
  const report = {
    grid: grid?.description ?? 'none',
    trials,
    attempts: ledger.attempts,
    acknowledged: ledger.acknowledgedWrites,
    lost,
    rolledBack,
    bad,
    faults,
    line: summaryLine(trials, ledger.acknowledgedWrites, lost, rolledBack),
  };
  return report;
}

/** For a bad verdict on a mount's file: what that mount said about it, and what the soak did. */
function explain(v: FileVerdict, mounts: MountWriter[], log: (line: string) => void): void {
  const [folder, name] = v.file.split('/');
  const writer = mounts.find((m) => m.folder === folder);
  if (!writer) return;
  const lines = writer.log.filter(
    (l) => l.includes(`${folder}/${name}`) || l.includes('kill -9') || l.includes('mounted at'),
  );
  log(`${v.file}: the mount's log (last 40 lines about it):`);
  for (const l of lines.slice(-40)) log(`  ${l}`);
}

const rootCapFile = (clientDir: string) => join(clientDir, 'private', 'root.cap');

function describeFaults(plan: FaultEvent[]): string {
  const counts = new Map<string, number>();
  for (const e of plan) counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
}

/** Carries out one round's plan; resolves when every fault is healed. */
async function playRound(
  grid: SoakGrid,
  plan: FaultEvent[],
  mounts: MountWriter[],
  puts: PutWriter[],
  counts: Record<string, number>,
  log: (line: string) => void,
): Promise<void> {
  const started = Date.now();
  const pending: Promise<void>[] = [];
  const errors: unknown[] = [];
  // Handled at once: a failure must not become an unhandled rejection mid-round.
  const track = (p: Promise<void>) =>
    pending.push(p.catch((err: unknown) => void errors.push(err)));
  let variant = 0;
  const healing = new Set<number>();
  for (const event of plan) {
    const wait = started + event.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    counts[event.kind] = (counts[event.kind] ?? 0) + 1;
    if ('writer' in event) {
      track(
        event.kind === 'kill-mount'
          ? mounts[event.writer].crash()
          : puts[event.writer - mounts.length].crash(),
      );
      continue;
    }
    const server = grid.servers[event.server];
    // A server still coming back from its last fault (a slow restart) is left alone.
    if (healing.has(event.server)) {
      counts[event.kind]--;
      counts.skipped = (counts.skipped ?? 0) + 1;
      continue;
    }
    healing.add(event.server);
    const [fault, heal] =
      event.kind === 'kill'
        ? [() => server.kill(), () => server.restart()]
        : event.kind === 'stall'
          ? [() => server.stall(variant++), () => server.unstall()]
          : [() => server.partition(), () => server.heal()];
    track(
      (async () => {
        try {
          await fault();
        } catch (err) {
          log(`${server.name}: ${event.kind} failed (${String(err)}); healing anyway`);
        }
        await sleep(event.forMs);
        // Healing must not fail: try again until the server is back.
        for (let attempt = 1; ; attempt++) {
          try {
            await heal();
            healing.delete(event.server);
            return;
          } catch (err) {
            if (attempt >= 12) throw err;
            log(`${server.name}: healing after ${event.kind} failed (${String(err)}); again`);
            await sleep(2000 * attempt);
          }
        }
      })(),
    );
  }
  const end = plan.reduce((m, e) => Math.max(m, e.atMs + ('forMs' in e ? e.forMs : 0)), 0);
  // Every fault is healed (or has failed for good) before the round ends.
  await Promise.all(pending);
  if (errors.length > 0) throw errors[0];
  const rest = started + end - Date.now();
  if (rest > 0) await sleep(rest);
}

/** Reads every file with an acknowledged write through a fresh client and judges it. */
async function check(
  log: (line: string) => void,
  grid: SoakGrid,
  work: string,
  trial: number,
  ledger: Ledger,
  mounts: MountWriter[],
  puts: PutWriter[],
): Promise<FileVerdict[]> {
  const wanted = new Set(ledger.checkedFiles());
  const verdicts: FileVerdict[] = [];
  const suspects: Array<{ verdict: FileVerdict; entry: Awaited<ReturnType<typeof entryOf>> }> = [];
  if (mounts.length > 0) {
    const dir = await grid.clientDir(`verify-${trial}`, CLIENT_CONFIG);
    await copyFile(rootCapFile(mounts[0].clientDir), rootCapFile(dir));
    const reader = new MountWriter(
      'verify',
      grid,
      ledger,
      Math.random,
      join(work, `verify-${trial}-work`),
      0,
      dir,
      join(work, `mnt-verify-${trial}`),
      '',
    );
    await reader.start();
    try {
      for (const w of mounts) {
        for (let i = 0; i < 1000; i++) {
          const file = w.fileId(i);
          if (!wanted.has(file)) continue;
          const path = join(reader.mountpoint, w.folder, `f${i}`);
          const verdict = judged(ledger, file, await readHash(() => readFile(path)));
          verdicts.push(verdict);
          if (verdict.verdict !== 'ok')
            suspects.push({ verdict, entry: await entryOf(grid, path) });
        }
      }
    } finally {
      await reader.close();
      // The fresh client is meant to only read: say when it wrote a directory.
      for (const l of reader.log.filter((l) => /corrected|conflict|republishing/.test(l))) {
        log(`verifier of trial ${trial}: ${l}`);
      }
    }
  }
  if (puts.length > 0 || suspects.length > 0) {
    const dir = await grid.clientDir(`verify-${trial}-get`, CLIENT_CONFIG);
    const opened = await openClient(dir, { keyPoolSize: 0 });
    try {
      await opened.client.connect();
      // A mount's file read wrong: is it the directory entry or the file itself?
      for (const { verdict, entry } of suspects) {
        if (!entry.cap) {
          verdict.detail += `; entry: ${entry.error}`;
          continue;
        }
        const byCap = await readHash(() =>
          opened.client.retrieve(entry.cap!).then((r) => r.plaintext),
        );
        const asFile = ledger.judge(verdict.file, byCap.hash);
        verdict.detail += `; its entry says ${entry.size} bytes; its cap holds ${byCap.hash ? `attempt ${asFile.found}` : byCap.error}`;
      }
      for (const w of puts) {
        for (const [i, cap] of w.caps.entries()) {
          const file = w.fileId(i);
          if (!cap || !wanted.has(file)) continue;
          const read = () => opened.client.retrieve(cap).then((r) => r.plaintext);
          verdicts.push(judged(ledger, file, await readHash(read)));
        }
      }
    } finally {
      await opened.close();
    }
  }
  return verdicts;
}

/** The cap (xattr user.slotfs.cap) and size a mount shows for `path`. */
async function entryOf(
  grid: SoakGrid,
  path: string,
): Promise<{ cap?: string; size?: number; error?: string }> {
  const script =
    'import os, sys; p = sys.argv[1]; print(os.stat(p).st_size); print(os.getxattr(p, "user.slotfs.cap").decode())';
  const r = await finished(
    grid.spawn('python3', ['-c', script, path], { stdio: ['ignore', 'pipe', 'pipe'] }),
    60_000,
  );
  if (r.code !== 0) return { error: r.output.trim().split('\n').at(-1) };
  const [size, cap] = r.output.trim().split('\n');
  return { size: Number(size), cap };
}

/**
 * The hash of what `read` returns, or why there is none. A read that fails other than with
 * "no such file" (a server just back, a timeout) is tried again before it counts.
 */
async function readHash(
  read: () => Promise<Uint8Array>,
): Promise<{ hash?: string; error?: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { hash: sha256(await read()) };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT' || attempt >= 4)
        return { error: `${e.code ?? e.name}: ${e.message}` };
      await sleep(2000 * attempt);
    }
  }
}

function judged(
  ledger: Ledger,
  file: string,
  read: { hash?: string; error?: string },
): FileVerdict {
  const v = ledger.judge(file, read.hash);
  return read.error ? { ...v, detail: `${v.detail}; read failed: ${read.error}` } : v;
}
