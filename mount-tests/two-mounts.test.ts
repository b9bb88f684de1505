// Two mounts of the same root (two client directories, one grid): what one writes the
// other sees after the cache timeout; colliding edits keep both versions; concurrent
// creates in one directory all survive.
import type { ExecutionContext } from 'ava';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MountProcess,
  eventually,
  fsyncCommand,
  gridSuite,
  run,
  sh,
  slotfs,
  writeClientConfig,
} from './harness.js';

let a: MountProcess;
let b: MountProcess;
const suite = gridSuite('slotfs-mt2-', async () => {
  await a?.stop().catch(() => undefined);
  await b?.stop().catch(() => undefined);
});
const { test, mtest } = suite;
let base: string;
let mntA: string;
let mntB: string;
let clientB: string;
let serversFile: string;

test.serial.before(async () => {
  if (suite.unavailable) return;
  ({ base, serversFile } = suite);
  mntA = join(base, 'a');
  mntB = join(base, 'b');
  const clientA = join(base, 'client-a');
  clientB = join(base, 'client-b');
  await writeClientConfig({ dir: clientA, serversFile, mount: { 'client-name': 'alice' } });
  await writeClientConfig({ dir: clientB, serversFile, mount: { 'client-name': 'bob' } });
  a = await MountProcess.start(mntA, clientA);
  // The same root: B's client directory gets A's root cap.
  await copyFile(join(clientA, 'private', 'root.cap'), join(clientB, 'private', 'root.cap'));
  b = await MountProcess.start(mntB, clientB);
});

const fsync = fsyncCommand;

mtest('a file created in one mount appears in the other after the cache timeout', async (t) => {
  await run(`mkdir shared; echo 'from a' > shared/hello.txt; ${fsync('shared/hello.txt')}`, mntA);
  await eventually(
    async () => (await sh('cat shared/hello.txt', mntB)).stdout === 'from a\n',
    10_000,
    'hello.txt visible in B',
  );
  // and changes the other way
  await run(`echo 'from b' >> shared/hello.txt; ${fsync('shared/hello.txt')}`, mntB);
  await eventually(
    async () => (await sh('cat shared/hello.txt', mntA)).stdout === 'from a\nfrom b\n',
    10_000,
    'the append visible in A',
  );
  t.pass();
});

mtest(
  "the other mount's chmod moves ctime; this mount's own published change does not",
  async (t) => {
    const ctimeIn = async (mnt: string) => Number(await run('stat -c %.3Z ctime.txt', mnt));
    await run(`echo x > ctime.txt; ${fsync('ctime.txt')}`, mntA);
    const own = await ctimeIn(mntA);
    // Published and linked (fsync), then listed again after dir-cache-ms: A still shows the
    // time of its own write, though the entry's linkmotime is the later link's.
    await sleep(1000);
    t.is(await ctimeIn(mntA), own);
    await eventually(async () => (await sh('cat ctime.txt', mntB)).stdout === 'x\n', 10_000);
    await run(`chmod 600 ctime.txt`, mntB);
    await eventually(
      async () => (await sh('stat -c %a ctime.txt', mntA)).stdout === '600\n',
      10_000,
      "B's chmod visible in A",
    );
    t.true((await ctimeIn(mntA)) > own, "B's change moved A's ctime");
  },
);

mtest(
  "the other mount's new contents show though size and mtime stayed, and the old pages were cached",
  async (t) => {
    // Same size, same mtime: only the version on the grid tells the contents apart, so
    // the pages B's kernel kept from the first contents must be dropped at the next open.
    const write = (text: string) =>
      run(`printf '${text}' > same.txt; touch -d @1700000000 same.txt; ${fsync('same.txt')}`, mntA);
    await write('first');
    await eventually(async () => (await sh('cat same.txt', mntB)).stdout === 'first', 10_000);
    await run('cat same.txt; sleep 0.5; cat same.txt', mntB); // kept by now
    await write('other');
    t.is(await run('stat -c %s.%Y same.txt', mntA), '5.1700000000\n');
    await eventually(
      async () => (await sh('cat same.txt', mntB)).stdout === 'other',
      10_000,
      "A's new contents in B",
    );
    t.is(await run('stat -c %s.%Y same.txt', mntB), '5.1700000000\n');
  },
);

