// Which module registers which top-level command, so that `slotfs server` (started many
// times by a grid) loads the storage server alone, not the mount and the client with it.
import type { Command } from 'commander';

type Register = (program: Command) => void;
type Loader = () => Promise<{ default: Register }>;

const server: Loader = () => import('./server.js');
const grid: Loader = () => import('./grid.js');
const putGet: Loader = () => import('./put-get.js');
const mount: Loader = () => import('./mount.js');

/** Top-level command name (or alias) → the module that registers it. */
export const COMMAND_MODULES: Readonly<Record<string, Loader>> = {
  server,
  grid,
  put: putGet,
  get: putGet,
  mount,
  unmount: mount,
  umount: mount,
  cap: mount,
  link: mount,
  status: mount,
};

/**
 * Registers the module of command `name` on `program`, or every module when `name` is not
 * a command (help, a typo: commander then lists them all).
 */
export async function registerCommands(program: Command, name: string | undefined): Promise<void> {
  const one = name === undefined ? undefined : COMMAND_MODULES[name];
  const loaders = one ? [one] : [...new Set(Object.values(COMMAND_MODULES))];
  for (const load of loaders) (await load()).default(program);
}
