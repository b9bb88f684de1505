// `slotfs put [FILE|-] [--to CAP] [--format ed25519|tahoe]` and `slotfs get CAP`: one
// mutable file in, one out. With --json, one JSON object on stderr gives the result and its
// cost on the wire.
import { Option, type Command } from 'commander';
import { createReadStream } from 'node:fs';
import { parseCap } from '../../caps/index.js';
import { openClient } from '../../client/open-client.js';
import { OperationCost, type OperationCostReport } from '../../grid/request-events.js';
import { readImmutable } from '../../immutable/index.js';
import type { FileFormat } from '../../mutable/mutable-client.js';

interface ClientFlags {
  dir?: string;
  servers?: string;
  json?: boolean;
}

async function readInput(file: string | undefined): Promise<Uint8Array> {
  const stream = !file || file === '-' ? process.stdin : createReadStream(file);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

function report(
  flags: ClientFlags,
  fields: { cap?: string; seqnum: number | null; cost: OperationCostReport },
) {
  if (!flags.json) return;
  const { cost } = fields;
  process.stderr.write(
    JSON.stringify({
      cap: fields.cap ?? null,
      seqnum: fields.seqnum,
      roundTrips: cost.roundTrips,
      requests: cost.requests,
      bytesSent: cost.bytesSent,
      bytesReceived: cost.bytesReceived,
      ms: Math.round(cost.ms * 10) / 10,
    }) + '\n',
  );
}

function clientOptions(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'client directory (default ~/.slotfs)')
    .option('--servers <file>', 'servers file (default: the one in the client config)')
    .option('--json', 'print the result and its cost as JSON on stderr');
}

export default function register(program: Command) {
  clientOptions(
    program
      .command('put')
      .description(
        'store FILE (or stdin) as a new mutable file and print its write cap, or update CAP',
      )
      .argument('[file]', 'file to store; - or nothing for stdin')
      .option('--to <cap>', 'update this existing mutable file instead of creating one')
      .addOption(
        new Option(
          '--format <format>',
          "format of a new file: ed25519 (fast keys; slotfs reads it) or tahoe (RSA SDMF; Tahoe-LAFS reads it too). Default: the client config's format",
        ).choices(['ed25519', 'tahoe']),
      ),
  ).action(
    async (file: string | undefined, flags: ClientFlags & { to?: string; format?: FileFormat }) => {
      if (flags.to && flags.format) {
        // An existing file keeps its own format; refuse rather than silently ignore.
        const cap = parseCap(flags.to);
        const own = 'format' in cap && cap.format === 'ed25519' ? 'ed25519' : 'tahoe';
        if (own !== flags.format) {
          throw new Error(
            `--format ${flags.format} applies to new files: the file given with --to is a ${own} file and keeps its format`,
          );
        }
      }
      const data = await readInput(file);
      const opened = await openClient(flags.dir, { serversFile: flags.servers, keyPoolSize: 0 });
      try {
        await opened.client.connect();
        if (flags.to) {
          const result = await opened.client.update(flags.to, data);
          report(flags, { cap: flags.to, ...result });
          process.stdout.write(`${flags.to}\n`);
        } else {
          const result = await opened.client.create(data, { format: flags.format });
          report(flags, result);
          process.stdout.write(`${result.cap}\n`);
        }
      } finally {
        await opened.close();
      }
    },
  );

  clientOptions(
    program
      .command('get')
      .description('write the contents of the file CAP (mutable, immutable or literal) to stdout')
      .argument('<cap>', 'read or write cap'),
  ).action(async (cap: string, flags: ClientFlags) => {
    const write = (bytes: Uint8Array) =>
      new Promise<void>((resolve, reject) =>
        process.stdout.write(bytes, (err) => (err ? reject(err) : resolve())),
      );
    let parsed: ReturnType<typeof parseCap> | undefined;
    try {
      parsed = parseCap(cap);
    } catch {
      parsed = undefined; // retrieve below reports it, once the client directory is set up
    }
    // A LIT cap holds its contents: no grid needed.
    if (parsed?.kind === 'literal') {
      await write(parsed.data);
      report(flags, { cap, seqnum: null, cost: new OperationCost().report() });
      return;
    }
    const opened = await openClient(flags.dir, { serversFile: flags.servers, keyPoolSize: 0 });
    try {
      if (parsed?.kind === 'immutable') {
        const cost = new OperationCost();
        const result = await cost.run(() => readImmutable(parsed, opened.servers));
        await write(result.plaintext);
        report(flags, { cap, seqnum: null, cost: cost.report() });
        return;
      }
      await opened.client.connect();
      const result = await opened.client.retrieve(cap);
      await write(result.plaintext);
      report(flags, { cap, ...result });
    } finally {
      await opened.close();
    }
  });
}
