// `npm run bench -- <name> [args]`: runs bench/<name>.ts, prints its table and writes
// bench/results/<name>.json. Every benchmark module default-exports a function that
// returns { rows, ...extra }.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, type BenchResult } from './table.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Modules that are not benchmarks themselves. */
const HELPERS = ['run.ts', 'table.ts', 'fs-targets.ts', 'latency-fit.ts'];

async function available(): Promise<string[]> {
  const files = await readdir(here);
  return files
    .filter((f) => f.endsWith('.ts') && !HELPERS.includes(f))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const names = await available();
  const chosen = name ? [name] : names;
  for (const n of chosen) {
    if (!names.includes(n)) {
      console.error(`unknown benchmark ${JSON.stringify(n)}; available: ${names.join(', ')}`);
      process.exit(2);
    }
    const mod = (await import(`./${n}.ts`)) as { default: (a: string[]) => Promise<BenchResult> };
    console.log(`\n# ${n}`);
    const result = await mod.default(args);
    printTable(result.rows);
    for (const note of result.notes ?? []) console.log(note);
    const out = join(here, 'results', `${n}.json`);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(
      out,
      JSON.stringify(
        { name: n, date: new Date().toISOString(), node: process.version, ...result },
        null,
        2,
      ),
    );
    console.log(`wrote ${out}`);
  }
}

await main();
