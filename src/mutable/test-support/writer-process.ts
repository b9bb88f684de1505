// A mutable-file client in a process of its own, with its own LevelDB cache, driven over
// stdin/stdout (one JSON object per line), so that colliding writers in tests really are
// separate processes. Started by WriterProcess (writer-pool.ts); not a user command.
//
//   node --import=tsx writer-process.ts '<config JSON>'
//   → {"ready":true}
//   ← {"id":1,"op":"append","cap":"URI:SSK:…","line":"w1 op0","delayMs":5}
//   → {"id":1,"ok":true,"seqnum":4,"attempts":2}
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientCache } from '../../cache/client-cache.js';
import { fromBase32 } from '../../encoding/base32.js';
import { HttpStorageClient } from '../../grid/http-client.js';
import { MutableClient, newLeaseSecret } from '../mutable-client.js';

export interface WriterConfig {
  servers: Array<{ id: string; name: string; nurl: string; permutationSeed: string }>;
  cacheDir: string;
  timeoutMs: number;
  backoffMs?: number;
  modifyAttempts?: number;
  recoveryTimeoutMs?: number;
}

export type WriterCommand =
  | { id: number; op: 'append'; cap: string; line: string; delayMs?: number }
  | { id: number; op: 'update'; cap: string; text: string; delayMs?: number }
  | { id: number; op: 'read'; cap: string; delayMs?: number }
  | { id: number; op: 'exit' };

export type WriterReply =
  | { id: number; ok: true; seqnum?: number; attempts?: number; text?: string }
  | { id: number; ok: false; error: { name: string; code?: string; message: string } };

/** Appends `line` unless it is already there: idempotent, as modify() requires. */
export function appendLine(old: Uint8Array, line: string): Uint8Array {
  const text = new TextDecoder().decode(old);
  if (text.split('\n').includes(line)) return old;
  return new TextEncoder().encode(`${text}${line}\n`);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]) as WriterConfig;
  const timeouts = {
    connectMs: config.timeoutMs,
    headersMs: config.timeoutMs,
    bodyMs: config.timeoutMs,
  };
  const servers = config.servers.map(
    (s) =>
      new HttpStorageClient(
        {
          id: fromBase32(s.id),
          name: s.name,
          nurl: s.nurl,
          permutationSeed: fromBase32(s.permutationSeed),
        },
        { timeouts },
      ),
  );
  const cache = await ClientCache.open(config.cacheDir, { warn: () => undefined });
  const client = new MutableClient({
    servers,
    leaseSecret: newLeaseSecret(),
    cache,
    backoffMs: config.backoffMs,
    modifyAttempts: config.modifyAttempts,
    recoveryTimeoutMs: config.recoveryTimeoutMs,
  });
  await client.connect();
  const send = (reply: WriterReply | { ready: true }) =>
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  send({ ready: true });

  const run = async (cmd: WriterCommand): Promise<WriterReply> => {
    if (cmd.op === 'exit') return { id: cmd.id, ok: true };
    if (cmd.delayMs) await sleep(cmd.delayMs);
    if (cmd.op === 'append') {
      const r = await client.modify(cmd.cap, (old) => appendLine(old, cmd.line));
      return { id: cmd.id, ok: true, seqnum: r.seqnum, attempts: r.attempts };
    }
    if (cmd.op === 'update') {
      const r = await client.update(cmd.cap, new TextEncoder().encode(cmd.text));
      return { id: cmd.id, ok: true, seqnum: r.seqnum };
    }
    const r = await client.retrieve(cmd.cap);
    return {
      id: cmd.id,
      ok: true,
      seqnum: r.seqnum,
      text: new TextDecoder().decode(r.plaintext),
    };
  };

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const cmd = JSON.parse(line) as WriterCommand;
    if (cmd.op === 'exit') break;
    void run(cmd).then(send, (err: unknown) => {
      const e = err as Error & { code?: string };
      send({ id: cmd.id, ok: false, error: { name: e.name, code: e.code, message: e.message } });
    });
  }
  await Promise.allSettled(servers.map((s) => s.close()));
  await cache.close();
  process.exit(0);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  void main();
}
