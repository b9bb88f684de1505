// `npm run bench -- fs [--quick] [--systems=slotfs-ed25519,slotfs-tahoe,sshfs] [--files=N]
// [--only=tar,stat,read,cold,clone,big,rm] [--runs=N] [--cpu-prof=DIR]`: the same workloads, run by ordinary programs, on a slotfs mount (both
// formats, a local grid of 10 servers, default settings) and on sshfs to 127.0.0.1 on this
// machine. Prints files/s (or MB/s) per system and slotfs-ed25519 / sshfs (higher is
// better for slotfs). --only runs some of the workloads (tar x is always run when a later
// one needs its files). --runs=N runs everything N times (the systems' order alternating,
// a fresh grid and mounts each time) and reports each figure's median: one run of a
// 40 ms workload moves by a quarter with whatever else the machine does. --cpu-prof
// writes CPU profiles of the mounts and servers to DIR.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { gridDown, gridUp } from '../src/grid/local-grid.js';
import {
  sh,
  slotfsTarget,
  sshfsMissing,
  sshfsTarget,
  type GridCounts,
  type Target,
} from './fs-targets.js';
import { median, type BenchResult, type Row } from './table.js';

const SYSTEMS = ['slotfs-ed25519', 'slotfs-tahoe', 'sshfs'] as const;
type System = (typeof SYSTEMS)[number];

/** One workload's result: how many units (files, MB) in how many ms. */
interface Measure {
  unit: 'files/s' | 'MB/s';
  count: number;
  ms: number;
}
/** Per workload and system, one measure per run. */
type Results = Map<string, Map<System, Measure[]>>;
/** Per workload, what slotfs sent to the grid meanwhile (per system). */
type Counts = Map<string, Map<System, GridCounts>>;

// fsync of every file named in a list, one after another, as a careful program would.
const FSYNC_ALL = `const f = require('fs');
for (const name of f.readFileSync(process.argv[2], 'utf8').split('\\n').filter(Boolean)) {
  const d = f.openSync(name, 'r'); f.fsyncSync(d); f.closeSync(d);
}`;

// fsync of the files named as arguments.
const FSYNC_ARGS = `const f = require('fs');
for (const name of process.argv.slice(2)) { const d = f.openSync(name, 'r'); f.fsyncSync(d); f.closeSync(d); }`;

/** RSA keys a tahoe mount keeps ahead (its default key-pool-size). */
const KEY_POOL = 12;

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** Deterministic sizes (1–8 KiB) so every system gets the same tree. */
function sizes(n: number): number[] {
  let x = 0x2545f491;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return 1024 + (x % (7 * 1024 + 1));
  });
}

interface Inputs {
  tarball: string;
  names: string;
  files: number;
  repo: string;
  repoFiles: number;
  big: string;
  bigBytes: number;
  fsyncAll: string;
  fsyncArgs: string;
}

async function prepare(base: string, files: number, quick: boolean): Promise<Inputs> {
  const tree = join(base, 'input', 'tree');
  await mkdir(tree, { recursive: true });
  const names = sizes(files).map((size, i) => ({
    name: `f${String(i).padStart(4, '0')}.dat`,
    size,
  }));
  for (const { name, size } of names) await writeFile(join(tree, name), randomBytes(size));
  const tarball = join(base, 'input', 'tree.tar');
  await sh(`tar cf ${tarball} -C ${tree} .`);
  const list = join(base, 'input', 'names.txt');
  await writeFile(list, names.map((n) => n.name).join('\n') + '\n');
  // A repository to clone: this project's files at HEAD (≥ 250 files), or a part of it.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const repo = join(base, 'input', 'repo');
  await mkdir(repo);
  await sh(`git -C ${root} archive HEAD ${quick ? 'src/fs src/cli' : ''} | tar x -C ${repo}`);
  await sh(
    `git init -q && git add -A && git -c user.name=bench -c user.email=bench@example.com commit -qm bench`,
    repo,
  );
  const repoFiles = Number((await sh('git ls-files | wc -l', repo)).trim());
  const bigBytes = (quick ? 4 : 64) << 20;
  const big = join(base, 'input', 'big.bin');
  await writeFile(big, randomBytes(bigBytes));
  const fsyncAll = join(base, 'input', 'fsync-all.cjs');
  await writeFile(fsyncAll, FSYNC_ALL);
  const fsyncArgs = join(base, 'input', 'fsync-args.cjs');
  await writeFile(fsyncArgs, FSYNC_ARGS);
  return { tarball, names: list, files, repo, repoFiles, big, bigBytes, fsyncAll, fsyncArgs };
}

/** Milliseconds the script took; NaN when it failed (logged, and shown as — in the table). */
async function timedOrNaN(
  script: string,
  cwd: string,
  log: (line: string) => void,
): Promise<number> {
  const started = performance.now();
  try {
    await sh(script, cwd);
  } catch (err) {
    log(`  failed: ${(err as Error).message.split('\n').slice(0, 3).join(' / ')}`);
    return NaN;
  }
  return performance.now() - started;
}

const WORKLOADS = ['tar', 'stat', 'read', 'cold', 'clone', 'big', 'rm'] as const;
type Workload = (typeof WORKLOADS)[number];

