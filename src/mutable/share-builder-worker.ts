// The thread behind share-builder.ts: builds shares on request and hands the share
// buffers back without copying them.
import { parentPort } from 'node:worker_threads';
import { buildShares } from '../sdmf/build.js';
import type { BuildJob, BuildAnswer } from './share-builder.js';

const port = parentPort;
if (!port) throw new Error('share-builder-worker.ts runs only as a worker thread');

port.on('message', (job: BuildJob) => {
  let answer: BuildAnswer;
  let transfer: ArrayBuffer[] = [];
  try {
    const version = buildShares(job.plaintext, job.keys, job.seqnum, job.k, job.N);
    answer = { id: job.id, version };
    // Large buffers only: small ones may sit in Node's shared Buffer pool.
    transfer = [...new Set(version.shares.map((s) => s.buffer as ArrayBuffer))].filter(
      (b) => b.byteLength >= 64 * 1024,
    );
  } catch (err) {
    answer = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(answer, transfer);
});
