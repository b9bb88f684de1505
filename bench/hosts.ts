// `npm run bench -- hosts [--quick] [--iterations=N] [--files=N] [--rtts=0,10,50] [--no-mount]`:
// latency on a grid whose servers are hosts of their own (network namespaces behind delay
// proxies, src/grid/hosts; needs root). At each added round-trip time:
//  1. create / read / update of a 1 KiB file in both formats, warm (the client that wrote
//     it) and cold (a new client, connections already open): round trips counted from the
//     client's request events, and ms;
//  2. a quick subset of the fs benchmark's workloads on a mount (ed25519).
// Then the check that time ≈ round trips × RTT + CPU: for (1), the measured extra time
// over the same operation at 0 ms against round trips × RTT (least squares through the
// origin: a slope of 1 means every round trip costs exactly one RTT), with residuals; for
// (2), per workload, ms against RTT (the slope is the round trips the workload waits for
// one after another, the intercept its time without latency).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientCache } from '../src/cache/client-cache.js';
import { KeyPool } from '../src/crypto/keypool.js';
import { hostsAvailable, startHostsGrid, type HostsGrid } from '../src/grid/hosts/hosts-grid.js';
import { HttpStorageClient } from '../src/grid/http-client.js';
import type { OperationCostReport } from '../src/grid/request-events.js';
import {
  FILE_FORMATS,
  MutableClient,
  newLeaseSecret,
  type FileFormat,
} from '../src/mutable/mutable-client.js';
import { sh, slotfsTarget } from './fs-targets.js';
import { linearFit, proportionalFit } from './latency-fit.js';
import { median, printTable, type BenchResult, type Row } from './table.js';

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const round1 = (x: number) => Math.round(x * 10) / 10;

interface OpRow {
  format: FileFormat;
  op: string;
  rtt: number;
  roundTrips: number;
  /** The fastest of the iterations: on a shared machine, other work only ever adds time. */
  ms: number;
  medianMs: number;
}

async function fileOperations(
  grid: HostsGrid,
  root: string,
  rtts: number[],
  iterations: number,
  log: (line: string) => void,
): Promise<OpRow[]> {
  const keys = new KeyPool({ size: 4, concurrency: 1 });
  const entries = grid.servers.map((s) => s.entry);
  let n = 0;
  const makeClient = async (format: FileFormat) => {
    const http = entries.map((e) => new HttpStorageClient(e));
    const cache = await ClientCache.open(join(root, `cache-${n++}`), { warn: () => undefined });
    const client = new MutableClient({
      servers: http,
      leaseSecret: newLeaseSecret(),
      cache,
      keys,
      format,
    });
    await client.connect();
    // Connections open before measuring, as a long-running client has them.
    await Promise.all(http.map((h) => h.listShares(new Uint8Array(16))));
    return {
      client,
      close: async () => {
        await Promise.all(http.map((h) => h.close()));
        await cache.close();
      },
    };
  };
  const rows: OpRow[] = [];
  try {
    await keys.warm();
    for (const format of FILE_FORMATS) {
      const samples = new Map<string, OperationCostReport[]>();
      const add = (op: string, rtt: number, r: { cost: OperationCostReport }) =>
        samples.set(`${op}|${rtt}`, [...(samples.get(`${op}|${rtt}`) ?? []), r.cost]);
      const warm = await makeClient(format);
      // Not measured: the first operations warm up the JIT and the share-builder workers.
      const first = await warm.client.create(new Uint8Array(randomBytes(1024)));
      await warm.client.update(first.cap, new Uint8Array(1024));
      // RTTs interleaved, so a load that drifts over the run biases no RTT.
      for (let i = 0; i < iterations; i++) {
        for (const rtt of rtts) {
          await grid.setLinkAll({ delayMs: rtt / 2 });
          const data = new Uint8Array(randomBytes(1024));
          const created = await warm.client.create(data);
          add('create', rtt, created);
          add('read warm', rtt, await warm.client.retrieve(created.cap));
          add('update warm', rtt, await warm.client.update(created.cap, data));
          const reader = await makeClient(format);
          add('read cold', rtt, await reader.client.retrieve(created.cap));
          await reader.close();
          const writer = await makeClient(format);
          add('update cold', rtt, await writer.client.update(created.cap, data));
          await writer.close();
        }
      }
      await warm.close();
      for (const [key, costs] of samples) {
        const [op, rtt] = key.split('|');
        const row = {
          format,
          op,
          rtt: Number(rtt),
          roundTrips: median(costs.map((c) => c.roundTrips)),
          ms: Math.min(...costs.map((c) => c.ms)),
          medianMs: median(costs.map((c) => c.ms)),
        };
        rows.push(row);
        log(
          `  ${format} ${op} at ${rtt} ms: ${row.roundTrips} round trips, ${row.ms.toFixed(1)} ms (median ${row.medianMs.toFixed(1)})`,
        );
      }
    }
  } finally {
    await keys.close();
    await grid.setLinkAll({});
  }
  return rows;
}

