// The HTTP client against scripted fake servers: what it sends, and every error it can
// raise (each code provoked at least once). The real-server behaviour is covered by the
// compliance suite in http-client.test.ts.
import test from 'ava';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import {
  authorizationHeaderValue,
  encodeReadTestWriteResponse,
  encodeShareSet,
  encodeVersion,
  ERROR_CODE_HEADER,
  ERROR_CODES,
  EXTENSIONS_REQUEST_HEADER,
  PATHS,
  storageIndexToString,
} from '../storage/protocol.js';
import { encode } from 'cbor2';
import { utf8 } from '../encoding/bytes.js';
import { ServerTimeoutError, StorageClientError, type StorageClientErrorCode } from './errors.js';
import { HttpStorageClient, type HttpStorageClientOptions } from './http-client.js';
import { REQUEST_CHANNEL_NAME, type RequestEvent } from './request-events.js';
import type { ServerEntry } from './servers.js';
import {
  closedPort,
  makeCertificate,
  startFakeHttpsServer,
  startSilentTcpServer,
  SWISSNUM,
  type FakeHandler,
  type FakeServer,
} from './test-support/fake-server.js';

const cert = makeCertificate();
const otherCert = makeCertificate();
const SI = new Uint8Array(16).fill(1);
const SI_TEXT = storageIndexToString(SI);
const secrets = {
  writeEnabler: new Uint8Array(32).fill(1),
  leaseRenewSecret: new Uint8Array(32).fill(2),
  leaseCancelSecret: new Uint8Array(32).fill(3),
};

function cbor(res: ServerResponse, status: number, body: Uint8Array) {
  res.writeHead(status, { 'content-type': 'application/cbor' });
  res.end(body);
}

const versionDoc = (readFromEnd?: boolean) =>
  encodeVersion({
    maximumImmutableShareSize: 1000,
    maximumMutableShareSize: 2000,
    availableSpace: 3000,
    applicationVersion: utf8('fake/1'),
    slotfs:
      readFromEnd === undefined
        ? undefined
        : { readFromEnd, nodeId: new Uint8Array(20), permutationSeed: new Uint8Array(20) },
  });

async function setup(
  t: import('ava').ExecutionContext,
  handler: FakeHandler,
  options: HttpStorageClientOptions = {},
  entry?: (fake: FakeServer) => ServerEntry,
) {
  const fake = await startFakeHttpsServer(cert, handler);
  const client = new HttpStorageClient(entry ? entry(fake) : fake.entry(), options);
  t.teardown(async () => {
    await client.close();
    await fake.close();
  });
  return { fake, client };
}

async function expectCode(
  t: import('ava').ExecutionContext,
  promise: Promise<unknown>,
  code: StorageClientErrorCode,
  message?: RegExp,
) {
  const err = await t.throwsAsync(promise, { instanceOf: StorageClientError });
  t.is(err?.code, code, err?.message);
  t.deepEqual(err?.serverId, new Uint8Array(20).fill(7));
  t.regex(err?.message ?? '', /^storage server fake-\d+: /);
  if (message) t.regex(err?.message ?? '', message);
  return err;
}

test('sends Tahoe headers: Accept, Authorization, exactly the secrets each endpoint needs', async (t) => {
  const { fake, client } = await setup(t, (req, res) => {
    if (req.url === PATHS.version) return cbor(res, 200, versionDoc(true));
    if (req.url.endsWith('/read-test-write')) {
      return cbor(res, 200, encodeReadTestWriteResponse({ success: true, data: new Map() }));
    }
    if (req.url.endsWith('/shares')) return cbor(res, 200, encodeShareSet([2, 0]));
    if (req.method === 'PUT') {
      res.writeHead(204);
      return res.end();
    }
    res.writeHead(206, { 'content-range': 'bytes 5-7/*' });
    res.end(Buffer.from('abc'));
  });
  await client.getVersion();
  await client.readTestWrite(SI, secrets, new Map(), [{ offset: 0, size: 10 }]);
  t.deepEqual(await client.listShares(SI), [0, 2]);
  t.is(Buffer.from((await client.readShare(SI, 3, 5, 10))!).toString(), 'abc');
  t.true(await client.addLease(SI, secrets.leaseRenewSecret, secrets.leaseCancelSecret));
  const [version, rtw, list, share, lease] = fake.requests;
  for (const r of fake.requests) {
    t.is(r.headers.accept, 'application/cbor');
    t.is(r.headers.authorization, authorizationHeaderValue(SWISSNUM));
  }
  const secretLines = (r: typeof rtw) =>
    r.rawHeaders.filter((_, i) => i % 2 === 0 && /^x-tahoe-authorization$/i.test(r.rawHeaders[i]))
      .length;
  t.is(version.headers[EXTENSIONS_REQUEST_HEADER], 'v1');
  t.is(rtw.method, 'POST');
  t.is(rtw.url, PATHS.readTestWrite(SI_TEXT));
  t.is(rtw.headers['content-type'], 'application/cbor');
  t.is(secretLines(rtw), 3);
  t.regex(String(rtw.headers['x-tahoe-authorization']), /write-enabler AQEB/);
  t.is(secretLines(list), 0, 'never secrets on GET (the server would answer 400)');
  t.is(share.url, PATHS.readShare(SI_TEXT, 3));
  t.is(share.headers.range, 'bytes=5-14');
  t.is(secretLines(share), 0);
  t.is(lease.method, 'PUT');
  t.is(secretLines(lease), 2);
  t.is(fake.connections, 1, 'one keep-alive connection for sequential requests');
});

