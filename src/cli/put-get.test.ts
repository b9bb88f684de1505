// `slotfs put` / `slotfs get` as separate processes sharing one client directory: the
// warm paths and the rollback guard survive a restart; a corrupt cache costs nothing but speed.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatCap, parseCap, readCapOf, requireWriteCap } from '../caps/index.js';
import { readByTheDoc, storageIndexByTheDoc } from '../sdmf/test-support/doc-reader.js';
import { fileContext } from '../mutable/context.js';
import { newLeaseSecret } from '../mutable/mutable-client.js';
import { TestGrid } from '../mutable/test-support/test-grid.js';
import { slotfsCommand } from '../grid/local-grid.js';

const run = promisify(execFile);
const CLI = slotfsCommand();

let grid: TestGrid;
let root: string;
let serversFile: string;

test.before(async () => {
  grid = await TestGrid.start(5);
  root = await mkdtemp(join(tmpdir(), 'slotfs-cli-'));
  serversFile = join(root, 'servers.yaml');
  await writeFile(serversFile, grid.serversYaml());
});
test.after.always(async () => {
  await grid?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

interface Cost {
  cap: string;
  seqnum: number;
  roundTrips: number;
  requests: number;
  bytesSent: number;
  bytesReceived: number;
  ms: number;
}

async function slotfs(args: string[], input?: string) {
  const child = run(CLI.command, [...CLI.args, ...args], {
    cwd: CLI.cwd,
    maxBuffer: 64 << 20,
  });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  }
  const { stdout, stderr } = await child;
  const last = stderr.trim().split('\n').pop() ?? '';
  return {
    stdout,
    stderr,
    cost: (last.startsWith('{') ? JSON.parse(last) : undefined) as Cost | undefined,
  };
}

for (const format of ['ed25519', 'tahoe'] as const) {
  test.serial(
    `warm paths and the rollback guard survive a restart of the client [${format}]`,
    async (t) => {
      const dir = join(root, `client-a-${format}`);
      const put = await slotfs(
        ['put', '-', '--dir', dir, '--servers', serversFile, '--json', '--format', format],
        'first\n',
      );
      const cap = put.stdout.trim();
      t.regex(cap, format === 'ed25519' ? /^URI:ED25519:/ : /^URI:SSK:/);
      t.is(put.cost?.roundTrips, 1);

      // A new process with the same client directory: an unchanged read is one round trip
      // and downloads no share data.
      const read = await slotfs(['get', cap, '--dir', dir, '--json']);
      t.is(read.stdout, 'first\n');
      t.is(read.cost?.roundTrips, 1);
      t.true(read.cost!.bytesReceived < 1000, `received ${read.cost!.bytesReceived} bytes`);

      // …and an update is one round trip.
      const update = await slotfs(['put', '--to', cap, '-', '--dir', dir, '--json'], 'second\n');
      t.is(update.cost?.roundTrips, 1);
      t.is(update.cost?.seqnum, 2);

      // Another client, with its own cache, reads it cold in one round trip.
      const other = await slotfs([
        'get',
        cap,
        '--dir',
        join(root, `client-b-${format}`),
        '--servers',
        serversFile,
        '--json',
      ]);
      t.is(other.stdout, 'second\n');
      t.is(other.cost?.roundTrips, 1);

      // Make every server hold version 1 again (as stale or hostile servers would serve it).
      const parsed = requireWriteCap(parseCap(cap));
      const servers = grid.clients();
      const ctx = fileContext(
        {
          format: parsed.format === 'ed25519' ? 'ed25519' : 'sdmf',
          seed: parsed.seed,
          fingerprint: parsed.fingerprint,
          storageIndex: parsed.storageIndex,
          writekey: parsed.writekey,
          readkey: parsed.readkey,
        },
        servers,
        newLeaseSecret(),
      );
      // Publish a signed seqnum 1 over everything, using the key from a share: genuine but old.
      const { publishVersion } = await import('../mutable/publish.js');
      const { keyPairFromPrivateKey } = await import('../crypto/rsa.js');
      const { aesCtr } = await import('../crypto/aes.js');
      const some = servers[0];
      const [shnum] = await some.listShares(parsed.storageIndex);
      const share = (await some.readShare(parsed.storageIndex, shnum, 0, 1 << 20))!;
      const { parseShare } = await import('../sdmf/layout.js');
      // The key: an Ed25519 write cap is its key; an SDMF one's is encrypted in the share.
      const keys =
        format === 'ed25519'
          ? { seed: parsed.seed!, publicKey: parsed.fingerprint }
          : keyPairFromPrivateKey(aesCtr(parsed.writekey, parseShare(share).encryptedPrivateKey));
      const expected = new Map();
      for (const s of servers) {
        const held = new Map();
        for (const n of await s.listShares(parsed.storageIndex)) {
          held.set(n, (await s.readShare(parsed.storageIndex, n, 0, 57))!);
        }
        expected.set(s, held);
      }
      await publishVersion({
        ctx,
        keys,
        plaintext: new TextEncoder().encode('rolled back\n'),
        seqnum: 1,
        k: 3,
        N: 10,
        expected,
        happy: 10,
      });
      await Promise.all(servers.map((s) => s.close()));

      const refused = await t.throwsAsync(slotfs(['get', cap, '--dir', dir]));
      t.regex(
        (refused as Error & { stderr: string }).stderr,
        /rollback refused.*verified seqnum 2.*offer at most seqnum 1/s,
      );
    },
  );
}

test.serial('a corrupt cache database loses speed, not correctness', async (t) => {
  const dir = join(root, 'client-c');
  const put = await slotfs(['put', '-', '--dir', dir, '--servers', serversFile], 'kept safe\n');
  const cap = put.stdout.trim();
  const cacheDir = join(dir, 'cache');
  for (const f of await readdir(cacheDir)) {
    if (f.startsWith('MANIFEST') || f === 'CURRENT' || f.endsWith('.ldb') || f.endsWith('.log')) {
      await writeFile(join(cacheDir, f), 'not a leveldb file');
    }
  }
  const read = await slotfs(['get', cap, '--dir', dir, '--json']);
  t.is(read.stdout, 'kept safe\n');
  t.regex(read.stderr, /moved it to .*corrupt/);
  t.is(read.cost?.roundTrips, 1);
  // The fresh cache works again: the next update is a normal (cold, then warm) write.
  const update = await slotfs(['put', '--to', cap, '-', '--dir', dir, '--json'], 'still safe\n');
  t.is(update.cost?.seqnum, 2);
  const again = await slotfs(['get', cap, '--dir', dir]);
  t.is(again.stdout, 'still safe\n');
});

test.serial('bad input to put and get gives a clear message and a non-zero exit', async (t) => {
  const dir = join(root, 'client-d');
  const badCap = await t.throwsAsync(
    slotfs(['get', 'URI:SSK:notacap', '--dir', dir, '--servers', serversFile]),
  );
  t.regex((badCap as Error & { stderr: string }).stderr, /slotfs: .*(base32|length|field)/i);
  const missing = await t.throwsAsync(
    slotfs([
      'get',
      'URI:SSK-RO:aaaaaaaaaaaaaaaaaaaaaaaaaa:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      '--dir',
      dir,
    ]),
  );
  t.regex(
    (missing as Error & { stderr: string }).stderr,
    /cannot read .*no server holds any share/,
  );
  const noServers = await t.throwsAsync(
    slotfs(
      ['put', '-', '--dir', join(root, 'client-e'), '--servers', join(root, 'nowhere.yaml')],
      'x',
    ),
  );
  t.regex((noServers as Error & { stderr: string }).stderr, /nowhere\.yaml.*slotfs grid up/);
});

test.serial(
  'put --format ed25519 on servers without extensions: one-round-trip warm update, shares a reader of docs/formats.md decodes',
  async (t) => {
    const plain = await TestGrid.start(4, ['--no-extensions']);
    try {
      const file = join(root, 'plain-servers.yaml');
      await writeFile(file, plain.serversYaml());
      const dir = join(root, 'client-plain');
      const put = await slotfs(
        ['put', '-', '--dir', dir, '--servers', file, '--format', 'ed25519', '--json'],
        'on plain Tahoe-style servers\n',
      );
      const cap = put.stdout.trim();
      t.regex(cap, /^URI:ED25519:[a-z2-7]{52}$/);
      t.is(put.cost?.roundTrips, 1);
      t.is((await slotfs(['get', cap, '--dir', dir])).stdout, 'on plain Tahoe-style servers\n');
      const update = await slotfs(['put', '--to', cap, '-', '--dir', dir, '--json'], 'updated\n');
      t.is(update.cost?.roundTrips, 1);
      t.is(update.cost?.seqnum, 2);
      // A cold reader, and the shares as the servers hold them, read by the doc's reader.
      const cold = await slotfs([
        'get',
        cap,
        '--dir',
        join(root, 'client-plain-2'),
        '--servers',
        file,
      ]);
      t.is(cold.stdout, 'updated\n');
      const readCap = formatCap(readCapOf(requireWriteCap(parseCap(cap))));
      const si = storageIndexByTheDoc(readCap);
      const byNumber = new Map<number, Buffer>();
      const servers = plain.clients();
      for (const s of servers) {
        for (const n of await s.listShares(si)) {
          byNumber.set(n, Buffer.from((await s.readShare(si, n, 0, 1 << 20))!));
        }
      }
      await Promise.all(servers.map((s) => s.close()));
      const shares = [...byNumber.keys()].sort((a, b) => a - b).map((n) => byNumber.get(n)!);
      t.is(shares.length, 10);
      t.is(readByTheDoc(readCap, shares).toString(), 'updated\n');
      // --format with --to: the file keeps its own format.
      const refused = await t.throwsAsync(
        slotfs(['put', '--to', cap, '-', '--dir', dir, '--format', 'tahoe'], 'x'),
      );
      t.regex((refused as Error & { stderr: string }).stderr, /keeps its format/);
    } finally {
      await plain.stop();
    }
  },
);
