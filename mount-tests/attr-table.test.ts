// The binding's attribute table (scripts/build-fuse.js, fourth fix): `stat` of a name whose
// entry has left the kernel's cache is answered by the binding from what JavaScript last
// answered for it, as long as the folders on the way stay fresh (dir-cache-ms) — and never
// after an operation that may have changed something. The mount here keeps listings for
// 30 s, contents for 2 s and the kernel's cache for 0.1 s, so every stat after a short pause reaches the
// binding; it logs the getattr calls JavaScript handles for this test's folder
// (SLOTFS_DEBUG with a pattern), so the tests see which stats the table answered.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MountProcess, gridSuite, run, writeClientConfig } from './harness.js';

let mountProcess: MountProcess;
const suite = gridSuite('slotfs-table-', () => mountProcess?.stop().then(() => undefined));
const { test, mtest } = suite;
let mnt: string;
const FILES = 40;
/** Longer than kernel-cache-ms: the kernel asks again after this pause. */
const PAUSE_MS = 300;
/** attr-cache-ms: a file opened this long after its last check is checked again. */
const ATTR_CACHE_MS = 2000;

test.serial.before(async () => {
  if (suite.unavailable) return;
  mnt = join(suite.base, 'mnt');
  const client = join(suite.base, 'client');
  await writeClientConfig({
    dir: client,
    serversFile: suite.serversFile,
    mount: { 'dir-cache-ms': 30000, 'attr-cache-ms': ATTR_CACHE_MS, 'kernel-cache-ms': 100 },
  });
  mountProcess = await MountProcess.startLogging(mnt, client, '^getattr /tb/');
  await run('mkdir tb', mnt);
});

/** How many getattr calls of paths under /tb/ the mount's JavaScript handled so far. */
function handled(): number {
  return mountProcess.output.split('\n').filter((l) => l.includes('slotfs: debug: getattr /tb/'))
    .length;
}

/** The output of `script` run in /tb after a pause long enough for the kernel to forget. */
async function after(script: string): Promise<string> {
  await sleep(PAUSE_MS);
  return run(script, join(mnt, 'tb'));
}

/**
 * Whether `measure` (which returns the getattr calls that reached JavaScript) once saw
 * none beyond `allowed`, in up to four tries: the mount's own background work (a folder's
 * times written into its parent, a publish landing) empties the table too, and may land
 * during one try. A table that answers nothing never passes.
 */
async function answeredByTable(measure: () => Promise<number>, allowed: number) {
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    seen.push(await measure());
    if (seen[i]! <= allowed) return { ok: true, seen };
  }
  return { ok: false, seen };
}

mtest('repeated stat of a quiet folder is answered by the binding', async (t) => {
  const names = Array.from({ length: FILES }, (_, i) => `s${i}`).join(' ');
  await after(`mkdir q && for f in ${names}; do echo $f > q/$f; done && sync q/*`);
  const stat = `stat -c '%n %s %a' ${names.replace(/s/g, 'q/s')}`;
  const first = await after(stat);
  t.true(first.includes('q/s7 3 644'), first);
  const { ok, seen } = await answeredByTable(async () => {
    await after(stat); // answered by JavaScript (or the table), kept in the table
    const before = handled();
    t.is(await after(stat), first);
    t.is(await after(stat), first);
    return handled() - before;
  }, FILES / 4);
  // Without the table, each of the two passes asks JavaScript once per file.
  t.true(ok, `of ${2 * FILES} stats, ${seen.join(', ')} reached JavaScript`);
});

mtest(
  'every change through the mount shows at once, though the table held the old answer',
  async (t) => {
    await after('umask 022 && echo hello > a && mkdir d && touch -d @1000000000 old && sync a old');
    const show = `for f in a d old new gone; do stat -c '%n %s %a' $f 2>/dev/null || echo "$f none"; done`;
    // Twice: the second answers come from the table (checked by the test above).
    t.is(await after(show), 'a 6 644\nd 4096 755\nold 0 644\nnew none\ngone none\n');
    await after(show);
    for (const change of [
      'chmod 600 a',
      'echo more >> a',
      'mv old new',
      'touch gone',
      'chmod 700 d',
    ])
      await after(`${change} && ${show}`);
    t.is(await after(show), 'a 11 600\nd 4096 700\nold none\nnew 0 644\ngone 0 644\n');
    t.is(await after('stat -c %Y new'), '1000000000\n');
    // Removed: gone at once, though a stat just before put it in the table.
    await after('stat gone > /dev/null && stat gone > /dev/null');
    t.is(await after('rm gone; stat gone > /dev/null 2>&1 || echo none'), 'none\n');
  },
);

