// When things go wrong: a mount killed with -9 loses nothing it acknowledged; servers dying
// during a copy do not stop it; a grid that is gone gives EIO (never a hang) and fsync
// refuses to pretend; bad input fails clearly with nothing mounted.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MountError, mount } from '../src/fs/mount.js';
import {
  MountProcess,
  TestGrid,
  eventually,
  fsyncCommand,
  gridSuite,
  isMounted,
  run,
  sh,
  slotfs,
  writeClientConfig,
} from './harness.js';

const suite = gridSuite('slotfs-mt3-');
const { test, mtest } = suite;
const fsync = fsyncCommand;
let grid: TestGrid;
let base: string;
let serversFile: string;
test.serial.before(() => ({ grid, base, serversFile } = suite));

mtest('kill -9 after fsync returned: the data is there after a new mount', async (t) => {
  const client = join(base, 'c-fsync');
  const mnt = join(base, 'm-fsync');
  // A long write-back delay: only fsync (not the idle timer) can have published.
  await writeClientConfig({ dir: client, serversFile, mount: { 'write-back-ms': 600000 } });
  let m = await MountProcess.start(mnt, client);
  await run(
    `node -e "
      const fs = require('fs');
      const fd = fs.openSync('durable.txt', 'w');
      fs.writeSync(fd, 'acknowledged by fsync\\n');
      fs.fsyncSync(fd);
      process.stdout.write('synced');
      setTimeout(() => {}, 60000); // keep it open: no close, no flush
    " > ${base}/fsync-out.txt 2>&1 & for i in $(seq 300); do grep -q synced ${base}/fsync-out.txt 2>/dev/null && break; sleep 0.1; done; grep -q synced ${base}/fsync-out.txt`,
    mnt,
  );
  await m.kill9();
  t.false(isMounted(mnt));
  m = await MountProcess.start(mnt, client);
  t.is(await run('cat durable.txt', mnt), 'acknowledged by fsync\n');
  await m.stop();
  await sh(`pkill -f 'acknowledged by fsync' || true`, base);
});

