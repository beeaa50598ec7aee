import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import fc from 'fast-check';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import {
  buildClientRequest,
  buildRefusalResponse,
  buildUpgradeResponse,
  checkServerResponse,
  checkUpgradeRequest,
  computeAcceptKey,
  generateKey,
  isValidKey,
  reasonPhrase,
  WEBSOCKET_GUID,
  type HeaderMap,
  type RequestCheck,
  type UpgradeRequest,
} from '../../src/core/handshake.js';
import { buildH2ConnectRequest, checkH2ConnectResponse } from '../../src/core/handshake-h2.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { HttpHeadParser } from '../../src/core/http-head.js';
import { decodeBase64 } from '../../src/core/base64.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function request(overrides: Partial<UpgradeRequest> & { extra?: Record<string, string | string[] | undefined> } = {}): UpgradeRequest {
  const headers: Record<string, string | string[] | undefined> = {
    host: 'example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
    ...overrides.extra,
  };
  for (const k of Object.keys(headers)) if (headers[k] === undefined) delete headers[k];
  return { method: 'GET', httpVersion: '1.1', headers, ...overrides };
}

function refused(check: RequestCheck): { status: number; headers: Record<string, string>; body: string } {
  assert.equal(check.ok, false, 'expected a refusal');
  if (check.ok) throw new Error('unreachable');
  return check;
}

function response(overrides: Record<string, string | string[] | undefined> = {}): HeaderMap {
  const headers: Record<string, string | string[] | undefined> = {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-accept': ACCEPT,
    ...overrides,
  };
  for (const k of Object.keys(headers)) if (headers[k] === undefined) delete headers[k];
  return headers;
}

const expectation = { key: KEY, protocols: ['chat', 'superchat'], extensionNames: ['permessage-deflate'] };

function reasonOf(check: ReturnType<typeof checkServerResponse>): string {
  assert.equal(check.ok, false, 'expected the response to be refused');
  return check.ok ? '' : check.reason;
}

describe('RFC 6455 section 4.2.2: Sec-WebSocket-Accept', () => {
  it('computes the sample accept value of section 1.3', () => {
    assert.equal(computeAcceptKey(KEY), ACCEPT);
  });

  it('agrees with node:crypto for random keys', () => {
    for (let i = 0; i < 50; i++) {
      const key = generateKey();
      const expected = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
      assert.equal(computeAcceptKey(key), expected);
    }
  });

  it('agrees with node:crypto for any string, of any length and not only ASCII (the UTF-8 bytes are hashed)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ minLength: 24, maxLength: 24 }), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 30 })), (key) => {
        const expected = createHash('sha1').update(key + WEBSOCKET_GUID, 'utf8').digest('base64');
        assert.equal(computeAcceptKey(key), expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('RFC 6455 section 4.1: Sec-WebSocket-Key', () => {
  it('generates base64 of 16 random bytes, different every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const key = generateKey();
      assert.equal(Buffer.from(key, 'base64').length, 16);
      assert.equal(isValidKey(key), true);
      seen.add(key);
    }
    assert.equal(seen.size, 100);
  });

  it('validates keys (section 4.2.1 item 5)', () => {
    assert.equal(isValidKey(KEY), true);
    for (const bad of ['', 'dGhlIHNhbXBsZSBub25jZQ', 'dGhlIHNhbXBsZSBub25jZQ=', 'dGhlIHNhbXBsZSBub25jZQ===', 'dGhlIHNhbXBsZSBub25jZXh4', 'dGhlIHNhbXBsZSBub25jZ!==', ' dGhlIHNhbXBsZSBub25jZQ==', 'aGVsbG8=', 'dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==']) {
      assert.equal(isValidKey(bad), false, bad);
    }
  });

  it('accepts exactly the strings that are base64 of 16 bytes', () => {
    const chars = fc.constantFrom(...'ABQgwz09+/=-_ !\u00e9'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.array(chars, { minLength: 22, maxLength: 26 }).map((a) => a.join('')), fc.array(chars, { minLength: 22, maxLength: 22 }).map((a) => a.join('') + '==')), (key) => {
        assert.equal(isValidKey(key), decodeBase64(key)?.length === 16, key);
      }),
      { numRuns: 500 },
    );
  });
});

