// Servermap update (tahoe-formats.md §11.2), shaped for few round trips: each server is
// asked once for the first `readSize` bytes of all its shares, so a small file arrives
// whole in the first request. Writers read every share of a slot in one read-test-write
// with no writes (§10.7), and with the read-from-end extension also the tail of each
// share, where the encrypted private key sits.
import { aesCtr } from '../crypto/aes.js';
import { fingerprintFromPublicKey, writekeyFromPrivateKey } from '../crypto/derive.js';
import { verifyPss } from '../crypto/rsa.js';
import { verifyEd25519 } from '../crypto/ed25519.js';
import { toBase32 } from '../encoding/base32.js';
import { equalBytes, toHex } from '../encoding/bytes.js';
import type { ReadVector, StorageClient } from '../grid/storage-client.js';
import { ShareError } from '../sdmf/errors.js';
import {
  CHECKSTRING_SIZE,
  ED25519_VERSION,
  MDMF_VERSION,
  SDMF_VERSION,
  parseSharePrefix,
} from '../sdmf/layout.js';
import { verifyShare } from '../sdmf/verify.js';
import { describeError, slotSecrets, type FileContext } from './context.js';
import { Servermap } from './servermap.js';

/** Bytes read from the end of each share when the server supports it: the private key. */
export const PRIVATE_KEY_TAIL = 4096;

export interface MapUpdateOptions {
  /**
   * 'read': k+ε servers suffice. 'write': every server up to N+ε, all shares, via RTW.
   * 'check': like 'write', but every server (after a collision, and for recovery).
   */
  mode: 'read' | 'write' | 'check';
  /** Bytes of each share read in the first request. */
  readSize: number;
  epsilon: number;
  /** Expected k and N (from a hint or defaults) until shares tell. */
  k: number;
  N: number;
  /** Fetch and check the encrypted private key (writers without a cached key). */
  wantPrivateKey: boolean;
  /** Known share numbers per server id (base32), so a reader can ask for them directly. */
  hintedShares?: ReadonlyMap<string, readonly number[]>;
  /** Keep asking servers while the best version is below this (the rollback guard). */
  minimumSeqnum?: number;
  /** Servers to skip (already known bad in this operation). */
  skip?: ReadonlySet<StorageClient>;
  /** Extend this map (servers already in it are not asked again) instead of a new one. */
  map?: Servermap;
  /** Take the private key from this server's share when it has one (the home server). */
  preferKeyFrom?: StorageClient;
  /**
   * 'write' mode: answers a publish needs (servers-of-happiness). Servers that are away
   * (ctx.away) are not asked while the others can give this many; default k.
   */
  required?: number;
}

export interface MapUpdateResult {
  map: Servermap;
  /** PKCS#8 DER of the file's private key, when asked for and found. */
  privateKey?: Uint8Array;
  /** The encrypted form, as stored in shares (for the cache). */
  encryptedPrivateKey?: Uint8Array;
}

