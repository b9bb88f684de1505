// Adaptive batching of read-test-writes in the HTTP client, against real `slotfs server`
// processes: concurrent writes to one server go out as few read-test-write-many requests,
// each write still gets its own answer (success, failed test, wrong write enabler, abort),
// the batch counts once per operation it carries, and servers without the extension
// (plain Tahoe, or an older slotfs server that answers 404) get single requests.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { request } from 'undici';
import { Agent } from 'undici';
import { authorizationHeaderValue, PATHS } from '../storage/protocol.js';
import { StorageClientError } from './errors.js';
import { HttpStorageClient, type HttpStorageClientOptions } from './http-client.js';
import {
  measureOperation,
  REQUEST_CHANNEL_NAME,
  type RequestEndEvent,
  type RequestEvent,
} from './request-events.js';
import type { SlotSecrets, TestWriteVectors } from './storage-client.js';
import { makeCertificate, startFakeHttpsServer } from './test-support/fake-server.js';
import { startRealServers } from './test-support/real-servers.js';

const servers = startRealServers(test, [
  { name: 'batching' },
  { name: 'plain', args: ['--no-extensions'] },
]);

const secrets = (seed: number): SlotSecrets => ({
  writeEnabler: new Uint8Array(32).fill(seed),
  leaseRenewSecret: new Uint8Array(32).fill(seed + 1),
  leaseCancelSecret: new Uint8Array(32).fill(seed + 2),
});
const S = secrets(3);
const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => Buffer.from(b).toString();
const newSi = () => new Uint8Array(randomBytes(16));
const write = (data: string, test: [number, string][] = []): Map<number, TestWriteVectors> =>
  new Map([
    [
      0,
      {
        test: test.map(([offset, s]) => ({ offset, size: enc(s).length, specimen: enc(s) })),
        write: [{ offset: 0, data: enc(data) }],
        newLength: null,
      },
    ],
  ]);

/** The requests `client` made while `fn` ran. */
async function requestsOf(
  client: HttpStorageClient,
  fn: () => Promise<unknown>,
): Promise<RequestEndEvent[]> {
  const ends: RequestEndEvent[] = [];
  const listener = (message: unknown) => {
    const event = message as RequestEvent;
    if (event.phase === 'end' && event.serverName === client.name) ends.push(event);
  };
  diagnosticsChannel.subscribe(REQUEST_CHANNEL_NAME, listener);
  try {
    await fn();
  } finally {
    diagnosticsChannel.unsubscribe(REQUEST_CHANNEL_NAME, listener);
  }
  return ends;
}

async function client(
  which: 0 | 1,
  options?: HttpStorageClientOptions,
): Promise<HttpStorageClient> {
  const c = new HttpStorageClient((await servers)[which]!, options);
  await c.getVersion();
  return c;
}

test.serial(
  'concurrent writes to one server: one request at once, then the rest as one batch, every answer right',
  async (t) => {
    const c = await client(0, { writeBatching: { maxInFlight: 1 } });
    const reader = await client(0, { writeBatching: false });
    try {
      const slots = Array.from({ length: 40 }, newSi);
      let answers: Awaited<ReturnType<HttpStorageClient['readTestWrite']>>[] = [];
      const events = await requestsOf(c, async () => {
        answers = await Promise.all(
          slots.map((si, i) =>
            c.readTestWrite(si, S, write(`file ${i}`), [{ offset: 0, size: 10 }]),
          ),
        );
      });
      t.true(answers.every((a) => a.success && a.data.size === 0));
      t.deepEqual(
        events.map((e) => [e.endpoint, e.items]),
        [
          ['read-test-write', undefined],
          ['read-test-write-many', 39],
        ],
      );
      for (const [i, si] of slots.entries()) {
        t.is(text((await reader.readShare(si, 0, 0, 100))!), `file ${i}`);
      }
    } finally {
      await c.close();
      await reader.close();
    }
  },
);