mtest('a file read again keeps its answers in the table; a write empties it', async (t) => {
  await after('echo 12345 > w && sync w');
  const { ok, seen } = await answeredByTable(async () => {
    await after('stat -c %s w'); // answered by JavaScript, kept in the table
    // Reading opens the file read-only and closes it: that changes nothing stat shows.
    await after('cat w > /dev/null');
    const before = handled();
    t.is(await after('stat -c %s w'), '6\n');
    return handled() - before;
  }, 0);
  t.true(ok, `the stat after a read reached JavaScript (${seen.join(', ')})`);
  // Held open for reading, it still is answered by the table (libfuse asks after each open).
  const held = await answeredByTable(async () => {
    await run('sleep 3 < w > /dev/null 2>&1 &', join(mnt, 'tb')); // opens w for 3 s
    // A change empties the table; the stat after it is answered by JavaScript, and kept.
    await after('touch other && stat -c %s w');
    const before = handled();
    t.is(await after('stat -c %s w'), '6\n');
    return handled() - before;
  }, 0);
  t.true(held.ok, `a stat of the open file reached JavaScript (${held.seen.join(', ')})`);
  // Opening to write does: the next stat asks JavaScript, and shows the new size.
  t.is(await after('echo 1234567890 > w && stat -c %s w'), '11\n');
  t.is(await after('stat -c %s w'), '11\n');
});

mtest('a stat of one name hands the binding the rest of its quiet folder', async (t) => {
  const names = Array.from({ length: FILES }, (_, i) => `p${i}`);
  await after(`mkdir r && for f in ${names.join(' ')}; do echo $f > r/$f; done && sync r/*`);
  const { ok, seen } = await answeredByTable(async () => {
    // A change empties the binding's table; then the folder is left quiet for a while.
    await after('touch r/changed');
    await sleep(500);
    await after('stat r/p0 > /dev/null'); // answered by JavaScript, with the other names
    const before = handled();
    await after(`stat ${names.map((n) => `r/${n}`).join(' ')} > /dev/null`);
    return handled() - before;
  }, FILES / 4);
  t.true(ok, `of ${FILES} stats after the first, ${seen.join(', ')} reached JavaScript`);
});

mtest('files whose check came with a sibling’s are kept in the table after reading', async (t) => {
  // Read once their check is due: the first open checks the folder's other files with it,
  // and their opens take that answer without asking the grid.
  const paths = Array.from({ length: 12 }, (_, i) => `c/c${i}`).join(' ');
  await after(`mkdir c && for f in ${paths}; do echo $f > $f; done && sync ${paths}`);
  const { ok, seen } = await answeredByTable(async () => {
    await sleep(ATTR_CACHE_MS + 500);
    await after(`cat ${paths} > /dev/null`);
    await after(`stat ${paths} > /dev/null`); // answered by JavaScript, kept in the table
    const before = handled();
    await after(`stat ${paths} > /dev/null`);
    return handled() - before;
  }, 3);
  t.true(ok, `of 12 stats after reading, ${seen.join(', ')} reached JavaScript`);
});

mtest('contents loaded at the size stat showed leave the table as it was', async (t) => {
  // One file per folder: no folder hands the binding its other names.
  const paths = Array.from({ length: 12 }, (_, i) => `e${i}/f`).join(' ');
  await after(`for f in ${paths}; do mkdir $(dirname $f) && echo $f > $f; done && sync ${paths}`);
  const { ok, seen } = await answeredByTable(async () => {
    await sleep(ATTR_CACHE_MS + 500); // each open checks the grid again, and loads
    await after(`stat ${paths} > /dev/null`); // answered by JavaScript, kept in the table
    await after(`cat ${paths} > /dev/null`);
    const before = handled();
    await after(`stat ${paths} > /dev/null`);
    return handled() - before;
  }, 0);
  t.true(ok, `of 12 stats after reading, ${seen.join(', ')} reached JavaScript`);
});
