// Fixes fuse-native's utimens binding and rebuilds it (run by `npm install` / `npm ci` as
// postinstall, or by hand: `node scripts/build-fuse.js`).
//
// fuse-native 2.2.6 passes the access time twice to the JavaScript utimens handler, so
// the modification time that touch -d, cp -p, tar, rsync and git set is lost
// (docs: fuse-notes.md). The fix is one token in fuse-native.c; this script applies it in
// place (idempotent, like patch-package would) and builds build/Release/fuse.node, which
// node-gyp-build prefers over the unpatched prebuilt binary. It also writes
// build/Release/slotfs-utimens-fixed, which the mount checks to warn when the fix is
// missing. A machine without a compiler still installs: the mount then warns that mtimes
// set by programs are not kept.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

if (process.env.SLOTFS_SKIP_NATIVE) process.exit(0);

const require = createRequire(import.meta.url);
let dir;
try {
  dir = dirname(require.resolve('fuse-native/package.json'));
} catch {
  process.exit(0); // not installed (e.g. production install without it)
}

const source = join(dir, 'fuse-native.c');
const marker = join(dir, 'build', 'Release', 'slotfs-utimens-fixed');

// [unpatched, patched] pairs, applied in place and idempotently.
const UTIMENS_MS = `
// slotfs: UTIME_NOW becomes the current time; UTIME_OMIT a sentinel (2^52 - 1 ms) that the
// JavaScript handler reads as "leave unchanged".
static uint64_t slotfs_utimens_ms (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_OMIT) return 4503599627370495ULL;
  if (ts->tv_nsec == UTIME_NOW) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return timespec_to_uint64(&now);
  }
  return timespec_to_uint64(ts);
}
`;
const PATCHES = [
  // The bug: the access time was passed in both places.
  ['FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)', 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)'],
  // libfuse 2 drops `touch -m` / `touch -a` (one time omitted) unless this flag is set.
  [
    'if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;',
    'if (implemented[op_utimens]) { ops.utimens = fuse_native_utimens; ops.flag_utime_omit_ok = 1; }',
  ],
  [
    '  l->atime = timespec_to_uint64(&tv[0]);\n  l->mtime = timespec_to_uint64(&tv[1]);',
    '  l->atime = slotfs_utimens_ms(&tv[0]);\n  l->mtime = slotfs_utimens_ms(&tv[1]);',
  ],
  ['static void populate_stat (', `${UTIMENS_MS}\nstatic void populate_stat (`],
];

let text = readFileSync(source, 'utf8');
for (const [before, after] of PATCHES) {
  if (text.includes(after)) continue;
  if (!text.includes(before)) {
    console.warn('slotfs: fuse-native.c looks different than expected; utimens not patched');
    process.exit(0);
  }
  text = text.replace(before, after);
}
writeFileSync(source, text);
const stamp = createHash('sha256').update(text).digest('hex');
const built = join(dir, 'build', 'Release', 'fuse.node');
if (existsSync(built) && existsSync(marker) && readFileSync(marker, 'utf8').includes(stamp)) {
  process.exit(0);
}

// npm puts node-gyp on PATH for install scripts; run by hand, use the node-gyp npm bundles
// and the headers installed beside node instead of a download.
const prefix = join(dirname(process.execPath), '..');
const bundled = [
  process.env.npm_config_node_gyp,
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].find((p) => p && existsSync(p));
const args = ['rebuild', '--loglevel=warn'];
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const options = { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] };
const result = bundled
  ? spawnSync(process.execPath, [bundled, ...args], options)
  : spawnSync('node-gyp', args, options);
if (result.status === 0 && existsSync(join(dir, 'build', 'Release', 'fuse.node'))) {
  writeFileSync(marker, `utimens fixed by slotfs scripts/build-fuse.js; source ${stamp}\n`);
} else {
  console.warn(
    'slotfs: could not rebuild fuse-native with the utimens fix (needs a C compiler and ' +
      'libfuse-dev); the mount works, but modification times set by programs are not kept.',
  );
}