describe('RFC 6455 section 4.1: the client request', () => {
  it('builds a request head a server can read', () => {
    const head = buildClientRequest({ host: 'example.com:8080', path: '/chat?x=1', key: KEY, protocols: ['chat', 'superchat'], extensions: 'permessage-deflate; client_max_window_bits', origin: 'http://example.com', headers: { 'X-Token': 'abc', Cookie: ['a=1', 'b=2'] } });
    assert.equal(
      head,
      'GET /chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin: http://example.com\r\n' +
        'X-Token: abc\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n',
    );
    const parser = new HttpHeadParser('request');
    const r = parser.push(new TextEncoder().encode(head));
    assert.equal(r.state, 'complete');
  });

  it('is accepted by checkUpgradeRequest once parsed', () => {
    const head = buildClientRequest({ host: 'h', path: '/', key: KEY, protocols: ['a'] });
    const r = new HttpHeadParser('request').push(new TextEncoder().encode(head));
    assert.ok(r.state === 'complete');
    const [method, , version] = r.head.startLine;
    const check = checkUpgradeRequest({ method, httpVersion: version.slice(5), headers: r.head.headers, rawHeaders: r.head.rawHeaders });
    assert.ok(check.ok);
    assert.deepEqual(check.protocols, ['a']);
  });

  it('refuses header injection in every value', () => {
    const base = { host: 'h', path: '/', key: KEY };
    for (const evil of ['a\r\nX-Evil: 1', 'a\nb', 'a\rb', 'a\0b', 'a\u0001b', 'caf\u00e9', '\u2028']) {
      assert.throws(() => buildClientRequest({ ...base, host: evil }), InvalidArgumentError, `host ${JSON.stringify(evil)}`);
      assert.throws(() => buildClientRequest({ ...base, origin: evil }), InvalidArgumentError);
      assert.throws(() => buildClientRequest({ ...base, extensions: evil }), InvalidArgumentError);
      assert.throws(() => buildClientRequest({ ...base, headers: { 'X-A': evil } }), InvalidArgumentError);
      assert.throws(() => buildClientRequest({ ...base, headers: { 'X-A': ['ok', evil] } }), InvalidArgumentError);
      assert.throws(() => buildClientRequest({ ...base, path: '/' + evil }), InvalidArgumentError);
    }
    assert.throws(() => buildClientRequest({ ...base, headers: { 'X-A\r\nX-B': 'v' } }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, headers: { 'X A': 'v' } }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, headers: { '': 'v' } }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, path: '/a b' }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, path: 'http://x/' }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, host: '' }), InvalidArgumentError);
  });

  it('refuses extra headers that would override the handshake', () => {
    const base = { host: 'h', path: '/', key: KEY };
    for (const name of ['Upgrade', 'connection', 'Sec-WebSocket-Key', 'SEC-WEBSOCKET-VERSION', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'Sec-WebSocket-Accept', 'Host', 'Content-Length', 'Transfer-Encoding']) {
      assert.throws(() => buildClientRequest({ ...base, headers: { [name]: 'x' } }), InvalidArgumentError, name);
    }
    assert.throws(() => buildClientRequest({ ...base, origin: 'http://a', headers: { origin: 'http://b' } }), InvalidArgumentError);
    assert.match(buildClientRequest({ ...base, headers: { Origin: 'http://b' } }), /\r\nOrigin: http:\/\/b\r\n/);
  });

  it('refuses subprotocols that are not unique tokens, and an invalid key', () => {
    const base = { host: 'h', path: '/', key: KEY };
    assert.throws(() => buildClientRequest({ ...base, protocols: ['a b'] }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, protocols: ['a,b'] }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, protocols: [''] }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, protocols: ['a', 'a'] }), InvalidArgumentError);
    assert.throws(() => buildClientRequest({ ...base, key: 'short' }), InvalidArgumentError);
    assert.doesNotMatch(buildClientRequest({ ...base, protocols: [] }), /Protocol/);
  });

  it('skips undefined header values and writes numbers', () => {
    const head = buildClientRequest({ host: 'h', path: '/', key: KEY, headers: { 'X-A': undefined as unknown as string, 'X-B': 5 as unknown as string } });
    assert.doesNotMatch(head, /X-A/);
    assert.match(head, /\r\nX-B: 5\r\n/);
  });
});

