// `slotfs get` of Tahoe's immutable files: a CHK file uploaded to real `slotfs server`
// processes through Tahoe's immutable upload protocol (allocate, chunks), and LIT caps.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseCap } from '../caps/index.js';
import type { ImmutableCap } from '../caps/types.js';
import { HttpStorageClient } from '../grid/http-client.js';
import { TestGrid } from '../mutable/test-support/test-grid.js';
import { slotfsCommand } from '../grid/local-grid.js';
import { REPO_ROOT } from '../storage/test-support/server-process.js';

const run = promisify(execFile);
const CLI = slotfsCommand();
const VECTORS = join(REPO_ROOT, 'src', 'chk', 'vectors');

let grid: TestGrid;
let root: string;
let serversFile: string;

test.before(async () => {
  grid = await TestGrid.start(3);
  root = await mkdtemp(join(tmpdir(), 'slotfs-get-immutable-'));
  serversFile = join(root, 'servers.yaml');
  await writeFile(serversFile, grid.serversYaml());
});
test.after.always(async () => {
  await grid?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function get(cap: string, dir = join(root, 'client')) {
  const { stdout, stderr } = await run(
    CLI.command,
    [...CLI.args, 'get', cap, '--dir', dir, '--servers', serversFile, '--json'],
    { cwd: CLI.cwd, encoding: 'buffer', maxBuffer: 64 << 20 },
  );
  const last = stderr.toString().trim().split('\n').pop() ?? '{}';
  return { bytes: new Uint8Array(stdout), report: JSON.parse(last) as { seqnum: null } };
}

test.serial(
  'a Tahoe CHK file uploaded chunk by chunk to slotfs servers is read by slotfs get',
  async (t) => {
    const manifest = JSON.parse(await readFile(join(VECTORS, 'manifest.json'), 'utf8')) as Record<
      string,
      { cap: string }
    >;
    const cap = parseCap(manifest['chk-300000'].cap) as ImmutableCap;
    // Five shares on three servers: two of them hold two shares each.
    const clients = grid.servers.map((s) => new HttpStorageClient(s.entry));
    t.teardown(() => Promise.all(clients.map((c) => c.close())).then(() => undefined));
    for (let n = 0; n < 5; n++) {
      const share = new Uint8Array(await readFile(join(VECTORS, `chk-300000.sh${n}.share`)));
      const client = clients[n % clients.length];
      const secrets = {
        uploadSecret: new Uint8Array(randomBytes(32)),
        leaseRenewSecret: new Uint8Array(randomBytes(32)),
        leaseCancelSecret: new Uint8Array(randomBytes(32)),
      };
      const { allocated } = await client.allocateBuckets(
        cap.storageIndex,
        secrets,
        [n],
        share.length,
      );
      t.deepEqual(allocated, [n]);
      for (let at = 0; at < share.length; at += 40_000) {
        const chunk = share.subarray(at, at + 40_000);
        await client.writeImmutableShare(cap.storageIndex, n, secrets.uploadSecret, at, chunk);
      }
    }
    const out = await get(manifest['chk-300000'].cap);
    t.deepEqual(out.bytes, new Uint8Array(await readFile(join(VECTORS, 'chk-300000.plain'))));
    t.is(out.report.seqnum, null);
  },
);

test.serial('LIT caps are printed without asking the grid', async (t) => {
  const manifest = JSON.parse(await readFile(join(VECTORS, 'manifest.json'), 'utf8')) as Record<
    string,
    { cap: string }
  >;
  const lit = await get(manifest['lit-20'].cap, join(root, 'no-such-client'));
  t.deepEqual(lit.bytes, new Uint8Array(await readFile(join(VECTORS, 'lit-20.plain'))));
  t.is((await get('URI:LIT:')).bytes.length, 0);
});
