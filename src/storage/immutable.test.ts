// Immutable shares on a real server: Tahoe's container format on disk (both ways), crash
// safety between chunks, and the upload errors by code.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromBase32, toBase32 } from '../encoding/base32.js';
import { HttpStorageClient } from '../grid/http-client.js';
import { blake2b256 } from './blake2b.js';
import { IMMUTABLE_HEADER_SIZE, IMMUTABLE_LEASE_SIZE } from './immutable-container.js';
import { ImmutableStore } from './immutable-store.js';
import { ERROR_CODE_HEADER, parseNurl, PATHS, secretHeaderValue } from './protocol.js';
import { startServer } from './server.js';
import { ShareStore } from './store.js';
import { RawClient } from './test-support/raw-client.js';
import { spawnServer } from './test-support/server-process.js';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const VECTORS = path.join(import.meta.dirname, 'vectors');
const CHK_VECTORS = path.join(import.meta.dirname, '..', 'chk', 'vectors');

async function tempDir(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-immutable-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

function clientFor(nurl: string, dir: string, nodeJson: { nodeId: string; seed: string }) {
  return new HttpStorageClient({
    id: fromBase32(nodeJson.nodeId),
    permutationSeed: fromBase32(nodeJson.seed),
    name: path.basename(dir),
    nurl,
  });
}

async function nodeInfo(dir: string) {
  const info = JSON.parse(await fs.readFile(path.join(dir, 'node.json'), 'utf8')) as {
    nodeId: string;
    permutationSeed: string;
  };
  return { nodeId: info.nodeId, seed: info.permutationSeed };
}

test('a crash between chunks leaves no visible share, and the upload can start again', async (t) => {
  const dir = await tempDir(t);
  let proc = await spawnServer(dir);
  t.teardown(() => proc.kill().then(() => undefined));
  const info = await nodeInfo(dir);
  let client = clientFor(proc.nurl, dir, info);
  const si = rand(16);
  const up = { uploadSecret: rand(32), leaseRenewSecret: rand(32), leaseCancelSecret: rand(32) };
  const whole = rand(4000);
  await client.allocateBuckets(si, up, [0, 1], whole.length);
  t.false(
    (await client.writeImmutableShare(si, 0, up.uploadSecret, 0, whole.subarray(0, 1500))).complete,
  );
  t.true((await client.writeImmutableShare(si, 1, up.uploadSecret, 0, whole)).complete);
  await client.close();
  await proc.kill();
  const incoming = path.join(dir, 'incoming', toBase32(si));
  t.true(existsSync(path.join(incoming, '0')), 'the half-written share was on disk');

  proc = await spawnServer(dir);
  client = clientFor(proc.nurl, dir, info);
  t.teardown(() => client.close());
  t.deepEqual(await client.listImmutableShares(si), [1]);
  t.is(await client.readImmutableShare(si, 0, 0, 100), null);
  t.deepEqual(await client.readImmutableShare(si, 1, 0, 1 << 20), whole);
  t.deepEqual(readdirSync(path.join(dir, 'incoming')), [], 'startup removed the partial upload');
  // The old upload is forgotten: writing to it is refused, and a new one may begin.
  await t.throwsAsync(
    client.writeImmutableShare(si, 0, up.uploadSecret, 1500, whole.subarray(1500)),
  );
  const again = await client.allocateBuckets(si, { ...up, uploadSecret: rand(32) }, [0, 1], 4000);
  t.deepEqual(again, { alreadyHave: [1], allocated: [0] });
  await proc.stop();
});

test("shares are kept in Tahoe's immutable container format, and Tahoe's are served", async (t) => {
  const dir = await tempDir(t);
  const server = await startServer({ dir, port: 0 });
  t.teardown(() => server.close());
  const client = new HttpStorageClient({
    id: server.nodeId,
    permutationSeed: server.permutationSeed,
    name: 'immutable-format',
    nurl: server.url,
  });
  t.teardown(() => client.close());

  const si = rand(16);
  const up = { uploadSecret: rand(32), leaseRenewSecret: rand(32), leaseCancelSecret: rand(32) };
  const data = rand(700);
  await client.allocateBuckets(si, up, [4], data.length);
  await client.writeImmutableShare(si, 4, up.uploadSecret, 0, data);
  const file = path.join(dir, 'shares', toBase32(si).slice(0, 2), toBase32(si), '4');
  const raw = new Uint8Array(await fs.readFile(file));
  const view = new DataView(raw.buffer, raw.byteOffset);
  t.is(raw.length, IMMUTABLE_HEADER_SIZE + data.length + IMMUTABLE_LEASE_SIZE);
  t.is(view.getUint32(0), 2, 'container version 2');
  t.is(view.getUint32(4), data.length, 'the (unused) data length field');
  t.is(view.getUint32(8), 1, 'one lease');
  t.deepEqual(raw.subarray(12, 12 + data.length), data);
  const lease = raw.subarray(12 + data.length);
  t.is(new DataView(lease.buffer, lease.byteOffset).getUint32(0), 0, 'owner 0');
  t.deepEqual(lease.subarray(4, 36), blake2b256(up.leaseRenewSecret), 'hashed renew secret');
  t.deepEqual(lease.subarray(36, 68), blake2b256(up.leaseCancelSecret), 'hashed cancel secret');
  const expiry = new DataView(lease.buffer, lease.byteOffset).getUint32(68);
  t.true(Math.abs(expiry - (Date.now() / 1000 + 31 * 86400)) < 3600);
  // A new lease is appended (Tahoe's add_or_renew_lease), the old one is renewed in place.
  t.true(await client.addLease(si, rand(32), rand(32)));
  t.true(await client.addLease(si, up.leaseRenewSecret, up.leaseCancelSecret));
  const leased = new Uint8Array(await fs.readFile(file));
  t.is(leased.length, raw.length + IMMUTABLE_LEASE_SIZE);
  t.is(new DataView(leased.buffer, leased.byteOffset).getUint32(8), 2);
  t.deepEqual(await client.readImmutableShare(si, 4, 0, 1000), data);

  // Containers written by Tahoe-LAFS storage nodes (src/storage/vectors/README.md).
  const manifest = JSON.parse(
    await fs.readFile(path.join(CHK_VECTORS, 'manifest.json'), 'utf8'),
  ) as Record<string, { storageIndex: string }>;
  const tahoeSi = manifest['chk-1000'].storageIndex;
  const bucket = path.join(dir, 'shares', tahoeSi.slice(0, 2), tahoeSi);
  await fs.mkdir(bucket, { recursive: true });
  for (let n = 0; n < 5; n++) {
    await fs.copyFile(path.join(VECTORS, `chk-1000.sh${n}.container`), path.join(bucket, `${n}`));
  }
  const tahoeSiBytes = fromBase32(tahoeSi);
  t.deepEqual(await client.listImmutableShares(tahoeSiBytes), [0, 1, 2, 3, 4]);
  for (let n = 0; n < 5; n++) {
    const expected = new Uint8Array(
      await fs.readFile(path.join(CHK_VECTORS, `chk-1000.sh${n}.share`)),
    );
    t.deepEqual(await client.readImmutableShare(tahoeSiBytes, n, 0, 1 << 20), expected);
  }
  t.true(await client.adviseCorruptImmutable(tahoeSiBytes, 2, 'test report'));
  const reports = await fs.readdir(path.join(dir, 'corruption-advisories'));
  const report = await fs.readFile(path.join(dir, 'corruption-advisories', reports[0]), 'utf8');
  t.regex(report, /type: immutable/);
});

test('upload errors carry their codes over HTTP', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer({ dir, port: 0 });
  t.teardown(() => server.close());
  const raw = new RawClient(parseNurl(server.url));
  t.teardown(() => raw.close());
  const si = toBase32(rand(16));
  const secret = rand(32);
  const upload = secretHeaderValue('upload-secret', secret);
  const patch = (shnum: number, range: string, body: Uint8Array, header = upload) =>
    raw.raw('PATCH', PATHS.immutableShare(si, shnum), {
      headers: { 'content-range': range, 'x-tahoe-authorization': header },
      body,
    });
  const http = new HttpStorageClient({
    id: server.nodeId,
    permutationSeed: server.permutationSeed,
    name: 'codes',
    nurl: server.url,
  });
  t.teardown(() => http.close());
  await http.allocateBuckets(
    fromBase32(si),
    { uploadSecret: secret, leaseRenewSecret: rand(32), leaseCancelSecret: rand(32) },
    [0],
    10,
  );
  const code = (r: { headers: Record<string, unknown> }) => r.headers[ERROR_CODE_HEADER];
  const ok = await patch(0, 'bytes 0-4/*', new Uint8Array([1, 2, 3, 4, 5]));
  t.is(ok.status, 200);
  const conflict = await patch(0, 'bytes 0-4/*', new Uint8Array([9, 9, 9, 9, 9]));
  t.is(conflict.status, 409);
  t.is(code(conflict), 'ERR_STORAGE_WRITE_CONFLICT');
  const wrongSecret = await patch(
    0,
    'bytes 5-9/*',
    rand(5),
    secretHeaderValue('upload-secret', rand(32)),
  );
  t.is(wrongSecret.status, 401);
  t.is(code(wrongSecret), 'ERR_STORAGE_UPLOAD_SECRET');
  const noRange = await patch(0, 'bytes */*', rand(5));
  t.is(noRange.status, 416);
  const short = await patch(0, 'bytes 5-9/*', rand(3));
  t.is(short.status, 400, 'a body shorter than its Content-Range');
  const done = await patch(0, 'bytes 5-9/*', rand(5));
  t.is(done.status, 201);
  const abort = await raw.raw('PUT', PATHS.immutableAbort(si, 0), {
    headers: { 'x-tahoe-authorization': upload },
  });
  t.is(abort.status, 405, 'a finished share cannot be aborted');
});

