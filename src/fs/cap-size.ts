// The size an immutable or literal cap states (URI:CHK:…:size, URI:LIT:<data>): exact and
// fixed, so the mount takes it from the cap, never from directory metadata.
import { parseCap } from '../caps/index.js';

const sizes = new Map<string, number | undefined>();

/** Bytes of the file a CHK or LIT cap names; undefined for any other cap. */
export function sizeFromCap(cap: string): number | undefined {
  if (sizes.has(cap)) return sizes.get(cap);
  let size: number | undefined;
  try {
    const parsed = parseCap(cap);
    if (parsed.kind === 'immutable') size = parsed.size;
    else if (parsed.kind === 'literal') size = parsed.data.length;
  } catch {
    size = undefined;
  }
  if (sizes.size > 10000) sizes.clear();
  sizes.set(cap, size);
  return size;
}

/** The size stat shows of a file with no contents loaded: its cap's, else its entry's. */
export function entrySize(child: { roCap: string; metadata: { size?: unknown } }): number {
  const size = child.metadata.size;
  return sizeFromCap(child.roCap) ?? (typeof size === 'number' ? size : 0);
}