test('concurrent first getVersion calls share one request', async (t) => {
  const { fake, client } = await setup(t, (_req, res) => cbor(res, 200, versionDoc(true)));
  const answers = await Promise.all([
    client.getVersion(),
    client.getVersion(),
    client.getVersion(),
  ]);
  t.is(fake.requests.length, 1);
  t.true(answers.every((a) => a === answers[0] && a.readFromEnd));
  await client.getVersion({ refresh: true });
  t.is(fake.requests.length, 2);
});

test('a server with another certificate is refused: ERR_SERVER_TLS_PIN', async (t) => {
  const { fake, client } = await setup(
    t,
    (_req, res) => cbor(res, 200, versionDoc()),
    {},
    (f) => f.entry(otherCert.spkiHash),
  );
  const err = await expectCode(t, client.getVersion(), 'ERR_SERVER_TLS_PIN', /SPKI hash/);
  t.true(err?.message.includes(cert.spkiHash), 'names the hash it got');
  t.true(err?.message.includes(otherCert.spkiHash), 'names the hash it expected');
  t.is(fake.requests.length, 0, 'no request (no swissnum) reached the impostor');
  const good = new HttpStorageClient(fake.entry());
  t.teardown(() => good.close());
  t.is((await good.getVersion()).maximumMutableShareSize, 2000, 'the right pin works');
});

test('nothing listening: ERR_SERVER_UNREACHABLE', async (t) => {
  const port = await closedPort();
  const fake = await startSilentTcpServer();
  const entry = { ...fake.entry(), nurl: fake.entry().nurl.replace(`:${fake.port}/`, `:${port}/`) };
  await fake.close();
  const client = new HttpStorageClient(entry);
  t.teardown(() => client.close());
  await expectCode(t, client.listShares(SI), 'ERR_SERVER_UNREACHABLE', /ECONNREFUSED/);
});

test('TLS handshake never completes: ERR_SERVER_TIMEOUT (connect)', async (t) => {
  const fake = await startSilentTcpServer();
  const client = new HttpStorageClient(fake.entry(), { timeouts: { connectMs: 300 } });
  t.teardown(async () => {
    await client.close();
    await fake.close();
  });
  const err = await expectCode(t, client.listShares(SI), 'ERR_SERVER_TIMEOUT', /300 ms/);
  t.is((err as ServerTimeoutError).phase, 'connect');
});

test('not TLS at all: ERR_SERVER_UNREACHABLE', async (t) => {
  const fake = await startSilentTcpServer(Buffer.from('HTTP/1.1 200 OK\r\n\r\nplain text\r\n'));
  const client = new HttpStorageClient(fake.entry());
  t.teardown(async () => {
    await client.close();
    await fake.close();
  });
  await expectCode(t, client.listShares(SI), 'ERR_SERVER_UNREACHABLE');
});

test('no response headers in time: ERR_SERVER_TIMEOUT (headers)', async (t) => {
  const { client } = await setup(t, () => {}, { timeouts: { headersMs: 300 } });
  const err = await expectCode(t, client.getVersion(), 'ERR_SERVER_TIMEOUT');
  t.is((err as ServerTimeoutError).phase, 'headers');
});

