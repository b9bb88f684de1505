// `npm run bench -- mutable [--iterations=N] [--rtt=MS]`: create, read and update of
// 1 KiB, 64 KiB and 1 MiB mutable files on a local grid of 10 real server processes, in
// both formats (ed25519 and tahoe, the `format` column), with a cold cache (a new client
// per operation) and a warm one (one client throughout). Then the CPU one create costs
// in each format (process.cpuUsage, every thread of the process) against one RSA-2048 key
// generation, and the ratio.
// For each: round trips, latency median and p95, requests, bytes. A second pass adds a
// fixed delay to every request (a stand-in for network RTT) to show that latency grows
// as round trips × RTT.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientCache } from '../src/cache/client-cache.js';
import { KeyPool } from '../src/crypto/keypool.js';
import { generateRsaKeyPair } from '../src/crypto/rsa.js';
import { generateEd25519KeyPair } from '../src/crypto/ed25519.js';
import { writeCapFromSeed } from '../src/caps/index.js';
import { gridDown, gridUp } from '../src/grid/local-grid.js';
import { HttpStorageClient } from '../src/grid/http-client.js';
import type { ServerEntry } from '../src/grid/servers.js';
import type { StorageClient } from '../src/grid/storage-client.js';
import type { OperationCostReport } from '../src/grid/request-events.js';
import {
  FILE_FORMATS,
  MutableClient,
  newLeaseSecret,
  type FileFormat,
} from '../src/mutable/mutable-client.js';
import { printTable, type BenchResult, type Row } from './table.js';

const SIZES: Array<[string, number]> = [
  ['1 KiB', 1024],
  ['64 KiB', 64 * 1024],
  ['1 MiB', 1024 * 1024],
];

/** Adds `ms` before every request: latency as a slow network would add it. */
function delayed(client: StorageClient, ms: number): StorageClient {
  if (ms <= 0) return client;
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || prop === 'close') return value;
      return async (...args: unknown[]) => {
        if (prop !== 'getVersion') await sleep(ms);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

interface Sample {
  cost: OperationCostReport;
}

function summarize(
  format: FileFormat,
  op: string,
  size: string,
  cache: string,
  rtt: number,
  samples: Sample[],
): Row {
  const ms = samples.map((s) => s.cost.ms).sort((a, b) => a - b);
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor((s.length - 1) / 2)];
  };
  return {
    format,
    op,
    size,
    cache,
    'rtt ms': rtt,
    'round trips': median(samples.map((s) => s.cost.roundTrips)),
    'median ms': median(ms),
    'p95 ms': ms[Math.min(ms.length - 1, Math.ceil(ms.length * 0.95) - 1)],
    requests: median(samples.map((s) => s.cost.requests)),
    'kB sent': median(samples.map((s) => s.cost.bytesSent)) / 1000,
    'kB received': median(samples.map((s) => s.cost.bytesReceived)) / 1000,
  };
}

