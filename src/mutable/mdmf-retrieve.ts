// Reading an MDMF file or directory (Tahoe's other mutable format; slotfs writes SDMF only).
// Every server is asked for all its shares of the slot; each share is verified on its own
// (fingerprint, signature, hashes), and the newest version with k verified shares is
// decoded. A share that fails verification is reported to its server as corrupt; one in
// another format is not (that would be a false report).
import { toBase32 } from '../encoding/base32.js';
import type { StorageClient } from '../grid/storage-client.js';
import {
  decodeMdmf,
  isMdmfShare,
  MDMF_CHECKSTRING_SIZE,
  MdmfError,
  parseMdmfShare,
  verifyMdmfShare,
  type MdmfShare,
} from '../mdmf/index.js';
import { describeError, type FileContext } from './context.js';
import { UnrecoverableFileError, type ServerOutcome } from './errors.js';

/** Whole shares: the server clips the read to the share's length. */
const WHOLE_SHARE = 2 ** 31 - 1;

export interface MdmfRetrieveResult {
  plaintext: Uint8Array;
  seqnum: number;
  version: { seqnum: number; rootHash: Uint8Array };
  /** What a writer needs: every share seen (any version, verified or not) and the best's. */
  view: MdmfView;
}

export interface MdmfView {
  /** Server → share number → the share's first 41 bytes (its checkstring) as read. */
  held: Map<StorageClient, Map<number, Uint8Array>>;
  /** A verified share of the version returned (k, N, keys). */
  best: MdmfShare;
  /** Highest seqnum seen in any verified share. */
  highestSeqnum: number;
}

export async function retrieveMdmf(ctx: FileContext): Promise<MdmfRetrieveResult> {
  const si = ctx.keys.storageIndex;
  const outcomes = new Map<StorageClient, string[]>();
  const note = (s: StorageClient, what: string) =>
    outcomes.set(s, [...(outcomes.get(s) ?? []), what]);
  // versionKey → share number → share
  const versions = new Map<string, Map<number, MdmfShare>>();
  const held = new Map<StorageClient, Map<number, Uint8Array>>();

  await Promise.all(
    ctx.permuted.map(async (server) => {
      let numbers: number[];
      try {
        numbers = await server.listShares(si);
      } catch (err) {
        note(server, describeError(err));
        return;
      }
      if (numbers.length === 0) note(server, 'no shares');
      await Promise.all(
        numbers.map(async (n) => {
          let bytes: Uint8Array | null;
          try {
            bytes = await server.readShare(si, n, 0, WHOLE_SHARE);
          } catch (err) {
            note(server, `share ${n}: ${describeError(err)}`);
            return;
          }
          if (!bytes) return;
          const shares = held.get(server) ?? new Map<number, Uint8Array>();
          shares.set(n, bytes.slice(0, MDMF_CHECKSTRING_SIZE));
          held.set(server, shares);
          if (!isMdmfShare(bytes)) {
            note(server, `share ${n} is not MDMF (version ${bytes[0]})`);
            return;
          }
          try {
            const share = parseMdmfShare(bytes);
            verifyMdmfShare(share, ctx.keys.fingerprint, n);
            const v = versions.get(share.versionKey) ?? new Map<number, MdmfShare>();
            v.set(n, share);
            versions.set(share.versionKey, v);
            note(server, `share ${n} seqnum ${share.seqnum}`);
          } catch (err) {
            if (!(err instanceof MdmfError)) throw err;
            note(server, `bad share ${n}: ${err.message}`);
            await server.adviseCorrupt(si, n, err.message.slice(0, 1000)).catch(() => false);
          }
        }),
      );
    }),
  );

  const recoverable = [...versions.values()]
    .filter((v) => v.size >= [...v.values()][0].k)
    .sort((a, b) => [...b.values()][0].seqnum - [...a.values()][0].seqnum);
  const servers: ServerOutcome[] = ctx.permuted.map((s) => ({
    server: s.name,
    outcome: (outcomes.get(s) ?? ['not asked']).join(', '),
  }));
  const best = recoverable[0];
  if (!best) {
    throw new UnrecoverableFileError(
      toBase32(si),
      versions.size ? 'no MDMF version has k verified shares' : 'no server holds an MDMF share',
      servers,
    );
  }
  const first = [...best.values()][0];
  const readkey = ctx.keys.readkey;
  if (!readkey)
    throw new UnrecoverableFileError(toBase32(si), 'a verify cap cannot decrypt', servers);
  const highestSeqnum = Math.max(...[...versions.values()].map((v) => [...v.values()][0].seqnum));
  return {
    plaintext: decodeMdmf(best, readkey),
    seqnum: first.seqnum,
    version: { seqnum: first.seqnum, rootHash: first.rootHash.slice() },
    view: { held, best: first, highestSeqnum },
  };
}
