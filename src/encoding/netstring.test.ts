import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { NetstringError, netstring, splitNetstrings } from './netstring.js';
import { concatBytes, fromUtf8, utf8 } from './bytes.js';

test('netstring of text, bytes and empty', (t) => {
  t.is(fromUtf8(netstring('hello')), '5:hello,');
  t.is(fromUtf8(netstring(utf8('hello world'))), '11:hello world,');
  t.is(fromUtf8(netstring('')), '0:,');
});

test('netstring lengths of several digits', (t) => {
  for (const n of [9, 10, 99, 100, 12345]) {
    const body = new Uint8Array(n).fill(0x61);
    t.deepEqual(netstring(body), concatBytes(utf8(`${n}:`), body, utf8(',')));
  }
});

test('netstring length counts bytes, not characters', (t) => {
  t.is(fromUtf8(netstring('é')), '2:é,');
});

testProp(
  'split(concat(netstrings)) gives back the parts',
  [fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 })],
  (t, parts) => {
    const joined = concatBytes(...parts.map((p) => netstring(p)));
    t.deepEqual(
      splitNetstrings(joined).map((p) => Array.from(p)),
      parts.map((p) => Array.from(p)),
    );
    t.is(splitNetstrings(joined, parts.length).length, parts.length);
  },
);

function refused(t: import('ava').ExecutionContext, text: string, expected?: number) {
  const err = t.throws(() => splitNetstrings(utf8(text), expected), {
    instanceOf: NetstringError,
  });
  t.is(err?.code, 'ERR_NETSTRING');
  return err as NetstringError;
}

test('missing colon', (t) => {
  const err = refused(t, '3:abc,5hello');
  t.is(err.offset, 6);
  t.regex(err.message, /malformed netstring length at byte 6/);
});

test('empty length', (t) => {
  t.is(refused(t, ':abc,').offset, 0);
});

test('overlong length field', (t) => {
  t.regex(refused(t, '1'.repeat(25) + ':x,').message, /malformed/);
});

test('non-digit in the length', (t) => {
  const err = refused(t, '1x:a,');
  t.is(err.offset, 1);
  t.regex(err.message, /non-digit/);
});

test('leading zero in the length', (t) => {
  t.regex(refused(t, '03:abc,').message, /leading zero/);
});

test('length longer than the data', (t) => {
  const err = refused(t, '2:ab,9:abc,');
  t.is(err.offset, 5);
  t.regex(err.message, /claims 9 bytes/);
  refused(t, '5:hello');
});

test('missing comma', (t) => {
  const err = refused(t, '3:abcX');
  t.is(err.offset, 5);
  t.regex(err.message, /not terminated/);
});

test('wrong count', (t) => {
  t.regex(refused(t, '1:a,1:b,', 3).message, /expected 3 netstrings, found 2/);
  t.is(splitNetstrings(utf8('1:a,1:b,'), 2).length, 2);
});

test('empty input is zero netstrings', (t) => {
  t.deepEqual(splitNetstrings(new Uint8Array(0)), []);
});
