import test from 'ava';
import {
  buildTree,
  chainIndexes,
  emptyLeafHash,
  hashChain,
  interiorHash,
  leafRowSize,
  treeRoot,
  verifyChain,
} from './merkle.js';
import { taggedHash, taggedPairHash } from './hash.js';
import { toBase32 } from '../encoding/base32.js';

const leafOf = (i: number) => taggedHash('test leaf', String(i));
const leavesOf = (n: number) => Array.from({ length: n }, (_, i) => leafOf(i));

// An independent statement of §1.5: the root of the padded row [lo, hi) by recursion on halves.
function referenceRoot(leaves: Uint8Array[]): Uint8Array {
  let p = 1;
  while (p < leaves.length) p *= 2;
  const at = (j: number) =>
    j < leaves.length ? leaves[j] : taggedHash('Merkle tree empty leaf', String(j));
  const rec = (lo: number, hi: number): Uint8Array =>
    hi - lo === 1
      ? at(lo)
      : taggedPairHash('Merkle tree internal node', rec(lo, (lo + hi) / 2), rec((lo + hi) / 2, hi));
  return rec(0, p);
}

test('§1.6 empty tree root = empty_leaf(0)', (t) => {
  t.is(toBase32(treeRoot([])), '4abeomayryw6kzfgs7gctb2apmsk47vwxcabsda2am32k5aokj5a');
  t.is(toBase32(emptyLeafHash(0)), '4abeomayryw6kzfgs7gctb2apmsk47vwxcabsda2am32k5aokj5a');
  t.is(buildTree([]).length, 1);
});

test('a one-leaf tree is just the leaf', (t) => {
  const tree = buildTree([leafOf(7)]);
  t.is(tree.length, 1);
  t.deepEqual(tree[0], leafOf(7));
  t.deepEqual(hashChain(tree, 0), new Map());
  t.true(verifyChain(leafOf(7), 1, 0, leafOf(7), new Map()));
  t.false(verifyChain(leafOf(7), 1, 0, leafOf(8), new Map()));
});

test('padding leaves depend on their position', (t) => {
  const tree = buildTree(leavesOf(5));
  t.deepEqual(tree[7 + 5], emptyLeafHash(5));
  t.deepEqual(tree[7 + 7], emptyLeafHash(7));
  t.notDeepEqual(emptyLeafHash(5), emptyLeafHash(7));
  t.deepEqual(tree[3], interiorHash(tree[7], tree[8]));
});

test('N=10 share 0 chain is nodes 2, 4, 8, 16 (§5.3)', (t) => {
  t.deepEqual(chainIndexes(10, 0), [2, 4, 8, 16]);
});

for (let n = 1; n <= 33; n++) {
  test(`tree of ${n} leaves: root, chains, verification`, (t) => {
    const leaves = leavesOf(n);
    const tree = buildTree(leaves);
    const p = leafRowSize(n);
    t.is(tree.length, 2 * p - 1);
    t.deepEqual(tree[0], referenceRoot(leaves));
    t.deepEqual(treeRoot(leaves), tree[0]);
    const depth = Math.log2(p);
    for (let j = 0; j < n; j++) {
      const chain = hashChain(tree, j);
      const indexes = [...chain.keys()];
      t.is(indexes.length, depth);
      t.deepEqual(indexes, chainIndexes(n, j));
      t.deepEqual(
        indexes,
        [...indexes].sort((a, b) => a - b),
      );
      t.false(indexes.includes(0));
      t.false(indexes.includes(p - 1 + j));
      t.true(verifyChain(tree[0], n, j, leaves[j], chain), `leaf ${j}`);
      // The wrong leaf, or the right leaf at another position, must fail.
      t.false(verifyChain(tree[0], n, j, leafOf(j + 1000), chain));
      if (n > 1) t.false(verifyChain(tree[0], n, (j + 1) % n, leaves[j], chain));
      // Every tampered or missing sibling must fail.
      for (const index of indexes) {
        const tampered = new Map(chain);
        const bad = chain.get(index)!.slice();
        bad[31] ^= 1;
        tampered.set(index, bad);
        t.false(verifyChain(tree[0], n, j, leaves[j], tampered), `sibling ${index}`);
        const missing = new Map(chain);
        missing.delete(index);
        t.false(verifyChain(tree[0], n, j, leaves[j], missing));
      }
    }
    t.false(verifyChain(tree[0], n, -1, leaves[0], hashChain(tree, 0)));
    t.false(verifyChain(tree[0], n, p, leaves[0], hashChain(tree, 0)));
  });
}

test('a tampered root fails', (t) => {
  const leaves = leavesOf(6);
  const tree = buildTree(leaves);
  const root = tree[0].slice();
  root[0] ^= 0x80;
  t.false(verifyChain(root, 6, 2, leaves[2], hashChain(tree, 2)));
});

test('empty leaf hashes are remembered, but each caller gets its own copy', (t) => {
  const first = emptyLeafHash(3);
  first.fill(0);
  t.notDeepEqual(emptyLeafHash(3), first);
  t.deepEqual(emptyLeafHash(3), taggedHash('Merkle tree empty leaf', '3'));
  t.deepEqual(emptyLeafHash(300), taggedHash('Merkle tree empty leaf', '300'));
});