test.serial(
  'in one batch: a failed test, a wrong write enabler and an abort each fail alone',
  async (t) => {
    const c = await client(0, { writeBatching: { maxInFlight: 1 } });
    try {
      const tested = newSi();
      const guarded = newSi();
      await c.readTestWrite(tested, S, write('v1'), []);
      await c.readTestWrite(guarded, S, write('mine'), []);
      const fresh = Array.from({ length: 5 }, newSi);
      const abort = new AbortController();
      const aborted = newSi();

      let outcomes: PromiseSettledResult<
        Awaited<ReturnType<HttpStorageClient['readTestWrite']>>
      >[] = [];
      const events = await requestsOf(c, async () => {
        const first = c.readTestWrite(newSi(), S, write('goes alone'), []);
        const rest = Promise.allSettled([
          c.readTestWrite(tested, S, write('v2', [[0, 'v0']]), [{ offset: 0, size: 2 }]),
          c.readTestWrite(guarded, secrets(50), write('theirs'), []),
          c.readTestWrite(aborted, S, write('never'), [], { signal: abort.signal }),
          ...fresh.map((si, i) => c.readTestWrite(si, S, write(`new ${i}`), [])),
        ]);
        abort.abort(); // while it waits for the first request
        await first;
        outcomes = await rest;
      });
      t.deepEqual(
        events.map((e) => [e.endpoint, e.items]),
        [
          ['read-test-write', undefined],
          ['read-test-write-many', 7],
        ],
      );
      const [testFailed, wrongWe, cancelled, ...rest] = outcomes;

      t.is(testFailed.status, 'fulfilled');
      if (testFailed.status === 'fulfilled') {
        t.false(testFailed.value.success);
        t.is(text(testFailed.value.data.get(0)![0]), 'v1');
      }
      t.is(wrongWe.status, 'rejected');
      if (wrongWe.status === 'rejected')
        t.is((wrongWe.reason as StorageClientError).code, 'ERR_WRITE_ENABLER');
      t.is(cancelled.status, 'rejected');
      if (cancelled.status === 'rejected')
        t.is((cancelled.reason as StorageClientError).code, 'ERR_REQUEST_ABORTED');
      t.true(rest.every((r) => r.status === 'fulfilled' && r.value.success));

      t.is(text((await c.readShare(tested, 0, 0, 10))!), 'v1');
      t.is(text((await c.readShare(guarded, 0, 0, 10))!), 'mine');
      t.is(await c.readShare(aborted, 0, 0, 10), null, 'the cancelled write was never sent');
      for (const [i, si] of fresh.entries())
        t.is(text((await c.readShare(si, 0, 0, 10))!), `new ${i}`);
    } finally {
      await c.close();
    }
  },
);

test.serial(
  'batches are capped by count; each operation counts the request that carried its write',
  async (t) => {
    const c = await client(0, { writeBatching: { maxInFlight: 1, maxCount: 5 } });
    try {
      let costs: number[] = [];
      const events = await requestsOf(c, async () => {
        const measured = await Promise.all(
          Array.from({ length: 21 }, (_, i) =>
            measureOperation(() => c.readTestWrite(newSi(), S, write(`w${i}`), [])),
          ),
        );
        costs = measured.map((m) => m.cost.requests);
        t.true(measured.every((m) => m.result.success));
      });
      t.deepEqual(
        events.map((e) => e.items ?? 1),
        [1, 5, 5, 5, 5],
      );
      t.deepEqual(
        costs,
        Array.from({ length: 21 }, () => 1),
      );
    } finally {
      await c.close();
    }
  },
);

test.serial('a server without the extensions (plain Tahoe) gets every write alone', async (t) => {
  const c = await client(1);
  try {
    const slots = Array.from({ length: 10 }, newSi);
    const events = await requestsOf(c, () =>
      Promise.all(slots.map((si, i) => c.readTestWrite(si, S, write(`plain ${i}`), []))),
    );
    t.deepEqual(
      events.map((e) => e.endpoint),
      slots.map(() => 'read-test-write'),
    );
    for (const [i, si] of slots.entries())
      t.is(text((await c.readShare(si, 0, 0, 20))!), `plain ${i}`);
  } finally {
    await c.close();
  }
});

