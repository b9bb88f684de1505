import test from 'ava';
import { KernelContents } from './kernel-contents.js';

test('an open keeps the pages only when the contents are the ones last opened there', (t) => {
  const k = new KernelContents();
  t.false(k.opened('/a', 'v1'), 'nothing cached yet');
  t.true(k.opened('/a', 'v1'));
  t.false(k.opened('/a', 'v2'), 'a newer version: the pages are dropped');
  t.true(k.opened('/a', 'v2'));
  t.false(k.opened('/a', undefined), 'contents not known: dropped');
  t.false(k.opened('/a', 'v2'), 'and forgotten');
});

test('a write through a node keeps that node, every other name of the contents is forgotten', (t) => {
  const k = new KernelContents();
  k.opened('/h1', 'v1');
  k.opened('/h2', 'v1'); // a hard link: its own node, its own pages
  k.changed('v1', 'local:1', '/h1');
  t.is(k.tokenOf('/h1'), 'local:1');
  t.is(k.tokenOf('/h2'), undefined);
  t.true(k.opened('/h1', 'local:1'));
  t.false(k.opened('/h2', 'local:1'), "h2's pages are of v1");
});

test('a write through a node that held other contents forgets it', (t) => {
  const k = new KernelContents();
  k.opened('/a', 'v1');
  k.changed('v2', 'local:1', '/a'); // /a's pages are of v1, the file was at v2
  t.is(k.tokenOf('/a'), undefined);
  t.false(k.opened('/a', 'local:1'));
});

test('contents loaded anew forget every path that held the old ones', (t) => {
  const k = new KernelContents();
  k.opened('/a', 'v1');
  k.opened('/b', 'v1');
  k.opened('/c', 'w1');
  k.changed('v1', 'v2');
  t.is(k.tokenOf('/a'), undefined);
  t.is(k.tokenOf('/b'), undefined);
  t.is(k.tokenOf('/c'), 'w1');
  t.is(k.size, 1);
});

test('a publish of exactly the cached bytes keeps every path that held them', (t) => {
  const k = new KernelContents();
  k.opened('/a', 'local:1');
  k.opened('/b', 'local:1');
  k.renamed('local:1', 'v5');
  t.true(k.opened('/a', 'v5'));
  t.true(k.opened('/b', 'v5'));
  t.false(k.opened('/b', 'local:1'), 'the old name is gone');
});

test('a renamed file keeps its pages under the new name; the replaced one is forgotten', (t) => {
  const k = new KernelContents();
  k.opened('/x', 'vx');
  k.opened('/y', 'vy');
  k.moved('/y', '/x', false);
  t.is(k.tokenOf('/y'), undefined);
  t.is(k.tokenOf('/x'), 'vy');
  t.false(k.opened('/x', 'vx'), "x's old pages left with its node");
});

test('a renamed folder moves the paths below it, and only those', (t) => {
  const k = new KernelContents();
  k.opened('/d/f', 'v1');
  k.opened('/d/e/g', 'v2');
  k.opened('/dd/f', 'v3');
  k.moved('/d', '/n', true);
  t.is(k.tokenOf('/n/f'), 'v1');
  t.is(k.tokenOf('/n/e/g'), 'v2');
  t.is(k.tokenOf('/d/f'), undefined);
  t.is(k.tokenOf('/dd/f'), 'v3', 'a sibling sharing the prefix stays');
  k.moved('/dd/f', '/f', false);
  t.is(k.tokenOf('/f'), 'v3');
});

test('a removed name is forgotten', (t) => {
  const k = new KernelContents();
  k.opened('/a', 'v1');
  k.removed('/a');
  t.false(k.opened('/a', 'v1'), 'a new file at the name has a new node');
});

test('the least recently opened paths are forgotten past the bound', (t) => {
  const k = new KernelContents(3);
  for (const p of ['/1', '/2', '/3']) k.opened(p, `v${p}`);
  k.opened('/1', 'v/1'); // opened again: most recent
  k.opened('/4', 'v/4');
  t.is(k.size, 3);
  t.is(k.tokenOf('/2'), undefined);
  t.is(k.tokenOf('/1'), 'v/1');
  k.changed('v/2', 'x'); // the forgotten path left no trace in the index
  t.is(k.size, 3);
});
