// First boot of a client directory: the root dirnode is created once, its cap kept in
// private/root.cap (0600) and reused; a damaged file is an error, never replaced.
import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCap, parseCap, readCapOf, requireWriteCap } from '../caps/index.js';
import { DirectoryClient } from '../dirnode/directory.js';
import { TestGrid } from '../mutable/test-support/test-grid.js';
import { MutableClient, newLeaseSecret } from '../mutable/mutable-client.js';
import { ClientDirError, openClientDir } from './client-dir.js';
import { openRoot, readRootCap, rootCapPath } from './root.js';

// Three real server processes, shared by the tests of this file.
let grid: TestGrid;
const opened: Array<{ close(): Promise<void> }> = [];
test.before(async () => {
  grid = await TestGrid.start(3);
});
test.after.always(async () => {
  await Promise.allSettled(opened.map((c) => c.close()));
  await grid?.stop();
});

function newMutableClient(): MutableClient {
  const servers = grid.clients();
  opened.push(...servers);
  return new MutableClient({
    servers,
    leaseSecret: newLeaseSecret(),
    k: 2,
    N: 3,
    happy: 3,
  });
}

async function clientDir() {
  const path = await mkdtemp(join(tmpdir(), 'slotfs-root-'));
  const dir = await openClientDir(path, { serversFile: join(path, 'servers.yaml') });
  return { dir, cleanup: () => rm(path, { recursive: true, force: true }) };
}

test('first boot creates an empty root directory and stores its cap (0600); later boots reuse it', async (t) => {
  const { dir, cleanup } = await clientDir();
  t.teardown(cleanup);
  t.is(await readRootCap(dir), undefined);
  const first = await openRoot({ dir, client: newMutableClient() });
  t.true(first.created);
  t.is(first.path, join(dir.dir, 'private', 'root.cap'));
  t.regex(first.cap, /^URI:DIR2-ED25519:[a-z2-7]{52}$/);
  t.is(await readFile(first.path, 'utf8'), first.cap + '\n');
  t.is((await stat(first.path)).mode & 0o777, 0o600);
  t.deepEqual(await readdir(join(dir.dir, 'private')), ['lease-secret', 'root.cap']);
  const dirs = new DirectoryClient(newMutableClient());
  t.is((await dirs.list(first.cap)).size, 0);

  // A later boot (another process: fresh client) gets the same root.
  const again = await openRoot({ dir: await openClientDir(dir.dir), client: newMutableClient() });
  t.deepEqual(again, { cap: first.cap, path: first.path, created: false });
});

test('two first boots at once agree on one root', async (t) => {
  const { dir, cleanup } = await clientDir();
  t.teardown(cleanup);
  const [a, b] = await Promise.all([
    openRoot({ dir, client: newMutableClient() }),
    openRoot({ dir, client: newMutableClient() }),
  ]);
  t.is(a.cap, b.cap);
  t.is([a.created, b.created].filter(Boolean).length, 1);
  t.is(await readRootCap(dir), a.cap);
  t.deepEqual(await readdir(join(dir.dir, 'private')), ['lease-secret', 'root.cap']);
});

test('a stored read-only root cap is accepted as it is', async (t) => {
  const { dir, cleanup } = await clientDir();
  t.teardown(cleanup);
  const writeCap = await new DirectoryClient(newMutableClient()).createDirectory();
  const readCap = formatCap(readCapOf(requireWriteCap(parseCap(writeCap))));
  await writeFile(rootCapPath(dir), readCap + '\n', { mode: 0o600 });
  t.deepEqual(await openRoot({ dir, client: newMutableClient() }), {
    cap: readCap,
    path: rootCapPath(dir),
    created: false,
  });
});

const fileCap =
  'URI:SSK:cdsyfojom4za5d7ve3wcqaj2we:2yaw4a42p3camgfym5d6nucz7zhvye2draflwhhfwsqffjf27f4a';
const verifyCap =
  'URI:DIR2-Verifier:nh2ei2624cayalnut26s7wd7ey:djzbuko2ccvkx3cmdxefkfrzbymvw62hnozjnzwqrtpdld3y2p7q';
