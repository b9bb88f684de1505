// Dependencies point down only (design.md, "Layers"): every import in src/, outside tests
// and test helpers, goes to its own layer or one below it. The storage server shares only
// the wire definitions (storage/protocol.ts) with the client side.
import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = dirname(fileURLToPath(import.meta.url));

/** Bottom (0) to top. Layers on one rank may not import each other either. */
const RANK: Record<string, number> = {
  encoding: 0,
  codec: 1,
  crypto: 2,
  caps: 3,
  sdmf: 4,
  chk: 4,
  mdmf: 4,
  storage: 5,
  grid: 6,
  cache: 7,
  // Below mutable/, so the mutable client's retrieve can serve every readable cap.
  immutable: 7.5,
  mutable: 8,
  dirnode: 9,
  client: 10,
  fs: 11,
  cli: 12,
};

async function* sources(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'test-support' && entry.name !== 'vectors') yield* sources(path);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      yield path;
    }
  }
}

const layerOf = (file: string) => relative(SRC, file).split('/')[0];

test('imports point down the layers', async (t) => {
  const violations: string[] = [];
  let checked = 0;
  for await (const file of sources(SRC)) {
    const from = layerOf(file);
    if (!(from in RANK)) continue;
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]);
      const to = layerOf(target);
      checked++;
      if (to === from) continue;
      const wire = to === 'storage' && relative(SRC, target) === 'storage/protocol.js';
      const allowed =
        to in RANK && RANK[to] < RANK[from] && (to !== 'storage' || wire || from === 'cli');
      if (!allowed) violations.push(`${relative(SRC, file)} imports ${m[1]}`);
    }
  }
  t.true(checked > 100, `only ${checked} imports found`);
  t.deepEqual(violations, []);
});

test('the pure layers do no I/O', async (t) => {
  const pure = ['encoding', 'codec', 'crypto', 'caps', 'sdmf', 'chk', 'mdmf'];
  const io =
    /from 'node:(fs|fs\/promises|net|http|https|tls|child_process|dgram)'|from '(level|undici|fastify|fuse-native)'/;
  const offenders: string[] = [];
  for await (const file of sources(SRC)) {
    if (!pure.includes(layerOf(file))) continue;
    if (io.test(await readFile(file, 'utf8'))) offenders.push(relative(SRC, file));
  }
  // The codec's addon loader reads build/ to find the optional native kernel.
  t.deepEqual(
    offenders.filter((f) => f !== 'codec/native.ts'),
    [],
  );
});
