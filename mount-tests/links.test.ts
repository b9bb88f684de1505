// What people expect of a folder beyond files: symbolic links (ln -s, readlink, cp -a,
// git), hard links (ln, st_nlink), and the time rules (a directory's mtime follows its
// entries; ctime advances and never goes back; touch -d sets the mtime only).
import { readFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
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

let mountProcess: MountProcess;
const suite = gridSuite('slotfs-links-', () => mountProcess?.stop().then(() => undefined));
const { test, mtest } = suite;
let mnt: string;
let client: string;
let outside: string;

test.serial.before(async () => {
  if (suite.unavailable) return;
  mnt = join(suite.base, 'mnt');
  client = join(suite.base, 'client');
  outside = join(suite.base, 'outside');
  await run(`mkdir -p ${outside}`, suite.base);
  await writeClientConfig({ dir: client, serversFile: suite.serversFile });
  mountProcess = await MountProcess.start(mnt, client);
});

/** Milliseconds since the epoch, as the test machine's clock says now (in a child process). */
async function nowMs(): Promise<number> {
  return Math.floor(Number(await run('date +%s%N', '/')) / 1e6);
}

/** `stat -c FORMAT` of `path` (relative to the mount) as numbers, e.g. '%.3Y %.3Z'. */
async function statNumbers(path: string, format: string): Promise<number[]> {
  const out = await run(`stat -c '${format}' ${JSON.stringify(path)}`, mnt);
  return out.trim().split(' ').map(Number);
}

mtest('ln -s, readlink, ls -l, reading through the link, dangling links', async (t) => {
  const out = await run(
    `mkdir sym; cd sym; echo target-data > real.txt; ln -s real.txt link; ln -s ../nowhere dangling
     readlink link; readlink dangling; cat link; ls -l link | awk '{print substr($1,1,1), $(NF-2), $NF}'
     stat -c '%F %s' link; test -L dangling; test ! -e dangling; echo ok`,
    mnt,
  );
  t.is(out, 'real.txt\n../nowhere\ntarget-data\nl link real.txt\nsymbolic link 8\nok\n');
  const again = await sh('ln -s elsewhere sym/link', mnt);
  t.not(again.code, 0);
  t.regex(again.stderr, /File exists/);
  t.is(await run('readlink sym/link', mnt), 'real.txt\n'); // unchanged
  // Writing through the link writes the target; removing the link leaves the target.
  await run('echo more >> sym/link; rm sym/link; test ! -L sym/link', mnt);
  t.is(await run('cat sym/real.txt', mnt), 'target-data\nmore\n');
});

mtest(
  'a literal cap without the symlink marker (a Tahoe tiny file) is a read-only file',
  async (t) => {
    // URI:LIT: + base32("hello\n"), as a Tahoe client links a small immutable file.
    const r = await slotfs(['link', join(mnt, 'tiny.txt'), 'URI:LIT:nbswy3dpbi']);
    t.is(r.code, 0, r.stderr);
    t.is(
      await run('cat tiny.txt; stat -c "%F %s" tiny.txt; test ! -L tiny.txt', mnt),
      'hello\nregular file 6\n',
    );
    const write = await sh('echo x >> tiny.txt', mnt);
    t.regex(write.stderr, /Read-only file system/);
    t.is(await run('readlink tiny.txt || echo not a link', mnt), 'not a link\n');
  },
);

mtest('a symlink target of 4095 bytes (PATH_MAX) survives a new mount', async (t) => {
  const long = 'd/'.repeat(2047) + 'x'; // 4095 bytes
  await run(`mkdir -p long; ln -s ${long} long/l; ln -s 'naïve target' long/u`, mnt);
  await mountProcess.stop();
  mountProcess = await MountProcess.start(mnt, client);
  t.is(await run('readlink long/l', mnt), `${long}\n`);
  t.is(await run('readlink long/u; stat -c %s long/l', mnt), 'naïve target\n4095\n');
});

mtest('cp -a of a tree with symlinks into the mount and back out', async (t) => {
  await run(
    `mkdir -p tree/sub/deeper; echo one > tree/sub/one.txt; ln -s sub/one.txt tree/top-link
     ln -s ../top-link tree/sub/chained; ln -s deeper tree/sub/dirlink; ln -s /etc/hostname tree/abs
     touch -h -d '2001-02-03 04:05:06' tree/top-link`,
    outside,
  );
  await run(`cp -a ${outside}/tree copied; cp -a copied ${outside}/back`, mnt);
  const describe = (dir: string) =>
    run(
      `cd ${dir}; find . -printf '%y %p %l\\n' | sort; cat top-link sub/chained; stat -c %Y top-link; test -d sub/dirlink`,
      '/',
    );
  const original = await describe(join(outside, 'tree'));
  t.is(await describe(join(mnt, 'copied')), original);
  t.is(await describe(join(outside, 'back')), original);
  t.regex(original, /l \.\/top-link sub\/one\.txt/);
  t.regex(original, /981173106/); // the link's own mtime (touch -h), kept by cp -a
});

mtest('git clone of a repository containing a symlink; git status is clean', async (t) => {
  const repo = join(outside, 'repo');
  const git = `git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main`;
  await run(
    `mkdir -p ${repo}/docs; cd ${repo}; ${git} init -q; echo '# readme' > docs/README.md
     ln -s docs/README.md README.md; mkdir bin; printf '#!/bin/sh\\necho hi\\n' > bin/tool
     chmod +x bin/tool; ln -s ../bin/tool docs/tool; ${git} add -A; ${git} commit -qm first`,
    '/',
  );
  await run(`git clone -q ${repo} clone`, mnt);
  const out = await run(
    `cd clone; readlink README.md; cat README.md; docs/tool; git status --porcelain; git fsck --no-progress 2>&1 | grep -v '^Checking' || true`,
    mnt,
  );
  t.is(out, 'docs/README.md\n# readme\nhi\n');
  // A change through the symlink shows as a change of the target, as anywhere else.
  await run(`cd clone; echo more >> README.md`, mnt);
  t.is(await run('cd clone; git status --porcelain', mnt), ' M docs/README.md\n');
});

mtest('npm install: node_modules/.bin is symlinks, and the tool runs through them', async (t) => {
  const pkg = join(outside, 'pkg');
  await run(
    `mkdir -p ${pkg}/bin; printf '{"name":"pkg","version":"1.0.0","bin":{"hello-tool":"bin/tool.js"}}' > ${pkg}/package.json
     printf '#!/usr/bin/env node\\nconsole.log("hello from tool")\\n' > ${pkg}/bin/tool.js`,
    '/',
  );
  // A local package (no registry): copied into node_modules, its bin linked into .bin.
  const env = { npm_config_cache: join(outside, 'npm-cache'), npm_config_update_notifier: 'false' };
  await run(
    `mkdir app; cd app; printf '{"name":"app","version":"1.0.0"}' > package.json
     npm install --offline --no-audit --no-fund --install-links ${pkg} > /dev/null`,
    mnt,
    env,
  );
  t.is(
    await run('cd app; readlink node_modules/.bin/hello-tool; npx --offline hello-tool', mnt, env),
    '../pkg/bin/tool.js\nhello from tool\n',
  );
});

mtest('ln: hard links share contents and count in st_nlink; rm removes one name', async (t) => {
  await run(`mkdir -p hl/other; echo first > hl/a; ln hl/a hl/b; ln hl/a hl/other/c`, mnt);
  // Each name is its own kernel inode (libfuse's path API): the others' attributes catch up
  // after kernel-cache-ms.
  const settles = (script: string, want: string) =>
    eventually(async () => (await run(script, mnt)) === want, 10_000, `${script} → ${want}`);
  t.is(await run('stat -c %h hl/other/c', mnt), '3\n');
  await settles('stat -c %h hl/a hl/b hl/other/c', '3\n3\n3\n');
  await run('echo second >> hl/b', mnt);
  await settles('cat hl/a hl/other/c', 'first\nsecond\nfirst\nsecond\n');
  await run('rm hl/a', mnt);
  await settles('stat -c %h hl/b hl/other/c; cat hl/b', '2\n2\nfirst\nsecond\n');
  const dir = await sh('ln hl/other hl/dir-link', mnt);
  t.not(dir.code, 0);
  const exists = await sh('ln hl/b hl/other/c', mnt);
  t.regex(exists.stderr, /File exists/);
  // Renaming one name of a file onto another name of it does nothing (POSIX).
  await run('mv -T hl/b hl/other/c', mnt);
  t.is(await run('ls hl/b hl/other/c', mnt), 'hl/b\nhl/other/c\n');
  await run('chmod 600 hl/b', mnt);
  // The names survive a new mount (each is the same cap), and so do the data, the size and
  // the mode in every name's entry.
  await mountProcess.stop();
  mountProcess = await MountProcess.start(mnt, client);
  t.is(
    await run('cat hl/other/c; ls hl/other; stat -c "%h %s %a" hl/b hl/other/c', mnt),
    'first\nsecond\nc\n2 13 600\n2 13 600\n',
  );
  await run('echo third >> hl/other/c', mnt);
  await settles('cat hl/b', 'first\nsecond\nthird\n');
});

mtest('directory st_nlink is 2 + its subdirectories', async (t) => {
  await run('mkdir -p nl/a nl/b nl/c/d; touch nl/f; ln -s a nl/l', mnt);
  t.is(await run('stat -c %h nl nl/c nl/a', mnt), '5\n3\n2\n');
  await run('rmdir nl/b', mnt);
  t.is(await run('stat -c %h nl', mnt), '4\n');
});

mtest("a directory's mtime and ctime follow adding, removing and renaming entries", async (t) => {
  await run(`mkdir -p times/sub; touch -d '2001-01-01 00:00:00' times times/sub`, mnt);
  const [m0] = await statNumbers('times', '%Y');
  t.is(m0, Number(await run(`date -d '2001-01-01 00:00:00' +%s`, '/')));
  for (const [what, script, dir] of [
    ['create', 'touch times/new', 'times'],
    ['remove', 'rm times/new', 'times'],
    ['mkdir', 'mkdir times/made', 'times'],
    ['rename within', 'mv times/made times/renamed', 'times'],
    ['symlink', 'ln -s x times/sub/l', 'times/sub'],
    ['rename out of', 'mv times/sub/l times/l', 'times/sub'],
  ] as const) {
    await run(`touch -d '2001-01-01 00:00:00' ${dir}`, mnt);
    const before = await nowMs();
    await run(script, mnt);
    const [mtime, ctime] = await statNumbers(dir, '%.3Y %.3Z');
    t.true(mtime * 1000 >= before, `${what}: mtime ${mtime} is not after ${before}`);
    t.true(ctime * 1000 >= before, `${what}: ctime ${ctime} is not after ${before}`);
  }
  // Kept in the parent's entry: a new mount shows it.
  const [kept] = await statNumbers('times', '%.3Y');
  await mountProcess.stop();
  mountProcess = await MountProcess.start(mnt, client);
  t.deepEqual(await statNumbers('times', '%.3Y'), [kept]);
});

mtest(
  'ctime advances on chmod, rename and write and never goes back; touch -d sets mtime only',
  async (t) => {
    await run('echo x > c.txt', mnt);
    const steps: Array<[string, string]> = [
      ['chmod', 'chmod 600 c.txt'],
      ['touch -d', "touch -d '2001-01-01 00:00:00' c.txt"],
      ['rename', 'mv c.txt c2.txt && mv c2.txt c.txt'],
      ['write', 'echo y >> c.txt'],
    ];
    let last = (await statNumbers('c.txt', '%.3Z'))[0];
    for (const [what, script] of steps) {
      const before = await nowMs();
      await run(script, mnt);
      const [mtime, ctime] = await statNumbers('c.txt', '%.3Y %.3Z');
      t.true(ctime * 1000 >= before, `${what}: ctime ${ctime} is not after ${before}`);
      t.true(ctime >= last, `${what}: ctime went back from ${last} to ${ctime}`);
      if (what === 'touch -d') t.true(mtime * 1000 < before, 'touch -d set the mtime');
      last = ctime;
    }
    // After the file has left memory (attr-cache-ms), the entry's times say the same.
    await mountProcess.stop();
    mountProcess = await MountProcess.start(mnt, client);
    const [ctime] = await statNumbers('c.txt', '%.3Z');
    t.true(ctime >= last, `after a new mount ctime went back from ${last} to ${ctime}`);
  },
);

mtest(
  'stat shows the same times, size and inode before and after the write-back reaches the grid (git status then re-reads nothing)',
  async (t) => {
    const stats = () => run(`find ctimes -exec stat -c '%n %F %s %.9Y %.9Z %i' {} + | sort`, mnt);
    await run(
      `mkdir -p ctimes/sub; for i in 1 2 3 4 5 6; do echo $i > ctimes/f$i; done
       echo x > ctimes/sub/g; mv ctimes/f6 ctimes/sub/moved; chmod 600 ctimes/f5`,
      mnt,
    );
    const written = await stats();
    // Published, linked, their folders listed again and the files' states dropped
    // (dir-cache-ms and attr-cache-ms are 400 ms here): what stat shows now comes from the
    // entries on the grid, whose linkmotime is the time each folder update was published.
    await eventually(
      async () => /pending write-backs: 0/.test((await slotfs(['status', mnt])).stdout),
      30_000,
      'write-backs published',
    );
    await sleep(1500);
    t.is(await stats(), written);
  },
);

mtest(
  'allow-other: other users read what the modes allow (default_permissions kept)',
  async (t) => {
    const nobody = 'setpriv --reuid=65534 --regid=65534 --clear-groups';
    await chmod(suite.base, 0o755); // mkdtemp made it 0700
    await run('echo mine > private.txt', mnt);
    // Without allow-other only the mounting user gets in.
    const denied = await sh(`${nobody} cat private.txt`, mnt);
    t.regex(denied.stderr, /Permission denied/);
    const dir = join(suite.base, 'client-other');
    const point = join(suite.base, 'mnt-other');
    await writeClientConfig({
      dir,
      serversFile: suite.serversFile,
      mount: { 'allow-other': true },
    });
    const other = await MountProcess.start(point, dir);
    try {
      const options = readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .find((line) => line.split(' ')[1] === point)!
        .split(' ')[3]
        .split(',');
      t.true(options.includes('allow_other'), options.join(','));
      t.true(options.includes('default_permissions'), options.join(','));
      await run(
        'echo shared > f.txt; chmod 644 f.txt; echo secret > s.txt; chmod 600 s.txt',
        point,
      );
      const r = await sh(`${nobody} bash -c 'cat f.txt; cat s.txt; echo x >> f.txt'`, point);
      t.is(r.stdout, 'shared\n');
      t.regex(r.stderr, /s\.txt: Permission denied/);
      t.regex(r.stderr, /f\.txt: Permission denied/);
      t.is(await run('cat f.txt', point), 'shared\n');
    } finally {
      await other.stop();
    }
  },
);

mtest('writes replayed from the journal after kill -9 keep the mtime they had', async (t) => {
  const dir = join(suite.base, 'client-journal');
  const point = join(suite.base, 'mnt-journal');
  // Only fsync publishes here: the append stays in the journal until the kill.
  await writeClientConfig({
    dir,
    serversFile: suite.serversFile,
    mount: { 'write-back-ms': 600000 },
  });
  let m = await MountProcess.start(point, dir);
  const out = join(suite.base, 'journal-writer.txt');
  try {
    await run(`echo first > a.txt; ${fsyncCommand('a.txt')}; touch -d '2001-01-01' a.txt`, point);
    await run(
      `node -e "
        const fs = require('fs');
        const a = fs.openSync('a.txt', 'a');
        fs.writeSync(a, 'appended, never closed\\n');
        const b = fs.openSync('b.txt', 'w');
        fs.writeSync(b, 'new, never closed\\n');
        fs.utimesSync('b.txt', new Date(), new Date('2002-02-02T00:00:00Z'));
        process.stdout.write('written');
        setTimeout(() => {}, 60000);
      " > ${out} 2>&1 & for i in $(seq 300); do grep -q written ${out} 2>/dev/null && break; sleep 0.1; done; grep -q written ${out}`,
      point,
    );
    const before = await run('stat -c %.3Y a.txt b.txt', point);
    t.true(Number(before.split('\n')[0]) > Date.UTC(2020, 0) / 1000, before);
    await m.kill9();
    m = await MountProcess.start(point, dir);
    await eventually(async () =>
      /pending write-backs: 0/.test((await slotfs(['status', point])).stdout),
    );
    t.is(await run('stat -c %.3Y a.txt b.txt', point), before);
    t.is(await run('cat a.txt b.txt', point), 'first\nappended, never closed\nnew, never closed\n');
  } finally {
    await m.stop();
    await sh(`pkill -f 'appended, never closed' || true`, suite.base);
  }
});
