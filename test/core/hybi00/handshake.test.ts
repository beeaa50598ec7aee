import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, getRandomValues } from 'node:crypto';
import {
  buildHybi00ClientRequest,
  buildHybi00Response,
  challengeAnswer,
  checkHybi00Request,
  checkHybi00Response,
  generateHybi00Keys,
  isHybi00Request,
  parseKey,
} from '../../../src/core/hybi00/handshake.js';
import { InvalidArgumentError } from '../../../src/core/errors.js';

const latin1 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));

/** The example handshake of draft-hixie-76 / draft-ietf-hybi-thewebsocketprotocol-00, section 1.3. */
const DRAFT = { key1: '4 @1  46546xW%0l 1 5', key2: '12998 5 Y3 1  .P00', key3: '^n:ds[4U', answer: "8jKS'y:G*Co,Wxa-" };

function request(headers: Record<string, string | undefined> = {}) {
  const all: Record<string, string | undefined> = {
    host: 'example.com',
    connection: 'Upgrade',
    'sec-websocket-key2': DRAFT.key2,
    'sec-websocket-protocol': 'sample',
    upgrade: 'WebSocket',
    'sec-websocket-key1': DRAFT.key1,
    origin: 'http://example.com',
    ...headers,
  };
  const rawHeaders: string[] = [];
  for (const [k, v] of Object.entries(all)) if (v !== undefined) rawHeaders.push(k, v);
  return { method: 'GET', httpVersion: '1.1', headers: all, rawHeaders, target: '/demo' };
}

describe('hybi-00 section 1.3: the draft\'s example handshake', () => {
  it('key1, key2 and key3 give the 16-byte answer the draft prints', () => {
    const n1 = parseKey(DRAFT.key1);
    const n2 = parseKey(DRAFT.key2);
    // The draft: 4146546015 / 5 spaces and 1299853100 / 5 spaces.
    assert.equal(n1, 829_309_203);
    assert.equal(n2, 259_970_620);
    assert.equal(Buffer.from(challengeAnswer(n1 as number, n2 as number, latin1(DRAFT.key3))).toString('latin1'), DRAFT.answer);
  });

  it('the same answer as node:crypto\'s MD5 of the two numbers and key3', () => {
    const n1 = parseKey(DRAFT.key1) as number;
    const n2 = parseKey(DRAFT.key2) as number;
    const challenge = Buffer.alloc(16);
    challenge.writeUInt32BE(n1, 0);
    challenge.writeUInt32BE(n2, 4);
    challenge.write(DRAFT.key3, 8, 'latin1');
    assert.equal(Buffer.from(challengeAnswer(n1, n2, latin1(DRAFT.key3))).toString('hex'), createHash('md5').update(challenge).digest('hex'));
  });

  it('the draft\'s request passes the server checks, which keep the protocol and origin', () => {
    const check = checkHybi00Request(request());
    assert.equal(check.ok, true);
    if (!check.ok) return;
    assert.deepEqual(check.protocols, ['sample']);
    assert.equal(check.origin, 'http://example.com');
    assert.equal(check.host, 'example.com');
  });

  it('the draft\'s response head, byte for byte', () => {
    const head = buildHybi00Response({ origin: 'http://example.com', location: 'ws://example.com/demo', protocol: 'sample' });
    assert.equal(
      head,
      'HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Origin: http://example.com\r\nSec-WebSocket-Location: ws://example.com/demo\r\nSec-WebSocket-Protocol: sample\r\n\r\n',
    );
  });
});

