// The HTTP client against real `slotfs server` processes: the whole compliance suite, once
// with the slotfs extensions and once as a plain Tahoe server (--no-extensions), plus the
// checks only a real server can answer (pinning, swissnum, announced identity).
import test from 'ava';
import { rm } from 'node:fs/promises';
import { StorageClientError } from './errors.js';
import { HttpStorageClient } from './http-client.js';
import { runStorageClientCompliance } from './test-support/compliance.js';
import { makeCertificate } from './test-support/fake-server.js';
import { startRealServer, startRealServers } from './test-support/real-servers.js';

const servers = startRealServers(test, [
  { name: 'real' },
  { name: 'real-plain', args: ['--no-extensions'] },
]);

runStorageClientCompliance(
  test,
  async () => {
    const entry = (await servers)[0]!;
    return { client: new HttpStorageClient(entry), peer: () => new HttpStorageClient(entry) };
  },
  { title: 'http' },
);

runStorageClientCompliance(
  test,
  async () => ({ client: new HttpStorageClient((await servers)[1]!) }),
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
  const real = (await servers)[0]!;
  const client = new HttpStorageClient(real);
  t.teardown(() => client.close());
  const v = await client.getVersion();
  t.true(v.readFromEnd);
  t.deepEqual(v.announcedNodeId, real.id);
  t.deepEqual(v.announcedPermutationSeed, real.permutationSeed);
  t.regex(v.applicationVersion, /^slotfs\//);
});

test('a real server behind the wrong pin is refused: ERR_SERVER_TLS_PIN', async (t) => {
  const real = (await servers)[0]!;
  const wrongPin = real.nurl.replace(/^pb:\/\/[^@]+@/, `pb://${makeCertificate().spkiHash}@`);
  const client = new HttpStorageClient({ ...real, nurl: wrongPin });
  t.teardown(() => client.close());
  const err = await t.throwsAsync(client.getVersion(), { instanceOf: StorageClientError });
  t.is(err?.code, 'ERR_SERVER_TLS_PIN');
});

test('a wrong swissnum: ERR_SERVER_UNAUTHORIZED, also on read-test-write', async (t) => {
  const real = (await servers)[0]!;
  const client = new HttpStorageClient({
    ...real,
    nurl: real.nurl.replace(/\/[^/#]+#v=1$/, '/not-the-swissnum#v=1'),
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
  const { proc, dir, entry } = await startRealServer({ name: 'stopping' });
  t.teardown(async () => {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const client = new HttpStorageClient(entry);
  t.teardown(() => client.close());
  t.deepEqual(await client.listShares(new Uint8Array(16)), []);
  await proc.stop();
  const err = await t.throwsAsync(client.listShares(new Uint8Array(16)), {
    instanceOf: StorageClientError,
  });
  t.is(err?.code, 'ERR_SERVER_UNREACHABLE');
});