export async function updateServermap(
  ctx: FileContext,
  options: MapUpdateOptions,
): Promise<MapUpdateResult> {
  const result: MapUpdateResult = { map: options.map ?? new Servermap() };
  const map = result.map;
  const verifiedVersions = new Set(map.records.map((r) => r.versionKey));
  const candidates = ctx.permuted.filter((s) => !options.skip?.has(s));
  const writer = options.mode !== 'read';
  // Servers that are away go last: asked only if the others do not settle the map.
  const away = new Set(candidates.filter((s) => ctx.away(s)));
  const queue = candidates
    .filter((s) => !map.servers.has(s.name))
    .sort((a, b) => Number(away.has(a)) - Number(away.has(b)));
  // A writer always asks the home server, wherever it is in the permuted list: it keeps
  // an extra share, with the private key, for exactly this.
  const home = options.preferKeyFrom;
  if (writer && home && queue.includes(home))
    queue.unshift(...queue.splice(queue.indexOf(home), 1));
  const writeLimit = options.mode === 'check' ? Infinity : options.N + options.epsilon;
  let inFlight = 0;
  /** Servers asked that have not answered yet. */
  const pending = new Set<StorageClient>();
  /** In 'write' mode: a server that became away while asked is not waited for either. */
  const givenUp = (s: StorageClient) => options.mode === 'write' && ctx.away(s);
  let settled = false;
  let keyFromPreferred = false;

  const available = candidates.length;
  /** Answers needed: k+ε for a reader, N+ε for a writer (fewer if the grid is smaller). */
  const wanted = (): number => {
    const k = map.bestRecoverable()?.k ?? options.k;
    if (!writer) return Math.min(k + options.epsilon, available);
    if (options.mode === 'check') return Math.min(writeLimit, available);
    // A writer does not wait for away servers it has not asked yet, as long as the others
    // can reach what a publish needs: the map is as good as with them timing out.
    const excused = queue.filter((s) => away.has(s)).length + [...pending].filter(givenUp).length;
    const floor = Math.min(options.required ?? k, available);
    return Math.min(writeLimit, Math.max(available - excused, floor));
  };
  const done = (): boolean => {
    const best = map.bestRecoverable();
    if (!best && map.records.length > 0) return false; // shares seen, none recoverable yet
    // A reader that found no share at all asks on, as Tahoe does: the shares may sit on
    // servers later in the permuted list (placed before servers joined, or moved there).
    if (!writer && map.records.length === 0 && map.bad.length === 0 && queue.length > 0) {
      return false;
    }
    if (map.undecided()) return false;
    if (options.minimumSeqnum !== undefined && (best?.seqnum ?? 0) < options.minimumSeqnum) {
      return false;
    }
    return map.answeredCount >= wanted();
  };

  const record = (server: StorageClient, shareNumber: number, parts: Uint8Array[]) => {
    const bytes = parts[0] ?? new Uint8Array(0);
    const verdict = examineShare(ctx, bytes, shareNumber, verifiedVersions);
    if (typeof verdict === 'string') {
      map.markBad({
        server,
        shareNumber,
        checkstring: bytes.slice(0, CHECKSTRING_SIZE),
        reason: verdict,
      });
      // A share in a format this path does not read (MDMF) is not corrupt: never report it.
      if (bytes[0] === MDMF_VERSION) return;
      server.adviseCorrupt(ctx.keys.storageIndex, shareNumber, verdict.slice(0, 1000)).catch(() => {
        // advisory only
      });
      return;
    }
    map.add({ server, shareNumber, bytes, prefix: verdict.prefix, versionKey: verdict.versionKey });
    const preferred = server === options.preferKeyFrom;
    if (options.wantPrivateKey && (!result.privateKey || (preferred && !keyFromPreferred))) {
      const encrypted = encryptedKeyFrom(verdict.prefix, parts[1]);
      const der = encrypted && checkPrivateKey(ctx, encrypted);
      if (der && encrypted) {
        result.privateKey = der;
        result.encryptedPrivateKey = encrypted;
        keyFromPreferred = preferred;
      }
    }
  };

  /** Servers a reader read only the guessed or hinted shares of: they may hold more. */
  const guessedOnly = new Set<StorageClient>();

  const query = async (server: StorageClient, position: number): Promise<void> => {
    try {
      const shares = writer
        ? await readAllWithSecrets(ctx, server, options)
        : await readAsReader(ctx, server, position, options, () => guessedOnly.add(server));
      if (settled) return;
      map.answered(
        server,
        [...shares.keys()].sort((a, b) => a - b),
      );
      for (const [shareNumber, parts] of shares) record(server, shareNumber, parts);
    } catch (err) {
      if (!settled) map.failed(server, describeError(err));
    }
  };

  await new Promise<void>((resolve) => {
    const pump = () => {
      if (settled) return;
      // A reader stops as soon as the map is conclusive (stragglers are ignored); a writer
      // waits for every query it started, since it will write to those servers — except
      // those to servers found away meanwhile (it will not write there: as a timeout).
      if (done() && (!writer || [...pending].every(givenUp))) {
        settled = true;
        return resolve();
      }
      // Enough queries to reach the target of answers; while the answers are not
      // conclusive, one more server at a time.
      const target = done() ? wanted() : Math.max(wanted(), map.answeredCount + 1);
      while (queue.length > 0 && map.answeredCount + inFlight < target) {
        const server = queue.shift()!;
        inFlight++;
        pending.add(server);
        void query(server, ctx.permuted.indexOf(server)).finally(() => {
          inFlight--;
          pending.delete(server);
          pump();
        });
      }
      if (inFlight === 0) {
        settled = true;
        resolve();
      }
    };
    pump();
  });

  // A cold reader guessed one share per server. When that is not enough (a small grid, or
  // shares doubled up on few servers), go back for the rest of what those servers hold.
  if (!writer && guessedOnly.size > 0 && !done()) {
    await Promise.all(
      [...guessedOnly].map(async (server) => {
        const state = map.servers.get(server.name)?.state;
        const seen = state?.status === 'answered' ? state.shareNumbers : [];
        try {
          const all = await server.listShares(ctx.keys.storageIndex);
          const rest = all.filter((n) => !seen.includes(n));
          const parts = await Promise.all(
            rest.map((n) => server.readShare(ctx.keys.storageIndex, n, 0, options.readSize)),
          );
          const found = rest.filter((_, i) => parts[i] !== null);
          map.answered(
            server,
            [...seen, ...found].sort((a, b) => a - b),
          );
          rest.forEach((n, i) => {
            const bytes = parts[i];
            if (bytes) record(server, n, [bytes]);
          });
        } catch {
          // keep what the first read found
        }
      }),
    );
  }

  // Without the read-from-end extension a large share's key lies beyond the first read.
  if (options.wantPrivateKey && !result.privateKey) {
    await fetchPrivateKey(ctx, result, options.preferKeyFrom);
  }
  return result;
}

