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
//
// Third fix, for speed: every call fuse-native hands to JavaScript waits for Node's main
// thread twice (there and back). After create, mkdir, symlink, link and each attribute
// change, libfuse makes one more such call, a getattr, before it answers the kernel; and
// the kernel asks for security.capability before every write. With this fix an
// operation's answer may carry the entry's new attributes (src/fs/fuse-attr-replies.ts),
// which that getattr then gets without leaving the binding; and with
// SLOTFS_FUSE_XATTR_PREFIX set, extended attributes named otherwise are answered "none"
// in the binding. Other users of the binding see no change. build/Release/
// slotfs-attr-replies marks a build with this fix.
//
// Fourth fix, for speed: `stat` of a name whose entry has expired from the kernel's cache
// costs the same two trips to Node's main thread, though the answer is known without the
// grid. With SLOTFS_FUSE_ATTR_TABLE=1 (set by the mount) a getattr answer that JavaScript
// marks as good for some milliseconds (src/fs/fuse-attr-replies.ts) is kept in a table in
// the binding, and a later getattr of that path is answered from it on libfuse's own
// thread. Every other operation but the read-only ones empties the table when it starts
// and again when it ends, and JavaScript empties it when its own picture changes (a
// listing read again, a change that landed or failed), so the table never answers with
// something JavaScript would not. build/Release/slotfs-attr-table marks a build with it.
//
// Fifth fix, for speed: the kernel drops a file's cached pages at every open unless the
// open's answer says keep_cache, so each read of an unchanged file reaches JavaScript
// again. With SLOTFS_FUSE_KEEP_CACHE=1 (set by the mount), an open answered with bit 30 of
// the handle set (SlotFs decides it from the contents' version: src/fs/kernel-contents.ts)
// tells the kernel to keep them; the handle goes on without the bit. Other users of the
// binding see no change. build/Release/slotfs-keep-cache marks a build with it.
//
// The patches apply to fuse-native.c as npm installed it, kept beside it the first time
// (fuse-native.c.orig): later patches rewrite earlier ones' text, so patching a patched
// file again would not find what it looks for.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
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
const attrsMarker = join(dir, 'build', 'Release', 'slotfs-attr-replies');
const tableMarker = join(dir, 'build', 'Release', 'slotfs-attr-table');
const keepMarker = join(dir, 'build', 'Release', 'slotfs-keep-cache');

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
const ATTR_REPLIES = `
// slotfs: attributes a JavaScript handler passes with its answer to create, mkdir, symlink,
// link, chmod, chown, utimens, truncate or ftruncate are kept for the getattr libfuse makes
// right after that operation, on the same thread, before it replies to the kernel: that
// getattr is then answered here, without a second trip to Node's main thread. Whatever
// else this thread does next clears them, so they answer nothing but that getattr.
static int slotfs_keeps_attr (uint32_t op) {
  return op == op_create || op == op_mkdir || op == op_symlink || op == op_link ||
    op == op_chmod || op == op_chown || op == op_utimens || op == op_truncate ||
    op == op_ftruncate;
}
static void slotfs_keep_attr (napi_env env, fuse_thread_locals_t *l, int32_t res, napi_value value) {
  l->slotfs_attr_ready = 0;
  if (res != 0 || value == NULL || !slotfs_keeps_attr(l->op)) return;
  uint32_t *ints;
  size_t len;
  if (napi_get_buffer_info(env, value, (void **) &ints, &len) != napi_ok || len < 18 * 4) return;
  // symlink and link: the new entry is the second path.
  const char *path = (l->op == op_symlink || l->op == op_link) ? l->dest : l->path;
  size_t n = strlen(path);
  if (n >= sizeof(l->slotfs_attr_path)) return;
  memcpy(l->slotfs_attr_path, path, n + 1);
  populate_stat(ints, &l->slotfs_attr);
  l->slotfs_attr_ready = 1;
}
static int slotfs_take_attr (fuse_thread_locals_t *l, const char *path, struct stat *stat) {
  if (!l->slotfs_attr_ready) return 0;
  l->slotfs_attr_ready = 0;
  if (strcmp(path, l->slotfs_attr_path) != 0) return 0;
  *stat = l->slotfs_attr;
  return 1;
}
// slotfs: with SLOTFS_FUSE_XATTR_PREFIX set, extended attributes whose names do not start
// with it are answered "no such attribute" here: the kernel asks for security.capability
// before every write and chown, and only the prefix's names have answers in JavaScript.
static int slotfs_xattr_absent (const char *name) {
  const char *prefix = getenv("SLOTFS_FUSE_XATTR_PREFIX");
  return prefix != NULL && prefix[0] != '\\0' && strncmp(name, prefix, strlen(prefix)) != 0;
}
`;
const ATTR_TABLE = `
// slotfs: the attribute table (fourth fix). Rows are keyed by mount and path; a row is
// good until its deadline (milliseconds on the monotonic clock) and holds a stat or
// ENOENT. A generation counter, bumped whenever the table is emptied, keeps an answer
// computed before a change from being stored after it.
#include <fcntl.h>
#define SLOTFS_TABLE_BUCKETS 8192
#define SLOTFS_TABLE_ROWS 65536
typedef struct slotfs_row {
  struct slotfs_row *next;
  const void *mount;
  uint64_t until;
  int32_t res;
  struct stat st;
  char path[];
} slotfs_row_t;
static slotfs_row_t *slotfs_rows[SLOTFS_TABLE_BUCKETS];
static size_t slotfs_row_count = 0;
static uint64_t slotfs_table_gen = 0;
static pthread_mutex_t slotfs_table_lock = PTHREAD_MUTEX_INITIALIZER;
static int slotfs_table_on (void) {
  static int on = -1;
  if (on < 0) {
    const char *v = getenv("SLOTFS_FUSE_ATTR_TABLE");
    on = v != NULL && v[0] == '1';
  }
  return on;
}
// Operations that change nothing stat shows; every other one empties the table. An open
// for reading may load newer contents, and an fsync waits for a publish: JavaScript
// empties the table itself when those change anything.
static int slotfs_reads_only (fuse_thread_locals_t *l) {
  uint32_t op = l->op;
  if (op == op_open || op == op_release) {
    return l->info != NULL && (l->info->flags & (O_ACCMODE | O_TRUNC)) == O_RDONLY;
  }
  return op == op_getattr || op == op_fgetattr || op == op_access || op == op_readlink ||
    op == op_opendir || op == op_readdir || op == op_releasedir || op == op_statfs ||
    op == op_getxattr || op == op_listxattr || op == op_read || op == op_fsync ||
    op == op_fsyncdir;
}
static uint64_t slotfs_now_ms (void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t) t.tv_sec * 1000 + (uint64_t) t.tv_nsec / 1000000;
}
static size_t slotfs_bucket (const void *mount, const char *path) {
  uint64_t h = 14695981039346656037ULL ^ (uint64_t) (uintptr_t) mount;
  for (const unsigned char *c = (const unsigned char *) path; *c; c++) h = (h ^ *c) * 1099511628211ULL;
  return (size_t) (h % SLOTFS_TABLE_BUCKETS);
}
static void slotfs_table_empty_locked (void) {
  slotfs_table_gen++;
  if (slotfs_row_count == 0) return;
  for (size_t i = 0; i < SLOTFS_TABLE_BUCKETS; i++) {
    slotfs_row_t *row = slotfs_rows[i];
    slotfs_rows[i] = NULL;
    while (row != NULL) {
      slotfs_row_t *next = row->next;
      free(row);
      row = next;
    }
  }
  slotfs_row_count = 0;
}
static void slotfs_table_empty (void) {
  if (!slotfs_table_on()) return;
  pthread_mutex_lock(&slotfs_table_lock);
  slotfs_table_empty_locked();
  pthread_mutex_unlock(&slotfs_table_lock);
}
static uint64_t slotfs_table_generation (void) {
  if (!slotfs_table_on()) return 0;
  pthread_mutex_lock(&slotfs_table_lock);
  uint64_t gen = slotfs_table_gen;
  pthread_mutex_unlock(&slotfs_table_lock);
  return gen;
}
static int slotfs_table_get (const void *mount, const char *path, struct stat *st, int32_t *res) {
  if (!slotfs_table_on()) return 0;
  int found = 0;
  uint64_t now = slotfs_now_ms();
  pthread_mutex_lock(&slotfs_table_lock);
  for (slotfs_row_t *row = slotfs_rows[slotfs_bucket(mount, path)]; row != NULL; row = row->next) {
    if (row->mount == mount && strcmp(row->path, path) == 0) {
      if (row->until > now) {
        *st = row->st;
        *res = row->res;
        found = 1;
      }
      break;
    }
  }
  pthread_mutex_unlock(&slotfs_table_lock);
  return found;
}
// Main thread: JavaScript answered a getattr dispatched at generation gen, good for ms.
static void slotfs_table_put (const void *mount, const char *path, int32_t res, const struct stat *st, double ms, uint64_t gen) {
  if (!slotfs_table_on() || !(ms >= 1) || (res != 0 && res != -ENOENT)) return;
  size_t n = strlen(path);
  if (n >= 4096) return;
  pthread_mutex_lock(&slotfs_table_lock);
  if (gen == slotfs_table_gen) {
    if (slotfs_row_count >= SLOTFS_TABLE_ROWS) slotfs_table_empty_locked();
    size_t b = slotfs_bucket(mount, path);
    slotfs_row_t *row = slotfs_rows[b];
    while (row != NULL && !(row->mount == mount && strcmp(row->path, path) == 0)) row = row->next;
    if (row == NULL && (row = malloc(sizeof(slotfs_row_t) + n + 1)) != NULL) {
      memcpy(row->path, path, n + 1);
      row->mount = mount;
      row->next = slotfs_rows[b];
      slotfs_rows[b] = row;
      slotfs_row_count++;
    }
    if (row != NULL) {
      row->until = slotfs_now_ms() + (uint64_t) (ms > 60000 ? 60000 : ms);
      row->res = res;
      if (res == 0) row->st = *st;
    }
  }
  pthread_mutex_unlock(&slotfs_table_lock);
}
static void slotfs_table_offer (napi_env env, fuse_thread_locals_t *l, int32_t res, napi_value value) {
  double ms;
  if (value == NULL || napi_get_value_double(env, value, &ms) != napi_ok) return;
  slotfs_table_put(l->fuse, l->path, res, l->stat, ms, l->slotfs_gen);
}
// Main thread: the attributes of many paths of one mount at once (a folder's names, after
// a stat of one of them): paths NUL-terminated one after another, 18 words of stat each.
NAPI_METHOD(slotfs_keep_attrs) {
  NAPI_ARGV(4)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 0)
  NAPI_ARGV_BUFFER(paths, 1)
  NAPI_ARGV_BUFFER_CAST(uint32_t *, ints, 2)
  double ms;
  if (napi_get_value_double(env, argv[3], &ms) != napi_ok) return NULL;
  uint64_t gen = slotfs_table_generation();
  size_t at = 0;
  for (size_t i = 0; (i + 1) * 18 * 4 <= ints_len && at < paths_len; i++) {
    const char *path = paths + at;
    size_t n = strnlen(path, paths_len - at);
    if (at + n >= paths_len) break;
    struct stat st;
    memset(&st, 0, sizeof(st));
    populate_stat(ints + 18 * i, &st);
    slotfs_table_put(ft, path, 0, &st, ms, gen);
    at += n + 1;
  }
  return NULL;
}
NAPI_METHOD(slotfs_forget_attrs) {
  slotfs_table_empty();
  return NULL;
}
`;
const KEEP_CACHE = `
// slotfs: an open answered with this bit set keeps the file's cached pages (fifth fix).
#define SLOTFS_KEEP_CACHE 0x40000000
static int slotfs_keep_cache_on (void) {
  static int on = -1;
  if (on < 0) {
    const char *v = getenv("SLOTFS_FUSE_KEEP_CACHE");
    on = v != NULL && v[0] == '1';
  }
  return on;
}
`;
// [unpatched, patched, every occurrence?], applied in order to the source as installed.

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
  // Attributes answered in the binding (third fix).
  [
    '  int32_t res;\n',
    '  int32_t res;\n  int slotfs_attr_ready;\n  struct stat slotfs_attr;\n  char slotfs_attr_path[4096];\n',
  ],
  ['// Methods\n', `${ATTR_REPLIES}\n// Methods\n`],
  [
    '  blk\\\n  uv_async_send(&(l->async));\\\n',
    '  blk\\\n  l->slotfs_attr_ready = 0;\\\n  uv_async_send(&(l->async));\\\n',
  ],
  ['    NAPI_ARGV(signalArgs + 2)\\\n', '    NAPI_ARGV(signalArgs + 3)\\\n'],
  [
    '    l->res = res;\\\n    uv_sem_post(&(l->sem));\\\n',
    '    l->res = res;\\\n    slotfs_keep_attr(env, l, res, argc > signalArgs + 2 ? argv[signalArgs + 2] : NULL);\\\n    uv_sem_post(&(l->sem));\\\n',
  ],
  [
    'FUSE_METHOD(getattr, 1, 1, (const char *path, struct stat *stat), {\n',
    'FUSE_METHOD(getattr, 1, 1, (const char *path, struct stat *stat), {\n  if (slotfs_take_attr(l, path, stat)) return 0;\n',
  ],
  [
    'FUSE_METHOD(fgetattr, 2, 1, (const char *path, struct stat *stat, struct fuse_file_info *info), {\n',
    'FUSE_METHOD(fgetattr, 2, 1, (const char *path, struct stat *stat, struct fuse_file_info *info), {\n  if (slotfs_take_attr(l, path, stat)) return 0;\n',
  ],
  [
    'FUSE_METHOD(getxattr, 4, 1, (const char *path, const char *name, char *value, size_t size), {\n',
    'FUSE_METHOD(getxattr, 4, 1, (const char *path, const char *name, char *value, size_t size), {\n  if (slotfs_xattr_absent(name)) return -ENODATA;\n',
  ],
  // The attribute table (fourth fix).
  ['  int slotfs_attr_ready;\n', '  int slotfs_attr_ready;\n  uint64_t slotfs_gen;\n'],
  ['static int slotfs_xattr_absent (', `${ATTR_TABLE}\nstatic int slotfs_xattr_absent (`],
  [
    '  l->slotfs_attr_ready = 0;\\\n  uv_async_send(&(l->async));\\\n  uv_sem_wait(&(l->sem));\\\n',
    '  l->slotfs_attr_ready = 0;\\\n  if (!slotfs_reads_only(l)) slotfs_table_empty();\\\n  l->slotfs_gen = slotfs_table_generation();\\\n  uv_async_send(&(l->async));\\\n  uv_sem_wait(&(l->sem));\\\n  if (!slotfs_reads_only(l)) slotfs_table_empty();\\\n',
  ],
  [
    'FUSE_METHOD(getattr, 1, 1, (const char *path, struct stat *stat), {\n  if (slotfs_take_attr(l, path, stat)) return 0;\n  l->path = path;\n  l->stat = stat;\n}, {\n  slotfs_path_value(env, l->path, &(argv[2]));\n}, {\n  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)\n  populate_stat(ints, l->stat);\n})',
    'FUSE_METHOD(getattr, 1, 1, (const char *path, struct stat *stat), {\n  if (slotfs_take_attr(l, path, stat)) return 0;\n  { int32_t slotfs_res; if (slotfs_table_get(l->fuse, path, stat, &slotfs_res)) return slotfs_res; }\n  l->path = path;\n  l->stat = stat;\n}, {\n  slotfs_path_value(env, l->path, &(argv[2]));\n}, {\n  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)\n  populate_stat(ints, l->stat);\n  slotfs_table_offer(env, l, res, argc > 3 ? argv[3] : NULL);\n})',
  ],
  // Pages kept across opens (fifth fix): only open's answer carries the bit.
  [
    '  NAPI_ARGV_INT32(fd, 2)\n  if (fd != 0) {\n    l->info->fh = fd;\n  }\n})\n\nFUSE_METHOD(opendir,',
    '  NAPI_ARGV_INT32(fd, 2)\n  if (slotfs_keep_cache_on() && l->info != NULL && (fd & SLOTFS_KEEP_CACHE)) {\n    l->info->keep_cache = 1;\n    fd &= ~SLOTFS_KEEP_CACHE;\n  }\n  if (fd != 0) {\n    l->info->fh = fd;\n  }\n})\n\nFUSE_METHOD(opendir,',
  ],
  ['FUSE_METHOD(open, 2, 1,', `${KEEP_CACHE}\nFUSE_METHOD(open, 2, 1,`],
  [
    '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n',
    '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n  NAPI_EXPORT_FUNCTION(slotfs_forget_attrs)\n  NAPI_EXPORT_FUNCTION(slotfs_keep_attrs)\n',
  ],
];

const original = `${source}.orig`;
if (!existsSync(original)) {
  if (readFileSync(source, 'utf8').includes('slotfs')) {
    console.warn(
      'slotfs: fuse-native.c is patched but its original is gone; reinstall fuse-native (npm ci)',
    );
    process.exit(0);
  }
  copyFileSync(source, original);
}
let text = readFileSync(original, 'utf8');
for (const [before, after, every] of PATCHES) {
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
  writeFileSync(attrsMarker, `attributes answered with operations, by scripts/build-fuse.js\n`);
  writeFileSync(
    tableMarker,
    `attribute table (SLOTFS_FUSE_ATTR_TABLE), by scripts/build-fuse.js\n`,
  );
  writeFileSync(
    keepMarker,
    `keep_cache on open (SLOTFS_FUSE_KEEP_CACHE), by scripts/build-fuse.js\n`,
  );
} else {
  console.warn(
    'slotfs: could not rebuild fuse-native with the utimens and raw-path fixes (needs a C ' +
      'compiler and libfuse-dev); the mount works, but modification times set by programs ' +
      'are not kept, and names holding U+FFFD are refused.',
  );
}
