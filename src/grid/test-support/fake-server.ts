// Scriptable HTTPS and TCP servers for provoking every client error: wrong certificate,
// silence, stalls, garbage. Not a storage server — each test says what to answer.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import forge from 'node-forge';
import { formatNurl, spkiHashFromCertificate } from '../../storage/protocol.js';
import type { ServerEntry } from '../servers.js';

export interface TestCertificate {
  keyPem: string;
  certPem: string;
  spkiHash: string;
}

/** A self-signed certificate over a fresh RSA key (Node generates the key: fast). */
export function makeCertificate(): TestCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pubPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(pubPem);
  cert.serialNumber = '01' + randomBytes(8).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  const attrs = [{ name: 'commonName', value: 'slotfs test' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(
    forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey,
    forge.md.sha256.create(),
  );
  const certPem = forge.pki.certificateToPem(cert);
  return { keyPem, certPem, spkiHash: spkiHashFromCertificate(certPem) };
}

export const SWISSNUM = 'fake-swissnum';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
}

export interface FakeServer {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  requests: RecordedRequest[];
  /** A ServerEntry pointing at this server, pinned to `pin` (default: its own cert). */
  entry(pin?: string): ServerEntry;
  close(): Promise<void>;
}

export type FakeHandler = (req: RecordedRequest, res: ServerResponse) => void;

const nodeId = new Uint8Array(20).fill(7);

function entryFor(port: number, spkiHash: string): ServerEntry {
  return {
    id: nodeId,
    name: `fake-${port}`,
    nurl: formatNurl({ spkiHash, host: '127.0.0.1', port, swissnum: SWISSNUM }),
    permutationSeed: nodeId,
  };
}

/** HTTPS server answering every request with `handler` (after reading the whole body). */
export async function startFakeHttpsServer(
  cert: TestCertificate,
  handler: FakeHandler,
): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  const fake: FakeServer = {
    port: 0,
    connections: 0,
    requests: [],
    entry: (pin) => entryFor(fake.port, pin ?? cert.spkiHash),
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createHttpsServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
      };
      fake.requests.push(recorded);
      handler(recorded, res);
    });
  });
  server.on('connection', (s: Socket) => {
    fake.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fake.port = (server.address() as { port: number }).port;
  return fake;
}

/** TCP server that accepts connections and then says nothing (or `greeting`). */
export async function startSilentTcpServer(greeting?: Buffer): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    fake.connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    if (greeting) s.end(greeting);
  });
  const fake: FakeServer = {
    port: 0,
    connections: 0,
    requests: [],
    entry: (pin) => entryFor(fake.port, pin ?? 'A'.repeat(43)),
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fake.port = (server.address() as { port: number }).port;
  return fake;
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}
