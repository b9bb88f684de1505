// Test helper: a process that writes versions of several slots through ShareStore as fast as
// it can, printing `ack <si> <version>` after each read-test-write returns. The crash test
// SIGKILLs it at random moments and checks that every share on disk is the acked version
// or the next one — never torn, never lost.
//
// Run as: node crash-writer.js <dir> [many]   (the test compiles it to plain JS: fast
// start-up); with `many`, the slots' writes go together through readTestWriteMany.
// It waits for a line on stdin before touching <dir>, so the test can start the next
// writer while the previous one is still running.
import { createHash } from 'node:crypto';
import type { ReadTestWriteRequest, TestWriteVectors } from '../protocol.js';
import { ShareStore } from '../store.js';

export const CRASH_SLOTS = [
  'aaaaaaaaaaaaaaaaaaaaaaaaaa',
  'bbbbbbbbbbbbbbbbbbbbbbbbba',
  'ccccccccccccccccccccccccca',
];
export const CRASH_SHARES = [0, 1, 2];
export const CRASH_SECRETS = {
  writeEnabler: new Uint8Array(32).fill(7),
  leaseRenewSecret: new Uint8Array(32).fill(8),
  leaseCancelSecret: new Uint8Array(32).fill(9),
};

/** The data of share `shnum` of `si` at `version` (0 = absent); sizes grow and shrink. */
export function crashContent(si: string, shnum: number, version: number): Uint8Array {
  if (version === 0) return new Uint8Array(0);
  const size = 64 + ((version * 7919 + shnum * 104729) % 6000);
  const out = new Uint8Array(size);
  let block = createHash('sha256').update(`${si}/${shnum}/${version}`).digest();
  for (let o = 0; o < size; o += 32) {
    out.set(block.subarray(0, Math.min(32, size - o)), o);
    block = createHash('sha256').update(block).digest();
  }
  // The first 8 bytes say which version this is, so a reader can tell.
  new DataView(out.buffer).setUint32(0, version);
  return out;
}

/** Writes `version` of every share of `si` (whole data, length set exactly). */
export function crashRequest(si: string, version: number): ReadTestWriteRequest {
  const testWriteVectors = new Map<number, TestWriteVectors>();
  for (const shnum of CRASH_SHARES) {
    const data = crashContent(si, shnum, version);
    testWriteVectors.set(shnum, {
      test: [],
      write: [{ offset: 0, data }],
      newLength: data.length,
    });
  }
  return { testWriteVectors, readVector: [] };
}

/** Reads the version number a share carries (0 for an empty/absent share). */
export function crashVersionOf(data: Uint8Array): number {
  return data.length < 4 ? 0 : new DataView(data.buffer, data.byteOffset).getUint32(0);
}

async function main(dir: string, many: boolean) {
  await new Promise((resolve) => process.stdin.once('data', resolve));
  const store = new ShareStore(dir, { nodeId: new Uint8Array(20).fill(1), maxShareSize: 1 << 20 });
  await store.init();
  const versions = new Map<string, number>();
  for (const si of CRASH_SLOTS) {
    const r = await store.readTestWrite(
      si,
      { testWriteVectors: new Map(), readVector: [{ offset: 0, size: 4 }] },
      CRASH_SECRETS,
    );
    const seen = [...r.data.values()].map((reads) => crashVersionOf(reads[0]));
    versions.set(si, Math.max(0, ...seen));
  }
  process.stdout.write('ready\n');
  if (many) {
    // All slots' next versions in one readTestWriteMany (one commit-log batch) at a time.
    for (;;) {
      const batch = CRASH_SLOTS.map((si) => ({
        si,
        req: crashRequest(si, versions.get(si)! + 1),
        secrets: CRASH_SECRETS,
      }));
      const outcomes = await store.readTestWriteMany(batch);
      outcomes.forEach((o, i) => {
        if (o.status === 'rejected') throw o.reason;
        const si = CRASH_SLOTS[i];
        versions.set(si, versions.get(si)! + 1);
        process.stdout.write(`ack ${si} ${versions.get(si)}\n`);
      });
    }
  }
  await Promise.all(
    CRASH_SLOTS.map(async (si) => {
      for (;;) {
        const next = versions.get(si)! + 1;
        await store.readTestWrite(si, crashRequest(si, next), CRASH_SECRETS);
        versions.set(si, next);
        process.stdout.write(`ack ${si} ${next}\n`); // pipes are synchronous on Linux
      }
    }),
  );
}

if (process.argv[1]?.endsWith('crash-writer.js')) {
  main(process.argv[2], process.argv[3] === 'many').catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
