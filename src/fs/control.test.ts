import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ControlError,
  controlRequest,
  controlSocketPath,
  mountOf,
  serveControl,
} from './control.js';

test('a request and its answer travel over the socket; a handler error comes back', async (t) => {
  const mountpoint = await mkdtemp(join(tmpdir(), 'slotfs-control-'));
  const server = await serveControl(controlSocketPath(mountpoint), async (request) => {
    if (request.op === 'cap') return { cap: `cap of ${request.path}` };
    throw Object.assign(new Error('no such thing'), { errno: 'ENOENT' });
  });
  try {
    t.deepEqual(await controlRequest(mountpoint, { op: 'cap', path: '/a' }), {
      ok: true,
      cap: 'cap of /a',
    });
    t.deepEqual(await controlRequest(mountpoint, { op: 'status' }), {
      ok: false,
      error: 'no such thing',
      errno: 'ENOENT',
    });
  } finally {
    await server.close();
    await rm(mountpoint, { recursive: true, force: true });
  }
});

test('nothing answering at a mount point: ERR_NOT_MOUNTED', async (t) => {
  const err = await t.throwsAsync(controlRequest('/nowhere/at/all', { op: 'status' }));
  t.true(err instanceof ControlError);
  t.is((err as ControlError).code, 'ERR_NOT_MOUNTED');
  t.regex(err!.message, /is it mounted with `slotfs mount`/);
});

test('a path outside every slotfs mount: ERR_NOT_MOUNTED', (t) => {
  const err = t.throws(() => mountOf('/definitely/not/a/slotfs/mount'));
  t.is((err as ControlError).code, 'ERR_NOT_MOUNTED');
});

test('a garbled answer: ERR_CONTROL', async (t) => {
  const mountpoint = await mkdtemp(join(tmpdir(), 'slotfs-control-'));
  const path = controlSocketPath(mountpoint);
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.end('this is not JSON\n');
  });
  await new Promise<void>((ok) => server.listen(path, ok));
  try {
    const err = await t.throwsAsync(controlRequest(mountpoint, { op: 'status' }, 5000));
    t.is((err as ControlError).code, 'ERR_CONTROL');
    t.regex(err!.message, /garbled answer/);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
    await rm(mountpoint, { recursive: true, force: true });
  }
});

test('a mount that does not answer in time: ERR_CONTROL', async (t) => {
  const mountpoint = await mkdtemp(join(tmpdir(), 'slotfs-control-'));
  const path = controlSocketPath(mountpoint);
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => sockets.push(socket)); // never answers
  await new Promise<void>((ok) => server.listen(path, ok));
  try {
    const err = await t.throwsAsync(controlRequest(mountpoint, { op: 'status' }, 200));
    t.is((err as ControlError).code, 'ERR_CONTROL');
    t.regex(err!.message, /did not answer within/);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
    await rm(mountpoint, { recursive: true, force: true });
  }
});
