// Builds the optional N-API codec addon with node-gyp. A machine without a compiler
// still installs: slotfs then uses the pure TypeScript codec (same bytes, slower).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

if (!existsSync('binding.gyp') || process.env.SLOTFS_SKIP_NATIVE) process.exit(0);

// npm puts node-gyp on PATH for install scripts; when this script is run by hand, use the
// node-gyp that npm bundles, and the headers installed beside node rather than a download.
const prefix = join(dirname(process.execPath), '..');
const bundled = [
  process.env.npm_config_node_gyp,
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].find((p) => p && existsSync(p));
const args = ['rebuild'];
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const result = bundled
  ? spawnSync(process.execPath, [bundled, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });
if (result.status !== 0) {
  console.warn(
    'slotfs: the native codec was not built (no compiler?); using the TypeScript codec.',
  );
}
