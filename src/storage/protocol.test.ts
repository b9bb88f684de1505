// The wire module: NURLs, SPKI hashes (Tahoe's vectors), and strict CBOR codecs.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { encode } from 'cbor2';
import { parse as parseYaml } from 'yaml';
import {
  authorizationHeaderValue,
  decodeCorruptionAdvice,
  decodeReadTestWriteRequest,
  decodeReadTestWriteResponse,
  decodeShareSet,
  decodeVersion,
  encodeCorruptionAdvice,
  encodeReadTestWriteRequest,
  encodeReadTestWriteResponse,
  encodeShareSet,
  encodeVersion,
  formatNurl,
  parseContentRange,
  parseNurl,
  parseStorageIndex,
  ProtocolError,
  rangeHeaderValue,
  secretHeaderValue,
  SLOTFS_EXTENSION_KEY,
  spkiHashFromCertificate,
  STORAGE_V1_KEY,
  storageIndexToString,
  type ReadTestWriteRequest,
} from './protocol.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const utf8 = (s: string) => new TextEncoder().encode(s);
const HASH = 'JIj6ezHkdSBlHhrnezAgIC_mrVQHy4KAFyL-8ZNPGPM';

test('NURLs: format and parse round trip, IPv6 and Tor forms', (t) => {
  const n = { spkiHash: HASH, host: '127.0.0.1', port: 4433, swissnum: 'abc2def' };
  const text = formatNurl(n);
  t.is(text, `pb://${HASH}@127.0.0.1:4433/abc2def#v=1`);
  t.deepEqual(parseNurl(text), { ...n, subscheme: undefined });
  const v6 = formatNurl({ ...n, host: '::1' });
  t.is(v6, `pb://${HASH}@[::1]:4433/abc2def#v=1`);
  t.is(parseNurl(v6).host, '::1');
  t.is(parseNurl(`pb+tor://${HASH}@abc.onion:80/s#v=1`).subscheme, 'tor');
});

test('NURLs: refused with ERR_NURL when not an HTTP storage NURL', (t) => {
  for (const bad of [
    `pb://${HASH}@127.0.0.1:4433/abc`, // Foolscap fURL (no #v=1)
    `pb://${HASH.slice(0, 38)}@127.0.0.1:4433/abc#v=1`, // url.rst's 38-char hash
    `pb://${HASH}@127.0.0.1:0/abc#v=1`,
    `pb://${HASH}@127.0.0.1:70000/abc#v=1`,
    `https://127.0.0.1:4433/abc`,
    '',
  ]) {
    const err = t.throws(() => parseNurl(bad), { instanceOf: ProtocolError });
    t.is(err?.code, 'ERR_NURL', bad);
  }
});

