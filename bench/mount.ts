// `npm run bench -- mount [--runs=N]`: how long the mount keeps other processes waiting
// while it publishes a large file. A real mount (`slotfs mount --foreground`) of a local
// grid of 10 server processes; `cp` of a 4 MiB and a 20 MiB file into it plus fsync, while
// this process lists the mount in a loop (readdir always reaches the mount: the kernel
// keeps no listing). Reports the copy time and the longest and p95 readdir waits.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gridDown, gridUp, slotfsCommand } from '../src/grid/local-grid.js';
import type { BenchResult, Row } from './table.js';

const SIZES: Array<[string, number]> = [
  ['4 MiB', 4 << 20],
  ['20 MiB', 20 << 20],
];

function shell(script: string): Promise<number | null> {
  return new Promise((resolve) => {
    spawn('bash', ['-c', script], { stdio: 'ignore' }).on('exit', (code) => resolve(code));
  });
}

export default async function mountBench(args: string[]): Promise<BenchResult> {
  const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 3);
  const base = await mkdtemp(join(tmpdir(), 'slotfs-bench-mount-'));
  const mnt = join(base, 'mnt');
  const client = join(base, 'client');
  const rows: Row[] = [];
  const { serversFile } = await gridUp({ dir: join(base, 'grid'), servers: 10 });
  await mkdir(join(client, 'private'), { recursive: true, mode: 0o700 });
  await mkdir(mnt);
  await writeFile(join(client, 'config.toml'), `servers-file = ${JSON.stringify(serversFile)}\n`);
  const cmd = slotfsCommand();
  const mount = spawn(cmd.command, [...cmd.args, 'mount', mnt, '--dir', client, '--foreground'], {
    cwd: cmd.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  mount.stdout.on('data', (c: Buffer) => (output += c.toString()));
  mount.stderr.on('data', (c: Buffer) => (output += c.toString()));
  try {
    for (let i = 0; i < 600 && !output.includes('mounted at'); i++) await sleep(100);
    if (!output.includes('mounted at')) throw new Error(`the mount did not start:\n${output}`);
    for (const [label, size] of SIZES) {
      const source = join(base, `source-${size}`);
      await writeFile(source, randomBytes(size));
      for (let run = 0; run < runs; run++) {
        const target = join(mnt, `copy-${size}-${run}`);
        const fsync = `node -e "const f=require('fs');const d=f.openSync(process.argv[1],'r');f.fsyncSync(d);f.closeSync(d)" ${target}`;
        const waits: number[] = [];
        let done = false;
        const started = performance.now();
        const copied = shell(`cp ${source} ${target} && ${fsync}`).then((code) => {
          done = true;
          return { code, ms: performance.now() - started };
        });
        while (!done) {
          const t = performance.now();
          await readdir(mnt);
          waits.push(performance.now() - t);
          await sleep(5);
        }
        const { code, ms } = await copied;
        if (code !== 0) throw new Error(`cp + fsync of ${label} failed (exit ${code})`);
        waits.sort((a, b) => a - b);
        rows.push({
          size: label,
          run: run + 1,
          'cp + fsync ms': ms,
          readdirs: waits.length,
          'readdir max ms': waits[waits.length - 1],
          'readdir p95 ms': waits[Math.min(waits.length - 1, Math.ceil(waits.length * 0.95) - 1)],
          'readdir median ms': waits[Math.floor((waits.length - 1) / 2)],
        });
      }
    }
  } finally {
    mount.kill('SIGINT');
    await new Promise((r) => mount.once('exit', r));
    await gridDown({ dir: join(base, 'grid') }).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
  return {
    rows,
    notes: [
      `10 servers on loopback, k=3 N=10; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on this machine.`,
      'readdir = one directory listing of the mount by this process, looped while the copy runs.',
    ],
  };
}