export default async function mutableBench(args: string[]): Promise<BenchResult> {
  const arg = (name: string, fallback: number) => {
    const a = args.find((x) => x.startsWith(`--${name}=`));
    return a ? Number(a.slice(name.length + 3)) : fallback;
  };
  const iterations = arg('iterations', 7);
  const rtts = [0, arg('rtt', 20)];
  const root = await mkdtemp(join(tmpdir(), 'slotfs-bench-'));
  const gridDir = join(root, 'grid');
  const rows: Row[] = [];
  const keys = new KeyPool({ size: 8, concurrency: 2 });
  let cpu: CpuReport | undefined;
  try {
    const { servers } = await gridUp({ dir: gridDir, servers: 10 });
    await keys.warm();
    let clientNo = 0;
    const makeClient = async (
      entries: ServerEntry[],
      rtt: number,
      withCache: boolean,
      format: FileFormat = 'ed25519',
    ) => {
      const http = entries.map((e) => new HttpStorageClient(e));
      const cache = withCache
        ? await ClientCache.open(join(root, `cache-${clientNo++}`), { warn: () => undefined })
        : undefined;
      const client = new MutableClient({
        servers: http.map((h) => delayed(h, rtt)),
        leaseSecret: newLeaseSecret(),
        cache,
        keys,
        format,
      });
      await client.connect();
      // Connections are set up before measuring, as a long-running client would have them.
      await Promise.all(http.map((h) => h.listShares(new Uint8Array(16))));
      return {
        client,
        servers: http,
        close: async () => {
          await Promise.all(http.map((h) => h.close()));
          await cache?.close();
        },
      };
    };
    for (const format of FILE_FORMATS) {
      for (const rtt of rtts) {
        for (const [label, size] of SIZES) {
          const n = size >= 1 << 20 ? Math.max(3, Math.ceil(iterations / 2)) : iterations;
          const warm = await makeClient(servers, rtt, true, format);
          const samples: Record<string, Sample[]> = {
            'create|warm': [],
            'read|warm': [],
            'read (changed)|warm': [],
            'update|warm': [],
            'read|cold': [],
            'update|cold': [],
          };
          for (let i = 0; i < n; i++) {
            const data = new Uint8Array(randomBytes(size));
            const created = await warm.client.create(data);
            samples['create|warm'].push(created);
            samples['read|warm'].push(await warm.client.retrieve(created.cap));
            samples['update|warm'].push(await warm.client.update(created.cap, data));
            const cold = await makeClient(servers, rtt, true);
            samples['read|cold'].push(await cold.client.retrieve(created.cap));
            await cold.close();
            const coldWriter = await makeClient(servers, rtt, true);
            samples['update|cold'].push(await coldWriter.client.update(created.cap, data));
            await coldWriter.close();
            // The warm client's cache is now one version behind: a changed read.
            samples['read (changed)|warm'].push(await warm.client.retrieve(created.cap));
          }
          await warm.close();
          for (const [key, list] of Object.entries(samples)) {
            const [op, cache] = key.split('|');
            rows.push(summarize(format, op, label, cache, rtt, list));
          }
        }
      }
    }
    // No key generation may run in the background while CPU is measured: let the pool
    // finish refilling first.
    await keys.warm();
    cpu = await cpuPerCreate(makeClient, servers, Math.max(10, iterations * 3));
  } finally {
    await keys.close();
    await gridDown({ dir: gridDir }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
  const cpuRows: Row[] = cpu
    ? [
        { what: 'one RSA-2048 key generation', 'CPU ms': cpu.rsaKeygenMs },
        { what: 'create a 1 KiB file, ed25519 (whole operation)', 'CPU ms': cpu.createMs.ed25519 },
        { what: 'create a 1 KiB file, tahoe (key from a warm pool)', 'CPU ms': cpu.createMs.tahoe },
        {
          what: 'create a 1 KiB file, tahoe, with its key generation',
          'CPU ms': cpu.createMs.tahoe + cpu.rsaKeygenMs,
        },
        { what: 'Ed25519 key and caps of one file', 'CPU ms': cpu.ed25519KeyMs },
      ]
    : [];
  if (cpuRows.length > 0) {
    console.log('\nCPU per create (median of process.cpuUsage over each operation):');
    printTable(cpuRows);
    console.log(
      `one RSA-2048 key generation costs ${cpu!.ratio.toFixed(0)}× the CPU of creating an Ed25519 file (${cpu!.keyRatio.toFixed(0)}× its key and caps alone)\n`,
    );
  }
  return {
    rows,
    cpu: cpu ?? null,
    cpuRows,
    notes: [
      cpu
        ? `CPU: one RSA-2048 key generation = ${cpu.rsaKeygenMs.toFixed(1)} ms; creating a 1 KiB Ed25519 file = ${cpu.createMs.ed25519.toFixed(2)} ms (ratio ${cpu.ratio.toFixed(0)}×); an Ed25519 key with its caps = ${cpu.ed25519KeyMs.toFixed(3)} ms (ratio ${cpu.keyRatio.toFixed(0)}×).`
        : '',
      `10 servers on loopback, k=3 N=10, ${iterations} iterations (fewer for 1 MiB); load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on this machine.`,
      'cold = a new client with an empty cache; warm = the client that wrote or last read the file.',
      'rtt ms = delay added before every request (simulated network latency).',
    ],
  };
}

interface CpuReport {
  rsaKeygenMs: number;
  ed25519KeyMs: number;
  createMs: Record<FileFormat, number>;
  /** RSA-2048 key generation CPU / Ed25519 create CPU. */
  ratio: number;
  /** RSA-2048 key generation CPU / Ed25519 key-and-caps CPU. */
  keyRatio: number;
}

const cpuMs = (start: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
};
const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/**
 * CPU of one create in each format (median over `n`, connections warm, nothing else running
 * in this process: the tahoe client's keys were generated beforehand), and of
 * one RSA-2048 key generation (the work an Ed25519 file no longer needs).
 */
async function cpuPerCreate(
  makeClient: (
    e: ServerEntry[],
    rtt: number,
    cache: boolean,
    f: FileFormat,
  ) => Promise<{ client: MutableClient; servers: StorageClient[]; close(): Promise<void> }>,
  servers: ServerEntry[],
  n: number,
): Promise<CpuReport> {
  const createMs = {} as Record<FileFormat, number>;
  for (const format of FILE_FORMATS) {
    // Keys made beforehand, handed out without refilling (a KeyPool would generate its
    // replacements in the background, on this process's CPU, while we measure).
    const ready =
      format === 'tahoe'
        ? await Promise.all(Array.from({ length: n + 1 }, () => generateRsaKeyPair()))
        : [];
    const { servers: http, close } = await makeClient(servers, 0, true, format);
    const withPool = new MutableClient({
      servers: http,
      leaseSecret: newLeaseSecret(),
      keys: { take: async () => ready.pop()! },
      format,
    });
    const data = new Uint8Array(randomBytes(1024));
    await withPool.create(data); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = process.cpuUsage();
      await withPool.create(data);
      samples.push(cpuMs(start));
    }
    createMs[format] = medianOf(samples);
    await close();
  }
  const keySamples: number[] = [];
  for (let i = 0; i < n * 10; i++) {
    const start = process.cpuUsage();
    writeCapFromSeed(generateEd25519KeyPair().seed);
    keySamples.push(cpuMs(start));
  }
  const ed25519KeyMs = medianOf(keySamples);
  const rsa: number[] = [];
  for (let i = 0; i < Math.max(10, n); i++) {
    const start = process.cpuUsage();
    await generateRsaKeyPair(2048);
    rsa.push(cpuMs(start));
  }
  // RSA key generation time varies a lot (the search for primes): the mean is its cost.
  const rsaKeygenMs = rsa.reduce((a, b) => a + b, 0) / rsa.length;
  return {
    rsaKeygenMs,
    ed25519KeyMs,
    createMs,
    ratio: rsaKeygenMs / createMs.ed25519,
    keyRatio: rsaKeygenMs / Math.max(ed25519KeyMs, 0.001),
  };
}