async function runWorkloads(
  target: Target,
  system: System,
  input: Inputs,
  results: Results,
  log: (line: string) => void,
  only: ReadonlySet<Workload>,
  counts: Counts,
): Promise<void> {
  const timed = (script: string, cwd: string) => timedOrNaN(script, cwd, log);
  // What the mount sent to the grid since the last mark, logged and kept for the JSON.
  let before = await target.counts?.();
  const mark = async (name: string) => {
    if (!target.counts || !before) return;
    const now = await target.counts();
    const servers = 10; // each status asks every server for its version once
    const d: GridCounts = {
      requests: now.requests - before.requests - servers,
      batches: now.batches - before.batches,
      batchedWrites: now.batchedWrites - before.batchedWrites,
      filePublishes: now.filePublishes - before.filePublishes,
      folderUpdates: now.folderUpdates - before.folderUpdates,
      folderChanges: now.folderChanges - before.folderChanges,
    };
    before = now;
    if (!counts.has(name)) counts.set(name, new Map());
    counts.get(name)!.set(system, d);
    log(
      `  ${system}: ${name}: ${d.requests} requests (${d.batches} batches carrying ${d.batchedWrites} writes), ${d.filePublishes} file publishes, ${d.folderUpdates} folder updates carrying ${d.folderChanges} changes`,
    );
  };
  const put = (name: string, m: Measure) => {
    if (!results.has(name)) results.set(name, new Map());
    const bySystem = results.get(name)!;
    bySystem.set(system, [...(bySystem.get(system) ?? []), m]);
    const rate = (m.count / m.ms) * 1000;
    if (Number.isNaN(rate)) return;
    log(`  ${system}: ${name}: ${rate.toFixed(rate < 10 ? 2 : 0)} ${m.unit} (load ${load()})`);
  };
  const work = join(target.mnt, 'bench');
  const tree = join(work, 'tree');
  await sh(`mkdir -p ${tree}`);
  const n = input.files;

  if (target.keysDir && only.has('tar')) {
    // RSA files: a burst of key-pool-size new files with the pool full (kept in the
    // client directory, filled in idle time), then at once another with it empty.
    const keysDir = target.keysDir;
    const stored = async () =>
      (await readdir(keysDir).catch(() => [])).filter((f) => f.endsWith('.der')).length;
    for (let i = 0; i < 1200 && (await stored()) < KEY_POOL; i++) await sleep(100);
    const burst = (tag: string) => {
      const names = Array.from({ length: KEY_POOL }, (_, i) => `${tag}${i}`).join(' ');
      return timed(
        `for f in ${names}; do echo $f > $f; done && node ${input.fsyncArgs} ${names}`,
        work,
      );
    };
    put(`burst of ${KEY_POOL} new files + fsync, key pool full`, {
      unit: 'files/s',
      count: KEY_POOL,
      ms: await burst('full'),
    });
    put(`burst of ${KEY_POOL} new files + fsync, key pool empty`, {
      unit: 'files/s',
      count: KEY_POOL,
      ms: await burst('empty'),
    });
  }

  await mark('before tar');
  const tarMs = await timed(`tar xf ${input.tarball}`, tree);
  const fsyncMs = await timed(`node ${input.fsyncAll} ${input.names}`, tree);
  if (only.has('tar')) {
    put('tar x', { unit: 'files/s', count: n, ms: tarMs });
    put('tar x, durable', { unit: 'files/s', count: n, ms: tarMs + fsyncMs });
  }
  await mark('tar x, durable');

  if (only.has('stat'))
    put('stat', {
      unit: 'files/s',
      count: n,
      ms: await timed(`xargs -a ${input.names} stat -c %s > /dev/null`, tree),
    });
  const catAll = `xargs -a ${input.names} cat > /dev/null`;
  if (only.has('read'))
    put('read warm (2 passes)', {
      unit: 'files/s',
      count: 2 * n,
      ms: await timed(`${catAll} && ${catAll}`, tree),
    });
  if (only.has('cold')) {
    await target.remount();
    put('read cold (after remount)', { unit: 'files/s', count: n, ms: await timed(catAll, tree) });
  }

  if (only.has('clone')) {
    const cloneMs = await timed(`git clone -q file://${input.repo} clone`, work);
    put('git clone', { unit: 'files/s', count: input.repoFiles, ms: cloneMs });
    await mark('git clone');
    put('git status', {
      unit: 'files/s',
      count: input.repoFiles,
      ms: await timed('git status --porcelain > /dev/null', join(work, 'clone')),
    });
  }

  const mb = input.bigBytes / (1 << 20);
  if (only.has('big'))
    put(`write ${mb} MiB + fsync`, {
      unit: 'MB/s',
      count: mb,
      ms: await timed(
        `cp ${input.big} big.bin && node -e "const f=require('fs');const d=f.openSync('big.bin','r');f.fsyncSync(d);f.closeSync(d)"`,
        work,
      ),
    });
  if (only.has('big'))
    put(`read ${mb} MiB`, {
      unit: 'MB/s',
      count: mb,
      ms: await timed('cat big.bin > /dev/null', work),
    });

  if (!only.has('rm')) return;
  put('rm -r', {
    unit: 'files/s',
    count:
      n +
      (only.has('clone') ? input.repoFiles : 0) +
      (only.has('big') ? 1 : 0) +
      (target.keysDir && only.has('tar') ? 2 * KEY_POOL : 0),
    ms: await timed(`rm -rf ${work}`, target.mnt),
  });
}

