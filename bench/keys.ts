// `npm run bench -- keys [--quick]`: what does RSA key size cost, and would ECC help?
// Key generation (median ms per key, sequential, via Node's async generator), sign and
// verify throughput for RSA-2048 PSS (what Tahoe uses) and Ed25519, and the time to take
// a key from a warm KeyPool.
import { generateKeyPair, sign, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { KeyPool } from '../src/crypto/keypool.js';
import { loadPrivateKey, loadPublicKey, signPss, verifyPss } from '../src/crypto/rsa.js';
import type { BenchResult, Row } from './table.js';

const generate = promisify(generateKeyPair);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timeEach(samples: number, fn: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return times;
}

// Runs `fn` repeatedly for about `ms` milliseconds and returns operations per second.
function opsPerSecond(ms: number, fn: () => void): { ops: number; runs: number } {
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 10; i++) fn();
    runs += 10;
    elapsed = performance.now() - start;
  }
  return { ops: (runs / elapsed) * 1000, runs };
}

function genRow(algorithm: string, times: number[]): Row {
  return {
    measure: 'generate key',
    algorithm,
    samples: times.length,
    'median ms': median(times),
    'min ms': Math.min(...times),
    'max ms': Math.max(...times),
    'ops/s': null,
  };
}

export default async function keys(args: string[]): Promise<BenchResult> {
  const quick = args.includes('--quick');
  const rows: Row[] = [];
  const scale = (n: number) => (quick ? Math.max(2, Math.ceil(n / 4)) : n);

  for (const [bits, samples] of [
    [1024, 20],
    [2048, 12],
    [3072, 6],
    [4096, 4],
  ]) {
    const times = await timeEach(scale(samples), () => generate('rsa', { modulusLength: bits }));
    rows.push(genRow(`RSA-${bits}`, times));
  }
  rows.push(genRow('Ed25519', await timeEach(scale(200), () => generate('ed25519'))));
  rows.push(
    genRow(
      'ECDSA P-256',
      await timeEach(scale(200), () => generate('ec', { namedCurve: 'P-256' })),
    ),
  );

  // 75 bytes: the size of an SDMF signed prefix.
  const message = new Uint8Array(75).fill(7);
  const window = quick ? 300 : 1000;
  const rsa = await generate('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  const rsaPrivate = loadPrivateKey(new Uint8Array(rsa.privateKey));
  const rsaPublic = loadPublicKey(new Uint8Array(rsa.publicKey));
  const rsaSig = signPss(rsaPrivate, message);
  const ed = await generate('ed25519');
  const edSig = sign(null, message, ed.privateKey);
  const throughput = (measure: string, algorithm: string, fn: () => void): Row => {
    const { ops, runs } = opsPerSecond(window, fn);
    return {
      measure,
      algorithm,
      samples: runs,
      'median ms': 1000 / ops,
      'min ms': null,
      'max ms': null,
      'ops/s': Math.round(ops),
    };
  };
  const check = (ok: boolean) => {
    if (!ok) throw new Error('benchmark signature did not verify');
  };
  rows.push(throughput('sign', 'RSA-2048 PSS', () => signPss(rsaPrivate, message)));
  rows.push(
    throughput('verify', 'RSA-2048 PSS', () => check(verifyPss(rsaPublic, message, rsaSig))),
  );
  rows.push(throughput('sign', 'Ed25519', () => sign(null, message, ed.privateKey)));
  rows.push(
    throughput('verify', 'Ed25519', () =>
      check(verify(null, message, ed.publicKey as KeyObject, edSig)),
    ),
  );

  // A warm pool hands out keys without waiting for generation.
  const poolSize = quick ? 4 : 8;
  const pool = new KeyPool({ size: poolSize, bits: 2048 });
  const warmStart = performance.now();
  await pool.warm();
  const warmMs = performance.now() - warmStart;
  const takes = await timeEach(poolSize, () => pool.take());
  await pool.close();
  rows.push({
    measure: 'take from warm pool',
    algorithm: 'RSA-2048',
    samples: takes.length,
    'median ms': median(takes),
    'min ms': Math.min(...takes),
    'max ms': Math.max(...takes),
    'ops/s': null,
  });

  return {
    rows,
    notes: [
      `Key generation is sequential (one at a time) with Node ${process.version}'s async generateKeyPair; RSA times vary widely per key (prime search).`,
      `Warming a ${poolSize}-key RSA-2048 pool (concurrency 1) took ${warmMs.toFixed(0)} ms.`,
      'Sign/verify: 75-byte message (an SDMF signed prefix); RSA-PSS SHA-256, salt 32, parsed KeyObjects.',
      quick ? 'Quick mode: fewer samples.' : '',
    ].filter(Boolean),
  };
}