test('body stalls: ERR_SERVER_TIMEOUT (body)', async (t) => {
  const { client } = await setup(
    t,
    (_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-99/*', 'content-length': '100' });
      res.write(Buffer.alloc(10));
    },
    { timeouts: { bodyMs: 300 } },
  );
  const err = await expectCode(t, client.readShare(SI, 0, 0, 100), 'ERR_SERVER_TIMEOUT');
  t.is((err as ServerTimeoutError).phase, 'body');
});

test('garbage and schema violations: ERR_SERVER_BAD_RESPONSE, never a crash', async (t) => {
  const answers: Array<
    [string, (res: ServerResponse) => void, (c: HttpStorageClient) => Promise<unknown>, RegExp]
  > = [
    [
      'not CBOR',
      (res) => cbor(res, 200, Buffer.from([0xff, 0x00, 0x13])),
      (c) => c.getVersion(),
      /CBOR/,
    ],
    [
      'extra key in a closed map',
      (res) =>
        cbor(
          res,
          200,
          encode(
            new Map<string, unknown>([
              ['success', true],
              ['data', new Map()],
              ['x', 1],
            ]),
          ),
        ),
      (c) => c.readTestWrite(SI, secrets, new Map(), []),
      /unexpected key "x"/,
    ],
    [
      'wrong number of reads per share',
      (res) =>
        cbor(
          res,
          200,
          encodeReadTestWriteResponse({ success: true, data: new Map([[0, [new Uint8Array(1)]]]) }),
        ),
      (c) =>
        c.readTestWrite(SI, secrets, new Map(), [
          { offset: 0, size: 1 },
          { offset: 1, size: 1 },
        ]),
      /1 reads for 2/,
    ],
    [
      'longer read than asked',
      (res) =>
        cbor(
          res,
          200,
          encodeReadTestWriteResponse({ success: true, data: new Map([[0, [new Uint8Array(5)]]]) }),
        ),
      (c) => c.readTestWrite(SI, secrets, new Map(), [{ offset: 0, size: 2 }]),
      /5 bytes for 2/,
    ],
    [
      'share list not a set',
      (res) =>
        cbor(
          res,
          200,
          encodeVersion({
            maximumImmutableShareSize: 0,
            maximumMutableShareSize: 0,
            availableSpace: 0,
            applicationVersion: new Uint8Array(),
          }),
        ),
      (c) => c.listShares(SI),
      /tag 258/,
    ],
    [
      'Content-Range disagrees with the body',
      (res) => {
        res.writeHead(206, { 'content-range': 'bytes 0-9/*' });
        res.end(Buffer.alloc(4));
      },
      (c) => c.readShare(SI, 0, 0, 10),
      /4 bytes/,
    ],
    [
      'Content-Range starts elsewhere',
      (res) => {
        res.writeHead(206, { 'content-range': 'bytes 3-4/*' });
        res.end(Buffer.alloc(2));
      },
      (c) => c.readShare(SI, 0, 0, 10),
      /starts at 3/,
    ],
    [
      '206 without Content-Range',
      (res) => {
        res.writeHead(206);
        res.end(Buffer.alloc(2));
      },
      (c) => c.readShare(SI, 0, 0, 10),
      /Content-Range/,
    ],
    [
      'JSON instead of CBOR',
      (res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      },
      (c) => c.listShares(SI),
      /application\/json/,
    ],
  ];
  for (const [what, answer, call, message] of answers) {
    const { client } = await setup(t, (_req, res) => answer(res));
    await expectCode(t, call(client), 'ERR_SERVER_BAD_RESPONSE', message);
    t.log(`ok: ${what}`);
  }
});

test('a response over the size limit: ERR_SERVER_BAD_RESPONSE', async (t) => {
  const { client } = await setup(
    t,
    (_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-9999/*' });
      res.end(Buffer.alloc(10000));
    },
    { maxResponseBytes: 1000 },
  );
  await expectCode(t, client.readShare(SI, 0, 0, 10000), 'ERR_SERVER_BAD_RESPONSE', /exceeds 1000/);
});

test('unexpected statuses: ERR_SERVER_HTTP_STATUS with the server error code', async (t) => {
  const { client } = await setup(t, (_req, res) => {
    res.writeHead(507, { [ERROR_CODE_HEADER]: ERROR_CODES.noSpace });
    res.end('disk full');
  });
  const err = await expectCode(
    t,
    client.readTestWrite(SI, secrets, new Map(), []),
    'ERR_SERVER_HTTP_STATUS',
    /507 from read-test-write: ERR_STORAGE_NO_SPACE: disk full/,
  );
  t.is((err as unknown as { status: number }).status, 507);
  await expectCode(t, client.readShare(SI, 0, 0, 1), 'ERR_SERVER_HTTP_STATUS', /507/);
});

test('401: ERR_WRITE_ENABLER on read-test-write, ERR_SERVER_UNAUTHORIZED elsewhere', async (t) => {
  const answer: { code?: string } = {};
  const { client } = await setup(t, (_req, res) => {
    res.writeHead(401, answer.code ? { [ERROR_CODE_HEADER]: answer.code } : {});
    res.end();
  });
  await expectCode(
    t,
    client.readTestWrite(SI, secrets, new Map(), []),
    'ERR_WRITE_ENABLER',
    new RegExp(SI_TEXT),
  );
  await expectCode(t, client.getVersion(), 'ERR_SERVER_UNAUTHORIZED', /swissnum/);
  answer.code = ERROR_CODES.badAuthorization;
  await expectCode(t, client.readTestWrite(SI, secrets, new Map(), []), 'ERR_SERVER_UNAUTHORIZED');
});

test('read-from-end needs the extension: ERR_SERVER_UNSUPPORTED, nothing sent', async (t) => {
  for (const advertised of [undefined, false]) {
    const { fake, client } = await setup(t, (_req, res) => cbor(res, 200, versionDoc(advertised)));
    await expectCode(
      t,
      client.readTestWrite(SI, secrets, new Map(), [{ offset: -10, size: 10 }]),
      'ERR_SERVER_UNSUPPORTED',
      /read-from-end/,
    );
    t.deepEqual(
      fake.requests.map((r) => r.url),
      [PATHS.version],
      'only the version document was fetched',
    );
    t.false((await client.getVersion()).readFromEnd);
  }
});

test('a cancelled request: ERR_REQUEST_ABORTED', async (t) => {
  const { client } = await setup(t, () => {});
  const controller = new AbortController();
  const pending = client.listShares(SI, { signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  await expectCode(t, pending, 'ERR_REQUEST_ABORTED');
});

test('a bad NURL is refused when the client is made', (t) => {
  const entry = {
    id: new Uint8Array(20).fill(7),
    name: 'fake-1',
    permutationSeed: new Uint8Array(1),
  };
  for (const nurl of ['http://x', 'pb+tor://' + 'A'.repeat(43) + '@h:1/s#v=1']) {
    const err = t.throws(() => new HttpStorageClient({ ...entry, nurl }), {
      instanceOf: StorageClientError,
    });
    t.is(err?.code, 'ERR_STORAGE_CLIENT_ARGUMENT');
  }
});

test('failed requests are published with their error code', async (t) => {
  const { client } = await setup(t, (_req, res) => {
    res.writeHead(500);
    res.end();
  });
  const events: RequestEvent[] = [];
  const listener = (m: unknown) => events.push(m as RequestEvent);
  diagnosticsChannel.subscribe(REQUEST_CHANNEL_NAME, listener);
  t.teardown(() => diagnosticsChannel.unsubscribe(REQUEST_CHANNEL_NAME, listener));
  await t.throwsAsync(client.listShares(SI));
  const mine = events.filter((e) => e.serverName === client.name);
  t.deepEqual(
    mine.map((e) => e.phase),
    ['start', 'end'],
  );
  const end = mine[1];
  t.true(end.phase === 'end' && end.status === 500 && end.errorCode === 'ERR_SERVER_HTTP_STATUS');
  t.is(end.endpoint, 'list-shares');
});

test('a closed client refuses further calls: ERR_STORAGE_CLIENT_CLOSED', async (t) => {
  const { fake, client } = await setup(t, (_req, res) => cbor(res, 200, versionDoc()));
  await client.getVersion();
  await client.close();
  await expectCode(t, client.getVersion({ refresh: true }), 'ERR_STORAGE_CLIENT_CLOSED');
  await expectCode(t, client.listShares(new Uint8Array(16)), 'ERR_STORAGE_CLIENT_CLOSED');
  t.is(fake.requests.length, 1, 'nothing was sent after close');
});
