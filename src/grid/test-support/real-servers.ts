// Real `slotfs server` processes for the grid's tests, each with the entry a client needs
// (node id and permutation seed as the server wrote them to node.json). They are stopped
// and their folders removed after the file's tests, also those that started when another
// failed to.
import type { TestFn } from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromBase32 } from '../../encoding/base32.js';
import { spawnServer } from '../../storage/test-support/server-process.js';
import type { ServerEntry } from '../servers.js';

export interface RealServerSpec {
  name: string;
  /** Extra `slotfs server` arguments, e.g. ['--no-extensions']. */
  args?: string[];
  timeoutMs?: number;
}

/** One server; the caller stops it and removes `dir` (startRealServers does both). */
export async function startRealServer(spec: RealServerSpec) {
  const dir = await mkdtemp(path.join(tmpdir(), `slotfs-${spec.name}-`));
  const proc = await spawnServer(dir, ['--port', '0', ...(spec.args ?? [])], spec.timeoutMs);
  const info = JSON.parse(await readFile(path.join(dir, 'node.json'), 'utf8')) as {
    nodeId: string;
    permutationSeed: string;
  };
  const entry: ServerEntry = {
    id: fromBase32(info.nodeId),
    permutationSeed: fromBase32(info.permutationSeed),
    name: spec.name,
    nurl: proc.nurl,
  };
  return { proc, dir, entry };
}

/** Starts one server per spec now; resolves with their entries, in order. */
export function startRealServers(test: TestFn, specs: RealServerSpec[]): Promise<ServerEntry[]> {
  const starts = specs.map(startRealServer);
  test.after.always(async () => {
    for (const s of await Promise.allSettled(starts)) {
      if (s.status !== 'fulfilled') continue;
      await s.value.proc.stop();
      await rm(s.value.dir, { recursive: true, force: true });
    }
  });
  const entries = Promise.all(starts).then((all) => all.map((s) => s.entry));
  entries.catch(() => undefined); // reported by the tests that await it
  return entries;
}
