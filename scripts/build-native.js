// Builds the optional N-API codec addon with node-gyp. A machine without a compiler
// still installs: slotfs then uses the pure TypeScript codec (same bytes, slower).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('binding.gyp') || process.env.SLOTFS_SKIP_NATIVE) process.exit(0);
const result = spawnSync('node-gyp', ['rebuild'], {
  stdio: 'inherit',
  shell: process.platform === 'win32',
});
if (result.status !== 0) {
  console.warn(
    'slotfs: the native codec was not built (no compiler?); using the TypeScript codec.',
  );
}