/** Every share of the slot via a read-test-write with no writes (needs the write enabler). */
async function readAllWithSecrets(
  ctx: FileContext,
  server: StorageClient,
  options: MapUpdateOptions,
): Promise<Map<number, Uint8Array[]>> {
  const readVector: ReadVector[] = [{ offset: 0, size: options.readSize }];
  if (options.wantPrivateKey && (await server.getVersion()).readFromEnd) {
    readVector.push({ offset: -PRIVATE_KEY_TAIL, size: PRIVATE_KEY_TAIL });
  }
  const response = await server.readTestWrite(
    ctx.keys.storageIndex,
    slotSecrets(ctx, server),
    new Map(),
    readVector,
  );
  return response.data;
}

/**
 * A reader has no write enabler, so it reads shares by number: the ones a hint names, or
 * else a guess — share i usually sits on the i-th server of the permuted list — and only
 * when the guess misses does it list the server's shares (one more round trip).
 */
async function readAsReader(
  ctx: FileContext,
  server: StorageClient,
  position: number,
  options: MapUpdateOptions,
  /** Called when only hinted or guessed shares were read (the server may hold more). */
  onPartial: () => void,
): Promise<Map<number, Uint8Array[]>> {
  const si = ctx.keys.storageIndex;
  const out = new Map<number, Uint8Array[]>();
  const readAll = async (numbers: readonly number[]) => {
    const parts = await Promise.all(
      numbers.map((n) => server.readShare(si, n, 0, options.readSize)),
    );
    numbers.forEach((n, i) => {
      const bytes = parts[i];
      if (bytes !== null) out.set(n, [bytes]);
    });
  };
  const hinted = options.hintedShares?.get(toBase32(server.serverId));
  if (hinted && hinted.length > 0) {
    await readAll(hinted);
    if (out.size > 0) {
      onPartial();
      return out;
    }
  } else if (position < options.N) {
    await readAll([position]);
    if (out.size > 0) {
      onPartial();
      return out;
    }
  }
  await readAll(await server.listShares(si));
  return out;
}

