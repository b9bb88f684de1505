// The mount's control socket: how `slotfs status`, `slotfs cap`, `slotfs link` and
// `slotfs unmount` talk to the process serving a mount. One unix socket per mount point,
// in a per-user directory (mode 0700), named by a hash of the mount point, so the CLI
// finds it from any path inside the mount (via /proc/mounts) without extra files.
// Protocol: one JSON request line, one JSON answer line.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, chmodSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export type ControlRequest =
  | { op: 'status' }
  /** Write-backs left and the publish rate, without asking the servers (for unmount). */
  | { op: 'progress' }
  | { op: 'cap'; path: string; readonly?: boolean }
  | { op: 'link'; path: string; cap: string }
  | { op: 'unmount' };

export type ControlAnswer =
  { ok: true; [key: string]: unknown } | { ok: false; error: string; errno?: string };

export class ControlError extends Error {
  constructor(
    readonly code: 'ERR_NOT_MOUNTED' | 'ERR_CONTROL',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ControlError';
  }
}

/** The per-user directory for control sockets (created 0700, must be ours). */
export function controlDir(): string {
  const uid = process.getuid?.() ?? 0;
  const base = process.env.XDG_RUNTIME_DIR || tmpdir();
  const dir = join(base, `slotfs-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (st.uid !== uid) throw new ControlError('ERR_CONTROL', `${dir} belongs to another user`);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}

export function controlSocketPath(mountpoint: string): string {
  const hash = createHash('sha256').update(resolve(mountpoint)).digest('hex').slice(0, 20);
  return join(controlDir(), `${hash}.sock`);
}

/** Serves control requests until close(). */
export async function serveControl(
  socketPath: string,
  handle: (request: ControlRequest) => Promise<Record<string, unknown>>,
): Promise<{ close(): Promise<void> }> {
  await rm(socketPath, { force: true });
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > 1 << 20) return socket.destroy();
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      const line = buffered.slice(0, nl);
      buffered = '';
      void (async () => {
        let answer: ControlAnswer;
        try {
          const request = JSON.parse(line) as ControlRequest;
          answer = { ok: true, ...(await handle(request)) };
        } catch (err) {
          const errno = (err as { errno?: unknown }).errno;
          answer = {
            ok: false,
            error: err instanceof Error ? err.message : String(err),
            errno: typeof errno === 'string' ? errno : undefined,
          };
        }
        socket.end(JSON.stringify(answer) + '\n');
      })();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(socketPath, () => {
      server.off('error', fail);
      ok();
    });
  });
  chmodSync(socketPath, 0o600);
  return {
    // Stops accepting requests; one being answered (e.g. the unmount itself) completes.
    close: async () => {
      server.close();
      await rm(socketPath, { force: true });
    },
  };
}

/** Sends one request to the mount at `mountpoint`. */
export function controlRequest(
  mountpoint: string,
  request: ControlRequest,
  timeoutMs = 120_000,
): Promise<ControlAnswer> {
  const path = controlSocketPath(mountpoint);
  return new Promise((ok, fail) => {
    const socket = net.connect(path);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      fail(
        new ControlError(
          'ERR_CONTROL',
          `the mount at ${mountpoint} did not answer within ${timeoutMs / 1000} s`,
        ),
      );
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(
        new ControlError(
          'ERR_NOT_MOUNTED',
          `no slotfs process answers for ${mountpoint} (${err.code ?? err.message}); is it mounted with \`slotfs mount\`?`,
          { cause: err },
        ),
      );
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        ok(JSON.parse(data) as ControlAnswer);
      } catch (err) {
        fail(
          new ControlError('ERR_CONTROL', `garbled answer from the mount at ${mountpoint}`, {
            cause: err,
          }),
        );
      }
    });
  });
}

/** slotfs mount points from /proc/mounts (type fuse.slotfs). */
export function slotfsMounts(): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [, mountpoint, type] = line.split(' ');
    if (type === 'fuse.slotfs' && mountpoint) out.push(unescapeMountField(mountpoint));
  }
  return out;
}

/** Every mount point in /proc/mounts (to tell whether a directory is mounted at all). */
export function allMounts(): string[] {
  try {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1])
      .filter((m): m is string => !!m)
      .map(unescapeMountField);
  } catch {
    return [];
  }
}

function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The slotfs mount holding `absolutePath`, and the path inside it ('/…'). */
export function mountOf(absolutePath: string): { mountpoint: string; inner: string } {
  const abs = resolve(absolutePath);
  const candidates = slotfsMounts()
    .filter((m) => abs === m || abs.startsWith(m.endsWith('/') ? m : m + '/'))
    .sort((a, b) => b.length - a.length);
  const mountpoint = candidates[0];
  if (!mountpoint) {
    throw new ControlError('ERR_NOT_MOUNTED', `${absolutePath} is not inside a slotfs mount`);
  }
  const inner = abs.slice(mountpoint.length) || '/';
  return { mountpoint, inner: inner.startsWith('/') ? inner : `/${inner}` };
}