describe('hybi-00 section 5.2: the key arithmetic, every violation refused', () => {
  it('divides the digits by the count of spaces', () => {
    assert.equal(parseKey('12 34'), 1234);
    assert.equal(parseKey('1 2 3 6'), 412);
    assert.equal(parseKey('2 0 0'), 100);
    assert.equal(parseKey('x9 9 9 y'), 333);
  });

  it('refuses a key with no spaces', () => assert.equal(parseKey('12345'), 'has no spaces'));
  it('refuses a key with no digits', () => assert.equal(parseKey('a b c'), 'has no digits'));
  it('refuses a division that is not exact', () => assert.match(String(parseKey('1 2 3')), /not a multiple/));
  it('refuses a number over 32 bits, however many spaces', () => assert.match(String(parseKey('4294967296' + ' '.repeat(4))), /32 bits/));
  it('refuses a long key before reading it', () => assert.match(String(parseKey(' 1'.repeat(200))), /longer/));
  it('accepts the largest 32-bit number', () => assert.equal(parseKey('4294967295 '), 4294967295));

  for (const [name, headers, pattern] of [
    ['Key1 without spaces', { 'sec-websocket-key1': '1234' }, /Key1 has no spaces/],
    ['Key2 not an exact division', { 'sec-websocket-key2': '1 2 3' }, /Key2 .*not a multiple/],
    ['Key1 overflowing 32 bits', { 'sec-websocket-key1': '99999999999 ' }, /Key1 .*32 bits/],
    ['no Key2', { 'sec-websocket-key2': undefined }, /Key1 and one Sec-WebSocket-Key2/],
    ['no Host', { host: undefined }, /Host/],
    ['Upgrade not naming WebSocket', { upgrade: 'h2c' }, /Upgrade/],
  ] as const) {
    it(`a request with ${name} gets a 400 that says why`, () => {
      const check = checkHybi00Request(request(headers));
      assert.equal(check.ok, false);
      if (check.ok) return;
      assert.equal(check.status, 400);
      assert.match(check.body, pattern);
    });
  }

  it('tells hybi-00 requests from RFC 6455 ones', () => {
    assert.equal(isHybi00Request(request().headers), true);
    assert.equal(isHybi00Request({ ...request().headers, 'sec-websocket-version': '13' }), false);
    assert.equal(isHybi00Request({ host: 'x', 'sec-websocket-key': 'k' }), false);
  });
});

describe('hybi-00 client side', () => {
  it('generated keys obey the draft and the expected answer is what a server computes', () => {
    for (let i = 0; i < 200; i++) {
      const keys = generateHybi00Keys((b) => getRandomValues(b));
      for (const key of [keys.key1, keys.key2]) {
        assert.notEqual(key[0], ' ');
        assert.notEqual(key[key.length - 1], ' ');
        assert.equal(typeof parseKey(key), 'number', key);
      }
      assert.deepEqual(challengeAnswer(parseKey(keys.key1) as number, parseKey(keys.key2) as number, keys.key3), keys.expected);
    }
  });

  it('key3 never starts or ends with NUL or whitespace, which servers that trim it as text would lose', () => {
    // A random source whose key3 is every byte value in turn (all eight bytes alike): the ends of
    // key3 must still come out untrimmable, and the expected answer must be the sent key3's.
    let value = 0;
    const source = (bytes: Uint8Array): Uint8Array => (bytes.length === 8 ? bytes.fill(value) : getRandomValues(bytes));
    const trimmable = new Set([0x00, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]);
    for (; value < 256; value++) {
      const keys = generateHybi00Keys(source);
      assert.equal(trimmable.has(keys.key3[0]), false, `key3 starts with 0x${keys.key3[0].toString(16)}`);
      assert.equal(trimmable.has(keys.key3[7]), false, `key3 ends with 0x${keys.key3[7].toString(16)}`);
      assert.deepEqual(challengeAnswer(parseKey(keys.key1) as number, parseKey(keys.key2) as number, keys.key3), keys.expected);
    }
  });

  it('the request names WebSocket, the keys and the origin, and refuses header injection', () => {
    const text = buildHybi00ClientRequest({ host: 'example.com', path: '/demo', origin: 'http://example.com', protocol: 'sample', key1: DRAFT.key1, key2: DRAFT.key2 });
    assert.match(text, /^GET \/demo HTTP\/1.1\r\n/);
    assert.match(text, /\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n/);
    assert.ok(text.endsWith('\r\n\r\n'));
    assert.throws(() => buildHybi00ClientRequest({ host: 'x', path: '/', origin: 'o\r\nX: y', key1: '1 ', key2: '1 ' }), InvalidArgumentError);
  });

  it('checks the response: origin, location, protocol and the answer', () => {
    const headers = {
      upgrade: 'WebSocket',
      connection: 'Upgrade',
      'sec-websocket-origin': 'http://example.com',
      'sec-websocket-location': 'ws://example.com/demo',
      'sec-websocket-protocol': 'sample',
    };
    const expected = latin1(DRAFT.answer);
    const expect = { origin: 'http://example.com', location: 'ws://example.com/demo', protocol: 'sample', expected };
    assert.equal(checkHybi00Response(101, headers, expected, expect), null);
    assert.match(String(checkHybi00Response(101, headers, latin1('x'.repeat(16)), expect)), /answer is wrong/);
    assert.match(String(checkHybi00Response(101, { ...headers, 'sec-websocket-origin': 'http://evil' }, expected, expect)), /Origin/);
    assert.match(String(checkHybi00Response(101, { ...headers, 'sec-websocket-location': 'ws://other/' }, expected, expect)), /Location/);
    assert.match(String(checkHybi00Response(101, { ...headers, 'sec-websocket-protocol': 'other' }, expected, expect)), /Protocol/);
  });
});
