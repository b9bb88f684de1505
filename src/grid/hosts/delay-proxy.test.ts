// The delay proxy on loopback (no namespaces needed): bytes arrive whole and in order
// whatever the jitter, a delay is at least what was asked, a stall holds everything until
// it is lifted, and a server that is gone resets the client's connection.
import test from 'ava';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DelayProxy } from './delay-proxy.js';

/** An echo server on loopback; closes with the test. */
async function echoServer(): Promise<net.Server> {
  const server = net.createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Collects what arrives on `socket` until `bytes` have come. */
function receive(socket: net.Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= bytes) resolve(Buffer.concat(chunks));
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${got} of ${bytes} bytes`)));
  });
}

test('bytes cross in order under heavy jitter, and no sooner than the delay', async (t) => {
  const echo = await echoServer();
  const proxy = await DelayProxy.start({
    listenHost: '127.0.0.1',
    listenPort: 0,
    targetHost: '127.0.0.1',
    targetPort: portOf(echo),
    link: { delayMs: 15, jitterMs: 15 },
  });
  t.teardown(async () => {
    await proxy.close();
    echo.close();
  });
  const socket = await connect(proxy.port);
  const sent = Buffer.alloc(300_000);
  for (let i = 0; i < sent.length; i++) sent[i] = (i * 7919) & 0xff;
  const back = receive(socket, sent.length);
  // Many small writes: each chunk draws its own jitter.
  for (let i = 0; i < sent.length; i += 1000) socket.write(sent.subarray(i, i + 1000));
  const received = await back;
  t.true(received.equals(sent));
  await proxy.setLink({ delayMs: 40 });
  const t0 = Date.now();
  const one = receive(socket, 1);
  socket.write(Buffer.from([1]));
  await one;
  t.true(Date.now() - t0 >= 80, 'a round trip takes at least twice the one-way delay');
  socket.destroy();
});

test('a stall holds requests (accepting connections) until it is lifted', async (t) => {
  const echo = await echoServer();
  const proxy = await DelayProxy.start({
    listenHost: '127.0.0.1',
    listenPort: 0,
    targetHost: '127.0.0.1',
    targetPort: portOf(echo),
    link: { stall: true },
  });
  t.teardown(async () => {
    await proxy.close();
    echo.close();
  });
  const socket = await connect(proxy.port); // accepted although stalled
  let got = 0;
  socket.on('data', (d: Buffer) => (got += d.length));
  socket.write('hello');
  await sleep(300);
  t.is(got, 0, 'nothing comes back while the link stalls');
  await proxy.setLink({});
  for (let i = 0; i < 100 && got < 5; i++) await sleep(20);
  t.is(got, 5, 'the held request is answered once the stall ends');
  socket.destroy();
});

test('a server that is gone resets the connection (refused, not hung)', async (t) => {
  const echo = await echoServer();
  const port = portOf(echo);
  await new Promise<void>((resolve) => echo.close(() => resolve()));
  const proxy = await DelayProxy.start({
    listenHost: '127.0.0.1',
    listenPort: 0,
    targetHost: '127.0.0.1',
    targetPort: port,
  });
  t.teardown(() => proxy.close());
  const socket = await connect(proxy.port);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.write('anyone?');
  await closed;
  t.pass();
});
