// Loads the optional C kernel (native/codec.c, built by node-gyp into
// build/Release/slotfs_codec.node at install). Without it, or with SLOTFS_CODEC=ts in the
// environment, the codec uses the TypeScript kernel; both produce the same bytes.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MulKernel } from './kernel.js';

interface NativeAddon {
  mulMatrix: MulKernel['mulMatrix'];
  /** Reports (and with an argument, sets) whether the SIMD loop may be used. */
  simd(enable?: boolean): boolean;
  /** The widest loop the CPU and the build allow: 'avx2' or 'scalar'. */
  simdKind(): string;
}

/** The addon, or why it is not in use. */
export type NativeLoad =
  { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

const ADDON = join('build', 'Release', 'slotfs_codec.node');

/** The package root: the nearest folder above this file holding slotfs's package.json. */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'slotfs') {
          return dir;
        }
      } catch {
        // an unreadable package.json is not ours; keep looking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function load(): NativeLoad {
  if (process.env.SLOTFS_CODEC === 'ts') {
    return { ok: false, reason: 'SLOTFS_CODEC=ts forces the TypeScript codec' };
  }
  const root = packageRoot();
  if (!root) return { ok: false, reason: 'package root (package.json of slotfs) not found' };
  const path = join(root, ADDON);
  if (!existsSync(path)) {
    return { ok: false, reason: `${path} is not built (run \`node scripts/build-native.js\`)` };
  }
  try {
    const addon = createRequire(join(root, 'package.json'))(path) as NativeAddon;
    return { ok: true, addon, path };
  } catch (err) {
    return { ok: false, reason: `${path} failed to load: ${(err as Error).message}` };
  }
}

export const nativeLoad: NativeLoad = load();

export const nativeKernel: MulKernel | undefined = nativeLoad.ok
  ? { name: 'native', mulMatrix: nativeLoad.addon.mulMatrix }
  : undefined;
