// A server's identity in its directory, created on first start and reused afterwards:
//   private/tls-key.pem  RSA-2048 key (mode 0600)     tls-cert.pem  self-signed certificate
//   private/swissnum     the secret path segment      node.json     node id, seed, port, NURL
//   node.url             the NURL (rewritten on every start, once listening)
// The node id is 20 random bytes fixed at creation. (Tahoe uses the SHA-1 of its Foolscap
// Tub certificate — §3.3; clients only need it to be stable, and read it from node.json, the
// grid's servers.yaml, or the version document's slotfs extension.)
import { generateKeyPair as generateKeyPairCb, randomBytes, sign } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fromBase32, toBase32 } from '../encoding/base32.js';

const generateKeyPair = promisify(generateKeyPairCb);

export interface NodeIdentity {
  nodeId: Uint8Array;
  permutationSeed: Uint8Array;
  swissnum: string;
  keyPem: string;
  certPem: string;
  /** Port of the previous start, if any (tried again when no port is given). */
  lastPort?: number;
}

/** Contents of `node.json`. */
export interface NodeInfoFile {
  nodeId: string; // base32, 32 chars
  permutationSeed: string; // base32
  nurl?: string;
  host?: string;
  port?: number;
}

export class IdentityError extends Error {
  readonly code = 'ERR_STORAGE_IDENTITY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdentityError';
  }
}

export const FILES = {
  key: path.join('private', 'tls-key.pem'),
  swissnum: path.join('private', 'swissnum'),
  cert: 'tls-cert.pem',
  info: 'node.json',
  nurl: 'node.url',
  pid: 'server.pid',
} as const;

/** Writes a file atomically (temp + rename) so readers never see half of it. */
export async function writeFileAtomic(file: string, data: string, mode = 0o644) {
  const temp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(temp, data, { mode });
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

async function selfSignedCertificate(keyPem: string, publicPem: string, nodeId: Uint8Array) {
  // Loaded only when a certificate is made: later starts skip its ~100 ms import.
  const { default: forge } = await import('node-forge');
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = '01' + randomBytes(15).toString('hex'); // positive
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 24 * 3600 * 1000);
  // Clients pin the key (SPKI hash) and ignore dates (§10.2); keep it valid anyway.
  cert.validity.notAfter = new Date(now + 30 * 365 * 24 * 3600 * 1000);
  const attrs = [{ name: 'commonName', value: `slotfs storage ${toBase32(nodeId)}` }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  // Signed by OpenSSL, not forge's JavaScript RSA: that took a third of a second of CPU
  // per server, ten times over for every new local grid.
  cert.signatureOid = cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  // (in node-forge, missing from its type definitions)
  const pki = forge.pki as typeof forge.pki & {
    getTBSCertificate(c: typeof cert): typeof cert.tbsCertificate;
  };
  cert.tbsCertificate = pki.getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', tbs, keyPem).toString('binary');
  return forge.pki.certificateToPem(cert);
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Loads the identity in `dir`, creating whatever is missing (first start). */
export async function loadOrCreateIdentity(dir: string): Promise<NodeIdentity> {
  await fs.mkdir(path.join(dir, 'private'), { recursive: true, mode: 0o700 });
  const infoText = await readIfExists(path.join(dir, FILES.info));
  let info: NodeInfoFile | undefined;
  if (infoText !== undefined) {
    try {
      info = JSON.parse(infoText) as NodeInfoFile;
      fromBase32(info.nodeId);
      fromBase32(info.permutationSeed);
    } catch (cause) {
      throw new IdentityError(
        `${path.join(dir, FILES.info)} is not a valid node.json (node id / permutation seed); restore it or start with a fresh directory`,
        { cause },
      );
    }
  }
  const nodeId = info ? fromBase32(info.nodeId) : new Uint8Array(randomBytes(20));
  const permutationSeed = info ? fromBase32(info.permutationSeed) : new Uint8Array(randomBytes(32));
  if (nodeId.length !== 20) {
    throw new IdentityError(`node id in ${FILES.info} must be 20 bytes, got ${nodeId.length}`);
  }

  let swissnum = (await readIfExists(path.join(dir, FILES.swissnum)))?.trim();
  if (!swissnum) {
    swissnum = toBase32(randomBytes(32));
    await writeFileAtomic(path.join(dir, FILES.swissnum), swissnum + '\n', 0o600);
  }

  let keyPem = await readIfExists(path.join(dir, FILES.key));
  let certPem = await readIfExists(path.join(dir, FILES.cert));
  if (!keyPem || !certPem) {
    // Node's OpenSSL makes the key and signs; node-forge only builds the certificate.
    const pair = await generateKeyPair('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    keyPem = pair.privateKey;
    certPem = await selfSignedCertificate(pair.privateKey, pair.publicKey, nodeId);
    await writeFileAtomic(path.join(dir, FILES.key), keyPem, 0o600);
    await fs.chmod(path.join(dir, FILES.key), 0o600);
    await writeFileAtomic(path.join(dir, FILES.cert), certPem);
  }
  if (!info) {
    await writeNodeInfo(dir, {
      nodeId: toBase32(nodeId),
      permutationSeed: toBase32(permutationSeed),
    });
  }
  return { nodeId, permutationSeed, swissnum, keyPem, certPem, lastPort: info?.port };
}

export async function writeNodeInfo(dir: string, info: NodeInfoFile) {
  await writeFileAtomic(path.join(dir, FILES.info), JSON.stringify(info, null, 2) + '\n', 0o600);
}
