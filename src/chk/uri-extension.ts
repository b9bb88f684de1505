// The URI extension block (UEB, Tahoe's uri.py pack_extension): `key:<netstring value>`
// repeated, keys sorted. It carries the encoding parameters and the roots of the share and
// crypttext hash trees; the cap holds its hash, so it authenticates everything else.
import type { ImmutableCap, ImmutableVerifyCap } from '../caps/types.js';
import { taggedHash } from '../crypto/hash.js';
import { equalBytes, fromUtf8 } from '../encoding/bytes.js';
import { ChkError } from './errors.js';

const UEB_TAG = 'allmydata_uri_extension_v1';

export interface UriExtension {
  codecName: string;
  segmentSize: number;
  numSegments: number;
  needed: number;
  total: number;
  size: number;
  /** Bytes of the last segment, padded up to a multiple of k (from tail_codec_params). */
  tailSegmentSize: number;
  shareRootHash: Uint8Array;
  crypttextRootHash: Uint8Array;
  /** Flat hash of the whole ciphertext (optional in old files). */
  crypttextHash?: Uint8Array;
}

/** Splits the packed block into its raw fields. */
export function unpackUriExtension(bytes: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let at = 0;
  const bad = (why: string) =>
    new ChkError('ERR_CHK_URI_EXTENSION', `URI extension block: ${why} at byte ${at}`);
  while (at < bytes.length) {
    const colon = bytes.indexOf(0x3a, at);
    if (colon < 0) throw bad('a key without ":"');
    const key = fromUtf8(bytes.subarray(at, colon));
    const lenEnd = bytes.indexOf(0x3a, colon + 1);
    if (lenEnd < 0) throw bad(`no length for ${key}`);
    const lenText = fromUtf8(bytes.subarray(colon + 1, lenEnd));
    if (!/^\d{1,9}$/.test(lenText)) throw bad(`a bad length for ${key}`);
    const start = lenEnd + 1;
    const end = start + Number(lenText);
    if (end + 1 > bytes.length) throw bad(`${key} runs past the end`);
    if (bytes[end] !== 0x2c) throw bad(`${key} is not followed by ","`);
    if (out.has(key)) throw bad(`${key} twice`);
    out.set(key, bytes.slice(start, end));
    at = end + 1;
  }
  return out;
}

function params(text: string, what: string): [number, number, number] {
  const m = /^(\d+)-(\d+)-(\d+)$/.exec(text);
  if (!m)
    throw new ChkError(
      'ERR_CHK_URI_EXTENSION',
      `${what} ${JSON.stringify(text)} is not segsize-k-N`,
    );
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/**
 * Checks the block against the cap (hash, k, N, size) and reads the fields a download
 * needs. Throws ChkError ERR_CHK_URI_EXTENSION on any mismatch.
 */
export function parseUriExtension(
  bytes: Uint8Array,
  cap: ImmutableCap | ImmutableVerifyCap,
): UriExtension {
  if (!equalBytes(taggedHash(UEB_TAG, bytes), cap.uriExtensionHash)) {
    throw new ChkError('ERR_CHK_URI_EXTENSION', 'the URI extension block does not match the cap');
  }
  const f = unpackUriExtension(bytes);
  const text = (k: string) => {
    const v = f.get(k);
    if (!v) throw new ChkError('ERR_CHK_URI_EXTENSION', `URI extension block lacks ${k}`);
    return fromUtf8(v);
  };
  const num = (k: string) => {
    const t = text(k);
    if (!/^\d+$/.test(t)) throw new ChkError('ERR_CHK_URI_EXTENSION', `${k} is not a number`);
    return Number(t);
  };
  const hash = (k: string) => {
    const v = f.get(k);
    if (!v || v.length !== 32)
      throw new ChkError('ERR_CHK_URI_EXTENSION', `${k} is not a 32-byte hash`);
    return v;
  };
  const [segmentSize, k, n] = params(text('codec_params'), 'codec_params');
  const [tailSegmentSize, tk, tn] = params(text('tail_codec_params'), 'tail_codec_params');
  const ueb: UriExtension = {
    codecName: text('codec_name'),
    segmentSize: num('segment_size'),
    numSegments: num('num_segments'),
    needed: num('needed_shares'),
    total: num('total_shares'),
    size: num('size'),
    tailSegmentSize,
    shareRootHash: hash('share_root_hash'),
    crypttextRootHash: hash('crypttext_root_hash'),
    crypttextHash: f.has('crypttext_hash') ? hash('crypttext_hash') : undefined,
  };
  const problems: string[] = [];
  if (ueb.codecName !== 'crs') problems.push(`codec ${ueb.codecName} (only crs exists)`);
  if (segmentSize !== ueb.segmentSize) problems.push('codec_params disagree with segment_size');
  if (k !== ueb.needed || tk !== k || n !== ueb.total || tn !== n)
    problems.push('codec params disagree with needed/total shares');
  if (ueb.needed !== cap.needed || ueb.total !== cap.total)
    problems.push('k/N differ from the cap');
  if (ueb.size !== cap.size) problems.push(`size ${ueb.size} differs from the cap's ${cap.size}`);
  if (ueb.segmentSize < 1 || ueb.segmentSize % k !== 0) problems.push('segment size');
  if (ueb.numSegments !== Math.ceil(ueb.size / ueb.segmentSize)) problems.push('segment count');
  const tailData = ueb.size - (ueb.numSegments - 1) * ueb.segmentSize;
  if (tailSegmentSize !== Math.ceil(tailData / k) * k) problems.push('tail segment size');
  if (problems.length > 0) {
    throw new ChkError('ERR_CHK_URI_EXTENSION', `URI extension block: ${problems.join('; ')}`);
  }
  return ueb;
}
