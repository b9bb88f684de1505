// A TCP proxy that plays a network link (link-settings.ts): it listens where clients
// connect, opens a connection to the real server for each client, and holds every chunk
// for the link's delay before passing it on. TLS passes through untouched (clients pin the
// server's key, not an address). The settings can change while connections are open.
//
// Not modelled: the TCP handshake itself (a connect completes at once; the TLS handshake
// that follows is delayed like any other bytes).
import net from 'node:net';
import {
  chunkDelay,
  releaseTime,
  validateLinkSettings,
  type Direction,
  type LinkSettings,
} from './link-settings.js';

/** Held bytes per direction and connection before the sender is paused (backpressure). */
const HIGH_WATER = 4 * 1024 * 1024;

interface Held {
  at: number;
  chunk: Buffer | null; // null: the sender ended (half-close), after the bytes before it
}

/** One direction of one connection: a queue of chunks waiting for their release time. */
class DelayedPipe {
  private readonly queue: Held[] = [];
  private lastRelease = 0;
  private heldBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly direction: Direction,
    private readonly proxy: DelayProxy,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => this.push(null));
  }

  private push(chunk: Buffer | null): void {
    const link = this.proxy.link;
    const now = Date.now();
    const delay = chunk ? chunkDelay(link, this.direction, this.proxy.random) : 0;
    if (!link.stall && this.queue.length === 0 && delay <= 0) {
      this.forward(chunk);
      return;
    }
    const at = releaseTime(now, delay, this.lastRelease);
    this.lastRelease = at;
    this.queue.push({ at, chunk });
    if (chunk) {
      this.heldBytes += chunk.length;
      if (this.heldBytes > HIGH_WATER) this.from.pause();
    }
    this.schedule();
  }

  /** Re-arms the timer for the head of the queue (none while the link stalls). */
  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0 || this.proxy.link.stall) return;
    const wait = Math.max(0, this.queue[0].at - Date.now());
    this.timer = setTimeout(() => this.release(), wait);
  }

  /** After a stall ends, held chunks leave as if they had arrived now. */
  restartClock(): void {
    const now = Date.now();
    let previous = 0;
    for (const held of this.queue) {
      const delay = held.chunk ? chunkDelay(this.proxy.link, this.direction, this.proxy.random) : 0;
      held.at = releaseTime(now, delay, previous);
      previous = held.at;
    }
    this.lastRelease = previous;
    this.schedule();
  }

  private release(): void {
    this.timer = undefined;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0].at <= now && !this.proxy.link.stall) {
      const held = this.queue.shift()!;
      if (held.chunk) this.heldBytes -= held.chunk.length;
      this.forward(held.chunk);
    }
    if (this.heldBytes <= HIGH_WATER && this.from.isPaused()) this.from.resume();
    this.schedule();
  }

  private forward(chunk: Buffer | null): void {
    if (this.to.destroyed) return;
    if (chunk) this.to.write(chunk);
    else this.to.end();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

export interface DelayProxyOptions {
  listenHost: string;
  listenPort: number;
  targetHost: string;
  targetPort: number;
  link?: LinkSettings;
  /** Random numbers in [0, 1) for jitter and loss (default Math.random). */
  random?: () => number;
}

export class DelayProxy {
  link: LinkSettings;
  readonly random: () => number;
  private readonly server: net.Server;
  private readonly pipes = new Set<DelayedPipe>();
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly options: DelayProxyOptions) {
    this.link = validateLinkSettings(options.link ?? {});
    this.random = options.random ?? Math.random;
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(options: DelayProxyOptions): Promise<DelayProxy> {
    const proxy = new DelayProxy(options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(options.listenPort, options.listenHost, () => {
        proxy.server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** New settings apply to chunks arriving from now on (and to held ones when a stall ends). */
  setLink(settings: LinkSettings): void {
    const wasStalled = this.link.stall === true;
    this.link = validateLinkSettings(settings);
    if (wasStalled && !this.link.stall) for (const pipe of this.pipes) pipe.restartClock();
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.options.targetPort, this.options.targetHost);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const up = new DelayedPipe(client, upstream, 'up', this);
    const down = new DelayedPipe(upstream, client, 'down', this);
    this.pipes.add(up);
    this.pipes.add(down);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      up.stop();
      down.stop();
      this.pipes.delete(up);
      this.pipes.delete(down);
      // A server that is gone (killed, refused) resets the client's connection, as a
      // host whose process died would.
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    // Errors end both sides at once; orderly ends travel through the pipes (half-close).
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => {
      if (upstream.writableEnded || upstream.destroyed) close();
    });
    upstream.on('close', () => {
      if (client.writableEnded || client.destroyed) close();
    });
  }

  async close(): Promise<void> {
    for (const pipe of this.pipes) pipe.stop();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
