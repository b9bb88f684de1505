// Tahoe's Merkle hash trees (tahoe-formats.md §1.5): flat breadth-first arrays,
// padded to a power of two with position-dependent empty leaves.
import { taggedHash, taggedPairHash } from './hash.js';
import { TAGS } from './derive.js';
import { equalBytes } from '../encoding/bytes.js';

// Empty leaves depend only on their position, and every publish pads its tree with them.
const emptyLeaves: Uint8Array[] = [];

/** The hash of the empty leaf at position i (a copy: the caller may keep or change it). */
export function emptyLeafHash(i: number): Uint8Array {
  if (i < 256) return (emptyLeaves[i] ??= taggedHash(TAGS.merkleEmptyLeaf, String(i))).slice();
  return taggedHash(TAGS.merkleEmptyLeaf, String(i));
}
export const interiorHash = (left: Uint8Array, right: Uint8Array) =>
  taggedPairHash(TAGS.merkleInterior, left, right);

/** Smallest power of two ≥ n (1 for n ≤ 1). */
export function leafRowSize(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The whole tree as a flat array: index 0 is the root, leaf j at P−1+j. */
export function buildTree(leaves: Uint8Array[]): Uint8Array[] {
  const p = leafRowSize(leaves.length);
  const nodes: Uint8Array[] = new Array(2 * p - 1);
  for (let j = 0; j < p; j++) nodes[p - 1 + j] = j < leaves.length ? leaves[j] : emptyLeafHash(j);
  for (let i = p - 2; i >= 0; i--) nodes[i] = interiorHash(nodes[2 * i + 1], nodes[2 * i + 2]);
  return nodes;
}

export const treeRoot = (leaves: Uint8Array[]) => buildTree(leaves)[0];

/** Node indexes of the hash chain ("needed hashes") for leaf j, in ascending order. */
export function chainIndexes(leafCount: number, leaf: number): number[] {
  const p = leafRowSize(leafCount);
  const out: number[] = [];
  for (let i = p - 1 + leaf; i !== 0; i = (i - 1) >> 1) out.push(i % 2 === 1 ? i + 1 : i - 1);
  return out.sort((a, b) => a - b);
}

/** The chain for leaf j as (node index, hash) pairs, ascending by index. */
export function hashChain(tree: Uint8Array[], leaf: number): Map<number, Uint8Array> {
  const p = (tree.length + 1) / 2;
  return new Map(chainIndexes(p, leaf).map((i) => [i, tree[i]]));
}

/**
 * Folds `leafHash` at position `leaf` upward with the chain and compares with `root`.
 * Returns false when a needed sibling is missing or the root differs.
 */
export function verifyChain(
  root: Uint8Array,
  leafCount: number,
  leaf: number,
  leafHash: Uint8Array,
  chain: Map<number, Uint8Array>,
): boolean {
  const p = leafRowSize(leafCount);
  if (leaf < 0 || leaf >= p) return false;
  let i = p - 1 + leaf;
  let current = leafHash;
  while (i !== 0) {
    const left = i % 2 === 1;
    const sibling = chain.get(left ? i + 1 : i - 1);
    if (!sibling) return false;
    current = left ? interiorHash(current, sibling) : interiorHash(sibling, current);
    i = (i - 1) >> 1;
  }
  return equalBytes(current, root);
}