// The append to an existing file is the hard case: after the republish, the file's
// directory entry must carry the new size too, or readers stop at the old one (the
// kernel trims reads to the size it was told).
mtest(
  'kill -9 before any publish: journaled writes are republished by the next mount',
  async (t) => {
    const client = join(base, 'c-journal');
    const mnt = join(base, 'm-journal');
    await writeClientConfig({ dir: client, serversFile, mount: { 'write-back-ms': 600000 } });
    let m = await MountProcess.start(mnt, client);
    await run(`mkdir notes; echo 'first' > notes/kept.txt; ${fsync('notes/kept.txt')}`, mnt);
    await run(
      `node -e "
      const fs = require('fs');
      const a = fs.openSync('notes/kept.txt', 'a');
      fs.writeSync(a, 'appended, never closed\\n');
      const b = fs.openSync('notes/new.txt', 'w');
      fs.writeSync(b, 'new, never closed\\n');
      process.stdout.write('written');
      setTimeout(() => {}, 60000);
    " > ${base}/journal-out.txt 2>&1 & for i in $(seq 300); do grep -q written ${base}/journal-out.txt 2>/dev/null && break; sleep 0.1; done; grep -q written ${base}/journal-out.txt`,
      mnt,
    );
    const status = await slotfs(['status', mnt]);
    t.regex(status.stdout, /pending write-backs: 2/);
    await m.kill9();
    m = await MountProcess.start(mnt, client);
    t.regex(m.output, /republishing 2 file\(s\) from the journal/);
    // Nothing reads the files until both republishes are done and they have left memory
    // (attr-cache-ms): the sizes then come from the directory entries alone, which the two
    // republishes (one a new link, one an entry update in the same directory) must both set.
    await eventually(async () =>
      /pending write-backs: 0/.test((await slotfs(['status', mnt])).stdout),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const expected = 'first\nappended, never closed\nnew, never closed\n';
    t.is(await run('cat notes/kept.txt notes/new.txt', mnt), expected, m.output);
    t.notRegex(m.output, /corrected/);
    await m.stop();
    m = await MountProcess.start(mnt, client);
    t.is(
      await run('cat notes/kept.txt notes/new.txt; stat -c %s notes/kept.txt', mnt),
      expected + '29\n',
    );
    await m.stop();
    await sh(`pkill -f 'never closed' || true`, base);
  },
);

mtest(
  'kill -9 before directory changes are published: the next mount shows exactly what was acknowledged',
  async (t) => {
    const client = join(base, 'c-dirs');
    const mnt = join(base, 'm-dirs');
    await writeClientConfig({ dir: client, serversFile });
    let m = await MountProcess.start(mnt, client);
    await run(
      `mkdir -p keep gone/sub && for i in $(seq 12); do echo g$i > gone/f$i; echo k$i > keep/k$i; done && echo s > gone/sub/s && echo a > keep/a.txt && echo b > keep/b.txt && echo m > keep/m.txt`,
      mnt,
    );
    await m.stop();
    // Folder updates now wait ten minutes: what follows can only answer from the journal
    // (an operation waiting for its folder's publish would time out: op-timeout-ms).
    await writeClientConfig({ dir: client, serversFile, mount: { 'dir-batch-ms': 600000 } });
    m = await MountProcess.start(mnt, client);
    const tree = `find . -printf '%y %m %s %p\\n' | LC_ALL=C sort; find . -type f | LC_ALL=C sort | xargs cat; readlink keep/link`;
    await run(
      `rm -r gone && mv keep/a.txt keep/a2.txt && mkdir made && mv keep/m.txt made/m.txt && ln -s a2.txt keep/link && ln keep/b.txt made/b-hard && chmod 640 keep/b.txt && rm keep/k1 && for i in 2 3 4; do mv keep/k$i made/; done && mv keep/k5 keep/k6`,
      mnt,
    );
    // (Each name of a hard link is its own kernel inode: the other name's new mode shows
    // once the kernel's attribute cache, kernel-cache-ms, has expired.)
    await new Promise((r) => setTimeout(r, 500));
    const acknowledged = await run(tree, mnt);
    t.notRegex(acknowledged, /gone|k1\b|a\.txt/);
    t.regex(acknowledged, /f 640 2 \.\/made\/b-hard/);
    await m.kill9();
    await writeClientConfig({ dir: client, serversFile });
    m = await MountProcess.start(mnt, client);
    t.regex(m.output, /replaying \d+ directory change\(s\) from the journal/);
    t.is(await run(tree, mnt), acknowledged, m.output);
    await m.stop();
    // On the grid, not only in the replaying mount's memory; and replayed once only.
    m = await MountProcess.start(mnt, client);
    t.notRegex(m.output, /replaying/);
    t.is(await run(tree, mnt), acknowledged);
    await m.stop();
  },
);

mtest(
  'unmount with write-backs pending shows how many are left, the rate and an estimate; status shows the publish rate',
  async (t) => {
    const client = join(base, 'c-progress');
    const mnt = join(base, 'm-progress');
    // Listings stay trusted, so the stalled grid below is only met by the publishes.
    await writeClientConfig({
      dir: client,
      serversFile,
      mount: { 'dir-cache-ms': 600000, 'attr-cache-ms': 600000, 'kernel-cache-ms': 600000 },
    });
    const m = await MountProcess.start(mnt, client);
    await run(`echo one > one.txt; ${fsync('one.txt')}`, mnt);
    const status = await slotfs(['status', mnt]);
    t.regex(
      status.stdout,
      /publish rate: \d+\.\d files\/s \(last 10 s\); [1-9]\d* published since the mount started/,
    );
    // Every server stalls (SIGSTOP): the next two files cannot be published yet.
    const servers = grid.servers.map((_, i) => i);
    servers.forEach((i) => grid.pause(i));
    let unmounting;
    try {
      await run('echo late > late1.txt; echo late > late2.txt', mnt);
      unmounting = slotfs(['unmount', mnt], 180_000);
      await eventually(
        async () => /slotfs: publishing: 2 of 2 write-backs left/.test(m.output),
        60_000,
        'the mount reporting progress',
      );
    } finally {
      servers.forEach((i) => grid.resume(i));
    }
    const r = await unmounting;
    t.is(r.code, 0, r.stderr);
    t.regex(
      r.stdout,
      /slotfs: publishing: [12] of 2 write-backs left, \d+\.\d files\/s, (about \d+ s left|estimating)/,
    );
    t.regex(m.output, /slotfs: publishing: 2 of 2 write-backs left, \d+\.\d files\/s, /);
    t.is(await m.exited, 0);
    const again = await MountProcess.start(mnt, client);
    t.is(await run('cat one.txt late1.txt late2.txt', mnt), 'one\nlate\nlate\n');
    await again.stop();
  },
);

mtest('a mount point that is not empty: ERR_MOUNT_FAILED, nothing mounted', async (t) => {
  const mnt = join(base, 'm-nonempty');
  await mkdir(mnt, { recursive: true });
  await writeFile(join(mnt, 'already-here'), 'x');
  const client = join(base, 'c-nonempty');
  await writeClientConfig({ dir: client, serversFile });
  const err = await t.throwsAsync(mount({ mountpoint: mnt, dir: client, log: () => undefined }));
  t.is((err as MountError).code, 'ERR_MOUNT_FAILED');
  t.regex(err!.message, /FUSE mount of .*m-nonempty failed/);
  t.false(isMounted(mnt));
  // Everything it opened was closed again: the same client directory mounts elsewhere.
  const m = await MountProcess.start(join(base, 'm-empty'), client);
  await m.stop();
});

mtest('servers dying during a copy (N - k of them): the copy completes', async (t) => {
  const client = join(base, 'c-kill');
  const mnt = join(base, 'm-kill');
  // A write must then succeed with k servers left: happiness k (the default, 7, refuses
  // to call a file safe on fewer servers, and would fail the copy by design).
  await writeClientConfig({ dir: client, serversFile, extra: 'happy = 3' });
  const m = await MountProcess.start(mnt, client);
  const source = join(base, 'copy-src');
  await run(
    `mkdir -p ${source}; for i in $(seq 1 12); do head -c $((i * 3000)) /dev/urandom > ${source}/f$i; done`,
    base,
  );
  const copying = sh(`cp -r ${source} copied && ${fsync('copied')}`, mnt, {}, 180_000);
  for (let i = 3; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 150));
    await grid.kill(i);
  }
  const copied = await copying;
  t.is(copied.code, 0, copied.stderr + m.output.slice(-2000));
  const diff = await sh(`diff -r ${source} copied`, mnt);
  t.is(diff.code, 0, diff.stdout + diff.stderr);
  await m.stop();
  // Servers 0–2 stay up for the next test.
});

