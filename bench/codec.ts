// `npm run bench -- codec [--budget=SECONDS]`: encode and decode speed of slotfs/codec in
// MB/s of input (MB = 10^6 bytes), for the TypeScript and native kernels and, when Debian's
// python3-zfec is installed, zfec itself on the same input in the same run. Decode starts
// from the last k shares, so with m ≥ 2k every primary share is missing and all k blocks
// are recomputed. Each figure is the best of repeated runs (≥ 3, for about `budget`
// seconds), since the machine is shared and the best run is the least disturbed.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { codecWith, splitIntoPieces, type Codec } from '../src/codec/index.js';
import { equalBytes } from '../src/encoding/bytes.js';
import { nativeLoad } from '../src/codec/native.js';
import type { BenchResult, Row } from './table.js';

const CONFIGS: Array<[k: number, m: number]> = [
  [3, 10],
  [25, 100],
];
const SIZES = [1 << 20, 16 << 20];
const MIN_RUNS = 3;

interface Path {
  name: string;
  codec: Codec;
  simd?: boolean;
}

export default async function codecBench(args: string[]): Promise<BenchResult> {
  const budgetArg = args.find((a) => a.startsWith('--budget='));
  const budget = budgetArg ? Number(budgetArg.slice('--budget='.length)) : 1;
  const notes: string[] = [];

  const paths: Path[] = [{ name: 'typescript', codec: codecWith('typescript') }];
  if (nativeLoad.ok) {
    const kind = nativeLoad.addon.simdKind();
    paths.push({ name: `native (${kind})`, codec: codecWith('native'), simd: true });
    if (kind !== 'scalar') {
      paths.push({ name: 'native (scalar)', codec: codecWith('native'), simd: false });
    }
  } else {
    notes.push(`native kernel not measured: ${nativeLoad.reason}`);
  }
  const python = findZfec();
  if (!python) notes.push('zfec not measured: no python3 with zfec (apt-get install python3-zfec)');

  const rows: Row[] = [];
  for (const [k, m] of CONFIGS) {
    for (const size of SIZES) {
      const data = new Uint8Array(randomBytes(size));
      const blocks = splitIntoPieces(data, k);
      const last = Array.from({ length: k }, (_, i) => m - k + i);
      const label = { k, m, size: `${size >> 20} MiB` };

      // zfec is timed before and after slotfs and the better run kept, so a burst of load
      // from other processes does not land on one side only.
      const zfecBefore = python ? runZfec(python, k, m, data, budget) : undefined;
      const digests: string[] = [];
      for (const path of paths) {
        setSimd(path.simd);
        try {
          const shares = path.codec.encode(k, m, blocks);
          digests.push(sharesDigest(shares));
          const given = last.map((n) => shares[n]);
          const decodeLast = () => path.codec.decode(k, m, given, last);
          if (!decodeLast().every((b, i) => equalBytes(b, blocks[i]))) {
            throw new Error(`${path.name} (${k},${m}) decode did not return the input`);
          }
          const timings = {
            encode: best(() => path.codec.encode(k, m, blocks), budget),
            decode: best(decodeLast, budget),
          };
          for (const op of ['encode', 'decode'] as const) {
            const mbps = size / timings[op] / 1e6;
            rows.push({ path: path.name, ...label, op, 'MB/s': mbps, 'vs zfec': null });
          }
        } finally {
          setSimd(true);
        }
      }
      const zfecAfter = python ? runZfec(python, k, m, data, budget) : undefined;
      const zfec = zfecBefore &&
        zfecAfter && {
          ...zfecAfter,
          encode: Math.max(zfecBefore.encode, zfecAfter.encode),
          decode: Math.max(zfecBefore.decode, zfecAfter.decode),
        };
      if (zfec) {
        for (const op of ['encode', 'decode'] as const) {
          rows.push({ path: 'zfec (C via Python)', ...label, op, 'MB/s': zfec[op], 'vs zfec': 1 });
        }
        for (const row of rows) {
          if (row.k === k && row.m === m && row.size === label.size && row['vs zfec'] === null) {
            row['vs zfec'] = (row['MB/s'] as number) / zfec[row.op as 'encode' | 'decode'];
          }
        }
        if (digests.some((d) => d !== zfec.digest)) {
          throw new Error(`(${k},${m}) ${label.size}: zfec's shares differ from slotfs's`);
        }
        if (!zfec.decodeOk) throw new Error(`(${k},${m}): zfec's own decode check failed`);
      }
    }
  }
  rows.sort((a, b) => order(a) - order(b));

  if (python) notes.push(`zfec ${zfecVersion(python)} via ${python}; shares byte-identical.`);
  notes.push(
    `MB/s of input (10^6 bytes), best of ≥ ${MIN_RUNS} runs over ~${budget}s; ` +
      `decode uses the last k shares. CPU: ${cpus()[0]?.model ?? '?'} ×${cpus().length}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}.`,
  );
  return { rows, notes };
}

