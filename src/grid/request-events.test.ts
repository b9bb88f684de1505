import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  measureOperation,
  OperationCost,
  RequestCounter,
  requestChannel,
  startRequest,
  type RequestEndEvent,
  type RequestEvent,
} from './request-events.js';

// A stand-in for a storage client: publishes start, waits, publishes end.
async function fakeRequest(server: string, ms: number, sent = 10, received = 100, fail = false) {
  const end = startRequest({
    serverId: new Uint8Array(20),
    serverName: server,
    method: 'POST',
    endpoint: 'read-test-write',
    path: '/x',
    bytesSent: sent,
  });
  await sleep(ms);
  end({
    bytesReceived: fail ? 0 : received,
    status: fail ? null : 200,
    errorCode: fail ? 'ERR_SERVER_TIMEOUT' : null,
  });
}

test('startRequest publishes a start and, when told, an end with the same id', (t) => {
  const seen: RequestEvent[] = [];
  const listen = (event: unknown) => seen.push(event as RequestEvent);
  requestChannel.subscribe(listen);
  try {
    const request = {
      serverId: new Uint8Array(20),
      serverName: 's',
      method: 'GET',
      endpoint: 'version',
      path: '/v',
      bytesSent: 0,
    };
    const end = startRequest(request);
    t.deepEqual(seen, [{ ...request, id: seen[0]?.id, phase: 'start' }]);
    end({ bytesReceived: 7, status: 200, errorCode: null });
    t.is(seen.length, 2);
    const last = seen[1] as RequestEndEvent;
    t.like(last, { ...request, id: seen[0].id, phase: 'end', bytesReceived: 7, status: 200 });
    t.true(last.durationMs >= 0);
    t.is(last.errorCode, null);
    const other = startRequest(request);
    t.not(seen[2].id, seen[0].id, 'every request has an id of its own');
    other({ bytesReceived: 0, status: null, errorCode: 'ERR_SERVER_TIMEOUT' });
  } finally {
    requestChannel.unsubscribe(listen);
  }
});

test('parallel requests are one round trip, sequential ones add up', async (t) => {
  const { cost } = await measureOperation(async () => {
    await Promise.all([fakeRequest('a', 5), fakeRequest('b', 10), fakeRequest('c', 1)]);
    await fakeRequest('a', 1);
    await Promise.all([fakeRequest('b', 1), fakeRequest('c', 1, 5, 7, true)]);
  });
  t.is(cost.roundTrips, 3);
  t.is(cost.requests, 6);
  t.is(cost.failures, 1);
  t.is(cost.bytesSent, 55);
  t.is(cost.bytesReceived, 5 * 100);
  t.deepEqual(cost.byServer.get('c'), {
    requests: 2,
    failures: 1,
    bytesSent: 15,
    bytesReceived: 100,
  });
  t.true(cost.ms >= 10);
});

test('a request started after another ended is a new wave even if a third is in flight', async (t) => {
  const { cost } = await measureOperation(async () => {
    const slow = fakeRequest('slow', 40);
    await fakeRequest('fast', 1);
    await fakeRequest('fast', 1); // depends on the first fast answer
    await slow;
  });
  t.is(cost.roundTrips, 2);
  t.is(cost.requests, 3);
});

test('concurrent operations are measured apart; nested ones count in both', async (t) => {
  const [a, b] = await Promise.all([
    measureOperation(async () => {
      await fakeRequest('x', 5);
      const inner = await measureOperation(() => fakeRequest('y', 5));
      return inner.cost;
    }),
    measureOperation(async () => {
      for (let i = 0; i < 4; i++) await fakeRequest('z', 2);
    }),
  ]);
  t.is(a.cost.requests, 2);
  t.is(a.cost.roundTrips, 2);
  t.is(a.result.requests, 1);
  t.is(a.result.roundTrips, 1);
  t.is(b.cost.requests, 4);
  t.is(b.cost.roundTrips, 4);
  t.false(b.cost.byServer.has('x'));
});

test('requests outside a measurement or after it ended are not counted', async (t) => {
  await fakeRequest('before', 1);
  let leak: Promise<void> | undefined;
  const { cost } = await measureOperation(async () => {
    await fakeRequest('in', 1);
    leak = sleep(5).then(() => fakeRequest('late', 1));
  });
  await leak;
  t.is(cost.requests, 1);
});

test('OperationCost reports after a failure too', async (t) => {
  const op = new OperationCost();
  await t.throwsAsync(
    op.run(async () => {
      await fakeRequest('a', 1, 3, 4);
      throw new Error('boom');
    }),
    { message: 'boom' },
  );
  t.is(op.report().requests, 1);
  t.is(op.report().bytesReceived, 4);
});

test.serial('RequestCounter counts everything while started', async (t) => {
  const counter = new RequestCounter().start();
  await Promise.all([fakeRequest('a', 1), fakeRequest('b', 1, 1, 1)]);
  const totals = counter.stop();
  await fakeRequest('after', 1);
  t.deepEqual(totals, { requests: 2, failures: 0, bytesSent: 11, bytesReceived: 101 });
  t.is(counter.totals.requests, 2);
});
