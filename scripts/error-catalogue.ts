// Builds docs/errors.md, the one catalogue of slotfs's stable error codes, from the source:
// every 'ERR_…' string literal outside tests, with the files that define or raise it.
// `node --import=tsx scripts/error-catalogue.ts` rewrites the file; `--check` only
// compares (src/errors-catalogue.test.ts runs the check, so the catalogue cannot go stale).
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
export const CATALOGUE = join(ROOT, 'docs', 'errors.md');
const CODE = /'(ERR_[A-Z0-9_]+)'/g;
/** Placeholders used in event plumbing, not errors anyone can receive. */
const NOT_ERRORS = new Set(['ERR_UNKNOWN']);

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

const isTest = (file: string) => file.endsWith('.test.ts') || file.includes('/test-support/');

/** code → source files (outside tests) that mention it. */
export async function codesInSource(): Promise<Map<string, Set<string>>> {
  const codes = new Map<string, Set<string>>();
  for await (const file of tsFiles(join(ROOT, 'src'))) {
    if (isTest(file)) continue;
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(CODE)) {
      if (NOT_ERRORS.has(m[1])) continue;
      const set = codes.get(m[1]) ?? new Set<string>();
      set.add(relative(ROOT, file));
      codes.set(m[1], set);
    }
  }
  return codes;
}

/** All test sources (src/**\/*.test.ts, test-support and mount-tests), concatenated. */
export async function testText(): Promise<string> {
  const parts: string[] = [];
  for (const dir of ['src', 'mount-tests']) {
    try {
      for await (const file of tsFiles(join(ROOT, dir))) {
        // The catalogue's own test names codes only to list them, not to provoke them.
        if (file.endsWith('.test.ts') && !file.endsWith('errors-catalogue.test.ts')) {
          parts.push(await readFile(file, 'utf8'));
        }
      }
    } catch {
      // a folder that does not exist has no tests
    }
  }
  return parts.join('\n');
}

export function render(codes: Map<string, Set<string>>): string {
  const rows = [...codes]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([code, files]) =>
        `| \`${code}\` | ${[...files]
          .sort()
          .map((f) => `\`${f}\``)
          .join(', ')} |`,
    );
  return [
    '# Error codes',
    '',
    'Every error slotfs raises carries a stable `code`; this is the list, generated from the',
    'source by `node --import=tsx scripts/error-catalogue.ts` (a test fails when it is out of',
    'date, and another when a code is provoked by no test). The message of each error says',
    'what failed, where, and what to do; the code is for programs and for searching here.',
    '',
    '| code | defined or raised in |',
    '|---|---|',
    ...rows,
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = render(await codesInSource());
  if (process.argv.includes('--check')) {
    const current = await readFile(CATALOGUE, 'utf8').catch(() => '');
    if (current !== text) {
      console.error(
        'docs/errors.md is out of date: run node --import=tsx scripts/error-catalogue.ts',
      );
      process.exit(1);
    }
  } else {
    await writeFile(CATALOGUE, text);
    console.log(`wrote ${relative(ROOT, CATALOGUE)}`);
  }
}
