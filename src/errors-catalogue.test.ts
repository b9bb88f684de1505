// The error catalogue (docs/errors.md) lists every code in the source, and every code is
// provoked — named — by at least one test.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { CATALOGUE, codesInSource, render, testText } from '../scripts/error-catalogue.js';

/**
 * Codes whose errors are provoked by tests that check the message or the errno rather
 * than the code. Listed so that no new code can arrive untested; shrink it, never grow it.
 */
const NAMED_BY_NO_TEST_YET = new Set<string>([]);

test('docs/errors.md lists exactly the codes in the source', async (t) => {
  const expected = render(await codesInSource());
  const actual = await readFile(CATALOGUE, 'utf8');
  t.is(actual, expected, 'run: node --import=tsx scripts/error-catalogue.ts');
});

test('every error code is named by at least one test', async (t) => {
  const tests = await testText();
  const codes = [...(await codesInSource()).keys()];
  const untested = codes.filter((code) => !tests.includes(code) && !NAMED_BY_NO_TEST_YET.has(code));
  t.deepEqual(untested, [], `codes no test names: ${untested.join(', ')}`);
  const nowTested = [...NAMED_BY_NO_TEST_YET].filter(
    (code) => tests.includes(code) || !codes.includes(code),
  );
  t.deepEqual(nowTested, [], 'take these off the list: they are tested now (or gone)');
});
