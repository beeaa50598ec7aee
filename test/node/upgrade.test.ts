import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer, connect, type Socket, type Server } from 'node:net';
import { checkHeadLimits, checkRfc6455Request, type Rfc6455Facts, type UpgradeInput } from '../../src/api/upgrade-pipeline.js';
import type { ResolvedServerOptions } from '../../src/api/options.js';
import type { RequestCheck } from '../../src/core/handshake.js';
import {
  checkRequestLimits,
  clientErrorRefusal,
  guardHandshake,
  refuseUpgrade,
  upgradeRequiredRefusal,
  writeUpgradeResponse,
  acceptKey,
} from '../../src/node/upgrade.js';
import { computeAcceptKey, generateKey } from '../../src/core/handshake.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { fakeTimers } from '../helpers/fake-clock.js';

/** A connected TCP pair on loopback: `server` is the accepted side. */
async function socketPair(listener: Server): Promise<{ client: Socket; server: Socket }> {
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const { port } = listener.address() as { port: number };
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(client, 'connect');
  const [server] = await accepted;
  return { client, server };
}

/** Everything the client reads until the server ends or closes its side. */
function readAll(client: Socket): Promise<{ text: string; ended: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let ended = false;
    client.on('data', (c: Buffer) => chunks.push(c));
    client.on('end', () => {
      ended = true;
      resolve({ text: Buffer.concat(chunks).toString('latin1'), ended });
    });
    client.on('close', () => resolve({ text: Buffer.concat(chunks).toString('latin1'), ended }));
    client.on('error', () => {});
  });
}

function fakeRequest(fields: Partial<IncomingMessage>): IncomingMessage {
  return { method: 'GET', url: '/', httpVersion: '1.1', headers: {}, rawHeaders: [], ...fields } as IncomingMessage;
}

const validHeaders = {
  host: 'example.com',
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
};
const validRaw = ['Host', 'example.com', 'Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version', '13'];

const listener = createServer({ allowHalfOpen: true });
const ready = new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
const open: Socket[] = [];
after(() => {
  for (const s of open) s.destroy();
  listener.close();
});
async function pair(): Promise<{ client: Socket; server: Socket }> {
  await ready;
  const p = await socketPair(listener);
  open.push(p.client, p.server);
  return p;
}

describe('request limits', { timeout: 30_000 }, () => {
  it('answers 431 when there are more header fields than maxHeaderCount', () => {
    const raw: string[] = [];
    for (let i = 0; i < 11; i++) raw.push(`X-${i}`, 'v');
    assert.equal(checkRequestLimits(fakeRequest({ rawHeaders: raw }), { maxHeaderCount: 10 })?.status, 431);
    assert.equal(checkRequestLimits(fakeRequest({ rawHeaders: raw.slice(0, 20) }), { maxHeaderCount: 10 }), null);
  });

  it('answers 431 when the head is larger than maxHeadSize', () => {
    const raw = ['X-Big', 'x'.repeat(1000)];
    assert.equal(checkRequestLimits(fakeRequest({ rawHeaders: raw }), { maxHeadSize: 1000 })?.status, 431);
    assert.equal(checkRequestLimits(fakeRequest({ rawHeaders: raw }), { maxHeadSize: 2000 }), null);
  });

  it('counts a long request target toward the head size', () => {
    assert.equal(checkRequestLimits(fakeRequest({ url: '/' + 'a'.repeat(2000) }), { maxHeadSize: 1000 })?.status, 431);
  });

  it('defaults admit a normal browser handshake', () => {
    assert.equal(checkRequestLimits(fakeRequest({ rawHeaders: validRaw, headers: validHeaders })), null);
  });
});

/** What the server's upgrade pipeline checks of one request, in its order: the head's limits (step 2), then RFC 6455 (step 3). */
function checkUpgrade(req: IncomingMessage, limits: Partial<ResolvedServerOptions> = {}): RequestCheck {
  const input = { req, method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, headers: req.headers, rawHeaders: req.rawHeaders } as unknown as UpgradeInput<Rfc6455Facts>;
  const over = checkHeadLimits(input, limits as ResolvedServerOptions);
  if (over !== null) return { ok: false, ...over };
  return checkRfc6455Request(input) as RequestCheck;
}

describe('handshake validation (RFC 6455 section 4.2.1) through the core', { timeout: 30_000 }, () => {
  it('accepts a valid request and reports the key', () => {
    const check = checkUpgrade(fakeRequest({ rawHeaders: validRaw, headers: validHeaders }));
    assert.equal(check.ok, true);
    if (check.ok) assert.equal(check.key, 'dGhlIHNhbXBsZSBub25jZQ==');
  });

  it('checks the limits before the protocol', () => {
    const raw = [...validRaw];
    for (let i = 0; i < 5; i++) raw.push(`X-${i}`, 'v');
    const check = checkUpgrade(fakeRequest({ rawHeaders: raw, headers: validHeaders }), { maxHeaderCount: 6 });
    assert.equal(check.ok, false);
    if (!check.ok) assert.equal(check.status, 431);
  });

  it('answers a wrong method with 405, a wrong version with 426 naming 13, a bad key with 400', () => {
    const post = checkUpgrade(fakeRequest({ method: 'POST', rawHeaders: validRaw, headers: validHeaders }));
    assert.equal(post.ok ? 0 : post.status, 405);
    const v8 = checkUpgrade(fakeRequest({ rawHeaders: validRaw, headers: { ...validHeaders, 'sec-websocket-version': '8' } }));
    assert.equal(v8.ok ? 0 : v8.status, 426);
    if (!v8.ok) {
      const version = Object.entries(v8.headers).find(([k]) => k.toLowerCase() === 'sec-websocket-version');
      assert.equal(version?.[1], '13');
    }
    const key = checkUpgrade(fakeRequest({ rawHeaders: validRaw, headers: { ...validHeaders, 'sec-websocket-key': 'short' } }));
    assert.equal(key.ok ? 0 : key.status, 400);
  });
});

