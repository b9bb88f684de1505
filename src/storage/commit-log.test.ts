// The commit log on real files: what a restart finds after a crash is replayed — from the
// log alone when the share files never reached the disk, over files that already hold the
// changes, and up to a torn tail only.
import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MutableContainer } from './container.js';
import { CommitLog } from './commit-log.js';
import { encodeRecord } from './commit-record.js';
import { ShareStore } from './store.js';
import {
  CRASH_SECRETS,
  CRASH_SHARES,
  crashContent,
  crashRequest,
} from './test-support/crash-writer.js';

const X = 'xxxxxxxxxxxxxxxxxxxxxxxxxa';
const Y = 'yyyyyyyyyyyyyyyyyyyyyyyyya';
const Z = 'zzzzzzzzzzzzzzzzzzzzzzzzza';
const options = { nodeId: new Uint8Array(20).fill(1), maxShareSize: 1 << 20 };

async function shareData(dir: string, si: string, shnum: number) {
  try {
    const bytes = await fs.readFile(path.join(dir, 'shares', si.slice(0, 2), si, String(shnum)));
    return Buffer.from(MutableContainer.parse(bytes).data);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

test('a restart replays the log: from the log alone, over files that hold it, up to a torn tail', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-commit-log-'));
  try {
    const live = path.join(root, 'live');
    // No checkpoint while the test runs: the log keeps every record.
    const store = new ShareStore(live, { ...options, commitLog: { idleCheckpointMs: 3_600_000 } });
    await store.init();
    for (const v of [1, 2, 3]) await store.readTestWrite(X, crashRequest(X, v), CRASH_SECRETS);
    await store.readTestWrite(Y, crashRequest(Y, 1), CRASH_SECRETS);
    t.is(store.commitCounters.records, 4);
    t.is(store.commitCounters.fileSyncs, 0, 'no share file fsynced before a checkpoint');

    // Crash images: the log durable, the share files either lost or all written.
    const lost = path.join(root, 'lost');
    const kept = path.join(root, 'kept');
    await fs.cp(path.join(live, 'commit-log'), path.join(lost, 'commit-log'), { recursive: true });
    await fs.cp(live, kept, { recursive: true });
    await store.close();
    t.deepEqual(await fs.readdir(path.join(live, 'commit-log')), [], 'a clean stop leaves no log');

    // A batch cut short by the crash: a record for Z, half written.
    const [segment] = await fs.readdir(path.join(lost, 'commit-log'));
    const torn = encodeRecord({
      si: Z,
      edits: [{ shnum: 0, kind: 'whole', bytes: new Uint8Array(3000).fill(7) }],
    });
    await fs.appendFile(path.join(lost, 'commit-log', segment), torn.subarray(0, 1500));

    for (const [image, label] of [
      [lost, 'from the log alone'],
      [kept, 'over files that already hold the changes'],
    ] as const) {
      const restarted = new ShareStore(image, options);
      const { replayedRecords, tornBytes } = await restarted.init();
      t.is(replayedRecords, 4, label);
      t.is(tornBytes, image === lost ? 1500 : 0, label);
      for (const shnum of CRASH_SHARES) {
        t.deepEqual(
          await shareData(image, X, shnum),
          Buffer.from(crashContent(X, shnum, 3)),
          label,
        );
        t.deepEqual(
          await shareData(image, Y, shnum),
          Buffer.from(crashContent(Y, shnum, 1)),
          label,
        );
        t.is(
          await shareData(image, Z, shnum),
          undefined,
          `${label}: the torn record is not applied`,
        );
      }
      t.deepEqual(await fs.readdir(path.join(image, 'commit-log')), [], `${label}: log deleted`);
      t.true(restarted.commitCounters.fileSyncs >= 6, `${label}: replayed files fsynced`);
      // And it serves on: the next version builds on the replayed one.
      const next = await restarted.readTestWrite(X, crashRequest(X, 4), CRASH_SECRETS);
      t.true(next.success);
      await restarted.close();
      t.deepEqual(await shareData(image, X, 0), Buffer.from(crashContent(X, 0, 4)));
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('a checkpoint fsyncs each touched file once, however often it changed', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-commit-log-'));
  try {
    const store = new ShareStore(root, { ...options, commitLog: { idleCheckpointMs: 3_600_000 } });
    await store.init();
    for (let v = 1; v <= 10; v++) await store.readTestWrite(X, crashRequest(X, v), CRASH_SECRETS);
    t.is(store.commitCounters.records, 10);
    t.is(store.commitCounters.logSyncs, 10, 'one after another: one log fdatasync each');
    await store.close();
    t.is(store.commitCounters.checkpoints, 1);
    t.is(store.commitCounters.fileSyncs, CRASH_SHARES.length);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

/** `count` storage indexes that differ in their first two letters (new bucket and prefix). */
const manySlots = (count: number) =>
  Array.from({ length: count }, (_, i) =>
    `${'abcdefghijklmnopqrstuvwxyz'[i % 26]}${i}`.padEnd(26, 'q'),
  );

/**
 * Writes new shares to 12 slots in a store whose only checkpoint is the one at close (with
 * `syncCommand` as given), and closes it.
 */
async function checkpointManySlots(root: string, syncCommand?: string) {
  const store = new ShareStore(root, {
    ...options,
    commitLog: { idleCheckpointMs: 3_600_000, ...(syncCommand ? { syncCommand } : {}) },
  });
  await store.init();
  const slots = manySlots(12);
  for (const si of slots) await store.readTestWrite(si, crashRequest(si, 1), CRASH_SECRETS);
  await store.close();
  return { store, slots };
}

/** A reopened store replays nothing (the log was checkpointed away) and holds every share. */
async function assertCheckpointed(t: ExecutionContext, root: string, slots: string[]) {
  const reopened = new ShareStore(root, options);
  t.is((await reopened.init()).replayedRecords, 0, 'the log was checkpointed away');
  for (const si of slots) {
    t.deepEqual(await shareData(root, si, 2), Buffer.from(crashContent(si, 2, 1)));
  }
  await reopened.close();
}

test('a checkpoint of many touched files syncs the file system once instead of an fsync each', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-commit-log-'));
  try {
    const { store, slots } = await checkpointManySlots(root);
    t.is(store.commitCounters.checkpoints, 1);
    t.is(store.commitCounters.fsSyncs, 1);
    t.is(store.commitCounters.fileSyncs, 0);
    await assertCheckpointed(t, root, slots);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('without the sync program a checkpoint fsyncs every touched file and directory', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-commit-log-'));
  try {
    const { store, slots } = await checkpointManySlots(root, path.join(root, 'no-such-sync'));
    t.is(store.commitCounters.checkpoints, 1);
    t.is(store.commitCounters.fsSyncs, 0);
    t.is(store.commitCounters.fileSyncs, slots.length * CRASH_SHARES.length);
    t.true(store.commitCounters.dirSyncs >= 2 * slots.length, 'buckets and prefixes');
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('a sync program that fails: that checkpoint fsyncs every touched file, and the shares are there', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-commit-log-'));
  try {
    // `false -f <dir>` exits 1: the program started and refused.
    const { store, slots } = await checkpointManySlots(root, 'false');
    t.is(store.commitCounters.checkpoints, 1);
    t.is(store.commitCounters.fsSyncs, 0);
    t.is(store.commitCounters.fileSyncs, slots.length * CRASH_SHARES.length);
    await assertCheckpointed(t, root, slots);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('a record that fails to apply while its segment is being checkpointed stays for the replay', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-commit-log-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const log = new CommitLog(dir, { idleCheckpointMs: 3_600_000, syncCommand: false });
  await log.replay(async () => ({ files: [], dirs: [] }));
  const record = { si: X, edits: [{ shnum: 0, kind: 'delete' as const }] };
  let applying!: () => void;
  const started = new Promise<void>((resolve) => (applying = resolve));
  let refuse!: (err: Error) => void;
  const refused = new Promise<never>((_, reject) => (refuse = reject));
  const committing = log.commit(record, async () => {
    applying();
    return refused; // the share files refuse the change (EPERM, a full disk)
  });
  await started;
  // The checkpoint of that segment starts while the record is being applied …
  const checkpoint = log.checkpointNow();
  refuse(Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' }));
  await t.throwsAsync(committing, { message: /EPERM/ });
  await checkpoint;
  // … and must not delete it: a restart applies the record.
  const replayed: string[] = [];
  await new CommitLog(dir).replay(async (r) => {
    replayed.push(r.si);
    return { files: [], dirs: [] };
  });
  t.deepEqual(replayed, [X]);
});
