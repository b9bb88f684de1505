// Which grid the soak runs on: the multi-host grid where network namespaces can be made
// (root, `ip netns`), else — with `auto` — the loopback grid, saying why.
import { loopbackGrid, type SoakGrid } from './grid.js';

export type GridChoice = 'auto' | 'hosts' | 'loopback';

export async function openSoakGrid(
  choice: GridChoice,
  servers: number,
  work: string,
  log: (line: string) => void,
): Promise<SoakGrid> {
  if (choice === 'loopback') return loopbackGrid(servers, work);
  const why = 'the multi-host grid is not merged yet';
  if (choice === 'hosts') throw new Error(`soak: cannot use the multi-host grid: ${why}`);
  log(`soak: multi-host grid unavailable (${why}); running on the loopback grid`);
  return loopbackGrid(servers, work);
}
