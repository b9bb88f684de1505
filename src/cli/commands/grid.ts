// `slotfs grid up|down|status`: a local grid of storage servers on loopback
// (src/grid/local-grid.ts does the work; this file only parses and prints).
import { InvalidArgumentError, type Command } from 'commander';
import {
  DEFAULT_SERVER_COUNT,
  gridDown,
  gridStatus,
  gridUp,
  type ServerStatus,
} from '../../grid/local-grid.js';

function integer(name: string, min: number, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function statusTable(servers: ServerStatus[]): string {
  return table([
    ['server', 'pid', 'answers', 'shares', 'share data', 'disk', 'note'],
    ...servers.map((s) => [
      s.name,
      s.pid === null ? '-' : String(s.pid),
      s.answering ? 'yes' : 'no',
      String(s.shares),
      bytes(s.shareBytes),
      bytes(s.diskBytes),
      s.problem ?? '',
    ]),
  ]);
}

export default function register(program: Command) {
  const grid = program
    .command('grid')
    .description('run a local grid of storage servers on 127.0.0.1 (for tests and trying slotfs)');

  grid
    .command('up')
    .description('start the servers that are not running and write DIR/servers.yaml')
    .option('--dir <dir>', 'grid directory (one sub-directory per server)', './grid')
    .option(
      '--servers <n>',
      `number of servers (default: as many as DIR has, else ${DEFAULT_SERVER_COUNT})`,
      integer('--servers', 1, 255),
    )
    .option(
      '--timeout <ms>',
      'how long to wait for each server',
      integer('--timeout', 1, 3_600_000),
    )
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dir: string; servers?: number; timeout?: number; json?: boolean }) => {
      const result = await gridUp({
        dir: opts.dir,
        servers: opts.servers,
        readyTimeoutMs: opts.timeout,
      });
      if (opts.json) {
        console.log(
          JSON.stringify({
            serversFile: result.serversFile,
            started: result.started,
            alreadyRunning: result.alreadyRunning,
            servers: result.servers.map((s) => ({ name: s.name, nurl: s.nurl })),
          }),
        );
        return;
      }
      const started = new Set(result.started);
      console.log(
        table(
          result.servers.map((s) => [s.name, started.has(s.name) ? 'started' : 'running', s.nurl]),
        ),
      );
      console.log(
        `${result.servers.length} servers up (${result.started.length} started); clients read ${result.serversFile}`,
      );
    });

  grid
    .command('down')
    .description('stop every server of the grid (SIGTERM, then SIGKILL after a grace period)')
    .option('--dir <dir>', 'grid directory', './grid')
    .option('--grace <ms>', 'how long to wait after SIGTERM', integer('--grace', 0, 600_000), 5000)
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dir: string; grace: number; json?: boolean }) => {
      const result = await gridDown({ dir: opts.dir, graceMs: opts.grace });
      if (opts.json) {
        console.log(JSON.stringify(result));
        return;
      }
      console.log(
        `stopped ${result.stopped.length}, killed ${result.killed.length}, ` +
          `${result.notRunning.length} were not running`,
      );
    });

  grid
    .command('status')
    .description('which servers answer, how many shares each holds, and disk used')
    .option('--dir <dir>', 'grid directory', './grid')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dir: string; json?: boolean }) => {
      const servers = await gridStatus({ dir: opts.dir });
      if (opts.json) {
        console.log(JSON.stringify(servers));
        return;
      }
      if (servers.length === 0) {
        console.log(`no grid in ${opts.dir} (start one with \`slotfs grid up --dir ${opts.dir}\`)`);
        return;
      }
      console.log(statusTable(servers));
      const answering = servers.filter((s) => s.answering).length;
      console.log(`${answering} of ${servers.length} servers answer`);
      if (answering < servers.length) process.exitCode = 1;
    });
}
