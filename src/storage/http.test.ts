// Every status code of §10.6 (and ours: 500, 507 elsewhere), provoked against a server
// started in-process with small limits; plus the pure header parsers.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { encode } from 'cbor2';
import { toBase32 } from '../encoding/base32.js';
import { acceptsCbor, extractSecrets, parseRangeHeader } from './http.js';
import {
  authorizationHeaderValue,
  ERROR_CODE_HEADER,
  encodeCorruptionAdvice,
  encodeReadTestWriteRequest,
  parseNurl,
  PATHS,
} from './protocol.js';
import { startServer, type RunningServer } from './server.js';
import { RawClient, secretHeaders, secretsFor, tw } from './test-support/raw-client.js';

let dir: string;
let server: RunningServer;
let client: RawClient;
const serverErrors: unknown[] = [];
const S = secretsFor(9);
const newSi = () => toBase32(randomBytes(16));
const enc = (s: string) => new TextEncoder().encode(s);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-http-'));
  server = await startServer({
    dir,
    port: 0,
    maxShareSize: 10_000,
    maxBodySize: 20_000,
    onError: (e) => serverErrors.push(e),
  });
  client = new RawClient(parseNurl(server.url));
});

test.after.always(async () => {
  await client?.close();
  await server?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function shareWith(data: string) {
  const si = newSi();
  await client.rtw(si, tw([[0, { write: [[0, enc(data)]] }]]), S);
  return si;
}

test('acceptsCbor follows Tahoe (werkzeug best entry of the first header)', (t) => {
  for (const ok of [
    undefined,
    'application/cbor',
    'application/cbor, */*',
    'text/plain;q=0.5, application/cbor',
    'application/cbor;q=0.9, */*;q=0.1',
  ]) {
    t.true(acceptsCbor(ok), String(ok));
  }
  for (const bad of [
    '*/*',
    '*/*, application/cbor',
    'application/json',
    '',
    'application/cbor;q=0.1, text/plain',
  ]) {
    t.false(acceptsCbor(bad), bad);
  }
});

test('parseRangeHeader: one closed byte range only', (t) => {
  t.deepEqual(parseRangeHeader('bytes=0-4'), { first: 0n, endExclusive: 5n });
  t.deepEqual(parseRangeHeader('Bytes = 3 - 3'), { first: 3n, endExclusive: 4n });
  for (const bad of [
    'bytes=0-',
    'bytes=-5',
    'bytes=0-1,3-4',
    'items=0-1',
    'bytes=5-2',
    'bytes=a-b',
    'bytes 0-1',
    'bytes=+1-2',
  ]) {
    t.is(parseRangeHeader(bad), undefined, bad);
  }
});

test('extractSecrets: the exact set, lease secrets of 32 bytes, nothing empty or unknown', (t) => {
  const we = `write-enabler ${b64(new Uint8Array(32))}`;
  const lr = `lease-renew-secret ${b64(new Uint8Array(32))}`;
  t.is(extractSecrets([we], ['write-enabler']).get('write-enabler')!.length, 32);
  t.is(
    extractSecrets([`write-enabler ${b64(new Uint8Array(3))}`], ['write-enabler']).get(
      'write-enabler',
    )!.length,
    3,
  );
  const bad: [string[], string[]][] = [
    [[], ['write-enabler']],
    [[we], []],
    [[we, lr], ['write-enabler']],
    [['write-enabler'], ['write-enabler']],
    [['magic-secret AAAA'], []],
    [['write-enabler !!!!'], ['write-enabler']],
    [['write-enabler '], ['write-enabler']],
    [[`lease-renew-secret ${b64(new Uint8Array(31))}`], ['lease-renew-secret']],
  ];
  for (const [values, required] of bad) {
    t.throws(() => extractSecrets(values, required as never), undefined, JSON.stringify(values));
  }
});

test('200 / 206 / 204: reads with and without Range', async (t) => {
  const si = await shareWith('hello world');
  const whole = await client.raw('GET', PATHS.readShare(si, 0));
  t.is(whole.status, 200);
  t.is(whole.text, 'hello world');
  t.is(whole.headers['content-type'], 'application/octet-stream');
  const part = await client.raw('GET', PATHS.readShare(si, 0), {
    headers: { range: 'bytes=6-100' },
  });
  t.is(part.status, 206);
  t.is(part.headers['content-range'], 'bytes 6-10/*');
  t.is(part.text, 'world');
  const first = await client.raw('GET', PATHS.readShare(si, 0), {
    headers: { range: 'bytes=0-0' },
  });
  t.is(first.status, 206);
  t.is(first.headers['content-range'], 'bytes 0-0/*');
  t.is(first.text, 'h');
  for (const range of ['bytes=11-20', 'bytes=500-600']) {
    const empty = await client.raw('GET', PATHS.readShare(si, 0), { headers: { range } });
    t.is(empty.status, 204, range);
    t.is(empty.body.length, 0);
  }
  const huge = await client.raw('GET', PATHS.readShare(si, 0), {
    headers: { range: 'bytes=0-99999999999999999999999' },
  });
  t.is(huge.status, 206, 'an oversized end is clamped');
  t.is(huge.text, 'hello world');
});

test('416: ranges Tahoe does not serve', async (t) => {
  const si = await shareWith('abc');
  for (const range of [
    'bytes=0-',
    'bytes=-2',
    'bytes=0-0,2-2',
    'lines=0-1',
    'bytes=2-1',
    'nonsense',
  ]) {
    const res = await client.raw('GET', PATHS.readShare(si, 0), { headers: { range } });
    t.is(res.status, 416, range);
    t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_RANGE');
  }
});

test('401: missing or wrong swissnum, checked before anything else', async (t) => {
  const none = await client.raw('GET', PATHS.version, { headers: { authorization: '' } });
  t.is(none.status, 401);
  t.is(none.headers['x-slotfs-error-code'], 'ERR_STORAGE_AUTHORIZATION');
  const wrong = await client.raw('GET', PATHS.version, {
    headers: { authorization: 'Tahoe-LAFS ' + b64(enc('not-the-swissnum')) },
  });
  t.is(wrong.status, 401);
  // The raw swissnum (not base64) is wrong too.
  const raw = await client.raw('GET', PATHS.version, {
    headers: { authorization: 'Tahoe-LAFS ' + parseNurl(server.url).swissnum },
  });
  t.is(raw.status, 401);
  const si = newSi();
  const rtw = await client.raw('POST', PATHS.readTestWrite(si), {
    headers: { authorization: 'nope', 'x-tahoe-authorization': secretHeaders(S) },
    body: encodeReadTestWriteRequest(tw([[0, { write: [[0, enc('x')]] }]])),
  });
  t.is(rtw.status, 401);
  t.deepEqual(await client.shares(si), [], 'nothing written');
});

test('400: missing, extra, unknown or undecodable secrets', async (t) => {
  const si = newSi();
  const body = encodeReadTestWriteRequest(tw([[0, { write: [[0, enc('x')]] }]]));
  const [we, lr, lc] = secretHeaders(S);
  const cases: [string, string, string[]][] = [
    ['GET', PATHS.version, [we]], // a secret sent to a GET endpoint
    ['POST', PATHS.readTestWrite(si), [we, lr]],
    ['POST', PATHS.readTestWrite(si), [we, lr, lc, `upload-secret ${b64(new Uint8Array(32))}`]],
    ['POST', PATHS.readTestWrite(si), [we, lr, 'lease-cancel-secret %%%%']],
    ['POST', PATHS.readTestWrite(si), [we, lr, `lease-cancel-secret ${b64(new Uint8Array(16))}`]],
    ['PUT', PATHS.lease(si), [lr]],
  ];
  for (const [method, p, secrets] of cases) {
    const res = await client.raw(method, p, {
      headers: { 'x-tahoe-authorization': secrets, 'content-type': 'application/cbor' },
      body: method === 'POST' ? body : undefined,
    });
    t.is(res.status, 400, `${method} ${p} ${secrets.length}`);
    t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_SECRETS');
  }
  t.deepEqual(await client.shares(si), []);
});

test('400: malformed CBOR and CDDL failures, with a text reason', async (t) => {
  const si = newSi();
  const post = (body: Uint8Array) =>
    client.raw('POST', PATHS.readTestWrite(si), {
      headers: { 'x-tahoe-authorization': secretHeaders(S), 'content-type': 'application/cbor' },
      body,
    });
  const garbage = await post(new Uint8Array([0xff, 0x00]));
  t.is(garbage.status, 400);
  t.is(garbage.headers['x-slotfs-error-code'], 'ERR_STORAGE_BAD_REQUEST');
  t.regex(garbage.text, /CBOR/);
  const extra = await post(
    encode(
      new Map<string, unknown>([
        ['test-write-vectors', new Map()],
        ['read-vector', []],
        ['x', 1],
      ]),
    ),
  );
  t.is(extra.status, 400);
  t.regex(extra.text, /unexpected key "x"/);
  const missing = await post(encode(new Map([['read-vector', []]])));
  t.is(missing.status, 400);
  const empty = await post(new Uint8Array());
  t.is(empty.status, 400);
  t.deepEqual(await client.shares(si), []);
});

test('404: unknown paths, malformed storage indexes, absent shares and slots', async (t) => {
  const si = await shareWith('x');
  const absent = newSi();
  const cases: [string, string][] = [
    ['GET', '/storage/v1/nothing'],
    ['GET', '/'],
    ['GET', `/storage/v1/mutable/${si.toUpperCase()}/0`],
    ['GET', `/storage/v1/mutable/${si.slice(0, 25)}/0`],
    ['GET', '/storage/v1/mutable/aaaaaaaaaaaaaaaaaaaaaaaaab/0'], // non-zero trailing bits
    ['GET', `/storage/v1/mutable/${si}/-1`],
    ['GET', PATHS.immutableShare(si, 0)], // a mutable share is no immutable one
    ['GET', PATHS.readShare(si, 1)],
    ['GET', PATHS.readShare(absent, 0)],
  ];
  for (const [method, p] of cases) {
    const res = await client.raw(method, p);
    t.is(res.status, 404, p);
    t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_NOT_FOUND');
  }
  const [, lr, lc] = secretHeaders(S);
  const lease = await client.raw('PUT', PATHS.lease(absent), {
    headers: { 'x-tahoe-authorization': [lr, lc] },
  });
  t.is(lease.status, 404);
  const corrupt = await client.raw('POST', PATHS.adviseCorrupt(si, 5), {
    headers: { 'content-type': 'application/cbor' },
    body: encodeCorruptionAdvice('bad'),
  });
  t.is(corrupt.status, 404);
  t.deepEqual(await client.shares(absent), [], 'listing an unknown SI is an empty set, not 404');
});

test('405: a known path with the wrong method', async (t) => {
  const si = newSi();
  for (const [method, p] of [
    ['POST', PATHS.version],
    ['GET', PATHS.readTestWrite(si)],
    ['DELETE', PATHS.readShare(si, 0)],
    ['GET', PATHS.lease(si)],
  ] as const) {
    const res = await client.raw(method, p);
    t.is(res.status, 405, `${method} ${p}`);
    t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_METHOD');
    t.truthy(res.headers.allow);
  }
});

test('406: responses are CBOR only', async (t) => {
  for (const accept of ['*/*', 'application/json', '*/*, application/cbor']) {
    const res = await client.raw('GET', PATHS.version, { headers: { accept } });
    t.is(res.status, 406, accept);
    t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_NOT_ACCEPTABLE');
  }
  const si = newSi();
  const res = await client.raw('POST', PATHS.readTestWrite(si), {
    headers: { accept: '*/*', 'x-tahoe-authorization': secretHeaders(S) },
    body: encodeReadTestWriteRequest(tw([[0, { write: [[0, enc('x')]] }]])),
  });
  t.is(res.status, 406);
  t.deepEqual(await client.shares(si), [], 'refused before writing');
  const ok = await client.raw('GET', PATHS.version, { headers: { accept: 'application/cbor' } });
  t.is(ok.status, 200);
  t.is(ok.headers['content-type'], 'application/cbor');
});

test('415: a body that is not CBOR (no Content-Type counts as CBOR)', async (t) => {
  const si = newSi();
  const body = encodeReadTestWriteRequest(tw([[0, { write: [[0, enc('x')]] }]]));
  for (const ct of ['text/plain', 'application/json']) {
    const res = await client.raw('POST', PATHS.readTestWrite(si), {
      headers: { 'content-type': ct, 'x-tahoe-authorization': secretHeaders(S) },
      body,
    });
    t.is(res.status, 415, ct);
    t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_MEDIA_TYPE');
  }
  const none = await client.raw('POST', PATHS.readTestWrite(si), {
    headers: { 'x-tahoe-authorization': secretHeaders(S) },
    body,
  });
  t.is(none.status, 200);
});

test('413: bodies over the limit, writes past the maximum share size — nothing applied', async (t) => {
  const si = newSi();
  const big = encodeReadTestWriteRequest(tw([[0, { write: [[0, new Uint8Array(25_000)]] }]]));
  const res = await client.raw('POST', PATHS.readTestWrite(si), {
    headers: { 'x-tahoe-authorization': secretHeaders(S) },
    body: big,
  });
  t.is(res.status, 413);
  t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_BODY_TOO_LARGE');
  // Two shares; the second would exceed 10,000 bytes, so neither is written.
  const tooLong = await client.rtwRaw(
    si,
    tw([
      [0, { write: [[0, new Uint8Array(100)]] }],
      [1, { write: [[9_990, new Uint8Array(11)]] }],
    ]),
    S,
  );
  t.is(tooLong.status, 413);
  t.is(tooLong.headers['x-slotfs-error-code'], 'ERR_STORAGE_SHARE_TOO_LARGE');
  t.deepEqual(await client.shares(si), []);
  const v = await client.version();
  t.is(v.maximumMutableShareSize, 10_000);
  // Corruption advice is limited to 32 KiB like Tahoe.
  const held = await shareWith('x');
  const advice = await client.raw('POST', PATHS.adviseCorrupt(held, 0), {
    body: encodeCorruptionAdvice('y'.repeat(40_000)),
  });
  t.is(advice.status, 413);
});

test('lease PUT 204 and corruption advice 200 (written as a report file)', async (t) => {
  const si = await shareWith('x');
  const [, lr, lc] = secretHeaders(S);
  const lease = await client.raw('PUT', PATHS.lease(si), {
    headers: { 'x-tahoe-authorization': [lr, lc] },
  });
  t.is(lease.status, 204);
  const advice = await client.raw('POST', PATHS.adviseCorrupt(si, 0), {
    headers: { 'content-type': 'application/cbor' },
    body: encodeCorruptionAdvice('block hash mismatch'),
  });
  t.is(advice.status, 200);
  const reports = await fs.readdir(path.join(dir, 'corruption-advisories'));
  const mine = reports.filter((r) => r.includes(si));
  t.is(mine.length, 1);
  const text = await fs.readFile(path.join(dir, 'corruption-advisories', mine[0]), 'utf8');
  t.regex(text, /type: mutable\nstorage_index: \w+\nshare_number: 0\n\nblock hash mismatch/);
  const bad = await client.raw('POST', PATHS.adviseCorrupt(si, 0), {
    body: encode(new Map([['reason', 1]])),
  });
  t.is(bad.status, 400);
});

test('500: a damaged container on disk is reported, not served', async (t) => {
  const si = await shareWith('some data');
  const file = path.join(dir, 'shares', si.slice(0, 2), si, '0');
  const bytes = await fs.readFile(file);
  await fs.writeFile(file, bytes.subarray(0, 50));
  const before = serverErrors.length;
  const res = await client.raw('GET', PATHS.readShare(si, 0));
  t.is(res.status, 500);
  t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_CONTAINER');
  t.regex(res.text, /damaged/);
  const rtw = await client.rtwRaw(si, tw([], [[0, 1]]), S);
  t.is(rtw.status, 500);
  t.is(serverErrors.length, before + 2, 'both reported to the operator');
});

test('500: a disk error while writing is reported and changes nothing', async (t) => {
  // A file where the bucket directory should be: the write cannot create its temp file.
  const si = newSi();
  await fs.mkdir(path.join(dir, 'shares', si.slice(0, 2)), { recursive: true });
  await fs.writeFile(path.join(dir, 'shares', si.slice(0, 2), si), 'not a directory');
  const before = serverErrors.length;
  const res = await client.rtwRaw(si, tw([[0, { write: [[0, enc('x')]] }]]), S);
  t.is(res.status, 500);
  t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_IO');
  t.regex(res.text, /disk error while writing shares of \w+: ENOTDIR.*nothing was changed/);
  t.is(serverErrors.length, before + 1);
});

test('503: a request that arrives while the server stops is refused with ERR_STORAGE_SHUTTING_DOWN', async (t) => {
  const stopDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-http-stop-'));
  const stopping = await startServer({ dir: stopDir, port: 0 });
  const nurl = parseNurl(stopping.url);
  try {
    const socket = tls.connect({ host: nurl.host, port: nurl.port, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const ended = once(socket, 'close');
    // Half a request before the stop (the connection is busy, so the stop waits for it),
    // the rest after: the request is answered, and refused.
    socket.write(`GET ${PATHS.version} HTTP/1.1\r\nHost: ${nurl.host}\r\n`);
    await sleep(100);
    const closed = stopping.close();
    await sleep(100);
    socket.write(
      `Authorization: ${authorizationHeaderValue(nurl.swissnum)}\r\nAccept: application/cbor\r\n\r\n`,
    );
    await ended;
    const response = Buffer.concat(chunks).toString('latin1');
    t.regex(response, /^HTTP\/1\.1 503 /);
    t.regex(response, new RegExp(`${ERROR_CODE_HEADER}: ERR_STORAGE_SHUTTING_DOWN`, 'i'));
    t.regex(response, /the server is stopping; retry elsewhere or later/);
    await closed;
  } finally {
    await stopping.close();
    await fs.rm(stopDir, { recursive: true, force: true });
  }
});
