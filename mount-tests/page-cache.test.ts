// The kernel keeps an unchanged file's pages across opens (keep_cache, decided from the
// contents' version: src/fs/kernel-contents.ts), so reading it again costs no trip to
// JavaScript — and never shows pages of other contents: after a write through another
// name of the file, a rename over it, or a new version (two-mounts.test.ts). The mount
// checks files again after 0.5 s (attr-cache-ms) and logs the reads JavaScript answers
// in /pc (SLOTFS_DEBUG with a pattern).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MountProcess, eventually, gridSuite, run, writeClientConfig } from './harness.js';

let mountProcess: MountProcess;
const suite = gridSuite('slotfs-pages-', () => mountProcess?.stop().then(() => undefined));
const { test, mtest } = suite;
let mnt: string;
let dir: string;
const ATTR_CACHE_MS = 500;

test.serial.before(async () => {
  if (suite.unavailable) return;
  mnt = join(suite.base, 'mnt');
  const client = join(suite.base, 'client');
  await writeClientConfig({
    dir: client,
    serversFile: suite.serversFile,
    mount: { 'attr-cache-ms': ATTR_CACHE_MS },
  });
  mountProcess = await MountProcess.startLogging(mnt, client, '^(read|open) /pc/');
  await run('mkdir pc && echo m > pc/marker', mnt);
  dir = join(mnt, 'pc');
});

/** The reads (or opens) of `name` in /pc that JavaScript answered so far. */
function calls(op: 'read' | 'open', name: string): number {
  const logged = ` slotfs: debug: ${op} /pc/${name} `;
  return mountProcess.output.split('\n').filter((l) => l.includes(logged)).length;
}

/**
 * `cat` of `name` after the file's close-to-open window has passed; the reads and opens it
 * cost, counted once the mount's log has caught up (an open of `marker` logged after them).
 */
async function catAgain(name: string): Promise<{ text: string; reads: number; opens: number }> {
  await sleep(ATTR_CACHE_MS + 200);
  const [reads, opens, marks] = [calls('read', name), calls('open', name), calls('open', 'marker')];
  const text = await run(`cat ${name}`, dir);
  await run('cat marker', dir);
  await eventually(async () => calls('open', 'marker') > marks, 5000, 'the log caught up');
  return { text, reads: calls('read', name) - reads, opens: calls('open', name) - opens };
}

mtest('an unchanged file read again comes from the kernel, after its check too', async (t) => {
  await run('seq 1 3000 > same.txt && sync same.txt', dir);
  const expected = await run('seq 1 3000', dir);
  t.is((await catAgain('same.txt')).text, expected);
  const again = [await catAgain('same.txt'), await catAgain('same.txt')];
  for (const r of again) {
    t.is(r.text, expected);
    t.is(r.opens, 1, 'each open reaches the mount (its close-to-open check)');
  }
  // Without keep_cache every cat reads the file's 14 KB from JavaScript again.
  t.deepEqual(
    again.map((r) => r.reads),
    [0, 0],
  );
});

mtest('a file written here keeps the pages its writes left, once published', async (t) => {
  // Whole pages written through the mount are in the kernel's cache; the publish names
  // the same bytes by their version, so the first read after it needs no trip either.
  const source = join(suite.base, 'written.bin');
  await run(`head -c 16384 /dev/urandom > ${source} && cp ${source} . && sync written.bin`, dir);
  const first = await catAgain('written.bin');
  t.is(first.reads, 0, 'read from the pages the writes left');
  await run(`cmp ${source} written.bin`, dir);
});

mtest('a write through one name shows through the other, whose pages were kept', async (t) => {
  await run('seq 1 1000 > h1 && ln h1 h2 && sync h1', dir);
  const old = await run('cat h1', dir);
  t.is((await catAgain('h2')).text, old);
  t.is((await catAgain('h2')).reads, 0, "h2's pages kept");
  // Same size, new bytes at the start, written through h1's node only.
  await run("printf 'XXXX' | dd of=h1 conv=notrunc status=none", dir);
  const now = await catAgain('h2');
  t.is(now.text, `XXXX${old.slice(4)}`);
  t.true(now.reads > 0, 'h2 read its new contents from the mount');
});

mtest('a file renamed over another shows its own contents under the new name', async (t) => {
  await run('seq 1 500 > x && seq 501 1000 > y && sync x y', dir);
  const [x, y] = [await run('cat x', dir), await run('cat y', dir)];
  t.not(x, y);
  t.is((await catAgain('x')).text, x);
  t.is((await catAgain('x')).reads, 0, "x's pages kept");
  await run('mv y x', dir);
  const moved = await catAgain('x');
  t.is(moved.text, y);
  t.is((await catAgain('x')).reads, 0, "y's pages went with it");
});

mtest('contents truncated and rewritten through the mount read back whole', async (t) => {
  await run('seq 1 2000 > t.txt && sync t.txt', dir);
  await catAgain('t.txt');
  await catAgain('t.txt');
  await run('seq 7 9 > t.txt', dir); // O_TRUNC open, then a write: through this node
  t.is((await catAgain('t.txt')).text, '7\n8\n9\n');
  await run('truncate -s 2 t.txt', dir);
  t.is((await catAgain('t.txt')).text, '7\n');
});
