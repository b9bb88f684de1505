// Crash safety (§9 on-disk rules): processes are SIGKILLed in the middle of writes; after
// every kill and the restart's replay of the commit log, each share must parse and hold
// exactly the last acknowledged version or the next one — never a torn or lost write.
//  - 200 rounds against a bare store process (compiled to plain JS, so it starts in tens of
//    milliseconds) writing three slots of three shares each as fast as it can;
//  - rounds against the real `slotfs server` process with concurrent HTTP writers.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MutableContainer } from './container.js';
import { ShareStore } from './store.js';
import { compileForNode } from './test-support/compile.js';
import {
  CRASH_SECRETS,
  CRASH_SHARES,
  CRASH_SLOTS,
  crashContent,
  crashRequest,
  crashVersionOf,
} from './test-support/crash-writer.js';
import { RawClient } from './test-support/raw-client.js';
import { REPO_ROOT, spawnServer } from './test-support/server-process.js';

// SLOTFS_CRASH_ROUNDS lowers the store rounds for quick local runs (default 200).
const STORE_ROUNDS = Number(process.env.SLOTFS_CRASH_ROUNDS ?? 200);
const SERVER_ROUNDS = 6;

type Versions = Map<string, number[]>; // si → version per share (index = shnum)

function bucket(dir: string, si: string) {
  return path.join(dir, 'shares', si.slice(0, 2), si);
}

/** Reads every share from disk, checking it parses and matches a whole version. */
function diskVersions(t: ExecutionContext, dir: string): { versions: Versions; temps: number } {
  const versions: Versions = new Map();
  let temps = 0;
  for (const si of CRASH_SLOTS) {
    const b = bucket(dir, si);
    if (existsSync(b)) temps += readdirSync(b).filter((n) => n.startsWith('.tmp-')).length;
    versions.set(
      si,
      CRASH_SHARES.map((shnum) => {
        const file = path.join(b, String(shnum));
        if (!existsSync(file)) return 0;
        const c = MutableContainer.parse(readFileSync(file), `${si}/${shnum}`);
        const v = crashVersionOf(c.data);
        if (!Buffer.from(c.data).equals(crashContent(si, shnum, v))) {
          t.fail(`${si}/${shnum} is torn: it does not equal version ${v}`);
        }
        return v;
      }),
    );
  }
  return { versions, temps };
}

/**
 * Every share is at the last acked version or the one after it; with nothing acked this
 * round, at its previous version or the slot's previous maximum + 1. Returns how many
 * shares hold an unacknowledged (in-flight) version.
 */
function checkRound(
  t: ExecutionContext,
  before: Versions,
  after: Versions,
  acked: Map<string, number>,
  label: string,
): number {
  let inFlight = 0;
  for (const si of CRASH_SLOTS) {
    const prev = before.get(si)!;
    const now = after.get(si)!;
    const a = acked.get(si);
    const top = (a ?? Math.max(...prev)) + 1;
    now.forEach((v, shnum) => {
      const low = a ?? prev[shnum];
      if (v < low || v > top) {
        t.fail(`${label}: ${si}/${shnum} holds version ${v}; expected ${low}..${top} (acked ${a})`);
      }
      if (v === top) inFlight++;
    });
  }
  return inFlight;
}

const countAcks = (out: string) => out.match(/^ack /gm)?.length ?? 0;