interface MountRow {
  workload: string;
  rtt: number;
  ms: number;
}

async function mountWorkloads(
  grid: HostsGrid,
  base: string,
  rtts: number[],
  files: number,
  log: (line: string) => void,
): Promise<MountRow[]> {
  const input = join(base, 'input');
  await mkdir(join(input, 'tree'), { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < files; i++) {
    const name = `f${String(i).padStart(4, '0')}.dat`;
    names.push(name);
    await writeFile(join(input, 'tree', name), randomBytes(1024 + ((i * 2654435761) % 7168)));
  }
  await sh(`tar cf ${input}/tree.tar -C ${input}/tree .`);
  await writeFile(join(input, 'names.txt'), names.join('\n') + '\n');
  await writeFile(join(input, 'big.bin'), randomBytes(1 << 20));
  await writeFile(
    join(input, 'fsync-all.cjs'),
    `const f = require('fs');
for (const name of f.readFileSync(process.argv[2], 'utf8').split('\\n').filter(Boolean)) {
  const d = f.openSync(name, 'r'); f.fsyncSync(d); f.closeSync(d);
}`,
  );
  const rows: MountRow[] = [];
  const time = async (workload: string, rtt: number, script: string, cwd: string) => {
    const started = performance.now();
    await sh(script, cwd);
    const ms = performance.now() - started;
    rows.push({ workload, rtt, ms });
    log(`  mount ${workload} at ${rtt} ms: ${ms.toFixed(0)} ms`);
  };
  for (const rtt of rtts) {
    await grid.setLinkAll({ delayMs: rtt / 2 });
    const target = await slotfsTarget({
      base: join(base, `rtt-${rtt}`),
      serversFile: grid.serversFile,
      format: 'ed25519',
    });
    try {
      const tree = join(target.mnt, 'tree');
      await sh(`mkdir -p ${tree}`);
      const catAll = `xargs -a ${input}/names.txt cat > /dev/null`;
      await time('tar x', rtt, `tar xf ${input}/tree.tar`, tree);
      await time(
        'fsync of every file',
        rtt,
        `node ${input}/fsync-all.cjs ${input}/names.txt`,
        tree,
      );
      await time('stat', rtt, `xargs -a ${input}/names.txt stat -c %s > /dev/null`, tree);
      await time('read warm (2 passes)', rtt, `${catAll} && ${catAll}`, tree);
      await target.remount();
      await time('read cold (after remount)', rtt, catAll, tree);
      await time(
        'write 1 MiB + fsync',
        rtt,
        `cp ${input}/big.bin big.bin && node -e "const f=require('fs');const d=f.openSync('big.bin','r');f.fsyncSync(d);f.closeSync(d)"`,
        target.mnt,
      );
      await time('rm -r', rtt, `rm -rf tree big.bin`, target.mnt);
    } finally {
      await target.stop();
    }
  }
  await grid.setLinkAll({});
  return rows;
}

export default async function hostsBench(args: string[]): Promise<BenchResult> {
  const quick = args.includes('--quick');
  const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const iterations = Number(arg('iterations') ?? (quick ? 3 : 7));
  const files = Number(arg('files') ?? (quick ? 20 : 50));
  const rtts = (arg('rtts') ?? '0,10,50').split(',').map(Number);
  const available = await hostsAvailable();
  if (!available.ok) {
    console.error(`hosts benchmark: ${available.reason}`);
    return { rows: [], notes: [`not run: ${available.reason}`] };
  }
  const log = (line: string) => console.log(line);
  const base = await mkdtemp(join(tmpdir(), 'slotfs-bench-hosts-'));
  log(`starting 10 servers in network namespaces (load ${load()})`);
  const grid = await startHostsGrid({ servers: 10 });
  let ops: OpRow[];
  let mount: MountRow[];
  try {
    ops = await fileOperations(grid, base, rtts, iterations, log);
    mount = args.includes('--no-mount') ? [] : await mountWorkloads(grid, base, rtts, files, log);
  } finally {
    await grid.close();
    await rm(base, { recursive: true, force: true });
  }

  // (1) ms ≈ s × round trips × RTT + CPU of that operation: one slope s for every
  // operation, one intercept (its time without latency) per operation, by least squares.
  const key = (r: OpRow) => `${r.format}|${r.op}`;
  const groups = new Map<string, OpRow[]>();
  for (const r of ops) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  const centred = ops.map((r) => {
    const g = groups.get(key(r))!;
    const mean = (f: (o: OpRow) => number) => g.reduce((a, o) => a + f(o), 0) / g.length;
    return {
      x: r.roundTrips * r.rtt - mean((o) => o.roundTrips * o.rtt),
      y: r.ms - mean((o) => o.ms),
    };
  });
  const fit = proportionalFit(centred);
  const cpuOf = new Map(
    [...groups].map(([k, g]) => [
      k,
      g.reduce((a, o) => a + o.ms - fit.slope * o.roundTrips * o.rtt, 0) / g.length,
    ]),
  );
  const rows: Row[] = ops.map((r, i) => {
    const cpu = cpuOf.get(key(r))!;
    return {
      format: r.format,
      op: r.op,
      'rtt ms': r.rtt,
      'round trips': r.roundTrips,
      'min ms': round1(r.ms),
      'median ms': round1(r.medianMs),
      'fitted ms': round1(cpu + fit.slope * r.roundTrips * r.rtt),
      'residual ms': round1(fit.residuals[i]),
    };
  });

  // (2) Per workload: ms against RTT.
  const mountRows: Row[] = [];
  const mountFits: Record<string, { roundTrips: number; cpuMs: number; r2: number }> = {};
  for (const workload of [...new Set(mount.map((m) => m.workload))]) {
    const points = mount.filter((m) => m.workload === workload);
    const f = linearFit(points.map((p) => ({ x: p.rtt, y: p.ms })));
    mountFits[workload] = { roundTrips: f.slope, cpuMs: f.intercept, r2: f.r2 };
    mountRows.push({
      workload,
      ...Object.fromEntries(points.map((p) => [`ms at ${p.rtt}`, Math.round(p.ms)])),
      'round trips (slope)': round1(f.slope),
      'ms without latency (intercept)': Math.round(f.intercept),
      'residuals ms': f.residuals.map((r) => Math.round(r)).join(' / '),
      'R²': Math.round(f.r2 * 1000) / 1000,
    });
  }
  console.log(`\nmount workloads (${files} files of 1–8 KiB, ed25519), ms at each added RTT:`);
  printTable(mountRows);
  console.log();

  const fitLine = `file operations: ms ≈ ${fit.slope.toFixed(2)} × round trips × RTT + CPU of the operation (least squares, one slope, an intercept per operation, ${ops.length} points; R² of the within-operation variation ${fit.r2.toFixed(3)}); largest residual ${Math.max(...fit.residuals.map(Math.abs)).toFixed(1)} ms`;
  return {
    rows,
    mountRows,
    fit: { slope: fit.slope, r2: fit.r2 },
    mountFits,
    notes: [
      fitLine,
      `10 servers, each in its own network namespace behind a delay proxy (RTT added half each way), k=3 N=10; ${iterations} iterations per operation (medians); cold = a new client whose connections are already open; load average ${load()} (2 cores).`,
      'min ms = the fastest of the iterations (fitted: on a shared machine other work only adds time); fitted ms = the operation’s intercept (its CPU and local waiting) + slope × round trips × RTT; residual = min − fitted.',
    ],
  };
}
