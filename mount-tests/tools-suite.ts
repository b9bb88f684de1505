// One mount, ordinary tools: what a user does in a folder must work in the mount, and
// survive an unmount and a new mount process. Defined once, run per file format by
// tools.test.ts (ed25519, every test) and tools-tahoe.test.ts (tahoe, a subset).
import type { ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MountProcess,
  gridSuite,
  isMounted,
  run,
  sh,
  slotfs,
  writeClientConfig,
  type MountFormat,
} from './harness.js';

/**
 * Registers the tools tests for a mount whose client creates files of `format`; with
 * `only`, just the tests whose titles start with one of those prefixes (they run in file
 * order and build on each other, so a subset must keep what later tests rely on).
 */
export function toolsSuite(format: MountFormat, only?: readonly string[]): void {
  let mountProcess: MountProcess;
  const suite = gridSuite(`slotfs-mt-${format}-`, () => mountProcess?.stop().then(() => undefined));
  const { test, mtest } = suite;
  /** A mount test of this format, when in the subset. */
  const m = (title: string, body: (t: ExecutionContext) => Promise<void>): void => {
    if (only && !only.some((prefix) => title.startsWith(prefix))) return;
    mtest(`${title} [${format}]`, body);
  };
  let base: string;
  let mnt: string;
  let client: string;

  test.serial.before(async () => {
    if (suite.unavailable) return;
    base = suite.base;
    mnt = join(base, 'mnt');
    client = join(base, 'client');
    await writeClientConfig({ dir: client, serversFile: suite.serversFile, format });
    mountProcess = await MountProcess.start(mnt, client);
  });

  m('echo >, >> append, cat, ls -l sizes', async (t) => {
    const out = await run(
      `echo hello > a.txt; echo world >> a.txt; cat a.txt; stat -c %s a.txt; ls -l a.txt | awk '{print $1, $5}'`,
      mnt,
    );
    t.is(out, 'hello\nworld\n12\n-rw-r--r-- 12\n');
  });

  m('other processes see written data at once, before close', async (t) => {
    const out = await run(
      `exec 3> live.txt; printf 'not closed yet' >&3; cat live.txt; echo; stat -c %s live.txt; exec 3>&-`,
      mnt,
    );
    t.is(out, 'not closed yet\n14\n');
  });

  m('cp, cp -r, mv within and across directories, rm, rm -r', async (t) => {
    await run(
      `mkdir -p src/sub; for i in 1 2 3; do echo "file $i" > src/sub/f$i.txt; done
     cp src/sub/f1.txt copy.txt; cp -r src dst
     mv copy.txt renamed.txt; mv renamed.txt dst/sub/moved.txt; mv dst moved-dir`,
      mnt,
    );
    const listing = await run(
      'find moved-dir src -type f | sort; cat moved-dir/sub/moved.txt',
      mnt,
    );
    t.is(
      listing,
      [
        'moved-dir/sub/f1.txt',
        'moved-dir/sub/f2.txt',
        'moved-dir/sub/f3.txt',
        'moved-dir/sub/moved.txt',
        'src/sub/f1.txt',
        'src/sub/f2.txt',
        'src/sub/f3.txt',
        'file 1',
      ].join('\n') + '\n',
    );
    await run('rm moved-dir/sub/moved.txt; rm -r src; test ! -e src', mnt);
    t.false((await run('ls', mnt)).split('\n').includes('src'));
  });

  m('mkdir -p, rmdir (ENOTEMPTY when not empty), touch, truncate', async (t) => {
    await run('mkdir -p a/b/c; touch a/b/c/x', mnt);
    const notEmpty = await sh('rmdir a/b/c', mnt);
    t.not(notEmpty.code, 0);
    t.regex(notEmpty.stderr, /Directory not empty/);
    await run('rm a/b/c/x; rmdir a/b/c; rmdir a/b; rmdir a', mnt);
    t.is((await sh('test -e a', mnt)).code, 1);
    const out = await run(
      `touch t.bin; truncate -s 10000 t.bin; stat -c %s t.bin; truncate -s 3 t.bin; stat -c %s t.bin; od -An -c t.bin | tr -s ' '`,
      mnt,
    );
    t.is(out, '10000\n3\n \\0 \\0 \\0\n');
  });

  m('sed -i, and an editor-style save (temp file renamed over the original)', async (t) => {
    await run(
      `printf 'line one\\nline two\\n' > doc.txt; sed -i 's/two/2/' doc.txt
     printf 'saved by editor\\n' > .doc.txt.swp; mv -f .doc.txt.swp doc.txt`,
      mnt,
    );
    t.is(await run('cat doc.txt; ls -a | grep -c doc || true', mnt), 'saved by editor\n1\n');
    t.false((await run('ls -a', mnt)).includes('conflict'));
  });

  m('touch -d, touch -m and cp -p keep the modification time', async (t) => {
    const out = await run(
      `touch -d '2021-02-03 04:05:06' when.txt; stat -c %Y when.txt
     touch -m -d '2022-01-01 00:00:00' when.txt; stat -c %Y when.txt
     cp -p when.txt when-copy.txt; stat -c %Y when-copy.txt`,
      mnt,
      { TZ: 'UTC' },
    );
    t.is(out, '1612325106\n1640995200\n1640995200\n');
  });

  m('tar x of a tree of small files', async (t) => {
    const source = join(base, 'tree');
    await run(
      `mkdir -p ${source}/d1/d2 ${source}/d3
     for i in $(seq 1 8); do echo "content $i" > ${source}/d1/f$i; done
     for i in $(seq 1 6); do head -c $((i * 700)) /dev/urandom > ${source}/d1/d2/r$i; done
     echo top > ${source}/d3/top.txt
     touch -d '2020-01-01 12:00:00' ${source}/d1/f1
     tar -C ${source} -cf ${base}/tree.tar .`,
      base,
    );
    await run(`mkdir untarred; tar -C untarred -xf ${base}/tree.tar`, mnt);
    const diff = await sh(`diff -r ${source} untarred`, mnt);
    t.is(diff.code, 0, diff.stdout + diff.stderr);
    t.is(await run(`stat -c %Y untarred/d1/f1`, mnt), await run(`stat -c %Y ${source}/d1/f1`, mnt));
  });

  m('rsync -a keeps contents and mtimes (a second run transfers nothing)', async (t) => {
    const source = join(base, 'rs');
    await run(
      `mkdir -p ${source}/x; for i in 1 2 3 4; do echo "r $i" > ${source}/x/$i.txt; done
     touch -d '2019-05-05 05:05:05' ${source}/x/1.txt; chmod 600 ${source}/x/2.txt`,
      base,
    );
    await run(`rsync -a ${source}/ synced/`, mnt);
    t.is((await sh(`diff -r ${source} synced`, mnt)).code, 0);
    t.is(
      await run('stat -c %Y synced/x/1.txt', mnt),
      await run(`stat -c %Y ${source}/x/1.txt`, base),
    );
    t.is(await run('stat -c %a synced/x/2.txt', mnt), '600\n');
    const again = await run(`rsync -a --itemize-changes ${source}/ synced/`, mnt);
    t.is(again.trim(), '', 'nothing should differ');
  });

  m('git init, add, commit and status inside the mount', async (t) => {
    const out = await run(
      `mkdir repo; cd repo; git init -q .; echo 'print(1)' > main.py; mkdir lib; echo x > lib/util.py
     git add .; git -c user.name=t -c user.email=t@example.com commit -qm first
     echo 'print(2)' >> main.py; git -c user.name=t -c user.email=t@example.com commit -qam second
     git log --format=%s; git status --porcelain; git fsck --no-progress 2>&1 | grep -v '^Checking' || true`,
      mnt,
    );
    t.is(out, 'second\nfirst\n');
    t.false((await run('ls -a repo/.git', mnt)).includes('conflict'), 'no conflict copies');
  });

  m('unsupported features fail clearly and change nothing', async (t) => {
    await run('echo keep > keep.txt', mnt);
    const fifo = await sh('mkfifo fifo', mnt);
    t.regex(fifo.stderr, /Operation not permitted/);
    const xattr = await sh('setfattr -n user.color -v blue keep.txt', mnt);
    t.regex(xattr.stderr, /Operation not supported/);
    const long = await sh(`touch ${'n'.repeat(256)}`, mnt);
    t.regex(long.stderr, /File name too long/);
    const big = await sh('truncate -s 65M big.bin', mnt);
    t.regex(big.stderr, /File too large/);
    const isdir = await sh('mkdir somedir; cat somedir', mnt);
    t.regex(isdir.stderr, /Is a directory/);
    const notdir = await sh('ls keep.txt/x', mnt);
    t.regex(notdir.stderr, /Not a directory/);
    t.is(
      await run('ls fifo 2>/dev/null || true; cat keep.txt; ls big.bin 2>/dev/null || true', mnt),
      'keep\nbig.bin\n',
    );
  });

  m('caps: xattrs, slotfs cap, slotfs link (and read-only links refuse writes)', async (t) => {
    await run('mkdir shared; echo secret > shared/s.txt', mnt);
    const rw = (await run('getfattr --only-values -n user.slotfs.cap shared', mnt)).trim();
    const ro = (await run('getfattr --only-values -n user.slotfs.rocap shared', mnt)).trim();
    t.regex(rw, format === 'ed25519' ? /^URI:DIR2-ED25519:[a-z2-7]{52}$/ : /^URI:DIR2:/);
    t.regex(ro, format === 'ed25519' ? /^URI:DIR2-ED25519-RO:/ : /^URI:DIR2-RO:/);
    // Readable by name, never listed: copies out of the mount carry no caps.
    t.is((await run('getfattr -d -m - shared shared/s.txt', mnt)).trim(), '');
    await run(`cp -a shared ${join(base, 'copied-out')}`, mnt);
    t.notRegex(
      (await sh(`getfattr -R -d -m - ${join(base, 'copied-out')}`, base)).stdout,
      /slotfs/,
    );
    const viaCli = await slotfs(['cap', join(mnt, 'shared')]);
    t.is(viaCli.stdout.trim(), rw, viaCli.stderr);
    t.is((await slotfs(['cap', '--readonly', join(mnt, 'shared')])).stdout.trim(), ro);
    const fileCap = (await slotfs(['cap', join(mnt, 'shared/s.txt')])).stdout.trim();
    t.regex(fileCap, format === 'ed25519' ? /^URI:ED25519:/ : /^URI:SSK:/);

    const linked = await slotfs(['link', join(mnt, 'alias'), ro]);
    t.is(linked.code, 0, linked.stderr);
    t.is(await run('cat alias/s.txt', mnt), 'secret\n');
    const refused = await sh('echo x > alias/new.txt', mnt);
    t.regex(refused.stderr, /Read-only file system/);
    const refused2 = await sh('echo x >> alias/s.txt', mnt);
    t.regex(refused2.stderr, /Read-only file system/);

    const bad = await slotfs(['link', join(mnt, 'broken'), 'URI:DIR2:not-a-cap']);
    t.is(bad.code, 1);
    t.regex(bad.stderr, /not a valid cap/);
    t.is((await sh('test -e broken', mnt)).code, 1, 'nothing linked');
    const verifier = await slotfs([
      'link',
      join(mnt, 'broken'),
      'URI:CHK-Verifier:6nmrpsubgbe57udnexlkiwzmlu:bjt7j6hshrlmadjyr7otq3dc24end5meo5xcr5xe5r663po6itmq:3:10:7277',
    ]);
    t.regex(verifier.stderr, /verify cap cannot be read/);
    // An immutable file cap whose shares are nowhere: checked before linking, nothing linked.
    const chk = await slotfs([
      'link',
      join(mnt, 'broken'),
      `URI:CHK:${'a'.repeat(26)}:${'a'.repeat(52)}:3:10:1000`,
    ]);
    t.is(chk.code, 1);
    t.regex(chk.stderr, /0 good shares found, 3 needed/);
    t.is((await sh('test -e broken', mnt)).code, 1, 'nothing linked');

    // A file of the other format, put by another client, links and reads the same.
    const other = format === 'ed25519' ? 'tahoe' : 'ed25519';
    const source = join(base, 'other-format.txt');
    await writeFile(source, 'from the other format');
    const put = await slotfs([
      'put',
      source,
      '--format',
      other,
      '--dir',
      join(base, 'other-client'),
      '--servers',
      suite.serversFile,
    ]);
    t.is(put.code, 0, put.stderr);
    const otherCap = put.stdout.trim();
    t.regex(otherCap, other === 'ed25519' ? /^URI:ED25519:/ : /^URI:SSK:/);
    const linkedOther = await slotfs(['link', join(mnt, 'other-format.txt'), otherCap]);
    t.is(linkedOther.code, 0, linkedOther.stderr);
    t.is(await run('cat other-format.txt', mnt), 'from the other format');
    await run('echo " and back" >> other-format.txt', mnt);
    t.is(
      (await run(`getfattr --only-values -n user.slotfs.cap other-format.txt`, mnt)).trim(),
      otherCap,
      'the file kept its own format',
    );
  });

  m('slotfs status lists the servers and pending write-backs', async (t) => {
    const status = await slotfs(['status', mnt]);
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, /servers: 10 of 10 up/);
    t.regex(status.stdout, /server-0\s+up\s+last round trip [\d.]+ ms/);
    t.regex(status.stdout, /pending write-backs: \d+/);
    const json = JSON.parse((await slotfs(['status', '--json', mnt])).stdout) as {
      servers: unknown[];
    };
    t.is(json.servers.length, 10);
  });

  m('everything is still there after unmount and a new mount process', async (t) => {
    const before = await run(
      `find . -path ./repo/.git -prune -o -type f -print0 | sort -z | xargs -0 sha256sum; find . -path ./repo/.git -prune -o -printf '%p %s %T@\\n' | sort`,
      mnt,
    );
    const code = await mountProcess.stop();
    t.is(code, 0, mountProcess.output);
    t.false(isMounted(mnt));
    mountProcess = await MountProcess.start(mnt, client);
    const after = await run(
      `find . -path ./repo/.git -prune -o -type f -print0 | sort -z | xargs -0 sha256sum; find . -path ./repo/.git -prune -o -printf '%p %s %T@\\n' | sort`,
      mnt,
    );
    t.is(after, before);
    t.is(await run('cd repo && git status --porcelain && git log -1 --format=%s', mnt), 'second\n');
    t.is(await readFile(join(mnt, 'doc.txt'), 'utf8'), 'saved by editor\n');
  });

  m('slotfs unmount', async (t) => {
    const r = await slotfs(['unmount', mnt]);
    t.is(r.code, 0, r.stderr);
    t.false(isMounted(mnt));
    t.is(await mountProcess.exited, 0);
  });

  m('slotfs mount in the background, then slotfs unmount', async (t) => {
    const r = await slotfs(['mount', mnt, '--dir', client]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /mounted at .* \(pid \d+, log .*mount\.log\)/);
    t.regex(r.stdout, /root directory cap in .*private\/root\.cap/);
    t.true(isMounted(mnt));
    t.is(await run('cat doc.txt', mnt), 'saved by editor\n');
    const down = await slotfs(['unmount', mnt]);
    t.is(down.code, 0, down.stderr);
    t.false(isMounted(mnt));
    t.regex(await readFile(join(client, 'mount.log'), 'utf8'), /unmounted /);
  });
}
