// FUSE calls that no longer reach JavaScript. The binding answers two kinds itself
// (scripts/build-fuse.js, src/fs/fuse-attr-replies.ts): libfuse's getattr right after an
// operation that changed an entry (it takes the attributes the operation answered with),
// and the kernel's look-ups of extended attributes slotfs does not have
// (security.capability before every write). And the mount has no flush handler, so the
// kernel stops sending flush and close() does not wait for the main thread. These tests
// check that the answers are right, that nothing is lost, and that the calls no longer
// reach JavaScript: the mount logs the getattr and getxattr calls it handles for this
// test's folder (SLOTFS_DEBUG with a pattern).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MountProcess, eventually, gridSuite, run, slotfs, writeClientConfig } from './harness.js';

let mountProcess: MountProcess;
const suite = gridSuite('slotfs-calls-', () => mountProcess?.stop().then(() => undefined));
const { test, mtest } = suite;
let mnt: string;

test.serial.before(async () => {
  if (suite.unavailable) return;
  mnt = join(suite.base, 'mnt');
  const client = join(suite.base, 'client');
  await writeClientConfig({ dir: client, serversFile: suite.serversFile });
  mountProcess = await MountProcess.startLogging(mnt, client, '^get(x)?attr /ar/');
  await run('mkdir ar', mnt);
});

/** How many `op` calls for `path` the mount's JavaScript handled so far. */
function handled(op: 'getattr' | 'getxattr', path: string): number {
  const mark = `slotfs: debug: ${op} ${path} →`;
  return mountProcess.output.split('\n').filter((line) => line.includes(mark)).length;
}

mtest(
  'each change answers with the right attributes: create, chmod, truncate, touch, mkdir, ln -s, ln',
  async (t) => {
    const out = await run(
      [
        'umask 022',
        ': > f; stat -c "%a %s" f',
        'chmod 600 f; stat -c %a f',
        'truncate -s 5000 f; stat -c %s f',
        'touch -m -d @1000000000 f; stat -c %Y f',
        'chmod 4755 f; stat -c %a f',
        'mkdir d; stat -c "%a %F" d',
        'chmod 700 d; stat -c %a d',
        'ln -s f l; stat -c "%F %s" l; readlink l',
        // (f's own st_nlink shows 2 once the kernel's cache of f expires: libfuse gives each
        // name its own inode number.)
        'ln f h; stat -c "%h %s" h',
      ].join('\n'),
      join(mnt, 'ar'),
    );
    t.is(
      out,
      [
        '644 0',
        '600',
        '5000',
        '1000000000',
        '4755',
        '755 directory',
        '700',
        'symbolic link 1',
        'f',
        '2 5000',
        '',
      ].join('\n'),
    );
  },
);

mtest('libfuse asks no getattr of JavaScript after chmod: the binding answers it', async (t) => {
  await run(': > modes', join(mnt, 'ar'));
  const before = handled('getattr', '/ar/modes');
  // 40 chmods: libfuse follows each with a getattr before it answers the kernel.
  await run('for i in $(seq 20); do chmod 600 modes; chmod 644 modes; done', join(mnt, 'ar'));
  const asked = handled('getattr', '/ar/modes') - before;
  t.true(asked < 10, `JavaScript answered ${asked} getattr calls for 40 chmods`);
  t.is(await run('stat -c %a modes', join(mnt, 'ar')), '644\n');
});

mtest(
  'the kernel’s security.capability look-ups before writes are answered in the binding',
  async (t) => {
    const before = handled('getxattr', '/ar/appended');
    await run('for i in $(seq 20); do echo line $i >> appended; done', join(mnt, 'ar'));
    t.is(handled('getxattr', '/ar/appended') - before, 0);
    t.is(await run('wc -l < appended; tail -1 appended', join(mnt, 'ar')), '20\nline 20\n');
    // slotfs's own attributes still come from JavaScript.
    const cap = (
      await run('getfattr --only-values -n user.slotfs.cap appended', join(mnt, 'ar'))
    ).trim();
    t.regex(cap, /^URI:/);
    t.true(handled('getxattr', '/ar/appended') > 0);
    // And a name it does not have is absent, as before.
    const other = await run('getfattr -n user.other appended 2>&1 || true', join(mnt, 'ar'));
    t.regex(other, /No such attribute/);
  },
);

mtest(
  'without flush, a file written by a process that exits while another holds its descriptor is still published',
  async (t) => {
    const dir = join(mnt, 'ar');
    const marker = join(suite.base, 'held-written');
    // /bin/echo writes through a descriptor it shares with sleep: its exit closes its copy
    // (a flush, which the mount no longer gets) but not the open file (no release while
    // sleep holds it). The file's idle timer publishes it.
    const holder = (
      await run(
        `(/bin/echo kept; touch ${marker}; exec sleep 30) > held.txt 2> /dev/null & echo $!`,
        dir,
      )
    ).trim();
    try {
      // Only `slotfs status` is asked meanwhile: the close of any other descriptor of the
      // file (a cat) would queue its write-back too.
      await eventually(async () => existsSync(marker), 10_000, 'the write done');
      await eventually(
        async () => /pending write-backs: 0/.test((await slotfs(['status', mnt])).stdout),
        10_000,
        'the held file published',
      );
      t.is(await run(`kill -0 ${holder} && echo open`, '/'), 'open\n');
      t.is(await run('cat held.txt', dir), 'kept\n');
    } finally {
      await run(`kill ${holder} 2>/dev/null || true`, '/');
    }
  },
);
