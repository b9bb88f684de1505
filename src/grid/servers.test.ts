import test from 'ava';
import { fromBase32, toBase32 } from '../encoding/base32.js';
import { utf8 } from '../encoding/bytes.js';
import {
  formatServersYaml,
  parseServersYaml,
  permutationKey,
  permutedServers,
  ServersFileError,
  type ServerEntry,
} from './servers.js';

const NURL = 'pb://ZXhhbXBsZXNwa2loYXNoZXhhbXBsZXNwa2loYXNoMDA@127.0.0.1:4000/c3dpc3M#v=1';

function server(i: number, seed?: Uint8Array): ServerEntry {
  const id = new Uint8Array(20).fill(i);
  return { id, name: `server-${i}`, nurl: NURL, permutationSeed: seed ?? id };
}

test('permutation key matches the §1.6 known answer', (t) => {
  const seed = fromBase32('u33m4y7klhz3bypswqkozwetvabelhxt');
  t.is(toBase32(permutationKey(utf8('SI'), seed)), 'kb4354zeeurpo3ze5e275wzbynm6hlap');
});

test('permuted list is sorted by SHA-1(SI ‖ seed) and differs per storage index', (t) => {
  const servers = Array.from({ length: 10 }, (_, i) => server(i));
  const si1 = new Uint8Array(16).fill(1);
  const si2 = new Uint8Array(16).fill(2);
  const order1 = permutedServers(servers, si1);
  const keys = order1.map((s) => Buffer.from(permutationKey(si1, s.permutationSeed)));
  for (let i = 1; i < keys.length; i++) t.true(Buffer.compare(keys[i - 1], keys[i]) < 0);
  t.is(order1.length, 10);
  const order2 = permutedServers(servers, si2);
  t.notDeepEqual(
    order1.map((s) => s.name),
    order2.map((s) => s.name),
  );
  // the input order does not matter
  t.deepEqual(
    permutedServers([...servers].reverse(), si1).map((s) => s.name),
    order1.map((s) => s.name),
  );
});

test('the KAT seed lands where its key says among other servers', (t) => {
  const kat = server(99, fromBase32('u33m4y7klhz3bypswqkozwetvabelhxt'));
  const others = [server(1), server(2), server(3)];
  const si = utf8('SI');
  const order = permutedServers([...others, kat], si);
  const katKey = Buffer.from(fromBase32('kb4354zeeurpo3ze5e275wzbynm6hlap'));
  const before = others.filter(
    (s) => Buffer.compare(Buffer.from(permutationKey(si, s.permutationSeed)), katKey) < 0,
  ).length;
  t.is(order.indexOf(kat), before);
});

test('preferred servers come first, each group in permuted order', (t) => {
  const servers = Array.from({ length: 6 }, (_, i) => server(i));
  const si = new Uint8Array(16).fill(7);
  const plain = permutedServers(servers, si);
  const last = plain[plain.length - 1];
  const withPref = permutedServers(servers, si, new Set([toBase32(last.id)]));
  t.is(withPref[0], last);
  t.deepEqual(withPref.slice(1), plain.slice(0, -1));
});

test('servers.yaml round-trips, seeds default to the node id', (t) => {
  const seeded = server(5, new Uint8Array(32).fill(9));
  const list = [server(1), seeded];
  const text = formatServersYaml(list);
  t.false(text.includes(`permutation-seed: ${toBase32(server(1).id)}`));
  const back = parseServersYaml(text);
  t.deepEqual(back, list);
});

test('servers.yaml errors are typed and say what is wrong', (t) => {
  const id = toBase32(new Uint8Array(20).fill(1));
  const cases: Array<[string, RegExp]> = [
    ['servers: [', /not valid YAML/],
    ['hello: 1', /top-level `servers:`/],
    [`servers: {}`, /lists no servers/],
    [`servers:\n  abc:\n    nurl: ${NURL}\n`, /not base32/],
    [`servers:\n  aaaaaaaa:\n    nurl: ${NURL}\n`, /20 bytes/],
    [`servers:\n  ${id}:\n    nurl: http://x\n`, /not an HTTP storage NURL/],
    [`servers:\n  ${id}:\n    nurl: ${NURL}\n    colour: red\n`, /unknown key/],
    [`servers:\n  ${id}:\n    nurl: ${NURL}\n    permutation-seed: 12\n`, /permutation-seed/],
    [`servers:\n  ${id}:\n    nurl: ${NURL}\nextra: 1\n`, /unknown top-level/],
  ];
  for (const [text, message] of cases) {
    const err = t.throws(() => parseServersYaml(text, 'x.yaml'), { instanceOf: ServersFileError });
    t.is(err?.code, 'ERR_SERVERS_FILE');
    t.regex(err?.message ?? '', message, text);
    t.true(err?.message.startsWith('x.yaml: '));
  }
});