test("SPKI hash: Tahoe's known answers (RFC 7469 style, unpadded base64url)", (t) => {
  const doc = parseYaml(
    readFileSync(new URL('./vectors/tahoe-spki-hash-test-vectors.yaml', import.meta.url), 'utf8'),
  ) as { vector: { certificate: string; 'expected-hash': string }[] };
  t.true(doc.vector.length >= 3);
  for (const v of doc.vector) {
    t.is(spkiHashFromCertificate(v.certificate), v['expected-hash']);
    const der = Buffer.from(v.certificate.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    t.is(spkiHashFromCertificate(der), v['expected-hash'], 'DER input too');
  }
});

test('headers: Authorization is base64 of the swissnum; secrets are "<kind> <base64>"', (t) => {
  t.is(authorizationHeaderValue('abc'), 'Tahoe-LAFS YWJj');
  t.is(secretHeaderValue('write-enabler', new Uint8Array([0xff, 0, 1])), 'write-enabler /wAB');
  t.is(rangeHeaderValue(10, 5), 'bytes=10-14');
  t.deepEqual(parseContentRange('bytes 10-14/*'), { first: 10, last: 14 });
  t.is(parseContentRange('bytes 14-10/*'), undefined);
  t.is(parseContentRange('items 1-2/*'), undefined);
});

test('storage index text: exactly 26 lowercase base32 characters with zero trailing bits', (t) => {
  const si = new Uint8Array(16).fill(7);
  const text = storageIndexToString(si);
  t.is(text.length, 26);
  t.deepEqual(parseStorageIndex(text), si);
  t.is(parseStorageIndex(text.toUpperCase()), undefined);
  t.is(parseStorageIndex(text.slice(0, 25)), undefined);
  t.is(parseStorageIndex('aaaaaaaaaaaaaaaaaaaaaaaaab'), undefined, 'non-zero trailing bits');
  const error = t.throws(() => storageIndexToString(new Uint8Array(15)), {
    instanceOf: ProtocolError,
  });
  t.is(error?.code, 'ERR_PROTOCOL_STORAGE_INDEX');
});

test('version document: byte-string keys exactly as Tahoe; the extension only when given', (t) => {
  const base = {
    maximumImmutableShareSize: 0,
    maximumMutableShareSize: 1 << 20,
    availableSpace: 2 ** 40,
    applicationVersion: utf8('slotfs/0.1.0'),
  };
  const plain = encodeVersion(base);
  // Hand-built expected encoding: a 2-entry map of byte-string keys.
  const expected = encode(
    new Map<Uint8Array, unknown>([
      [
        utf8(STORAGE_V1_KEY),
        new Map<Uint8Array, unknown>([
          [utf8('maximum-immutable-share-size'), 0],
          [utf8('maximum-mutable-share-size'), 1 << 20],
          [utf8('available-space'), 2 ** 40],
        ]),
      ],
      [utf8('application-version'), utf8('slotfs/0.1.0')],
    ]),
  );
  t.is(hex(plain), hex(expected));
  t.is(plain[0], 0xa2, 'map of 2');
  t.is(plain[1] >> 5, 2, 'first key is a byte string (major type 2)');
  t.deepEqual(decodeVersion(plain), base);
  const ext = { readFromEnd: true, nodeId: new Uint8Array(20).fill(1), permutationSeed: utf8('s') };
  const withExt = encodeVersion({ ...base, slotfs: ext });
  t.is(withExt[0], 0xa3);
  t.deepEqual(decodeVersion(withExt).slotfs, ext);
  t.true(Buffer.from(withExt).includes(Buffer.from(SLOTFS_EXTENSION_KEY)));
});

test('version document: closed maps — text keys, extra or missing keys are refused', (t) => {
  const v1 = new Map<Uint8Array, unknown>([
    [utf8('maximum-immutable-share-size'), 1],
    [utf8('maximum-mutable-share-size'), 1],
    [utf8('available-space'), 1],
  ]);
  const bad = [
    new Map<unknown, unknown>([
      [STORAGE_V1_KEY, v1],
      ['application-version', utf8('x')],
    ]),
    new Map<unknown, unknown>([
      [utf8(STORAGE_V1_KEY), v1],
      [utf8('application-version'), utf8('x')],
      [utf8('surprise'), 1],
    ]),
    new Map<unknown, unknown>([[utf8(STORAGE_V1_KEY), v1]]),
    new Map<unknown, unknown>([
      [utf8(STORAGE_V1_KEY), v1],
      [utf8('application-version'), 'text, not bytes'],
    ]),
  ];
  for (const doc of bad) {
    const err = t.throws(() => decodeVersion(encode(doc)), { instanceOf: ProtocolError });
    t.is(err?.code, 'ERR_PROTOCOL_SCHEMA');
  }
});

const sampleRequest: ReadTestWriteRequest = {
  testWriteVectors: new Map([
    [
      3,
      {
        test: [{ offset: 0, size: 1, specimen: new Uint8Array() }],
        write: [{ offset: 0, data: utf8('share bytes') }],
        newLength: null,
      },
    ],
    [0, { test: [], write: [], newLength: 0 }],
  ]),
  readVector: [{ offset: 0, size: 57 }],
};

test('read-test-write request: round trip, uint share-number keys, byte strings', (t) => {
  const bytes = encodeReadTestWriteRequest(sampleRequest);
  t.deepEqual(decodeReadTestWriteRequest(bytes), sampleRequest);
  // Buffers (a Uint8Array subclass cbor2 would encode as a map) become byte strings.
  const viaBuffer = encodeReadTestWriteRequest({
    testWriteVectors: new Map([
      [1, { test: [], write: [{ offset: 0, data: Buffer.from('ab') }], newLength: 5 }],
    ]),
    readVector: [],
  });
  t.deepEqual(
    decodeReadTestWriteRequest(viaBuffer).testWriteVectors.get(1)!.write[0].data,
    utf8('ab'),
  );
  t.true(Buffer.from(viaBuffer).includes(Buffer.from([0x42, 0x61, 0x62])), 'bstr "ab"');
});

function rtwVariant(mutate: (m: Map<string, unknown>) => void) {
  const tw = new Map<unknown, unknown>([
    [
      3,
      new Map<string, unknown>([
        ['test', []],
        [
          'write',
          [
            new Map<string, unknown>([
              ['offset', 0],
              ['data', utf8('x')],
            ]),
          ],
        ],
        ['new-length', null],
      ]),
    ],
  ]);
  const top = new Map<string, unknown>([
    ['test-write-vectors', tw],
    [
      'read-vector',
      [
        new Map<string, unknown>([
          ['offset', 0],
          ['size', 1],
        ]),
      ],
    ],
  ]);
  mutate(top);
  return encode(top);
}

test('read-test-write request: CDDL violations are ProtocolErrors (→ 400)', (t) => {
  const twOf = (m: Map<string, unknown>) => m.get('test-write-vectors') as Map<unknown, unknown>;
  const share3 = (m: Map<string, unknown>) => twOf(m).get(3) as Map<string, unknown>;
  const cases: [string, (m: Map<string, unknown>) => void, RegExp][] = [
    ['extra top-level key', (m) => m.set('extra', 1), /unexpected key "extra"/],
    ['missing read-vector', (m) => m.delete('read-vector'), /missing key "read-vector"/],
    ['extra key in share entry', (m) => share3(m).set('op', 'eq'), /unexpected key "op"/],
    ['missing new-length', (m) => share3(m).delete('new-length'), /missing key "new-length"/],
    ['text share number', (m) => twOf(m).set('4', twOf(m).get(3)), /unsigned integer/],
    [
      'negative offset',
      (m) =>
        m.set('read-vector', [
          new Map([
            ['offset', -1],
            ['size', 1],
          ]),
        ]),
      /unsigned/,
    ],
    [
      'text data',
      (m) =>
        share3(m).set('write', [
          new Map<string, unknown>([
            ['offset', 0],
            ['data', 'x'],
          ]),
        ]),
      /byte string/,
    ],
    [
      'float size',
      (m) =>
        m.set('read-vector', [
          new Map([
            ['offset', 0],
            ['size', 1.5],
          ]),
        ]),
      /malformed CBOR|integer/,
    ],
    [
      '31 read vectors',
      (m) =>
        m.set(
          'read-vector',
          Array(31).fill(
            new Map([
              ['offset', 0],
              ['size', 1],
            ]),
          ),
        ),
      /at most 30/,
    ],
    ['new-length text', (m) => share3(m).set('new-length', 'x'), /unsigned integer/],
    ['not a map', (m) => m.set('test-write-vectors', []), /expected a map/],
  ];
  for (const [name, mutate, re] of cases) {
    const err = t.throws(() => decodeReadTestWriteRequest(rtwVariant(mutate)), {
      instanceOf: ProtocolError,
    });
    t.regex(err!.message, re, name);
  }
  // 257 shares exceeds 0*256.
  const many = rtwVariant((m) => {
    const tw = twOf(m);
    for (let i = 0; i < 257; i++) tw.set(i, tw.get(3));
  });
  t.throws(() => decodeReadTestWriteRequest(many), { message: /at most 256 shares/ });
  // Malformed CBOR: truncated input, trailing bytes, duplicate keys.
  for (const bytes of [
    new Uint8Array([0xa2, 0x01]),
    new Uint8Array([0x01, 0x02]),
    new Uint8Array([0xa2, 1, 1, 1, 2]),
  ]) {
    const err = t.throws(() => decodeReadTestWriteRequest(bytes), { instanceOf: ProtocolError });
    t.is(err?.code, 'ERR_PROTOCOL_CBOR');
  }
});

test('read-from-end: negative read offsets only when the extension is allowed', (t) => {
  const bytes = rtwVariant((m) =>
    m.set('read-vector', [
      new Map([
        ['offset', -1300],
        ['size', 1300],
      ]),
    ]),
  );
  t.throws(() => decodeReadTestWriteRequest(bytes), { instanceOf: ProtocolError });
  t.deepEqual(decodeReadTestWriteRequest(bytes, { allowReadFromEnd: true }).readVector, [
    { offset: -1300, size: 1300 },
  ]);
  // Test and write offsets stay unsigned even with the extension.
  const neg = rtwVariant((m) =>
    (m.get('test-write-vectors') as Map<unknown, Map<string, unknown>>).get(3)!.set('write', [
      new Map<string, unknown>([
        ['offset', -1],
        ['data', utf8('x')],
      ]),
    ]),
  );
  t.throws(() => decodeReadTestWriteRequest(neg, { allowReadFromEnd: true }), {
    message: /unsigned/,
  });
});

test('read-test-write response, share sets (tag 258) and corruption advice', (t) => {
  const res = { success: true, data: new Map([[1, [utf8('a'), new Uint8Array()]]]) };
  const bytes = encodeReadTestWriteResponse(res);
  t.deepEqual(decodeReadTestWriteResponse(bytes), res);
  t.deepEqual(
    decodeReadTestWriteResponse(encodeReadTestWriteResponse({ success: false, data: new Map() })),
    {
      success: false,
      data: new Map(),
    },
  );
  t.throws(
    () =>
      decodeReadTestWriteResponse(
        encode(
          new Map<string, unknown>([
            ['success', 1],
            ['data', new Map()],
          ]),
        ),
      ),
    {
      message: /bool/,
    },
  );

  const set = encodeShareSet([3, 0, 7]);
  t.is(hex(set), 'd90102' + '83' + '00' + '03' + '07', 'tag 258 around a sorted array');
  t.deepEqual(decodeShareSet(set), [0, 3, 7]);
  t.deepEqual(decodeShareSet(encodeShareSet([])), []);
  t.throws(() => decodeShareSet(encode([1, 2])), { message: /tag 258/ });

  t.is(decodeCorruptionAdvice(encodeCorruptionAdvice('bad hash')), 'bad hash');
  t.throws(() => decodeCorruptionAdvice(encodeCorruptionAdvice('')), { message: /1\.\.32765/ });
  t.throws(() => decodeCorruptionAdvice(encodeCorruptionAdvice('x'.repeat(32766))), {
    message: /1\.\.32765/,
  });
  t.throws(() => decodeCorruptionAdvice(encode(new Map([['reason', utf8('x')]]))), {
    message: /text string/,
  });
});
