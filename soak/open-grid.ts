// Which grid the soak runs on: the multi-host grid where network namespaces can be made
// (root, `ip netns`), else — with `auto` — the loopback grid, saying why.
import { hostsAvailable } from '../src/grid/hosts/hosts-grid.js';
import { hostsGrid, loopbackGrid, type SoakGrid } from './grid.js';

export type GridChoice = 'auto' | 'hosts' | 'loopback';

/** The link every server of the multi-host grid gets: a LAN a few milliseconds away. */
export const SOAK_LINK = { delayMs: 5, jitterMs: 3 };

export async function openSoakGrid(
  choice: GridChoice,
  servers: number,
  work: string,
  log: (line: string) => void,
): Promise<SoakGrid> {
  if (choice === 'loopback') return loopbackGrid(servers, work);
  const available = await hostsAvailable();
  if (available.ok) return hostsGrid(servers, SOAK_LINK);
  if (choice === 'hosts') {
    throw new Error(`soak: cannot use the multi-host grid: ${available.reason}`);
  }
  log(`soak: multi-host grid unavailable (${available.reason}); running on the loopback grid`);
  return loopbackGrid(servers, work);
}