describe('RFC 6455 section 4.1: checking the server response', () => {
  it('accepts a valid 101 and reports what was agreed', () => {
    const check = checkServerResponse(101, response({ 'sec-websocket-protocol': 'chat', 'sec-websocket-extensions': 'permessage-deflate; server_no_context_takeover' }), expectation);
    assert.deepEqual(check, {
      ok: true,
      protocol: 'chat',
      extensions: [{ name: 'permessage-deflate', params: [['server_no_context_takeover', true]] }],
      extensionsHeader: 'permessage-deflate; server_no_context_takeover',
    });
    assert.deepEqual(checkServerResponse(101, response({ upgrade: 'WebSocket', connection: 'keep-alive, UPGRADE' }), expectation), {
      ok: true,
      protocol: '',
      extensions: [],
      extensionsHeader: '',
    });
  });

  it('refuses a status other than 101, naming it', () => {
    assert.match(reasonOf(checkServerResponse(200, response(), expectation)), /status 200/);
    assert.match(reasonOf(checkServerResponse(403, response(), expectation)), /status 403/);
  });

  it('refuses a missing or wrong Upgrade', () => {
    assert.match(reasonOf(checkServerResponse(101, response({ upgrade: undefined }), expectation)), /no Upgrade/);
    assert.match(reasonOf(checkServerResponse(101, response({ upgrade: 'h2c' }), expectation)), /Upgrade: h2c/);
    assert.match(reasonOf(checkServerResponse(101, response({ upgrade: 'websocket, h2c' }), expectation)), /Upgrade/);
  });

  it('refuses a missing Connection or one without upgrade', () => {
    assert.match(reasonOf(checkServerResponse(101, response({ connection: undefined }), expectation)), /no Connection/);
    assert.match(reasonOf(checkServerResponse(101, response({ connection: 'keep-alive' }), expectation)), /Connection: keep-alive/);
    assert.match(reasonOf(checkServerResponse(101, response({ connection: 'upgrade-ish' }), expectation)), /Connection/);
  });

  it('refuses a missing, wrong or repeated accept value', () => {
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-accept': undefined }), expectation)), /no Sec-WebSocket-Accept/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-accept': ACCEPT.toLowerCase() }), expectation)), /does not match/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-accept': `${ACCEPT}, ${ACCEPT}` }), expectation)), /does not match/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-accept': [ACCEPT, ACCEPT] }), expectation)), /more than one/);
  });

  it('refuses a subprotocol that was not offered, or more than one', () => {
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-protocol': 'other' }), expectation)), /other, which is not one of those requested/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-protocol': 'chat' }), { ...expectation, protocols: [] })), /none was requested/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-protocol': 'chat, superchat' }), expectation)), /not a single subprotocol/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-protocol': ['chat', 'chat'] }), expectation)), /not a single subprotocol/);
  });

  it('refuses extensions that were not offered, repeated, or malformed', () => {
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-extensions': 'x-webkit-deflate-frame' }), expectation)), /x-webkit-deflate-frame, which was not offered/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-extensions': 'permessage-deflate, permessage-deflate' }), expectation)), /more than once/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-extensions': ['permessage-deflate', 'permessage-deflate'] }), expectation)), /more than once/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-extensions': 'permessage-deflate; a="b c"' }), expectation)), /malformed/);
    assert.match(reasonOf(checkServerResponse(101, response({ 'sec-websocket-extensions': 'permessage-deflate' }), { ...expectation, extensionNames: [] })), /not offered/);
  });
});