type Verdict = { prefix: ReturnType<typeof parseSharePrefix>; versionKey: string } | string;

/** Checks what a prefix can show: structure, fingerprint, signature; all of it if whole. */
function examineShare(
  ctx: FileContext,
  bytes: Uint8Array,
  shareNumber: number,
  verifiedVersions: Set<string>,
): Verdict {
  try {
    const prefix = parseSharePrefix(bytes);
    const ed = ctx.keys.format === 'ed25519';
    if (prefix.version !== (ed ? ED25519_VERSION : SDMF_VERSION)) {
      return `share version ${prefix.version} is not ${ed ? 'Ed25519 (0xED)' : 'SDMF (0)'}, the format of the cap`;
    }
    if (shareNumber >= prefix.N || prefix.k < 1 || prefix.k > prefix.N) {
      return `share ${shareNumber} does not fit its header's k=${prefix.k}, N=${prefix.N}`;
    }
    if (!prefix.verificationKey || !prefix.signature) {
      return `the first ${bytes.length} bytes do not reach the end of the signature`;
    }
    const versionKey = toHex(prefix.signedPrefix);
    if (prefix.complete) {
      verifyShare(bytes, ctx.keys, shareNumber);
    } else if (!verifiedVersions.has(versionKey)) {
      // Ed25519 caps carry the verification key itself; SDMF caps its hash.
      const key = ed ? prefix.verificationKey : fingerprintFromPublicKey(prefix.verificationKey);
      if (!equalBytes(key, ctx.keys.fingerprint)) {
        return ed
          ? 'verification key is not the one in the cap'
          : 'verification key does not match the fingerprint of the cap';
      }
      const signed = ed
        ? verifyEd25519(prefix.verificationKey, prefix.signedPrefix, prefix.signature)
        : verifyPss(prefix.verificationKey, prefix.signedPrefix, prefix.signature);
      if (!signed) return 'signature does not verify';
    }
    verifiedVersions.add(versionKey);
    return { prefix, versionKey };
  } catch (err) {
    if (err instanceof ShareError) return `${err.field}: ${err.message}`;
    throw err;
  }
}

function encryptedKeyFrom(
  prefix: ReturnType<typeof parseSharePrefix>,
  tail: Uint8Array | undefined,
): Uint8Array | undefined {
  if (prefix.encryptedPrivateKey) return prefix.encryptedPrivateKey;
  const length = prefix.offsets.eof - prefix.offsets.encryptedPrivateKey;
  if (tail && length > 0 && length <= tail.length) return tail.subarray(tail.length - length);
  return undefined;
}

/** The PKCS#8 DER if `encrypted` decrypts to the key of this writekey, else undefined. */
export function checkPrivateKey(ctx: FileContext, encrypted: Uint8Array): Uint8Array | undefined {
  const writekey = ctx.keys.writekey;
  // Ed25519 shares carry no private key: the write cap is the key.
  if (!writekey || ctx.keys.format === 'ed25519') return undefined;
  const der = aesCtr(writekey, encrypted);
  return equalBytes(writekeyFromPrivateKey(der), writekey) ? der : undefined;
}

/**
 * Reads the key region of valid shares one server at a time until one checks out, the
 * preferred (home) server first.
 */
async function fetchPrivateKey(
  ctx: FileContext,
  result: MapUpdateResult,
  prefer?: StorageClient,
): Promise<void> {
  const records = [...result.map.records].sort(
    (a, b) => Number(b.server === prefer) - Number(a.server === prefer),
  );
  for (const r of records) {
    const { encryptedPrivateKey: start, eof } = r.prefix.offsets;
    try {
      const bytes = await r.server.readShare(
        ctx.keys.storageIndex,
        r.shareNumber,
        start,
        eof - start,
      );
      const der = bytes && checkPrivateKey(ctx, bytes);
      if (der && bytes) {
        result.privateKey = der;
        result.encryptedPrivateKey = bytes;
        return;
      }
    } catch {
      // try the next share
    }
  }
}
