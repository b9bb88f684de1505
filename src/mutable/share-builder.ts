// Builds the shares of a version (encrypt, erasure-code, hash, sign) on a worker thread
// when the file is large. The mount serves every file operation on Node's main thread, and
// a large publish is seconds of CPU there; small files are built in place, where a thread
// hop would cost more than it saves. A worker that cannot start or fails a job costs only
// speed: the job is built on this thread instead, so errors keep their types.
import { Worker } from 'node:worker_threads';
import type { SigningKeys } from '../sdmf/build.js';
import { buildShares, type BuiltVersion } from '../sdmf/build.js';
import { MAX_SDMF_FILE_SIZE } from '../sdmf/index.js';

/** Files at least this large are built off the main thread. */
export const OFF_THREAD_BYTES = 256 * 1024;

export interface BuildJob {
  id: number;
  plaintext: Uint8Array;
  keys: SigningKeys;
  seqnum: number;
  k: number;
  N: number;
}

export type BuildAnswer = { id: number; version: BuiltVersion } | { id: number; error: string };

/** How builds went in this process (what the tests check). */
export interface ShareBuilderStats {
  offThread: number;
  onThread: number;
  /** Off-thread attempts that failed and were built on this thread instead. */
  fallbacks: number;
  /** Why the worker last failed, if it did. */
  lastFailure?: string;
  /** Whether the worker thread is started. */
  running: boolean;
}

const stats: Omit<ShareBuilderStats, 'running'> = { offThread: 0, onThread: 0, fallbacks: 0 };

export function shareBuilderStats(): ShareBuilderStats {
  return { ...stats, running: worker !== undefined };
}

interface Pending {
  resolve(v: BuiltVersion): void;
  reject(err: Error): void;
}

let worker: Worker | undefined;
let broken: string | undefined;
const pending = new Map<number, Pending>();
let nextId = 1;

/** Running from source (tsx), the worker registers tsx itself: workers do not inherit it. */
function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const file = new URL('./share-builder-worker.ts', here).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    return new Worker(
      `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(file)}); });`,
      { eval: true },
    );
  }
  return new Worker(new URL('./share-builder-worker.js', here));
}

/** The jobs' callers record the reason (buildSharesAsync's fallback). */
function failAll(reason: string): void {
  const jobs = [...pending.values()];
  pending.clear();
  for (const job of jobs) job.reject(new Error(reason));
}

function thread(): Worker {
  if (worker) return worker;
  const w = startWorker();
  w.on('message', (answer: BuildAnswer) => {
    const job = pending.get(answer.id);
    if (!job) return;
    pending.delete(answer.id);
    if (pending.size === 0) w.unref();
    if ('version' in answer) job.resolve(answer.version);
    else job.reject(new Error(answer.error));
  });
  w.on('error', (err) => {
    broken = `the share-builder thread failed: ${err.message}`;
    failAll(broken);
  });
  w.on('exit', (code) => {
    if (worker === w) worker = undefined;
    if (pending.size > 0) failAll(`the share-builder thread exited (code ${code})`);
  });
  w.unref();
  worker = w;
  return w;
}

function offThread(job: Omit<BuildJob, 'id'>): Promise<BuiltVersion> {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    const w = thread();
    pending.set(id, { resolve, reject });
    w.ref();
    // A copy of our own to transfer: cloning would copy the whole buffer behind the view
    // (which may be far larger), and the caller keeps its bytes.
    const plaintext = job.plaintext.slice();
    w.postMessage({ id, ...job, plaintext } satisfies BuildJob, [plaintext.buffer]);
  });
}

/** `buildShares` with a fresh salt, off the main thread for large files. */
export async function buildSharesAsync(
  plaintext: Uint8Array,
  keys: SigningKeys,
  seqnum: number,
  k: number,
  N: number,
): Promise<BuiltVersion> {
  const large = plaintext.length >= OFF_THREAD_BYTES && plaintext.length <= MAX_SDMF_FILE_SIZE;
  if (large && !broken) {
    try {
      const version = await offThread({ plaintext, keys, seqnum, k, N });
      stats.offThread++;
      return version;
    } catch (err) {
      stats.fallbacks++;
      stats.lastFailure = (err as Error).message;
    }
  }
  stats.onThread++;
  return buildShares(plaintext, keys, seqnum, k, N);
}

/**
 * Starts the worker now, so that the first large publish does not wait for it to load its
 * modules (≈ 0.3 s from source; the first `git clone` into a fresh mount fsyncs a pack).
 */
export function warmShareBuilder(): void {
  if (!broken) thread();
}

/** Stops the worker (tests; a process exits without it, as the thread is unref'd). */
export async function stopShareBuilder(): Promise<void> {
  const w = worker;
  worker = undefined;
  broken = undefined;
  if (w) await w.terminate();
}
