// `slotfs server --dir DIR [--host H] [--port N]`: run one storage server in the foreground.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { toBase32 } from '../../encoding/base32.js';
import {
  DEFAULT_MAX_BODY_SIZE,
  DEFAULT_MAX_SHARE_SIZE,
  startServer,
} from '../../storage/server.js';

function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export default function register(program: Command) {
  program
    .command('server')
    .description('run a storage server (Tahoe-LAFS HTTP storage protocol) in the foreground')
    .requiredOption('--dir <dir>', 'server directory (created on first start)')
    .option('--host <host>', 'address to listen on and to put in the NURL', '127.0.0.1')
    .option(
      '--port <port>',
      'port; 0 = any free port (default: the previous port if free)',
      integer('--port', 0, 65535),
    )
    .option(
      '--max-share-size <bytes>',
      'largest share a write may produce',
      integer('--max-share-size', 1),
      DEFAULT_MAX_SHARE_SIZE,
    )
    .option(
      '--max-body-size <bytes>',
      'largest read-test-write request body',
      integer('--max-body-size', 1),
      DEFAULT_MAX_BODY_SIZE,
    )
    .option('--no-extensions', 'do not offer slotfs protocol extensions (plain Tahoe behaviour)')
    .action(
      async (opts: {
        dir: string;
        host: string;
        port?: number;
        maxShareSize: number;
        maxBodySize: number;
        extensions: boolean;
      }) => {
        const server = await startServer(opts);
        console.log(
          `slotfs server: listening at ${server.url} (node id ${toBase32(server.nodeId)}, dir ${server.dir})`,
        );
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          // In-flight requests finish (a write is applied whole or not at all), then exit.
          server.close().then(
            () => {
              console.log(`slotfs server: stopped (${signal})`);
              process.exit(0);
            },
            (err: unknown) => {
              console.error(`slotfs server: error while stopping: ${String(err)}`);
              process.exit(1);
            },
          );
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      },
    );
}
