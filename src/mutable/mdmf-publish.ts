// Writing a new version of an MDMF file or directory over the one a retrieve saw: the same
// key, k and N, seqnum one above the highest seen, each share written where that share
// number sits now (missing numbers on servers holding none), each write tested against
// what the share held when read — so a change by another writer makes the test fail
// (UncoordinatedWriteError) instead of being overwritten.
import { aesCtr } from '../crypto/aes.js';
import { writekeyFromPrivateKey } from '../crypto/derive.js';
import { equalBytes, toHex } from '../encoding/bytes.js';
import type { StorageClient, TestWriteVectors } from '../grid/storage-client.js';
import { buildMdmfShares, MDMF_CHECKSTRING_SIZE } from '../mdmf/index.js';
import { describeError, slotSecrets, type FileContext } from './context.js';
import {
  NotEnoughServersError,
  PrivateKeyUnavailableError,
  UncoordinatedWriteError,
  type CollidingVersion,
} from './errors.js';
import type { MdmfView } from './mdmf-retrieve.js';

const ABSENT = new Uint8Array(0);

export interface MdmfPublishResult {
  seqnum: number;
  rootHash: Uint8Array;
}

export async function publishMdmf(
  ctx: FileContext,
  plaintext: Uint8Array,
  view: MdmfView,
): Promise<MdmfPublishResult> {
  const { best } = view;
  const writekey = ctx.keys.writekey;
  if (!writekey) throw new Error('publishing MDMF needs the writekey');
  const privateKeyDer = aesCtr(writekey, best.encryptedPrivateKey);
  if (!equalBytes(writekeyFromPrivateKey(privateKeyDer), writekey)) {
    throw new PrivateKeyUnavailableError(
      ctx.siText,
      'the encrypted private key in the MDMF shares does not belong to this write cap',
    );
  }
  const version = buildMdmfShares({
    plaintext,
    privateKeyDer,
    publicKeyDer: best.verificationKey,
    encryptedPrivateKey: best.encryptedPrivateKey,
    readkey: ctx.keys.readkey!,
    seqnum: view.highestSeqnum + 1,
    k: best.k,
    N: best.N,
  });

  // Share number → servers holding it now; missing numbers go to servers holding none.
  const plan = new Map<StorageClient, Map<number, TestWriteVectors>>();
  const add = (server: StorageClient, n: number, old: Uint8Array) => {
    const vectors = plan.get(server) ?? new Map<number, TestWriteVectors>();
    vectors.set(n, {
      test: old.length
        ? [{ offset: 0, size: MDMF_CHECKSTRING_SIZE, specimen: old }]
        : [{ offset: 0, size: 1, specimen: ABSENT }],
      write: [{ offset: 0, data: version.shares[n] }],
      newLength: version.shares[n].length,
    });
    plan.set(server, vectors);
  };
  const placed = new Set<number>();
  for (const [server, shares] of view.held) {
    for (const [n, checkstring] of shares) {
      if (n >= best.N) continue;
      add(server, n, checkstring);
      placed.add(n);
    }
  }
  const empty = ctx.permuted.filter((s) => !view.held.get(s)?.size);
  let next = 0;
  for (let n = 0; n < best.N; n++) {
    if (placed.has(n)) continue;
    const server = empty.length
      ? empty[next++ % empty.length]
      : ctx.permuted[n % ctx.permuted.length];
    add(server, n, ABSENT);
  }

  const collisions: CollidingVersion[] = [];
  const failures: Array<{ server: string; outcome: string }> = [];
  const written = new Set<number>();
  await Promise.all(
    [...plan].map(async ([server, vectors]) => {
      try {
        const answer = await server.readTestWrite(
          ctx.keys.storageIndex,
          slotSecrets(ctx, server),
          vectors,
          [{ offset: 0, size: MDMF_CHECKSTRING_SIZE }],
        );
        if (answer.success) {
          for (const n of vectors.keys()) written.add(n);
          return;
        }
        for (const [n, [now = ABSENT]] of answer.data) {
          if (!vectors.has(n)) continue;
          collisions.push({
            server: server.name,
            shareNumber: n,
            seqnum:
              now.length >= 9
                ? Number(new DataView(now.buffer, now.byteOffset).getBigUint64(1))
                : null,
            rootHashHex: now.length >= 41 ? toHex(now.subarray(9, 41)) : null,
          });
        }
      } catch (err) {
        failures.push({ server: server.name, outcome: describeError(err) });
      }
    }),
  );
  if (collisions.length > 0) {
    throw new UncoordinatedWriteError(ctx.siText, collisions, version.seqnum, version.rootHash);
  }
  if (written.size < best.k) {
    throw new NotEnoughServersError(
      `publishing MDMF ${ctx.siText}: only ${written.size} of ${best.N} shares were written, ${best.k} needed`,
      failures,
    );
  }
  return { seqnum: version.seqnum, rootHash: version.rootHash };
}
