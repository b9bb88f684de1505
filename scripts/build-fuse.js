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
//
// Second fix: fuse-native hands paths to JavaScript as UTF-8-decoded strings, so bytes that
// are not valid UTF-8 all become U+FFFD and different names collide. With
// SLOTFS_FUSE_RAW_PATHS=1 in the environment (the mount sets it), paths and renamed-to paths
// arrive as latin1 strings (one char per byte) and readdir names go back the same way, so
// src/fs decodes names itself, losslessly. Without the variable the binding behaves as
// before, so other users of it see no change. build/Release/slotfs-raw-paths marks a build
// with this fix.
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
const rawMarker = join(dir, 'build', 'Release', 'slotfs-raw-paths');

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
const RAW_PATHS = `
// slotfs: with SLOTFS_FUSE_RAW_PATHS=1, paths cross to JavaScript byte for byte (latin1).
static int slotfs_raw_paths (void) {
  const char *v = getenv("SLOTFS_FUSE_RAW_PATHS");
  return v != NULL && v[0] == '1';
}
static napi_status slotfs_path_value (napi_env env, const char *path, napi_value *out) {
  return slotfs_raw_paths()
    ? napi_create_string_latin1(env, path, NAPI_AUTO_LENGTH, out)
    : napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, out);
}
#define SLOTFS_NAME(name, size, val) \\
  char name[size]; \\
  size_t name##_len; \\
  if ((slotfs_raw_paths() \\
      ? napi_get_value_string_latin1(env, val, (char *) &name, size, &name##_len) \\
      : napi_get_value_string_utf8(env, val, (char *) &name, size, &name##_len)) != napi_ok) { \\
    napi_throw_error(env, "EINVAL", "Expected string"); \\
    return NULL; \\
  }
`;
// [unpatched, patched, every occurrence?]
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
  // Raw paths (second fix).
  [
    'static int IS_ARRAY_BUFFER_DETACH_SUPPORTED = 0;\n',
    `static int IS_ARRAY_BUFFER_DETACH_SUPPORTED = 0;\n${RAW_PATHS}`,
  ],
  [
    'napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, ',
    'slotfs_path_value(env, l->path, ',
    true,
  ],
  [
    'napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, ',
    'slotfs_path_value(env, l->dest, ',
    true,
  ],
  ['NAPI_UTF8(name, 1024, raw_name)', 'SLOTFS_NAME(name, 1024, raw_name)', true],
];

let text = readFileSync(source, 'utf8');
for (const [before, after, every] of PATCHES) {
  if (text.includes(after)) continue;
  if (!text.includes(before)) {
    console.warn('slotfs: fuse-native.c looks different than expected; not patched');
    process.exit(0);
  }
  text = every ? text.replaceAll(before, after) : text.replace(before, after);
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
  writeFileSync(rawMarker, `raw paths (SLOTFS_FUSE_RAW_PATHS) by scripts/build-fuse.js\n`);
} else {
  console.warn(
    'slotfs: could not rebuild fuse-native with the utimens and raw-path fixes (needs a C ' +
      'compiler and libfuse-dev); the mount works, but modification times set by programs ' +
      'are not kept, and names holding U+FFFD are refused.',
  );
}
