// `npm run bench -- server-commit [--files=N] [--writers=W] [--servers=S] [--cpu-prof=DIR]`: how storage
// servers commit a burst of small writes, without a mount in the way. A local grid of S
// real server processes; W concurrent "publishes", each writing one new ≈3 KiB share of a
// new slot to every server (as a new file does), then updating it once with a
// test-and-write (as the next publish of that file does); then the same again with the
// writes of W publishes in one read-test-write-many request per server (the slotfs
// extension the HTTP client batches into). Prints writes/s, the servers'
// CPU per write (from /proc) and, when the servers expose it, their fsyncs per write.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gridDown, gridUp } from '../src/grid/local-grid.js';
import { parseNurl, PATHS, storageIndexToString } from '../src/storage/protocol.js';
import { RawClient, tw } from '../src/storage/test-support/raw-client.js';
import type { BenchResult, Row } from './table.js';

type ManyItem = Parameters<RawClient['rtwMany']>[0][number];

const SECRETS = {
  writeEnabler: new Uint8Array(32).fill(3),
  leaseRenewSecret: new Uint8Array(32).fill(4),
  leaseCancelSecret: new Uint8Array(32).fill(5),
};

function shareBytes(file: number, server: number, version: number): Uint8Array {
  const out = new Uint8Array(2048 + ((file * 131 + server * 17) % 2048));
  const seed = createHash('sha256').update(`${file}/${server}/${version}`).digest();
  for (let o = 0; o < out.length; o += seed.length) out.set(seed.subarray(0, out.length - o), o);
  return out;
}

/** user+system CPU seconds of a process (Linux /proc). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The servers' commit counters (slotfs metrics extension), summed; undefined without it. */
async function commitCounters(clients: RawClient[]): Promise<Record<string, number> | undefined> {
  const sum: Record<string, number> = {};
  for (const c of clients) {
    const res = await c.raw('GET', PATHS.metrics);
    if (res.status !== 200) return undefined;
    const metrics = JSON.parse(res.text) as { commit?: Record<string, number> };
    for (const [k, v] of Object.entries(metrics.commit ?? {})) sum[k] = (sum[k] ?? 0) + v;
  }
  return sum;
}

export default async function serverCommitBench(args: string[]): Promise<BenchResult> {
  const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const files = Number(arg('files') ?? 300);
  const writers = Number(arg('writers') ?? 16);
  const servers = Number(arg('servers') ?? 10);
  const profileDir = arg('cpu-prof');
  const base = await mkdtemp(join(tmpdir(), 'slotfs-bench-commit-'));
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    const grid = await gridUp({
      dir: base,
      servers,
      nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`] : [],
    });
    const pids = await Promise.all(
      grid.servers.map(async (s) =>
        Number(await readFile(join(base, s.name!, 'server.pid'), 'utf8')),
      ),
    );
    const clients = grid.servers.map((s) => new RawClient(parseNurl(s.nurl), writers));
    const si = (file: number, tag = '') =>
      storageIndexToString(
        createHash('sha256').update(`file ${tag}${file}`).digest().subarray(0, 16),
      );

    /** `run` does all the writes of the phase. */
    const measure = async (name: string, requests: number, run: () => Promise<void>) => {
      const cpuBefore = await Promise.all(pids.map(cpuSeconds));
      const countersBefore = await commitCounters(clients);
      const started = performance.now();
      await run();
      const ms = performance.now() - started;
      const cpu = (await Promise.all(pids.map(cpuSeconds))).reduce(
        (sum, c, i) => sum + c - cpuBefore[i],
        0,
      );
      const countersAfter = await commitCounters(clients);
      const writes = files * servers;
      const row: Row = {
        phase: name,
        'files/s': (files / ms) * 1000,
        'share writes/s': (writes / ms) * 1000,
        'server CPU ms/write': (cpu * 1000) / writes,
        'requests/write': requests / writes,
      };
      if (countersBefore && countersAfter) {
        for (const [k, v] of Object.entries(countersAfter)) {
          row[`${k}/write`] = (v - (countersBefore[k] ?? 0)) / writes;
        }
      }
      rows.push(row);
    };
    /** One request per write: `writers` publishes at once, each to every server. */
    const phase = (name: string, write: (file: number, server: number) => Promise<void>) =>
      measure(name, files * servers, async () => {
        let next = 0;
        await Promise.all(
          Array.from({ length: writers }, async () => {
            for (let f = next++; f < files; f = next++) {
              await Promise.all(clients.map((_, s) => write(f, s)));
            }
          }),
        );
      });
    /**
     * The same writes, `writers` files at a time in one read-test-write-many request per
     * server (what the HTTP client's batching sends when that many publishes wait).
     */
    const batched = (name: string, item: (file: number, server: number) => ManyItem) => {
      const groups = Math.ceil(files / writers);
      return measure(name, groups * servers, async () => {
        for (let g = 0; g < groups; g++) {
          const batch = Array.from(
            { length: Math.min(writers, files - g * writers) },
            (_, i) => g * writers + i,
          );
          await Promise.all(
            clients.map(async (c, s) => {
              const answers = await c.rtwMany(batch.map((f) => item(f, s)));
              answers.forEach((a, i) => {
                if (!('success' in a) || !a.success) {
                  throw new Error(
                    `${name} of file ${batch[i]} on server ${s}: ${JSON.stringify(a)}`,
                  );
                }
              });
            }),
          );
        }
      });
    };

    await phase('create', async (f, s) => {
      const res = await clients[s].rtw(
        si(f),
        tw([[s, { test: [[0, 1, new Uint8Array(0)]], write: [[0, shareBytes(f, s, 1)]] }]]),
        SECRETS,
      );
      if (!res.success) throw new Error(`create of file ${f} on server ${s}: test failed`);
    });
    await phase('update', async (f, s) => {
      const old = shareBytes(f, s, 1);
      const res = await clients[s].rtw(
        si(f),
        tw([[s, { test: [[0, 32, old.subarray(0, 32)]], write: [[0, shareBytes(f, s, 2)]] }]]),
        SECRETS,
      );
      if (!res.success) throw new Error(`update of file ${f} on server ${s}: test failed`);
    });
    const B = 'batched ';
    await batched('create, batched', (f, s) => ({
      si: si(f, B),
      req: tw([[s, { test: [[0, 1, new Uint8Array(0)]], write: [[0, shareBytes(f, s, 1)]] }]]),
      secrets: SECRETS,
    }));
    await batched('update, batched', (f, s) => ({
      si: si(f, B),
      req: tw([
        [
          s,
          {
            test: [[0, 32, shareBytes(f, s, 1).subarray(0, 32)]],
            write: [[0, shareBytes(f, s, 2)]],
          },
        ],
      ]),
      secrets: SECRETS,
    }));
    await Promise.all(clients.map((c) => c.close()));
    notes.push(
      `${files} files × ${servers} servers, ${writers} publishes at once; load average at the end ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} (2 cores)`,
    );
  } finally {
    await gridDown({ dir: base }).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
  return { rows, notes };
}
