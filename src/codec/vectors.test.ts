// Known answers made by zfec itself (vectors/zfec.json, see vectors/README.md), checked
// with every backend available in this build.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fromHex, toHex } from '../encoding/bytes.js';
import { codecWith, nativeUnavailableReason, type BackendName } from './index.js';

interface ZfecCase {
  k: number;
  m: number;
  blockLength: number;
  inputHex: string[];
  sharesHex: string[];
  decode: { shareNumbers: number[] }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('./vectors/zfec.json', import.meta.url), 'utf8'),
) as { cases: ZfecCase[] };

const backends: BackendName[] = ['typescript', 'native'];

test('the vector file has the cases we rely on', (t) => {
  t.true(vectors.cases.length >= 30);
  t.true(vectors.cases.some((c) => c.m === 256));
  t.true(vectors.cases.some((c) => c.k === 1 && c.m > 1));
});

for (const backend of backends) {
  const title = `${backend}: every zfec vector — shares and decode cases`;
  if (backend === 'native' && nativeUnavailableReason) {
    test.skip(`${title} (skipped: ${nativeUnavailableReason})`, () => {});
    continue;
  }
  test(title, (t) => {
    const codec = codecWith(backend);
    for (const c of vectors.cases) {
      const where = `k=${c.k} m=${c.m} blockLength=${c.blockLength}`;
      const blocks = c.inputHex.map(fromHex);
      t.is(blocks.length, c.k, where);
      const shares = codec.encode(c.k, c.m, blocks);
      t.deepEqual(shares.map(toHex), c.sharesHex, where);
      // zfec's systematic property: the first k shares are the inputs.
      t.deepEqual(shares.slice(0, c.k).map(toHex), c.inputHex, where);
      for (const d of c.decode) {
        const given = d.shareNumbers.map((n) => fromHex(c.sharesHex[n]));
        const decoded = codec.decode(c.k, c.m, given, d.shareNumbers);
        t.deepEqual(decoded.map(toHex), c.inputHex, `${where} from ${d.shareNumbers.join(',')}`);
      }
    }
  });
}