test.serial(
  'an older slotfs server (404 for the batch) gets the writes again alone, and no batch after',
  async (t) => {
    // A front for the real server that does not know read-test-write-many, as before it.
    const real = (await servers)[0]!;
    const nurl = /^pb:\/\/[^@]+@([^/]+)\/([^#]+)#/.exec(real.nurl)!;
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    const front = await startFakeHttpsServer(makeCertificate(), (req, res) => {
      if (req.url === PATHS.readTestWriteMany) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such resource');
        return;
      }
      // Repeated headers (the secrets) as sent, not joined.
      const headers: string[] = ['authorization', authorizationHeaderValue(nurl[2])];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i].toLowerCase();
        if (name !== 'host' && name !== 'authorization') headers.push(name, req.rawHeaders[i + 1]);
      }
      void request(`https://${nurl[1]}${req.url}`, {
        dispatcher: agent,
        method: req.method as 'POST',
        headers,
        body: req.body.length ? req.body : undefined,
      }).then(
        async (r) => {
          const body = Buffer.from(await r.body.arrayBuffer());
          res.writeHead(r.statusCode, r.headers as Record<string, string>).end(body);
        },
        () => res.writeHead(502).end(),
      );
    });
    const c = new HttpStorageClient(front.entry(), { writeBatching: { maxInFlight: 1 } });
    const reader = await client(0);
    try {
      t.true((await c.getVersion()).readFromEnd);
      const slots = Array.from({ length: 8 }, newSi);
      const events = await requestsOf(c, () =>
        Promise.all(slots.map((si, i) => c.readTestWrite(si, S, write(`old ${i}`), []))),
      );
      t.deepEqual(
        events.map((e) => [e.endpoint, e.status]),
        [
          ['read-test-write', 200],
          ['read-test-write-many', 404],
          ...slots.slice(1).map(() => ['read-test-write', 200]),
        ],
      );
      for (const [i, si] of slots.entries())
        t.is(text((await reader.readShare(si, 0, 0, 20))!), `old ${i}`);
      const later = await requestsOf(c, () =>
        Promise.all(slots.map((si) => c.readTestWrite(si, S, write('again'), []))),
      );
      t.true(later.every((e) => e.endpoint === 'read-test-write'));
      const call = {
        storageIndex: newSi(),
        secrets: S,
        testWriteVectors: write('x'),
        readVector: [],
      };
      await t.throwsAsync(c.readTestWriteMany([call]), { code: 'ERR_SERVER_UNSUPPORTED' });
    } finally {
      await c.close();
      await reader.close();
      await front.close();
      await agent.close();
    }
  },
);

test.serial(
  'readTestWriteMany: each write its own answer or error; unsupported without the extension',
  async (t) => {
    const c = await client(0);
    const plain = await client(1);
    try {
      const guarded = newSi();
      await c.readTestWrite(guarded, S, write('mine'), []);
      const fresh = newSi();
      const call = (si: Uint8Array, s: SlotSecrets, tw: Map<number, TestWriteVectors>) => ({
        storageIndex: si,
        secrets: s,
        testWriteVectors: tw,
        readVector: [{ offset: 0, size: 4 }],
      });
      const events = await requestsOf(c, async () => {
        const [ok, refused, failed] = await c.readTestWriteMany([
          call(fresh, S, write('new')),
          call(guarded, secrets(60), write('theirs')),
          call(guarded, S, write('x', [[0, 'nope']])),
        ]);
        t.true(!(ok instanceof StorageClientError) && ok.success);
        t.true(refused instanceof StorageClientError);
        t.is((refused as StorageClientError).code, 'ERR_WRITE_ENABLER');
        t.true(!(failed instanceof StorageClientError) && !failed.success);
        if (!(failed instanceof StorageClientError)) t.is(text(failed.data.get(0)![0]), 'mine');
      });
      t.deepEqual(
        events.map((e) => [e.endpoint, e.items]),
        [['read-test-write-many', 3]],
      );
      t.is(text((await c.readShare(fresh, 0, 0, 10))!), 'new');
      t.is(text((await c.readShare(guarded, 0, 0, 10))!), 'mine');
      await t.throwsAsync(plain.readTestWriteMany([call(newSi(), S, write('x'))]), {
        code: 'ERR_SERVER_UNSUPPORTED',
      });
    } finally {
      await c.close();
      await plain.close();
    }
  },
);

test.serial(
  'by default one small write goes out at once and the rest wait for a batch',
  async (t) => {
    const c = await client(0);
    try {
      const events = await requestsOf(c, () =>
        Promise.all(
          Array.from({ length: 12 }, (_, i) => c.readTestWrite(newSi(), S, write(`d${i}`), [])),
        ),
      );
      t.deepEqual(
        events.map((e) => e.items ?? 1).sort((a, b) => a - b),
        [1, 11],
      );
    } finally {
      await c.close();
    }
  },
);

test.serial('a small write does not wait behind a large one in flight', async (t) => {
  const c = await client(0);
  try {
    const large = 'x'.repeat(70 * 1024);
    const events = await requestsOf(c, () =>
      Promise.all([
        c.readTestWrite(newSi(), S, write(large), []),
        ...Array.from({ length: 6 }, (_, i) => c.readTestWrite(newSi(), S, write(`s${i}`), [])),
      ]),
    );
    // The large write and the first small one at once; the other five wait for the small one.
    t.deepEqual(
      events.map((e) => e.items ?? 1).sort((a, b) => a - b),
      [1, 1, 5],
    );
  } finally {
    await c.close();
  }
});
