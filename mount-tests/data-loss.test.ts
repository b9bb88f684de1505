// Issue 10's data-loss cases, each driven through a real mount with ordinary programs:
// fsync behind a long write-back queue, kill -9 between linking a new file and recording
// it, a publish that timed out and landed later, names that are not NFC or not UTF-8.
import { existsSync } from 'node:fs';
import { copyFile, open, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { WriteJournal } from '../src/cache/journal.js';
import { controlRequest } from '../src/fs/control.js';
import type { MountStatus } from '../src/fs/monitor.js';
import { utf8 } from '../src/encoding/bytes.js';
import {
  MountProcess,
  eventually,
  fsyncCommand,
  gridSuite,
  run,
  sh,
  slotfs,
  writeClientConfig,
  type TestGrid,
} from './harness.js';

const suite = gridSuite('slotfs-mt-loss-');
const { test, mtest } = suite;
let grid: TestGrid;
let base: string;
let serversFile: string;
test.serial.before(() => ({ grid, base, serversFile } = suite));

/** A second client of `client`'s root (its own cache and journal), mounted at `mnt`. */
async function secondMount(client: string, name: string): Promise<MountProcess> {
  const other = join(base, `c-${name}`);
  await writeClientConfig({ dir: other, serversFile });
  await copyFile(join(client, 'private', 'root.cap'), join(other, 'private', 'root.cap'));
  return MountProcess.start(join(base, `m-${name}`), other);
}

mtest('fsync after tar x of many files publishes that file first and succeeds', async (t) => {
  const client = join(base, 'c-tar');
  const mnt = join(base, 'm-tar');
  // A short operation timeout: an fsync queued behind the other files' write-backs would
  // answer EIO before the queue drained.
  await writeClientConfig({ dir: client, serversFile, mount: { 'op-timeout-ms': 6000 } });
  const source = join(base, 'tar-src');
  await run(
    `mkdir -p ${source}/tree; for i in $(seq 1 600); do echo "file $i" > ${source}/tree/f$i.txt; done; echo 'the one that matters' > ${source}/tree/zz-last.txt; tar cf ${base}/tree.tar -C ${source} tree`,
    base,
  );
  const m = await MountProcess.start(mnt, client);
  const r = await sh(
    `tar xf ${base}/tree.tar; s=$(date +%s%N); ${fsyncCommand('tree/zz-last.txt')}; echo $(( ($(date +%s%N) - s) / 1000000 ))`,
    mnt,
  );
  t.is(r.code, 0, r.stderr + m.output.slice(-2000));
  t.log(`fsync after tar x of 601 files: ${r.stdout.trim()} ms`); // informative only
  // Durable: after kill -9 (no flush, no journal replay), another client reads it.
  await m.kill9();
  const other = await secondMount(client, 'tar-reader');
  t.is(await run('cat tree/zz-last.txt', other.mountpoint), 'the one that matters\n');
  await other.stop();
});

// Found by CI (tools-tahoe, now and then): a folder's time is written into its parent's
// entry a moment after the change, found by path — and a folder moved just before kept
// its old path below the moved one, so the time of d/sub was dropped.
mtest(
  'a folder changed just before its parent is renamed keeps its time over a remount',
  async (t) => {
    const client = join(base, 'c-dirtime');
    await writeClientConfig({ dir: client, serversFile });
    let m = await MountProcess.start(join(base, 'm-dirtime'), client);
    try {
      const times = "find e -printf '%p %T@\\n' | sort";
      const before = await run(
        `mkdir -p d/sub; sleep 1.1; echo x > d/sub/new; mv d e; ${times}`,
        m.mountpoint,
      );
      await m.stop();
      m = await MountProcess.start(m.mountpoint, client);
      t.is(await run(times, m.mountpoint), before);
    } finally {
      await m.stop();
    }
  },
);

// Found by CI (git's index read empty after `git add`, tahoe format): a folder check that
// ran while a file was dirty confirmed its old version; the file's publish came next, and
// a reopen within attr-cache-ms took the stale check as its contents.
mtest(
  'a reopen after its own publish never shows a version a folder check saw before',
  async (t) => {
    const client = join(base, 'c-reopen');
    // Write-backs wait for fsync; checks are good for 3 s, so the stale one is still "fresh".
    await writeClientConfig({
      dir: client,
      serversFile,
      mount: { 'write-back-ms': 60_000, 'attr-cache-ms': 3000 },
    });
    const m = await MountProcess.start(join(base, 'm-reopen'), client);
    try {
      const files = ['a', 'b', 'c', 'd'];
      await run(
        `mkdir t; for f in ${files.join(' ')}; do echo "$f v1" > t/$f; ${fsyncCommand('t/$f')}; done`,
        m.mountpoint,
      );
      // a is written and kept open (dirty: a close would publish it); b's reopen checks the
      // folder, a at v1 with it; then a is published (fsync, v2), closed and read back at once.
      await sleep(3200);
      const a = await open(join(m.mountpoint, 't/a'), 'a');
      try {
        await a.write('a v2\n');
        await sleep(3200);
        await run('cat t/b', m.mountpoint);
        await a.sync();
      } finally {
        await a.close();
      }
      const out = await run('cat t/a', m.mountpoint);
      t.is(out, 'a v1\na v2\n', m.output.slice(-2000));
    } finally {
      await m.stop();
    }
  },
);

// What this mount just published is the grid's contents as of the publish: a reopen within
// attr-cache-ms of it asks the grid nothing, however long ago the file was first written
// (as `tar x` followed by an fsync of each file opens them).
mtest('a reopen right after its own publish is answered without the grid', async (t) => {
  const client = join(base, 'c-own');
  // Folder listings stay good throughout, so any request would be an open's check.
  await writeClientConfig({
    dir: client,
    serversFile,
    mount: { 'attr-cache-ms': 4000, 'dir-cache-ms': 60_000, 'write-back-ms': 60_000 },
  });
  const m = await MountProcess.start(join(base, 'm-own'), client);
  try {
    const files = ['a', 'b', 'c', 'd'];
    // Written at once and held open (one open each, so no flush before the close) longer
    // than attr-cache-ms; the close publishes each file, the fsync waits for that.
    const hold = join(base, 'hold-open.cjs');
    await writeFile(
      hold,
      `const fs = require('fs');
      const fds = process.argv.slice(2).map((f) => fs.openSync(f, 'w'));
      fds.forEach((fd, i) => fs.writeSync(fd, process.argv[2 + i] + ' v1\\n'));
      setTimeout(() => fds.forEach((fd) => fs.closeSync(fd)), 4500);`,
    );
    await run(
      `mkdir t && cd t && node ${hold} ${files.join(' ')} && ${files.map((f) => fsyncCommand(f)).join(' && ')}`,
      m.mountpoint,
    );
    const out = await run(`cat ${files.map((f) => `t/${f}`).join(' ')}`, m.mountpoint);
    t.is(out, files.map((f) => `${f} v1\n`).join(''), 'the contents written');
    // Without it, the fsync's open (4.5 s after the file was written) checks the folder.
    const answer = await controlRequest(m.mountpoint, { op: 'status' });
    if (!answer.ok) throw new Error(`slotfs status: ${answer.error}`);
    const checks = (answer.status as MountStatus).openChecks?.checks ?? 0;
    t.is(checks, 0, 'no close-to-open check of the files this mount had just published');
  } finally {
    await m.stop();
  }
});

// The window is between the directory update that links a new file reaching the grid and
// the journal recording it (kill -9 about 1 s after close). It is reproduced exactly by
// writing the journal entry such a run leaves behind: "link new", with the cap that the
// directory already holds under that name.
mtest(
  'a journal that still says "link new" for a linked file: no conflict copy on replay',
  async (t) => {
    const client = join(base, 'c-relink');
    const mnt = join(base, 'm-relink');
    await writeClientConfig({ dir: client, serversFile, mount: { 'write-back-ms': 600000 } });
    let m = await MountProcess.start(mnt, client);
    await run(
      `mkdir notes; echo 'linked once' > notes/new.txt; ${fsyncCommand('notes/new.txt')}`,
      mnt,
    );
    const cap = (await run('getfattr --only-values -n user.slotfs.cap notes/new.txt', mnt)).trim();
    const parentCap = (await run('getfattr --only-values -n user.slotfs.cap notes', mnt)).trim();
    await m.stop();
    const journal = await WriteJournal.open(join(client, 'journal'));
    const meta = { cap, parentCap, name: 'new.txt', path: '/notes/new.txt', link: 'new' as const };
    await journal.begin(
      'killed-after-link',
      { ...meta, mode: 0o644, mtime: Date.now() },
      utf8('linked once\n'),
    );
    await journal.close();

    m = await MountProcess.start(mnt, client);
    t.regex(m.output, /republishing 1 file/);
    await eventually(async () =>
      /pending write-backs: 0/.test((await slotfs(['status', mnt])).stdout),
    );
    t.is(await run('ls notes', mnt), 'new.txt\n', m.output);
    t.is(await run('cat notes/new.txt', mnt), 'linked once\n');
    t.notRegex(m.output, /conflict/);
    await m.stop();
  },
);

mtest(
  'names are kept as given: NFC and NFD coexist, rsync -a --delete twice changes nothing the second time',
  async (t) => {
    const client = join(base, 'c-nfd');
    const mnt = join(base, 'm-nfd');
    await writeClientConfig({ dir: client, serversFile });
    const m = await MountProcess.start(mnt, client);
    const source = join(base, 'nfd-src');
    await run(
      `mkdir -p ${source}; python3 -c "
import os
open(os.path.join(b'${source}', 'cafe\\u0301.txt'.encode()), 'w').write('nfd')
open(os.path.join(b'${source}', 'caf\\u00e9.txt'.encode()), 'w').write('nfc')
"`,
      base,
    );
    await run(`rsync -a --delete ${source}/ copy/`, mnt);
    const second = await run(`rsync -a --delete --itemize-changes ${source}/ copy/`, mnt);
    t.notRegex(second, /^(>f|\*deleting)/m, second);
    const listed = await run(`python3 -c "import os; print(sorted(os.listdir(b'copy')))"`, mnt);
    t.is(listed, "[b'cafe\\xcc\\x81.txt', b'caf\\xc3\\xa9.txt']\n");
    t.is(await run(`cat copy/caf$'\\xc3\\xa9'.txt copy/cafe$'\\xcc\\x81'.txt`, mnt), 'nfcnfd');
    await m.stop();
  },
);

// python3 with bytes paths: the names reach the mount exactly as these bytes.
const NAMES_SCRIPT = String.raw`
import errno, os
def attempt(what, fn):
    try:
        fn()
        print(what, 'ok')
    except OSError as e:
        print(what, errno.errorcode[e.errno])
def create(name, data):
    with open(name, 'wb') as f:
        f.write(data)
os.mkdir(b'names')
os.chdir(b'names')
create(b'x\xef\xbf\xbd', b'a real U+FFFD name')
create(b'\xe2\x82\xac', b'euro')
create('é'.encode() * 127 + b'a', b'255 bytes')
attempt('256 bytes', lambda: create('é'.encode() * 128, b'x'))
attempt('create x\\xe9', lambda: create(b'x\xe9', b'first'))
attempt('create x\\xe8', lambda: create(b'x\xe8', b'second'))
attempt('mkdir d\\xff', lambda: os.mkdir(b'd\xff'))
attempt('rename to r\\xe9', lambda: os.rename(b'\xe2\x82\xac', b'r\xe9'))
os.symlink(b'\xe2\x82\xac', b'to-\xe2\x82\xac')
attempt('symlink to t\\xe9', lambda: os.symlink(b't\xe9', b'bad-link'))
print(os.readlink(b'to-\xe2\x82\xac'))
print(sorted(os.listdir(b'.')))
print(open(b'x\xef\xbf\xbd', 'rb').read(), open(b'\xe2\x82\xac', 'rb').read())
`;

mtest(
  'names round-trip byte for byte; names that are not UTF-8 are refused (EILSEQ), nothing overwritten',
  async (t) => {
    const client = join(base, 'c-bytes');
    const mnt = join(base, 'm-bytes');
    await writeClientConfig({ dir: client, serversFile });
    const m = await MountProcess.start(mnt, client);
    await writeFile(join(base, 'names.py'), NAMES_SCRIPT);
    const out = await run(`python3 ${base}/names.py`, mnt);
    const long = "b'" + '\\xc3\\xa9'.repeat(127) + "a'";
    t.is(
      out,
      [
        '256 bytes ENAMETOOLONG',
        'create x\\xe9 EILSEQ',
        'create x\\xe8 EILSEQ',
        'mkdir d\\xff EILSEQ',
        'rename to r\\xe9 EILSEQ',
        'symlink to t\\xe9 EILSEQ',
        "b'\\xe2\\x82\\xac'",
        `[b'to-\\xe2\\x82\\xac', b'x\\xef\\xbf\\xbd', ${long}, b'\\xe2\\x82\\xac']`,
        "b'a real U+FFFD name' b'euro'",
        '',
      ].join('\n'),
      m.output.slice(-2000),
    );
    // The same bytes again from a fresh listing (another client of the same root).
    await m.stop();
    const other = await secondMount(client, 'bytes-reader');
    const listed = await run(
      `python3 -c "import os; print(sorted(os.listdir(b'names')))"`,
      other.mountpoint,
    );
    t.is(listed, `[b'to-\\xe2\\x82\\xac', b'x\\xef\\xbf\\xbd', ${long}, b'\\xe2\\x82\\xac']\n`);
    await other.stop();
  },
);

mtest(
  'a publish that timed out and landed later is recognised as ours: no rollback, no conflict copy',
  async (t) => {
    const client = join(base, 'c-late');
    const mnt = join(base, 'm-late');
    // Short timeouts keep the test quick; only fsync and close publish.
    await writeClientConfig({
      dir: client,
      serversFile,
      mount: { 'write-back-ms': 600000, 'op-timeout-ms': 6000 },
      timeouts: { 'connect-ms': 2000, 'request-ms': 2000 },
    });
    const m = await MountProcess.start(mnt, client);
    // One writer, the file open throughout: write + fsync; (8 servers stop) write + fsync;
    // close. Files in `base` say when to go on.
    const writer = sh(
      `node -e "
      const f = require('fs');
      const wait = (n) => { while (!f.existsSync(n)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); };
      const d = f.openSync('late.txt', 'w');
      f.writeSync(d, 'version one\\n');
      f.fsyncSync(d);
      f.writeFileSync('${base}/late-1', '');
      wait('${base}/late-2');
      f.writeSync(d, 'version two\\n');
      try { f.fsyncSync(d); console.log('fsync ok'); } catch (e) { console.log('fsync ' + e.code); }
      f.writeSync(d, 'version three\\n');
      f.closeSync(d);
    "`,
      mnt,
    );
    await eventually(async () => existsSync(join(base, 'late-1')), 60_000, 'first fsync');
    const paused = [2, 3, 4, 5, 6, 7, 8, 9];
    let synced;
    try {
      for (const i of paused) grid.pause(i);
      await writeFile(join(base, 'late-2'), '');
      synced = await writer;
      // The attempt has given up on the stopped servers (its requests stay queued in them).
      await eventually(
        async () => /write-back of \/late.txt failed/.test(m.output),
        60_000,
        'the failed write-back',
      );
    } finally {
      for (const i of paused) grid.resume(i);
    }
    t.is(synced.stdout, 'fsync EIO\n', synced.stderr + m.output);
    await eventually(
      async () => /pending write-backs: 0/.test((await slotfs(['status', mnt])).stdout),
      60_000,
      'the write-back retried after the servers came back',
    );
    await new Promise((r) => setTimeout(r, 600)); // listing and contents caches expire
    t.is(await run('ls', mnt), 'late.txt\n', m.output);
    t.is(await run('cat late.txt', mnt), 'version one\nversion two\nversion three\n', m.output);
    t.notRegex(m.output, /conflict/);
    await m.stop();
  },
);
