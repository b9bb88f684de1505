// The mount's status counts what the request channel reports: requests per server, and
// of those the batches of writes and how many writes they carried.
import test from 'ava';
import { newRequestId, publishRequestEvent } from '../grid/request-events.js';
import { MountMonitor } from './monitor.js';

function request(serverName: string, items?: number, errorCode: string | null = null): void {
  const base = {
    id: newRequestId(),
    serverId: new Uint8Array(20),
    serverName,
    method: 'POST',
    endpoint: items === undefined ? 'read-test-write' : 'read-test-write-many',
    path: '/x',
    bytesSent: 10,
    ...(items === undefined ? {} : { items }),
  };
  publishRequestEvent({ ...base, phase: 'start' });
  publishRequestEvent({
    ...base,
    phase: 'end',
    bytesReceived: 5,
    status: errorCode ? null : 200,
    errorCode,
    durationMs: 1.25,
  });
}

test('status counts requests, and batches with the writes they carried, per server', (t) => {
  const monitor = new MountMonitor(['a', 'b']);
  t.teardown(() => monitor.stop());
  request('a');
  request('a', 7);
  request('a', 3);
  request('b');
  request('b', 1, 'ERR_SERVER_UNREACHABLE');
  const [a, b] = monitor.snapshot();
  t.like(a, { name: 'a', state: 'up', requests: 3, batches: 2, batchedWrites: 10, inFlight: 0 });
  t.like(b, { name: 'b', state: 'down', requests: 2, batches: 1, batchedWrites: 1 });
  t.is(b!.lastError, 'ERR_SERVER_UNREACHABLE');
});

test('a server without batches shows none', (t) => {
  const monitor = new MountMonitor(['c']);
  t.teardown(() => monitor.stop());
  request('c');
  const [c] = monitor.snapshot();
  t.is(c!.requests, 1);
  t.is(c!.batches, undefined);
});