mtest(
  'a grid that is gone: EIO and a log line naming servers, fsync fails, nothing hangs',
  async (t) => {
    const client = join(base, 'c-down');
    const mnt = join(base, 'm-down');
    // Servers 3–9 are down since the last test: writes need k = 3 servers here.
    await writeClientConfig({
      dir: client,
      serversFile,
      mount: { 'write-back-ms': 600000 },
      extra: 'happy = 3',
    });
    const m = await MountProcess.start(mnt, client);
    await run(`mkdir d; echo one > d/f.txt; ${fsync('d/f.txt')}`, mnt);
    for (let i = 0; i < 10; i++) await grid.kill(i);
    await new Promise((r) => setTimeout(r, 600)); // the listing cache expires
    const started = Date.now();
    const listing = await sh(`ls ${mnt}/d`, base);
    t.not(listing.code, 0);
    t.regex(listing.stderr, /Input\/output error/);
    const write = await sh(`cd ${mnt}; echo two > d/f.txt; ${fsync('d/f.txt')}`, base);
    t.not(write.code, 0);
    t.regex(write.stderr, /Input\/output error|EIO/);
    t.true(Date.now() - started < 60_000, 'bounded by the timeouts');
    // One short line naming the directory (not its storage index), servers summarised, and
    // not repeated for every further lookup of it.
    await sh(`ls ${mnt}/d; ls ${mnt}/d; stat ${mnt}/d/f.txt`, base);
    const lines = m.output.split('\n').filter((l) => l.includes(' directory /d: '));
    t.is(lines.length, 1, m.output);
    t.regex(lines[0], /slotfs: \w+ directory \/d: ERR_\w+: .*; servers: 10 \w+ \(server-\d, /);
    t.notRegex(lines[0], /\b[a-z2-7]{26}\b/);
    const status = await slotfs(['status', mnt]);
    t.regex(status.stdout, /servers: 0 of 10 up/);
    t.regex(status.stdout, /recent errors: [1-9]/);
    await m.stop();
  },
);

mtest('bad input: clear messages, nothing mounted', async (t) => {
  const mnt = join(base, 'm-bad');
  await mkdir(mnt, { recursive: true });

  // A client directory that is a file.
  await writeFile(join(base, 'not-a-dir'), 'x');
  let r = await slotfs(['mount', mnt, '--foreground', '--dir', join(base, 'not-a-dir')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /not-a-dir/);
  t.false(isMounted(mnt));

  // A config file that cannot be parsed.
  const broken = join(base, 'c-broken');
  await mkdir(broken, { recursive: true });
  await writeFile(join(broken, 'config.toml'), 'servers-file = [unterminated');
  r = await slotfs(['mount', mnt, '--foreground', '--dir', broken]);
  t.is(r.code, 1);
  t.regex(r.stderr, /config\.toml: is not valid TOML/);
  t.false(isMounted(mnt));

  if (process.getuid?.() !== 0) {
    // An unreadable client directory (root reads anything, so only as a normal user).
    const locked = join(base, 'c-locked');
    await writeClientConfig({ dir: locked, serversFile });
    await run(`chmod 000 ${locked}`, base);
    r = await slotfs(['mount', mnt, '--foreground', '--dir', locked]);
    await run(`chmod 700 ${locked}`, base);
    t.is(r.code, 1);
    t.regex(r.stderr, /permission denied/i);
    t.false(isMounted(mnt));
  }

  // A servers file that does not exist.
  r = await slotfs([
    'mount',
    mnt,
    '--foreground',
    '--dir',
    join(base, 'c-x'),
    '--servers',
    join(base, 'nowhere.yaml'),
  ]);
  t.is(r.code, 1);
  t.regex(r.stderr, /nowhere\.yaml: cannot read it/);
  t.false(isMounted(mnt));

  // A servers file whose servers do not answer (the ports of stopped servers).
  const deadGrid = join(base, 'dead.yaml');
  await writeFile(
    deadGrid,
    grid
      .serversYaml()
      .replace(/127\.0\.0\.1:\d+/g, () => `127.0.0.1:${1 + Math.floor(Math.random() * 1000)}`),
  );
  const started = Date.now();
  r = await slotfs(['mount', mnt, '--dir', join(base, 'c-dead'), '--servers', deadGrid]);
  t.is(r.code, 1);
  t.regex(r.stderr, /so nothing was mounted/);
  t.regex(r.stderr, /server-\d/);
  t.true(Date.now() - started < 60_000);
  t.false(isMounted(mnt));
  const err = await t.throwsAsync(
    mount({
      mountpoint: mnt,
      dir: join(base, 'c-dead2'),
      serversFile: deadGrid,
      log: () => undefined,
    }),
  );
  t.is((err as MountError).code, 'ERR_MOUNT_GRID');
  t.false(isMounted(mnt));

  // A mount point that does not exist.
  r = await slotfs([
    'mount',
    join(base, 'no-such-dir'),
    '--foreground',
    '--dir',
    join(base, 'c-y'),
  ]);
  t.is(r.code, 1);
  t.regex(r.stderr, /does not exist; create it first/);
});
