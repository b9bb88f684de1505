// Test helper: transpiles a TypeScript entry point and the repository modules it imports to
// plain ES modules in `outDir`, so a child process can start without the tsx loader (the
// crash test starts hundreds of them). Only relative imports are followed; the entry's
// module graph must not need npm packages.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Returns the path of the compiled entry inside `outDir`. */
export function compileForNode(entry: string, srcRoot: string, outDir: string): string {
  const queue = [path.resolve(entry)];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const out = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const target = path.join(outDir, path.relative(srcRoot, file)).replace(/\.ts$/, '.js');
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, out);
    for (const m of out.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
      queue.push(path.resolve(path.dirname(file), `${m[1]}.ts`));
    }
  }
  writeFileSync(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  return path.join(outDir, path.relative(srcRoot, entry)).replace(/\.ts$/, '.js');
}