const damaged: Array<[string, string, RegExp]> = [
  ['empty', '\n', /it is empty/],
  ['garbage', 'hello world\n', /more than one line or word/],
  ['a truncated cap', 'URI:DIR2:5yf7vesglrtnixfhe5xmesi43q:djzbuko2\n', /not a valid cap/],
  ['a file cap', fileCap + '\n', /a file cap, not a directory cap/],
  ['a verify cap', verifyCap + '\n', /cannot read a mutable directory/],
];
for (const [what, content, why] of damaged) {
  test(`a root cap file holding ${what} is a clear error and is left alone`, async (t) => {
    const { dir, cleanup } = await clientDir();
    t.teardown(cleanup);
    await writeFile(rootCapPath(dir), content, { mode: 0o600 });
    const error = await t.throwsAsync(openRoot({ dir, client: newMutableClient() }), {
      instanceOf: ClientDirError,
    });
    t.is(error?.code, 'ERR_CLIENT_DIR');
    t.regex(error!.message, why);
    t.regex(error!.message, /root\.cap: the root cap file is damaged .* restore it from a backup/);
    t.false(error!.message.includes('djzbuko2'), 'the message does not echo cap material');
    t.is(await readFile(rootCapPath(dir), 'utf8'), content);
  });
}

test('an unreadable root cap file is a clear error', async (t) => {
  const { dir, cleanup } = await clientDir();
  t.teardown(cleanup);
  // A directory where the file should be: reading it fails with EISDIR, even as root.
  await mkdir(rootCapPath(dir));
  const error = await t.throwsAsync(readRootCap(dir), { instanceOf: ClientDirError });
  t.regex(error!.message, /cannot read the root cap file/);
});

test('config.toml home-server: a server that is not configured is a clear error', async (t) => {
  const { openClient } = await import('./open-client.js');
  const path = await mkdtemp(join(tmpdir(), 'slotfs-home-'));
  t.teardown(() => rm(path, { recursive: true, force: true }));
  const servers = join(path, 'servers.yaml');
  await writeFile(servers, grid.serversYaml());
  await writeFile(
    join(path, 'config.toml'),
    `servers-file = ${JSON.stringify(servers)}\nhome-server = "server-99"\n`,
  );
  await t.throwsAsync(openClient(path, { keyPoolSize: 0 }), {
    message: /home server server-99 is not among/,
  });
  await writeFile(
    join(path, 'config.toml'),
    `servers-file = ${JSON.stringify(servers)}\nhome-server = "server-1"\n`,
  );
  const opened = await openClient(path, { keyPoolSize: 0 });
  t.teardown(() => opened.close());
  const { cap } = await opened.client.create(new TextEncoder().encode('home'));
  t.regex(cap, /^URI:ED25519:/);
});

test('config.toml format: new client directories say ed25519; "tahoe" makes RSA roots and files', async (t) => {
  const { openClient } = await import('./open-client.js');
  const path = await mkdtemp(join(tmpdir(), 'slotfs-format-'));
  t.teardown(() => rm(path, { recursive: true, force: true }));
  const servers = join(path, 'servers.yaml');
  await writeFile(servers, grid.serversYaml());
  const fresh = await openClientDir(join(path, 'new'), { serversFile: servers });
  t.is(fresh.config.format, 'ed25519');
  t.regex(await readFile(join(path, 'new', 'config.toml'), 'utf8'), /^format = "ed25519"$/m);

  const tahoe = join(path, 'tahoe');
  await mkdir(tahoe);
  await writeFile(
    join(tahoe, 'config.toml'),
    `servers-file = ${JSON.stringify(servers)}\nformat = "tahoe"\nk = 2\nn = 3\nhappy = 3\n`,
  );
  const opened = await openClient(tahoe, { keyPoolSize: 0 });
  t.teardown(() => opened.close());
  const root = await openRoot({ dir: opened.dir, client: opened.client });
  t.regex(root.cap, /^URI:DIR2:[a-z2-7]{26}:[a-z2-7]{52}$/);
  t.regex((await opened.client.create(new TextEncoder().encode('rsa'))).cap, /^URI:SSK:/);
  // An existing file keeps its format when a client of the other format updates it.
  const ed = await opened.client.create(new TextEncoder().encode('ed'), { format: 'ed25519' });
  const updated = await opened.client.update(ed.cap, new TextEncoder().encode('still ed'));
  t.is(updated.seqnum, 2);
  t.is(new TextDecoder().decode((await newMutableClient().retrieve(ed.cap)).plaintext), 'still ed');

  const bad = join(path, 'bad');
  await mkdir(bad);
  await writeFile(
    join(bad, 'config.toml'),
    `servers-file = ${JSON.stringify(servers)}\nformat = "rsa"\n`,
  );
  const error = await t.throwsAsync(openClientDir(bad), { instanceOf: ClientDirError });
  t.regex(error!.message, /format/);
  t.is(error!.code, 'ERR_CLIENT_DIR');
});