describe('RFC 8441: the client side of the extended CONNECT, judged as over HTTP/1.1', () => {
  const offered = { scheme: 'http' as const, authority: 'example.com', path: '/chat' };

  it('refuses a bad :path and subprotocols that are not tokens or come twice, as buildClientRequest does', () => {
    for (const path of ['', 'chat', '/a b', '/caf\u00e9']) {
      assert.throws(() => buildH2ConnectRequest({ ...offered, path }), InvalidArgumentError, path);
      assert.throws(() => buildClientRequest({ host: 'example.com', path, key: KEY }), InvalidArgumentError, path);
    }
    assert.throws(() => buildH2ConnectRequest({ ...offered, protocols: ['chat', 'chat'] }), /listed twice/);
    assert.throws(() => buildH2ConnectRequest({ ...offered, protocols: ['a b'] }), /not a token/);
    assert.equal(buildH2ConnectRequest({ ...offered, protocols: ['chat', 'superchat'] })['sec-websocket-protocol'], 'chat, superchat');
  });

  it('refuses an answer outside 2xx, and a subprotocol or extension that was not offered, with the same reasons', () => {
    assert.match(reasonOf(checkH2ConnectResponse(403, {}, ['chat'], [])), /status 403/);
    assert.match(reasonOf(checkH2ConnectResponse(200, { 'sec-websocket-protocol': 'other' }, ['chat', 'superchat'], [])), /other, which is not one of those requested \(chat, superchat\)/);
    assert.match(reasonOf(checkH2ConnectResponse(200, { 'sec-websocket-protocol': 'chat' }, [], [])), /none was requested/);
    assert.match(reasonOf(checkH2ConnectResponse(200, { 'sec-websocket-extensions': 'permessage-deflate, permessage-deflate' }, [], ['permessage-deflate'])), /more than once/);
    assert.deepEqual(checkH2ConnectResponse(200, { 'sec-websocket-protocol': 'chat' }, ['chat'], []), { ok: true, protocol: 'chat', extensions: [], extensionsHeader: '' });
  });
});