function parseAcks(out: string): Map<string, number> {
  const acked = new Map<string, number>();
  for (const m of out.matchAll(/^ack (\S+) (\d+)$/gm)) acked.set(m[1], Number(m[2]));
  return acked;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a restart does first: replays the commit log a killed process left. */
async function restartReplay(dir: string) {
  return new ShareStore(dir, { nodeId: new Uint8Array(20), maxShareSize: 1 << 20 }).init();
}

for (const [mode, rounds] of [
  ['single', STORE_ROUNDS],
  ['many', Math.ceil(STORE_ROUNDS / 8)],
] as const) {
  const how = mode === 'many' ? ' (writes batched with readTestWriteMany)' : '';
  test(`SIGKILL a store process mid-write${how}, ${rounds} rounds: shares are old or new, never torn`, (t) =>
    storeRounds(t, mode, rounds));
}

async function storeRounds(t: ExecutionContext, mode: 'single' | 'many', STORE_ROUNDS: number) {
  t.timeout(240_000);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-crash-'));
  try {
    const writer = compileForNode(
      path.join(REPO_ROOT, 'src/storage/test-support/crash-writer.ts'),
      path.join(REPO_ROOT, 'src'),
      path.join(root, 'compiled'),
    );
    const dir = path.join(root, 'store');
    let before = diskVersions(t, dir).versions;
    let acks = 0;
    let inFlight = 0;
    let temps = 0;
    let replayed = 0;
    let tornTails = 0;
    const launch = () => {
      const proc = spawn(process.execPath, [writer, dir, mode], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const io = { out: '', err: '' };
      proc.stdout.setEncoding('utf8').on('data', (d: string) => (io.out += d));
      proc.stderr.setEncoding('utf8').on('data', (d: string) => (io.err += d));
      const exited = new Promise((r) => proc.once('exit', r));
      return { proc, io, exited };
    };
    let next = launch();
    for (let round = 0; round < STORE_ROUNDS; round++) {
      const { proc, io, exited } = next;
      proc.stdin.write('go\n');
      // The next writer loads its code while this one runs; it waits for its "go".
      next = launch();
      // Kill after a random number (0..3) of acknowledged writes plus a few random ms, so
      // kills land at every stage of a write however loaded the machine is.
      const wanted = Math.floor(Math.random() * 4);
      const deadline = Date.now() + 20_000;
      while (!io.out.includes('ready\n') || countAcks(io.out) < wanted) {
        if (proc.exitCode !== null || Date.now() > deadline) {
          t.fail(`writer stalled or exited: ${io.err}`);
          break;
        }
        await sleep(1);
      }
      await sleep(Math.random() * 8);
      proc.kill('SIGKILL');
      await exited;
      t.is(io.err, '', `round ${round}: writer stderr`);
      acks += countAcks(io.out);
      const replay = await restartReplay(dir);
      replayed += replay.replayedRecords;
      if (replay.tornBytes > 0) tornTails++;
      const after = diskVersions(t, dir);
      temps += after.temps;
      inFlight += checkRound(t, before, after.versions, parseAcks(io.out), `round ${round}`);
      before = after.versions;
    }
    next.proc.kill('SIGKILL');
    await next.exited;
    t.log(
      `${STORE_ROUNDS} kills: ${acks} acknowledged slot writes, ${inFlight} shares caught with an unacknowledged write applied, ${replayed} log records replayed, ${tornTails} torn log tails`,
    );
    t.true(acks > 0);
    t.true(inFlight + replayed > 0, 'kills landed in the middle of writes');
    t.is(temps, 0, 'no temporary files');
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

test(`SIGKILL the real server during concurrent HTTP writes, ${SERVER_ROUNDS} rounds`, async (t) => {
  t.timeout(240_000);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-crash-server-'));
  try {
    let before = diskVersions(t, dir).versions;
    let inFlight = 0;
    let acks = 0;
    let replayed = 0;
    for (let round = 0; round < SERVER_ROUNDS; round++) {
      const server = await spawnServer(dir);
      const client = new RawClient(server.parsed);
      const acked = new Map<string, number>();
      let written = 0;
      let stop = false;
      const writers = CRASH_SLOTS.map(async (si) => {
        let next = Math.max(...before.get(si)!) + 1;
        while (!stop) {
          try {
            const res = await client.rtw(si, crashRequest(si, next), CRASH_SECRETS);
            if (!res.success) throw new Error('unexpected test failure');
          } catch {
            return; // the server died under this request
          }
          acked.set(si, next++);
          written++;
        }
      });
      // Kill after 1..8 acknowledged writes and a few random ms more.
      const wanted = 1 + Math.floor(Math.random() * 8);
      const deadline = Date.now() + 20_000;
      while (written < wanted && Date.now() < deadline) await sleep(1);
      await sleep(Math.random() * 10);
      await server.kill();
      stop = true;
      await Promise.all(writers);
      await client.close().catch(() => undefined);
      acks += written;
      replayed += (await restartReplay(dir)).replayedRecords;
      const after = diskVersions(t, dir);
      inFlight += checkRound(t, before, after.versions, acked, `server round ${round}`);
      before = after.versions;
    }
    // A last start serves exactly what is on disk.
    const server = await spawnServer(dir);
    const client = new RawClient(server.parsed);
    for (const si of CRASH_SLOTS) {
      for (const shnum of CRASH_SHARES) {
        const v = before.get(si)![shnum];
        const data = await client.share(si, shnum);
        t.deepEqual(
          data && Buffer.from(data),
          v ? Buffer.from(crashContent(si, shnum, v)) : undefined,
        );
      }
    }
    await client.close();
    t.is(await server.stop(), 0, 'clean exit on SIGTERM');
    t.log(
      `${SERVER_ROUNDS} server kills: ${acks} slot versions acknowledged, ${inFlight} unacknowledged writes found applied, ${replayed} log records replayed`,
    );
    t.true(acks > 0);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
