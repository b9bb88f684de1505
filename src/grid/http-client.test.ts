// The HTTP client against real `slotfs server` processes: the whole compliance suite, once
// with the slotfs extensions and once as a plain Tahoe server (--no-extensions), plus the
// checks only a real server can answer (pinning, swissnum, announced identity).
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromBase32 } from '../encoding/base32.js';
import { spawnServer, type ServerProcess } from '../storage/test-support/server-process.js';
import { StorageClientError } from './errors.js';
import { HttpStorageClient } from './http-client.js';
import type { ServerEntry } from './servers.js';
import { runStorageClientCompliance } from './test-support/compliance.js';
import { makeCertificate } from './test-support/fake-server.js';

interface Running {
  proc: ServerProcess;
  dir: string;
  entry: ServerEntry;
}

async function start(args: string[]): Promise<Running> {
  const dir = await mkdtemp(path.join(tmpdir(), 'slotfs-http-client-'));
  const proc = await spawnServer(dir, ['--port', '0', ...args]);
  const info = JSON.parse(await readFile(path.join(dir, 'node.json'), 'utf8')) as {
    nodeId: string;
    permutationSeed: string;
  };
  const entry = {
    id: fromBase32(info.nodeId),
    permutationSeed: fromBase32(info.permutationSeed),
    name: `real${args.length ? '-plain' : ''}`,
    nurl: proc.nurl,
  };
  return { proc, dir, entry };
}

const servers = Promise.all([start([]), start(['--no-extensions'])]);
// A failed start must not leave the other process behind.
servers.catch(() => undefined);

test.after.always(async () => {
  const started = await servers.catch(() => [] as Running[]);
  for (const s of started) {
    await s.proc.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
});

runStorageClientCompliance(
  test,
  async () => {
    const { entry } = (await servers)[0];
    return { client: new HttpStorageClient(entry), peer: () => new HttpStorageClient(entry) };
  },
  { title: 'http' },
);

runStorageClientCompliance(
  test,
  async () => ({ client: new HttpStorageClient((await servers)[1].entry) }),
  {
    title: 'http, plain Tahoe server',
    // The rest is covered above; these show the extension-less path on a real server.
    only: [
      'getVersion reports limits and extensions, and is cached',
      'read-from-end reads the tail of every share in the same request',
      'one failing test aborts every write of the request',
    ],
  },
);

test('the slotfs server announces the node id and seed of its node.json', async (t) => {
  const [real] = await servers;
  const client = new HttpStorageClient(real.entry);
  t.teardown(() => client.close());
  const v = await client.getVersion();
  t.true(v.readFromEnd);
  t.deepEqual(v.announcedNodeId, real.entry.id);
  t.deepEqual(v.announcedPermutationSeed, real.entry.permutationSeed);
  t.regex(v.applicationVersion, /^slotfs\//);
});

test('a real server behind the wrong pin is refused: ERR_SERVER_TLS_PIN', async (t) => {
  const [real] = await servers;
  const wrongPin = real.entry.nurl.replace(/^pb:\/\/[^@]+@/, `pb://${makeCertificate().spkiHash}@`);
  const client = new HttpStorageClient({ ...real.entry, nurl: wrongPin });
  t.teardown(() => client.close());
  const err = await t.throwsAsync(client.getVersion(), { instanceOf: StorageClientError });
  t.is(err?.code, 'ERR_SERVER_TLS_PIN');
});

test('a wrong swissnum: ERR_SERVER_UNAUTHORIZED, also on read-test-write', async (t) => {
  const [real] = await servers;
  const client = new HttpStorageClient({
    ...real.entry,
    nurl: real.entry.nurl.replace(/\/[^/#]+#v=1$/, '/not-the-swissnum#v=1'),
  });
  t.teardown(() => client.close());
  const err = await t.throwsAsync(client.listShares(new Uint8Array(16)), {
    instanceOf: StorageClientError,
  });
  t.is(err?.code, 'ERR_SERVER_UNAUTHORIZED');
  const secrets = {
    writeEnabler: new Uint8Array(32),
    leaseRenewSecret: new Uint8Array(32),
    leaseCancelSecret: new Uint8Array(32),
  };
  const rtw = await t.throwsAsync(
    client.readTestWrite(new Uint8Array(16), secrets, new Map(), []),
    {
      instanceOf: StorageClientError,
    },
  );
  t.is(rtw?.code, 'ERR_SERVER_UNAUTHORIZED', 'the server error code tells it from a write enabler');
});

test('a stopped server: ERR_SERVER_UNREACHABLE', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'slotfs-http-client-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const proc = await spawnServer(dir, ['--port', '0']);
  const info = JSON.parse(await readFile(path.join(dir, 'node.json'), 'utf8')) as {
    nodeId: string;
  };
  const id = fromBase32(info.nodeId);
  const client = new HttpStorageClient({
    id,
    permutationSeed: id,
    name: 'stopping',
    nurl: proc.nurl,
  });
  t.teardown(() => client.close());
  t.deepEqual(await client.listShares(new Uint8Array(16)), []);
  await proc.stop();
  const err = await t.throwsAsync(client.listShares(new Uint8Array(16)), {
    instanceOf: StorageClientError,
  });
  t.is(err?.code, 'ERR_SERVER_UNREACHABLE');
});
