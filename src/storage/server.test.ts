// `slotfs server` as a process: first start creates its directory, later starts reuse the
// identity and port, SIGTERM stops cleanly (finishing in-flight writes), stale temporary
// files are removed; plus start-up errors and the plain-Tahoe (--no-extensions) mode.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { request } from 'undici';
import { toBase32 } from '../encoding/base32.js';
import { IdentityError } from './identity.js';
import {
  decodeReadTestWriteResponse,
  encodeReadTestWriteRequest,
  parseNurl,
  PATHS,
  spkiHashFromCertificate,
} from './protocol.js';
import { ServerStartError, startServer } from './server.js';
import { RawClient, secretHeaders, secretsFor, tw } from './test-support/raw-client.js';
import { REPO_ROOT, spawnServer } from './test-support/server-process.js';

const enc = (s: string) => new TextEncoder().encode(s);
const tmp = (name: string) => fs.mkdtemp(path.join(os.tmpdir(), `slotfs-${name}-`));

function peerSpkiHash(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate(true).raw!;
      socket.end();
      resolve(spkiHashFromCertificate(der));
    });
    socket.once('error', reject);
  });
}

test('first start creates the directory; restarts reuse identity and port; SIGTERM exits 0', async (t) => {
  t.timeout(120_000);
  const root = await tmp('srv');
  const dir = path.join(root, 'node');
  try {
    const first = await spawnServer(dir);
    const info = JSON.parse(readFileSync(path.join(dir, 'node.json'), 'utf8'));
    t.is(readFileSync(path.join(dir, 'node.url'), 'utf8').trim(), first.nurl);
    t.is(info.nurl, first.nurl);
    t.is(info.port, first.parsed.port);
    t.regex(info.nodeId, /^[a-z2-7]{32}$/);
    t.regex(info.permutationSeed, /^[a-z2-7]+$/);
    t.regex(first.stdout(), new RegExp(`node id ${info.nodeId}`));
    t.is(statSync(path.join(dir, 'private', 'tls-key.pem')).mode & 0o777, 0o600);
    t.is(statSync(path.join(dir, 'private', 'swissnum')).mode & 0o777, 0o600);
    t.is(readFileSync(path.join(dir, 'private', 'swissnum'), 'utf8').trim(), first.parsed.swissnum);
    t.is(Number(readFileSync(path.join(dir, 'server.pid'), 'utf8')), first.proc.pid!);
    // The NURL pins the certificate the server really presents.
    const certHash = spkiHashFromCertificate(readFileSync(path.join(dir, 'tls-cert.pem'), 'utf8'));
    t.is(certHash, first.parsed.spkiHash);
    t.is(await peerSpkiHash(first.parsed.host, first.parsed.port), first.parsed.spkiHash);
    // Keep something to find after the restart.
    const client = new RawClient(first.parsed);
    const si = toBase32(randomBytes(16));
    await client.rtw(si, tw([[0, { write: [[0, enc('persisted')]] }]]), secretsFor(1));
    await client.close();
    t.is(await first.stop(), 0);
    t.regex(first.stdout(), /stopped \(SIGTERM\)/);
    t.false(existsSync(path.join(dir, 'server.pid')));

    // A crashed run leaves temporary files; the next start removes them.
    const bucket = path.join(dir, 'shares', si.slice(0, 2), si);
    await fs.writeFile(path.join(bucket, '.tmp-0-deadbeef'), 'half a container');

    const second = await spawnServer(dir, []); // no --port: the previous port again
    t.is(second.nurl, first.nurl, 'same key, swissnum, host and port');
    t.is(JSON.parse(readFileSync(path.join(dir, 'node.json'), 'utf8')).nodeId, info.nodeId);
    t.deepEqual(await fs.readdir(bucket), ['0']);
    const client2 = new RawClient(second.parsed);
    t.is(Buffer.from((await client2.share(si, 0))!).toString(), 'persisted');
    const v = await client2.version(true);
    t.is(toBase32(v.slotfs!.nodeId), info.nodeId);
    t.is(Buffer.from(v.applicationVersion).toString(), 'slotfs/0.1.0');
    await client2.close();
    t.is(await second.stop(), 0);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('SIGTERM while a write is being uploaded: the server finishes it, then exits 0', async (t) => {
  t.timeout(120_000);
  const dir = await tmp('term');
  try {
    let server = await spawnServer(dir);
    let client = new RawClient(server.parsed);
    const si = toBase32(randomBytes(16));
    const S = secretsFor(4);
    const old = randomBytes(1000);
    await client.rtw(si, tw([[0, { write: [[0, old]] }]]), S);
    // Upload the body slowly, and send SIGTERM once the server is reading it.
    const big = randomBytes(2 << 20);
    const body = encodeReadTestWriteRequest(tw([[0, { write: [[0, big]] }]]));
    let sent = 0;
    let signalled: Promise<number | string> | undefined;
    async function* slowly() {
      for (let o = 0; o < body.length; o += 256 << 10) {
        yield Buffer.from(body.subarray(o, o + (256 << 10)));
        sent++;
        if (sent === 2) signalled = server.stop();
        await new Promise((r) => setTimeout(r, 40));
      }
    }
    const res = await request(`${server.origin}${PATHS.readTestWrite(si)}`, {
      dispatcher: client.dispatcher,
      method: 'POST',
      headers: {
        authorization: client.auth,
        'content-length': String(body.length),
        'x-tahoe-authorization': secretHeaders(S),
      },
      body: Readable.from(slowly()),
    });
    const answer = decodeReadTestWriteResponse(new Uint8Array(await res.body.arrayBuffer()));
    t.is(res.statusCode, 200, 'the in-flight write was finished, not cut off');
    t.true(answer.success);
    t.is(await signalled, 0, 'then the server exited cleanly');
    await client.close();
    server = await spawnServer(dir);
    client = new RawClient(server.parsed);
    t.true(Buffer.from((await client.share(si, 0))!).equals(big));
    await client.close();
    await server.stop();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('--no-extensions: plain Tahoe behaviour (no extension key, negative offsets are 400)', async (t) => {
  const dir = await tmp('noext');
  const server = await startServer({ dir, port: 0, extensions: false });
  const client = new RawClient(parseNurl(server.url));
  try {
    t.is((await client.version(true)).slotfs, undefined);
    const si = toBase32(randomBytes(16));
    const S = secretsFor(2);
    await client.rtw(si, tw([[0, { write: [[0, enc('abcdef')]] }]]), S);
    const res = await client.rtwRaw(si, tw([], [[-2, 2]]), S);
    t.is(res.status, 400);
    t.regex(res.text, /unsigned/);
  } finally {
    await client.close();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('start-up errors: port in use, bad limits, damaged node.json', async (t) => {
  const dirA = await tmp('errA');
  const dirB = await tmp('errB');
  const a = await startServer({ dir: dirA, port: 0 });
  try {
    const err = await t.throwsAsync(startServer({ dir: dirB, port: a.port }), {
      instanceOf: ServerStartError,
    });
    t.is(err?.code, 'ERR_STORAGE_START');
    t.regex(err!.message, /cannot listen on 127\.0\.0\.1:\d+/);
    await t.throwsAsync(startServer({ dir: dirB, port: 0, maxShareSize: 0 }), {
      instanceOf: ServerStartError,
      message: /maxShareSize must be a positive integer/,
    });
    await fs.writeFile(path.join(dirB, 'node.json'), '{"nodeId": "not base32!"}');
    const bad = await t.throwsAsync(startServer({ dir: dirB, port: 0 }), {
      instanceOf: IdentityError,
    });
    t.is(bad?.code, 'ERR_STORAGE_IDENTITY');
  } finally {
    await a.close();
    await fs.rm(dirA, { recursive: true, force: true });
    await fs.rm(dirB, { recursive: true, force: true });
  }
});

test('the CLI refuses bad options with a message and exit code 1', async (t) => {
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = execFile(
      process.execPath,
      [
        '--import=tsx',
        path.join(REPO_ROOT, 'src/cli/main.ts'),
        'server',
        '--dir',
        os.tmpdir(),
        '--port',
        '70000',
      ],
      { cwd: REPO_ROOT },
      (_err, _stdout, stderr) => resolve({ code: p.exitCode, stderr }),
    );
  });
  t.is(result.code, 1);
  t.regex(result.stderr, /--port must be an integer from 0 to 65535/);
});