export default async function fsBench(args: string[]): Promise<BenchResult> {
  const quick = args.includes('--quick');
  const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const files = Number(arg('files') ?? (quick ? 100 : 1000));
  const runs = Number(arg('runs') ?? 1);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs: a whole number ≥ 1, got ${arg('runs')}`);
  const profileDir = arg('cpu-prof') && resolve(arg('cpu-prof')!);
  const wanted = (arg('systems')?.split(',') ?? [...SYSTEMS]) as System[];
  const only = new Set((arg('only')?.split(',') ?? [...WORKLOADS]) as Workload[]);
  const unknown = [...only].filter((w) => !WORKLOADS.includes(w));
  if (unknown.length > 0) {
    throw new Error(
      `--only: unknown workload ${unknown.join(', ')} (known: ${WORKLOADS.join(', ')})`,
    );
  }
  const notes: string[] = [];
  const missing = wanted.includes('sshfs') ? await sshfsMissing() : undefined;
  if (missing) notes.push(`sshfs not compared: ${missing}`);
  const systems = wanted.filter((s) => SYSTEMS.includes(s) && !(s === 'sshfs' && missing));

  const base = await mkdtemp(join(tmpdir(), 'slotfs-bench-fs-'));
  const results: Results = new Map();
  const counts: Counts = new Map();
  const log = (line: string) => console.log(line);
  try {
    log(`preparing ${files} files and a repository in ${base} (load ${load()})`);
    const input = await prepare(base, files, quick);
    const profArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    for (let run = 1; run <= runs; run++) {
      const runBase = runs === 1 ? base : join(base, `run-${run}`);
      await mkdir(runBase, { recursive: true });
      const gridDir = join(runBase, 'grid');
      let gridStarted = false;
      // Every other run in the opposite order: neither system always goes first.
      const order = run % 2 === 1 ? systems : [...systems].reverse();
      try {
        for (const system of order) {
          log(runs === 1 ? `${system}:` : `${system} (run ${run} of ${runs}):`);
          let target: Target;
          if (system === 'sshfs') {
            target = await sshfsTarget(runBase);
          } else {
            if (!gridStarted) {
              await gridUp({ dir: gridDir, servers: 10, nodeArgs: profArgs });
              gridStarted = true;
            }
            target = await slotfsTarget({
              base: runBase,
              serversFile: join(gridDir, 'servers.yaml'),
              format: system === 'slotfs-tahoe' ? 'tahoe' : 'ed25519',
              nodeArgs: profArgs,
            });
          }
          try {
            await runWorkloads(target, system, input, results, log, only, counts);
          } finally {
            await target.stop();
          }
        }
      } finally {
        if (gridStarted) await gridDown({ dir: gridDir }).catch(() => undefined);
        if (runs > 1) await rm(runBase, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  } finally {
    await rm(base, { recursive: true, force: true }).catch(() => undefined);
  }

  const rate = (m: Measure) => (Number.isFinite(m.ms) ? (m.count / m.ms) * 1000 : null);
  const rows: Row[] = [];
  const workloads: Record<string, Record<string, number | null>> = {};
  const samples: Record<string, Record<string, Array<number | null>>> = {};
  for (const [name, bySystem] of results) {
    const unit = [...bySystem.values()][0][0].unit;
    const entry: Record<string, number | null> = {};
    samples[name] = {};
    for (const s of systems) {
      const rates = (bySystem.get(s) ?? []).map(rate);
      samples[name][s] = rates;
      // A failed run (no figure) counts as none; no figure at all shows as —.
      const m = median(rates.filter((r): r is number => r !== null));
      entry[s] = Number.isNaN(m) ? null : m;
    }
    const ed = entry['slotfs-ed25519'];
    const ssh = entry.sshfs;
    entry.ratio = ed != null && ssh ? ed / ssh : null;
    workloads[name] = entry;
    rows.push({ workload: name, unit, ...entry });
  }
  if (runs > 1) {
    notes.push(
      `each figure is the median of ${runs} runs (a failed run counts as none); the ratio is of the medians`,
    );
  }
  notes.push(
    `${files} files of 1–8 KiB; ${quick ? 'quick run; ' : ''}slotfs: 10 servers on loopback, k=3 N=10, default mount settings; ratio = slotfs-ed25519 / sshfs (higher is better for slotfs); load average at the end ${load()} (2 cores).`,
  );
  if (profileDir) notes.push(`CPU profiles in ${profileDir}`);
  const grid: Record<string, Record<string, GridCounts>> = {};
  for (const [name, bySystem] of counts) grid[name] = Object.fromEntries(bySystem);
  return { rows, notes, workloads, grid, ...(runs > 1 ? { runs, samples } : {}) };
}
