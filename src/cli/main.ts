// The `slotfs` command. Each subcommand lives in ./commands/<name>.ts and registers
// itself on the program; add new ones to the list below.
import { Command } from 'commander';
import grid from './commands/grid.js';
import server from './commands/server.js';
import putGet from './commands/put-get.js';
import mount from './commands/mount.js';
import { exitWithParent } from './exit-with-parent.js';

exitWithParent();

const program = new Command();
program
  .name('slotfs')
  .description('Mount a grid of storage servers as a local folder (Tahoe-LAFS compatible).')
  .showHelpAfterError();

const commands: Array<(p: Command) => void> = [
  // (each command module default-exports a `register(program)` function)
  server,
  grid,
  putGet,
  mount,
];
for (const register of commands) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`slotfs: ${message}`);
  process.exitCode = 1;
});