/**
 * Makes B's write of `file` collide with A's: B opens it (and reads version 0), A writes
 * and fsyncs "edited by alice", then B writes and fsyncs "edited by bob".
 */
async function collide(t: ExecutionContext, file: string): Promise<void> {
  await run(`echo 'version 0' > ${file}; ${fsync(file)}`, mntA);
  await eventually(
    async () => (await sh(`cat ${file}`, mntB)).stdout === 'version 0\n',
    10_000,
    `${file} visible in B`,
  );
  await run('rm -f b-ready a-done', mntB);
  const editor = sh(
    `node -e "
      const fs = require('fs');
      const fd = fs.openSync('${file}', 'r+');
      fs.readSync(fd, Buffer.alloc(100), 0, 100, 0);
      fs.writeFileSync('b-ready', '');
      while (!fs.existsSync('a-done')) { require('child_process').execSync('sleep 0.1'); }
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, 'edited by bob\\n', 0);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    "`,
    mntB,
  );
  await run(
    `for i in $(seq 100); do [ -e b-ready ] && break; sleep 0.1; done; [ -e b-ready ]`,
    mntB,
  );
  await run(`echo 'edited by alice' > ${file}; ${fsync(file)}`, mntA);
  await run('touch a-done', mntB);
  const edited = await editor;
  t.is(edited.code, 0, edited.stderr);
}

mtest('concurrent edits of one file: a conflict copy, nothing lost', async (t) => {
  await collide(t, 'shared/report.txt');
  await eventually(
    async () => {
      const listing = await sh('ls shared', mntA);
      return /report\.conflict-\d{8}-\d{6}-bob\.txt/.test(listing.stdout);
    },
    10_000,
    'the conflict copy visible in A',
  );
  const files = (await run('ls shared', mntA)).trim().split('\n');
  const copy = files.find((f) => f.startsWith('report.conflict-'))!;
  t.regex(copy, /^report\.conflict-\d{8}-\d{6}-bob\.txt$/);
  t.is(await run('cat shared/report.txt', mntA), 'edited by alice\n');
  t.is(await run(`cat shared/${copy}`, mntA), 'edited by bob\n');
  await eventually(
    async () => (await sh('cat shared/report.txt', mntB)).stdout === 'edited by alice\n',
  );
  t.regex(b.output, /conflict: \/shared\/report\.txt was changed by another client/);
  const status = await slotfs(['status', mntB]);
  t.regex(status.stdout, /recent conflicts: 1/);
  t.regex(status.stdout, /\/shared\/report\.txt → \/shared\/report\.conflict-/);
});