describe('RFC 6455 section 4.2.1: checking the client request', () => {
  it('accepts a valid request and reports what was asked', () => {
    const check = checkUpgradeRequest(
      request({
        extra: {
          upgrade: 'WebSocket',
          connection: 'keep-alive, Upgrade',
          origin: 'http://example.com',
          'sec-websocket-protocol': 'chat, superchat',
          'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits, permessage-deflate',
        },
      }),
    );
    assert.deepEqual(check, {
      ok: true,
      key: KEY,
      protocols: ['chat', 'superchat'],
      extensions: [
        { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
        { name: 'permessage-deflate', params: [] },
      ],
      origin: 'http://example.com',
      host: 'example.com',
    });
  });

  it('answers 405 with Allow: GET to another method', () => {
    for (const method of ['POST', 'get', 'HEAD', 'CONNECT']) {
      const r = refused(checkUpgradeRequest(request({ method })));
      assert.equal(r.status, 405);
      assert.deepEqual(r.headers, { Allow: 'GET' });
      assert.match(r.body, /GET/);
    }
  });

  it('answers 400 to HTTP/1.0 and earlier', () => {
    for (const httpVersion of ['1.0', '0.9', '', 'x', '1.x']) {
      assert.equal(refused(checkUpgradeRequest(request({ httpVersion }))).status, 400, httpVersion);
    }
    assert.equal(checkUpgradeRequest(request({ httpVersion: '1.2' })).ok, true);
  });

  it('answers 400 to a missing or repeated Host', () => {
    assert.match(refused(checkUpgradeRequest(request({ extra: { host: undefined } }))).body, /no Host/);
    assert.match(refused(checkUpgradeRequest(request({ extra: { host: '' } }))).body, /no Host/);
    assert.match(refused(checkUpgradeRequest(request({ extra: { host: ['a', 'b'] } }))).body, /more than one Host/);
    // Node keeps only the first Host in `headers`; rawHeaders tells the truth.
    const rawHeaders = ['Host', 'a', 'Upgrade', 'websocket', 'host', 'b'];
    assert.match(refused(checkUpgradeRequest(request({ rawHeaders }))).body, /more than one Host/);
    assert.match(refused(checkUpgradeRequest(request({ rawHeaders: ['hOsT', 'a', 'HOST', 'a'] }))).body, /more than one Host/);
    // Names that only contain or resemble "host" are other fields.
    assert.equal(checkUpgradeRequest(request({ rawHeaders: ['Host', 'a', 'X-Host', 'b', 'Hostname', 'c', 'Hos', 'd', 'Hosu', 'e'] })).ok, true);
  });

  it('answers 400 to a Host that is not a host with an optional port (RFC 9112 section 3.2)', () => {
    for (const host of ['a b:8080', 'evil.example@127.0.0.1:8080', '127.0.0.1:8080/evil', 'host:80:80', '[::1', 'host:99999']) {
      const r = refused(checkUpgradeRequest(request({ extra: { host } })));
      assert.equal(r.status, 400, host);
      assert.match(r.body, /Host header is not a valid host/, host);
    }
    for (const host of ['127.0.0.1:8080', '[::1]:8080', 'Chat.Example']) assert.equal(checkUpgradeRequest(request({ extra: { host } })).ok, true, host);
  });

  it('answers 400 when Upgrade lacks websocket, across repeated lines too', () => {
    assert.match(refused(checkUpgradeRequest(request({ extra: { upgrade: undefined } }))).body, /websocket/);
    assert.equal(refused(checkUpgradeRequest(request({ extra: { upgrade: 'h2c' } }))).status, 400);
    assert.equal(refused(checkUpgradeRequest(request({ extra: { upgrade: 'websocket2' } }))).status, 400);
    assert.equal(refused(checkUpgradeRequest(request({ extra: { upgrade: 'web socket' } }))).status, 400);
    assert.equal(checkUpgradeRequest(request({ extra: { upgrade: 'h2c, WEBSOCKET' } })).ok, true);
    const rawHeaders = ['Upgrade', 'websocket', 'upgrade', 'websocket'];
    assert.match(refused(checkUpgradeRequest(request({ rawHeaders }))).body, /more than one Upgrade/);
  });

  it('answers 400 when Connection lacks upgrade; repeated Connection lines form one list', () => {
    assert.equal(refused(checkUpgradeRequest(request({ extra: { connection: undefined } }))).status, 400);
    assert.match(refused(checkUpgradeRequest(request({ extra: { connection: 'keep-alive' } }))).body, /Upgrade/);
    assert.equal(refused(checkUpgradeRequest(request({ extra: { connection: 'keep alive, upgrade' } }))).status, 400);
    assert.equal(checkUpgradeRequest(request({ extra: { connection: ['keep-alive', 'upgrade'] } })).ok, true);
    assert.equal(checkUpgradeRequest(request({ extra: { connection: 'keep-alive,,UpGrAdE ,' } })).ok, true);
  });

  it('answers 400 to a missing, repeated or invalid key', () => {
    assert.match(refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-key': undefined } }))).body, /no Sec-WebSocket-Key/);
    assert.match(refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-key': 'abc' } }))).body, /16 bytes/);
    assert.match(refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-key': `${KEY}, ${KEY}` } }))).body, /16 bytes/);
    assert.match(refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-key': [KEY, KEY] } }))).body, /more than one Sec-WebSocket-Key/);
    const rawHeaders = ['Sec-WebSocket-Key', KEY, 'sec-websocket-key', KEY];
    assert.match(refused(checkUpgradeRequest(request({ rawHeaders }))).body, /more than one Sec-WebSocket-Key/);
  });

  it('answers 426 with Sec-WebSocket-Version: 13 to a missing or other version (section 4.4)', () => {
    for (const v of [undefined, '8', '12', '14', '13, 8', '', 'thirteen']) {
      const r = refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-version': v } })));
      assert.equal(r.status, 426, String(v));
      assert.deepEqual(r.headers, { 'Sec-WebSocket-Version': '13' });
    }
    // An older client that sends no Sec-WebSocket-Key learns the version rather than a 400.
    assert.equal(refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-version': '8', 'sec-websocket-key': undefined } }))).status, 426);
    const rawHeaders = ['Sec-WebSocket-Version', '13', 'Sec-WebSocket-Version', '13'];
    assert.equal(refused(checkUpgradeRequest(request({ rawHeaders }))).status, 400);
  });

  it('answers 400 to a repeated Origin', () => {
    assert.equal(refused(checkUpgradeRequest(request({ extra: { origin: 'http://a, http://b' } }))).status, 400);
    assert.equal(refused(checkUpgradeRequest(request({ extra: { origin: ['http://a', 'http://b'] } }))).status, 400);
    const rawHeaders = ['Origin', 'http://a', 'ORIGIN', 'http://a'];
    assert.match(refused(checkUpgradeRequest(request({ extra: { origin: 'http://a' }, rawHeaders }))).body, /Origin/);
    const ok = checkUpgradeRequest(request({ extra: { origin: 'null' } }));
    assert.ok(ok.ok);
    assert.equal(ok.origin, 'null');
  });

  it('answers 400 to malformed subprotocol and extension lists, and joins repeated lines', () => {
    assert.match(refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-protocol': 'chat v1' } }))).body, /Sec-WebSocket-Protocol/);
    assert.match(refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-extensions': 'foo;' } }))).body, /Sec-WebSocket-Extensions/);
    const check = checkUpgradeRequest(request({ extra: { 'sec-websocket-protocol': ['a', 'b, c'], 'sec-websocket-extensions': ['x', 'y; z=1'] } }));
    assert.ok(check.ok);
    assert.deepEqual(check.protocols, ['a', 'b', 'c']);
    assert.deepEqual(check.extensions.map((e) => e.name), ['x', 'y']);
  });

  it('never throws on random header maps and answers only with the statuses it documents', () => {
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('websocket', 'Upgrade', KEY, '13', ''));
    const maybe = fc.option(fc.oneof(value, fc.array(value, { maxLength: 3 })), { nil: undefined });
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'POST'),
        fc.constantFrom('1.1', '1.0', '2.0', 'x'),
        fc.record({ host: maybe, upgrade: maybe, connection: maybe, 'sec-websocket-key': maybe, 'sec-websocket-version': maybe, origin: maybe, 'sec-websocket-protocol': maybe, 'sec-websocket-extensions': maybe }),
        fc.option(fc.array(fc.string({ maxLength: 20 }), { maxLength: 8 }), { nil: undefined }),
        (method, httpVersion, headers, rawHeaders) => {
          const check = checkUpgradeRequest({ method, httpVersion, headers, rawHeaders });
          if (!check.ok) {
            assert.ok([400, 405, 426].includes(check.status));
            buildRefusalResponse(check); // always sendable
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('stays linear on 1 MB hostile header values', () => {
    const MB = 1024 * 1024;
    const hostile = [
      { 'sec-websocket-protocol': 'a, '.repeat(MB / 3) },
      { 'sec-websocket-extensions': 'a; b="' + '\\x'.repeat(MB / 2) + '"' },
      { connection: ', '.repeat(MB / 2) + 'upgrade' },
      { upgrade: 'x,'.repeat(MB / 2) + 'websocket' },
      { origin: 'a'.repeat(MB) },
    ];
    for (const extra of hostile) {
      const start = performance.now();
      checkUpgradeRequest(request({ extra }));
      const ms = performance.now() - start;
      assert.ok(ms < 1000, `${Object.keys(extra)[0]} took ${ms} ms`);
    }
    const rawHeaders: string[] = [];
    for (let i = 0; i < 100_000; i++) rawHeaders.push('X-Header-Name', 'v');
    const start = performance.now();
    assert.equal(checkUpgradeRequest(request({ rawHeaders })).ok, true);
    assert.ok(performance.now() - start < 1000);
  });
});

describe('RFC 6455 section 4.2.2: the server response', () => {
  it('builds the 101 head of section 1.3', () => {
    assert.equal(
      buildUpgradeResponse({ key: KEY, protocol: 'chat', extensions: 'permessage-deflate; server_no_context_takeover', headers: { 'Set-Cookie': ['a=1', 'b=2'] } }),
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n' +
        'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n',
    );
    assert.equal(buildUpgradeResponse({ key: KEY, protocol: '', extensions: '' }), `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`);
  });

  it('writes a given accept value, and the same bytes without extras whether or not empty ones are named', () => {
    assert.equal(buildUpgradeResponse({ key: KEY, accept: 'given' }), 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: given\r\n\r\n');
    assert.equal(buildUpgradeResponse({ key: KEY }), buildUpgradeResponse({ key: KEY, protocol: '', extensions: '', headers: {} }));
    assert.equal(buildUpgradeResponse({ key: KEY, accept: 'given', protocol: 'chat' }).includes('Sec-WebSocket-Accept: given\r\nSec-WebSocket-Protocol: chat\r\n'), true);
    // A bad key is refused even with an accept value.
    assert.throws(() => buildUpgradeResponse({ key: 'nope', accept: 'given' }), InvalidArgumentError);
  });

  it('is accepted by checkServerResponse once parsed', () => {
    const head = buildUpgradeResponse({ key: KEY, protocol: 'chat' });
    const r = new HttpHeadParser('response').push(new TextEncoder().encode(head));
    assert.ok(r.state === 'complete');
    const check = checkServerResponse(Number(r.head.startLine[1]), r.head.headers, expectation);
    assert.ok(check.ok);
    assert.equal(check.protocol, 'chat');
  });

  it('refuses header injection, reserved names, a bad protocol, bad extensions and a bad key', () => {
    assert.throws(() => buildUpgradeResponse({ key: KEY, headers: { 'X-A': 'a\r\nb' } }), InvalidArgumentError);
    assert.throws(() => buildUpgradeResponse({ key: KEY, headers: { 'X-A': 'a\0b' } }), InvalidArgumentError);
    assert.throws(() => buildUpgradeResponse({ key: KEY, headers: { 'X:A': 'v' } }), InvalidArgumentError);
    for (const name of ['Upgrade', 'Connection', 'Sec-WebSocket-Accept', 'sec-websocket-protocol', 'Sec-WebSocket-Extensions', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Content-Length', 'Transfer-Encoding']) {
      assert.throws(() => buildUpgradeResponse({ key: KEY, headers: { [name]: 'x' } }), InvalidArgumentError, name);
    }
    assert.throws(() => buildUpgradeResponse({ key: KEY, protocol: 'a b' }), InvalidArgumentError);
    assert.throws(() => buildUpgradeResponse({ key: KEY, protocol: 'chat\r\nX: y' }), InvalidArgumentError);
    assert.throws(() => buildUpgradeResponse({ key: KEY, extensions: 'a\r\nX: y' }), InvalidArgumentError);
    assert.throws(() => buildUpgradeResponse({ key: KEY, extensions: 'a;' }), InvalidArgumentError);
    assert.throws(() => buildUpgradeResponse({ key: 'nope' }), InvalidArgumentError);
  });
});

describe('RFC 7230 section 3.1.2: refusal responses', () => {
  it('uses the standard reason phrases and a fallback per class', () => {
    const expected: Record<number, string> = {
      400: 'Bad Request',
      401: 'Unauthorized',
      403: 'Forbidden',
      404: 'Not Found',
      405: 'Method Not Allowed',
      408: 'Request Timeout',
      426: 'Upgrade Required',
      429: 'Too Many Requests',
      431: 'Request Header Fields Too Large',
      500: 'Internal Server Error',
      503: 'Service Unavailable',
    };
    for (const [status, phrase] of Object.entries(expected)) {
      assert.ok(buildRefusalResponse({ status: Number(status), headers: {}, body: '' }).startsWith(`HTTP/1.1 ${status} ${phrase}\r\n`));
    }
    assert.equal(reasonPhrase(418), 'Client Error');
    assert.equal(reasonPhrase(599), 'Server Error');
  });

  it('frames the body with its UTF-8 length, a text type and Connection: close', () => {
    const text = buildRefusalResponse({ status: 403, headers: { 'X-Why': 'origin' }, body: 'Non, merci ✋' });
    assert.equal(text, 'HTTP/1.1 403 Forbidden\r\nX-Why: origin\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\nConnection: close\r\n\r\nNon, merci ✋');
    assert.equal(Buffer.byteLength('Non, merci ✋'), 14);
  });

  it('keeps a given Content-Type and replaces framing headers', () => {
    const text = buildRefusalResponse({ status: 401, headers: { 'content-type': 'application/json', 'Content-Length': '999', connection: 'keep-alive', 'WWW-Authenticate': 'Basic' }, body: '{}' });
    assert.equal(text, 'HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nWWW-Authenticate: Basic\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
  });

  it('refuses header injection and impossible statuses', () => {
    assert.throws(() => buildRefusalResponse({ status: 400, headers: { Location: '/x\r\nSet-Cookie: a' }, body: '' }), InvalidArgumentError);
    assert.throws(() => buildRefusalResponse({ status: 400, headers: { 'Bad Name': 'x' }, body: '' }), InvalidArgumentError);
    for (const status of [101, 199, 600, 40.5, NaN]) {
      assert.throws(() => buildRefusalResponse({ status, headers: {}, body: '' }), InvalidArgumentError, String(status));
    }
  });

  it('answers every refusal of checkUpgradeRequest with a parsable response', () => {
    const r = refused(checkUpgradeRequest(request({ extra: { 'sec-websocket-version': '8' } })));
    const text = buildRefusalResponse(r);
    const parsed = new HttpHeadParser('response').push(new TextEncoder().encode(text));
    assert.ok(parsed.state === 'complete');
    assert.equal(parsed.head.startLine[1], '426');
    assert.equal(parsed.head.headers['sec-websocket-version'], '13');
    assert.equal(new TextDecoder().decode(parsed.rest), r.body);
  });
});

describe('interoperability with ws (loopback)', () => {
  it('a ws server accepts buildClientRequest and its answer passes checkServerResponse', async () => {
    const wss = new WsServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'chat', perMessageDeflate: true });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    const { port } = wss.address() as AddressInfo;
    const socket = netConnect(port, '127.0.0.1');
    try {
      const key = generateKey();
      socket.write(buildClientRequest({ host: `127.0.0.1:${port}`, path: '/', key, protocols: ['chat'], extensions: 'permessage-deflate; client_max_window_bits' }));
      const parser = new HttpHeadParser('response');
      const result = await new Promise<ReturnType<HttpHeadParser['push']>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
        socket.on('data', (chunk: Buffer) => {
          const r = parser.push(chunk);
          if (r.state !== 'incomplete') {
            clearTimeout(timer);
            resolve(r);
          }
        });
        socket.on('error', reject);
      });
      assert.ok(result.state === 'complete');
      const check = checkServerResponse(Number(result.head.startLine[1]), result.head.headers, { key, protocols: ['chat'], extensionNames: ['permessage-deflate'] });
      assert.ok(check.ok, check.ok ? '' : check.reason);
      assert.equal(check.protocol, 'chat');
      assert.equal(check.extensions[0]?.name, 'permessage-deflate');
    } finally {
      socket.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  it('a ws client accepts buildUpgradeResponse from a server that checks with checkUpgradeRequest', async () => {
    const server = createServer();
    const seen: RequestCheck[] = [];
    const sockets: Socket[] = [];
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      sockets.push(socket);
      socket.resume(); // read the client's close frame and EOF, so the socket closes
      const check = checkUpgradeRequest({ method: req.method ?? '', httpVersion: req.httpVersion, headers: req.headers, rawHeaders: req.rawHeaders });
      seen.push(check);
      if (!check.ok) {
        socket.end(buildRefusalResponse(check));
        return;
      }
      socket.write(buildUpgradeResponse({ key: check.key, protocol: check.protocols[0] ?? '' }));
      socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe8])); // close 1000
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const client = new WsClient(`ws://127.0.0.1:${port}/path`, ['v2', 'v1'], { origin: 'http://localhost', perMessageDeflate: true });
      const [code, protocol] = await new Promise<[number, string]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no close within 5 s')), 5000);
        client.on('error', reject);
        client.on('close', (c: number) => {
          clearTimeout(timer);
          resolve([c, client.protocol]);
        });
      });
      assert.equal(code, 1000);
      assert.equal(protocol, 'v2');
      const check = seen[0]!;
      assert.ok(check.ok);
      assert.deepEqual(check.protocols, ['v2', 'v1']);
      assert.equal(check.origin, 'http://localhost');
      assert.equal(check.extensions[0]?.name, 'permessage-deflate');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a refusal reaches a ws client as its status', async () => {
    const server = createServer();
    const sockets: Socket[] = [];
    server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
      sockets.push(socket);
      socket.resume();
      socket.end(buildRefusalResponse({ status: 403, headers: {}, body: 'no' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const client = new WsClient(`ws://127.0.0.1:${port}/`);
      const status = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
        client.on('unexpected-response', (_req, res) => {
          clearTimeout(timer);
          resolve(res.statusCode ?? 0);
          res.resume();
          client.terminate();
        });
        client.on('error', () => {});
      });
      assert.equal(status, 403);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