/** Rows grouped by (k, m, size, op), zfec first within each group. */
function order(r: Row): number {
  const configIndex = CONFIGS.findIndex(([k, m]) => k === r.k && m === r.m);
  const sizeIndex = r.size === '1 MiB' ? 0 : 1;
  const opIndex = r.op === 'encode' ? 0 : 1;
  const pathIndex = String(r.path).startsWith('zfec') ? 0 : 1;
  return ((configIndex * 2 + sizeIndex) * 2 + opIndex) * 2 + pathIndex;
}

function setSimd(enable: boolean | undefined): void {
  if (nativeLoad.ok && enable !== undefined) nativeLoad.addon.simd(enable);
}

/** Best wall time in seconds of `fn`, after one warm-up run. */
function best(fn: () => unknown, budgetSeconds: number): number {
  fn();
  let bestMs = Infinity;
  const start = performance.now();
  for (let runs = 0; runs < MIN_RUNS || performance.now() - start < budgetSeconds * 1000; runs++) {
    const t = performance.now();
    fn();
    bestMs = Math.min(bestMs, performance.now() - t);
  }
  return bestMs / 1000;
}

function sharesDigest(shares: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const s of shares) h.update(s);
  return h.digest('hex');
}

function findZfec(): string | undefined {
  const candidates = [process.env.SLOTFS_PYTHON, '/usr/bin/python3', 'python3'];
  return candidates.find(
    (p): p is string =>
      !!p && spawnSync(p, ['-c', 'import zfec'], { stdio: 'ignore' }).status === 0,
  );
}

function zfecVersion(python: string): string {
  const r = spawnSync(python, ['-c', 'import zfec; print(zfec.__version__)'], {
    encoding: 'utf8',
  });
  return r.stdout.trim() || '?';
}

// Times zfec.Encoder / zfec.Decoder the same way as above, on the input bytes passed on
// stdin (split and padded as splitIntoPieces does), and reports a digest of the shares.
const ZFEC_SCRIPT = `
import sys, json, time, hashlib, zfec
k, m, budget, min_runs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
data = sys.stdin.buffer.read()
size = len(data)
bs = -(-size // k)
data += b"\\0" * (bs * k - size)
blocks = [data[i * bs:(i + 1) * bs] for i in range(k)]
def best(fn):
    fn()
    b, runs, start = float("inf"), 0, time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < budget:
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t); runs += 1
    return b
enc, dec = zfec.Encoder(k, m), zfec.Decoder(k, m)
shares = enc.encode(blocks)
last = list(range(m - k, m))
given = [shares[i] for i in last]
ok = b"".join(dec.decode(given, last)) == data
e = best(lambda: enc.encode(blocks))
d = best(lambda: dec.decode(given, last))
print(json.dumps({"encode": size / e / 1e6, "decode": size / d / 1e6, "decodeOk": ok,
                  "digest": hashlib.sha256(b"".join(shares)).hexdigest()}))
`;

interface ZfecResult {
  encode: number;
  decode: number;
  decodeOk: boolean;
  digest: string;
}

function runZfec(python: string, k: number, m: number, data: Uint8Array, budget: number) {
  const r = spawnSync(python, ['-c', ZFEC_SCRIPT, `${k}`, `${m}`, `${budget}`, `${MIN_RUNS}`], {
    input: data,
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`zfec timing failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout) as ZfecResult;
}