describe('refusals on the wire', { timeout: 30_000 }, () => {
  it('writes the refusal, then ends: the client reads the whole answer and sees end-of-stream', async () => {
    const { client, server } = await pair();
    const read = readAll(client);
    refuseUpgrade(server, { status: 403, headers: { 'X-Why': 'test' }, body: 'Access denied.\n' });
    const { text, ended } = await read;
    assert.equal(ended, true);
    assert.match(text, /^HTTP\/1\.1 403 /);
    assert.match(text, /\r\nx-why: test\r\n/i);
    assert.match(text, /\r\nconnection: close\r\n/i);
    assert.ok(text.endsWith('\r\n\r\nAccess denied.\n'));
    client.end();
    await once(server, 'close');
  });

  it('destroys the socket after the linger time if the client never closes its side', async () => {
    const { client, server } = await pair();
    client.on('data', () => {});
    client.on('error', () => {});
    refuseUpgrade(server, upgradeRequiredRefusal(), 50);
    await once(server, 'close');
    assert.equal(server.destroyed, true);
  });

  it('drops what a refused client keeps sending instead of letting it pile up', async () => {
    const { client, server } = await pair();
    const read = readAll(client);
    refuseUpgrade(server, { status: 400, headers: {}, body: 'no' });
    client.write(Buffer.alloc(256 * 1024));
    const { text } = await read;
    assert.match(text, /^HTTP\/1\.1 400 /);
    client.end();
    await once(server, 'close');
  });

  it('the 426 for plain HTTP names websocket in Upgrade, as RFC 7231 section 6.5.15 requires', () => {
    const r = upgradeRequiredRefusal();
    assert.equal(r.status, 426);
    assert.equal(r.headers['Upgrade'], 'websocket');
  });

  it("maps Node's parser errors to 431, 408 and 400", () => {
    assert.equal(clientErrorRefusal(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' })).status, 431);
    assert.equal(clientErrorRefusal(Object.assign(new Error('x'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' })).status, 408);
    assert.equal(clientErrorRefusal(Object.assign(new Error('x'), { code: 'HPE_INVALID_METHOD' })).status, 400);
    assert.equal(clientErrorRefusal(null).status, 400);
  });
});

describe('101 Switching Protocols', { timeout: 30_000 }, () => {
  it('writes the response head with the accept key of RFC 6455 section 1.3', async () => {
    const { client, server } = await pair();
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    assert.equal(writeUpgradeResponse(server, { key: 'dGhlIHNhbXBsZSBub25jZQ==', protocol: 'chat', headers: { 'X-Extra': '1' } }), true);
    server.end();
    await once(client, 'end');
    const text = Buffer.concat(chunks).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.match(text, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    assert.match(text, /\r\nsec-websocket-protocol: chat\r\n/i);
    assert.match(text, /\r\nx-extra: 1\r\n/i);
    assert.ok(text.endsWith('\r\n\r\n'));
  });

  it("computes the accept value with node:crypto exactly as the core's SHA-1 does", () => {
    assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    for (let i = 0; i < 200; i++) {
      const key = generateKey();
      assert.equal(acceptKey(key), computeAcceptKey(key), key);
    }
  });

  it('writes nothing and says so when the client is already gone', async () => {
    const { client, server } = await pair();
    client.destroy();
    server.destroy();
    assert.equal(writeUpgradeResponse(server, { key: 'dGhlIHNhbXBsZSBub25jZQ==' }), false);
  });
});

describe('handshake timeout', { timeout: 30_000 }, () => {
  it('answers 408 and closes when the handshake does not finish in time', async () => {
    const { client, server } = await pair();
    const read = readAll(client);
    const guard = guardHandshake(server, 50);
    const { text, ended } = await read;
    assert.equal(guard.expired, true);
    assert.equal(ended, true);
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.equal(guard.cancel(), false);
  });

  it('does nothing once cancelled', async () => {
    const { client, server } = await pair();
    let got = 0;
    client.on('data', (c: Buffer) => (got += c.length));
    const guard = guardHandshake(server, 30);
    assert.equal(guard.cancel(), true);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(got, 0);
    assert.equal(guard.expired, false);
    assert.equal(server.destroyed, false);
  });

  it('runs on the injected timer service: a fake clock expires it, and nothing before its time', async () => {
    const { clock, timers } = fakeTimers();
    const [client, server] = duplexPair();
    let text = '';
    client.on('data', (c: Buffer) => (text += c.toString('latin1')));
    const guard = guardHandshake(server, 5000, undefined, timers);
    clock.advance(4990);
    await new Promise((r) => setImmediate(r));
    assert.equal(guard.expired, false);
    assert.equal(text, '');
    clock.advance(30);
    assert.equal(guard.expired, true);
    await once(client, 'end');
    assert.match(text, /^HTTP\/1\.1 408 /);
  });

  it('notices a client that went away and swallows its reset', async () => {
    const { client, server } = await pair();
    const guard = guardHandshake(server, 0);
    client.resetAndDestroy();
    // Not events.once: it would reject on the 'error' the guard is there to absorb.
    await new Promise((resolve) => server.once('close', resolve));
    assert.equal(guard.gone, true);
    assert.equal(guard.cancel(), true);
  });
});