mtest(
  'a reopen checks a folder of cached files at once and still sees the other mount’s change',
  async (t) => {
    const names = Array.from({ length: 12 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`);
    await run(
      `mkdir tree && for f in ${names.join(' ')}; do echo "$f v1" > tree/$f; done; ${fsync('tree')} && ${names.map((f) => fsync(`tree/${f}`)).join(' && ')}`,
      mntA,
    );
    await eventually(
      async () => (await sh('ls tree | wc -l', mntB)).stdout.trim() === String(names.length),
      10_000,
      'tree/ listed in B',
    );
    // B reads (and caches) every file; then their checks grow older than attr-cache-ms.
    await run(`cat ${names.map((f) => `tree/${f}`).join(' ')} > /dev/null`, mntB);
    const before = (await slotfs(['status', mntB])).stdout;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await run(`echo "f05.txt v2" > tree/f05.txt; ${fsync('tree/f05.txt')}`, mntA);
    // Close-to-open: A's close happened before B's open, so B reads v2 (same length as v1,
    // so no size in a listing gives it away); every other file comes from B's cache.
    const seen = await run(`cat ${names.map((f) => `tree/${f}`).join(' ')}`, mntB);
    t.deepEqual(
      seen.trim().split('\n'),
      names.map((f) => `${f} ${f === 'f05.txt' ? 'v2' : 'v1'}`),
    );
    const checks = (text: string) =>
      Number(/open checks: (\d+) of \d+ files confirmed/.exec(text)?.[1] ?? NaN);
    const after = (await slotfs(['status', mntB])).stdout;
    t.true(
      checks(after) - checks(before) >= names.length - 2,
      `the folder was checked at once:\n${before}\n${after}`,
    );
  },
);

mtest('concurrent creates in one directory all survive', async (t) => {
  await run('mkdir busy', mntA);
  await eventually(async () => (await sh('test -d busy', mntB)).code === 0, 10_000, 'busy/ in B');
  const make = (who: string, mnt: string) =>
    run(
      `for i in $(seq 1 8); do echo "${who} $i" > busy/${who}-$i.txt; done; ${fsync('busy')}`,
      mnt,
    );
  await Promise.all([make('a', mntA), make('b', mntB)]);
  const expected = [
    ...Array.from({ length: 8 }, (_, i) => `a-${i + 1}.txt`),
    ...Array.from({ length: 8 }, (_, i) => `b-${i + 1}.txt`),
  ].sort();
  for (const mnt of [mntA, mntB]) {
    await eventually(
      async () =>
        (await sh('ls busy', mnt)).stdout.trim().split('\n').sort().join() === expected.join(),
      20_000,
      `all 16 files listed in ${mnt}`,
    );
  }
  t.is(await run('cat busy/b-3.txt', mntA), 'b 3\n');
  t.is(await run('cat busy/a-5.txt', mntB), 'a 5\n');
});

mtest(
  'the same new name created in both mounts: one at NAME, the other as a conflict copy',
  async (t) => {
    await Promise.all([
      run(`echo alice > busy/same.txt; ${fsync('busy/same.txt')}`, mntA),
      run(`echo bob > busy/same.txt; ${fsync('busy/same.txt')}`, mntB),
    ]);
    // Until A's listing is older than dir-cache-ms it may show a name with the size it had
    // when A last looked (the loser links its copy, then its contents grow), so read until
    // both versions are whole; nothing lost means this converges.
    let contents: string[] = [];
    const whole = ['alice', 'bob'];
    await eventually(
      async () => {
        const names = (await sh('ls busy', mntA)).stdout
          .split('\n')
          .filter((n) => n.startsWith('same'));
        contents = await Promise.all(
          names.map(async (n) => (await run(`cat busy/${n}`, mntA)).trim()),
        );
        return contents.sort().join() === whole.join();
      },
      15_000,
      'both versions of same.txt, whole',
    ).catch(() => undefined);
    t.deepEqual(contents, whole);
    const names = (await run('ls busy', mntA)).split('\n').filter((n) => n.startsWith('same'));
    t.is(names.length, 2);
    t.true(names.includes('same.txt'));
    t.true(
      names.some((n) => /^same\.conflict-\d{8}-\d{6}-(alice|bob)\.txt$/.test(n)),
      names.join(),
    );
  },
);

mtest('conflicts = "last-writer-wins": the later write replaces the other, no copy', async (t) => {
  await b.stop();
  await writeClientConfig({
    dir: clientB,
    serversFile,
    mount: { 'client-name': 'bob', conflicts: 'last-writer-wins' },
  });
  b = await MountProcess.start(mntB, clientB);
  await collide(t, 'shared/lww.txt');
  await eventually(
    async () => (await sh('cat shared/lww.txt', mntA)).stdout === 'edited by bob\n',
    10_000,
    "bob's version at lww.txt in A",
  );
  t.false((await run('ls shared', mntA)).includes('lww.conflict-'));
  t.regex(b.output, /lww\.txt was changed by another client; overwriting it/);
});