test('the immutable store names each refusal by code', async (t) => {
  const dir = await tempDir(t);
  const shares = new ShareStore(dir, { nodeId: rand(20), maxShareSize: 1000 });
  await shares.init();
  const store = new ImmutableStore(shares, { maxShareSize: 100 });
  await store.init();
  t.teardown(() => store.close());
  const si = toBase32(rand(16));
  const secrets = { upload: rand(32), renew: rand(32), cancel: rand(32) };
  t.deepEqual(await store.allocate(si, [0, 1], 200, 10_000, secrets), {
    alreadyHave: [],
    allocated: [],
  });
  t.deepEqual((await store.allocate(si, [0, 1], 10, 10_000, secrets)).allocated, [0, 1]);
  await t.throwsAsync(store.write(si, 2, secrets.upload, 0, rand(5)), {
    code: 'ERR_STORAGE_NO_UPLOAD',
  });
  await t.throwsAsync(store.write(si, 0, rand(32), 0, rand(5)), {
    code: 'ERR_STORAGE_UPLOAD_SECRET',
  });
  await t.throwsAsync(store.write(si, 0, secrets.upload, 8, rand(5)), {
    code: 'ERR_STORAGE_SHARE_TOO_LARGE',
  });
  await store.write(si, 0, secrets.upload, 0, new Uint8Array(10));
  await t.throwsAsync(store.abort(si, 0, secrets.upload), { code: 'ERR_STORAGE_ALREADY_UPLOADED' });
  await store.write(si, 1, secrets.upload, 0, new Uint8Array(5));
  await t.throwsAsync(store.write(si, 1, secrets.upload, 0, new Uint8Array(5).fill(1)), {
    code: 'ERR_STORAGE_WRITE_CONFLICT',
  });
  await store.abort(si, 1, secrets.upload);
  t.deepEqual(await store.list(si), [0]);
});
