/**
 * Hostile opening handshakes against a hybi server with its default options, on 127.0.0.1: each
 * test asserts the HTTP status, how fast the server reacts, and that its memory returns near the
 * baseline once the attack is over.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkUpgradeRequest } from '../../src/core/handshake.js';
import { DEFAULT_HANDSHAKE_TIMEOUT } from '../../src/node/upgrade.js';
import { DEFAULT_MAX_CONNECTIONS } from '../../src/api/server.js';
import { MiB, RawClient, RawWebSocket, assertMemoryNear, eventually, exchange, serve, settledMemory, sleep, upgradeRequest, KEY } from './harness.js';

/** How fast an immediate refusal must come, generous for a loaded machine. */
const REACT_MS = 2000;

async function refusedWith(port: number, request: string, status: number, what: string): Promise<void> {
  const answer = await exchange(port, request);
  assert.equal(answer.status, status, `${what}: ${answer.head.split('\r\n')[0]}`);
  assert.ok(answer.reactMs < REACT_MS, `${what}: answered after ${answer.reactMs.toFixed(0)} ms`);
  assert.ok(answer.closed, `${what}: the server closed the connection after refusing`);
}

describe('Hardening: head size and header count (431)', () => {
  it('a head over 16 KiB is 431 at once, again and again, and costs nothing afterwards', async () => {
    const s = await serve();
    try {
      await refusedWith(s.port, upgradeRequest({ 'X-Pad': 'a'.repeat(17 * 1024) }), 431, 'warm-up');
      const baseline = await settledMemory();
      for (let i = 0; i < 100; i++) {
        await refusedWith(s.port, upgradeRequest({ 'X-Pad': 'a'.repeat(17 * 1024) }), 431, `oversized head #${i}`);
      }
      // Just under the limit is still fine: the bound is the documented one, not lower.
      const ok = await RawWebSocket.open(s.port, { 'X-Pad': 'a'.repeat(15 * 1024) });
      ok.destroy();
      await eventually(() => s.server.connectionCount === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after 100 oversized heads');
    } finally {
      await s.stop();
    }
  });

  it('a head that never ends is cut at 16 KiB, not buffered while it grows', async () => {
    const s = await serve();
    try {
      const client = await RawClient.open(s.port);
      client.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ');
      let sent = 0;
      // Up to 1 MiB, in 4 KiB writes, until the server answers.
      while (sent < MiB && !client.ended && !client.closed && client.received.length === 0) {
        client.write('b'.repeat(4096));
        sent += 4096;
        await sleep(1);
      }
      const answer = await client.response();
      assert.equal(answer.status, 431);
      assert.ok(sent <= 64 * 1024, `the server read ${sent} bytes of a head before refusing`);
      client.destroy();
    } finally {
      await s.stop();
    }
  });

  it('more than 100 header fields is 431; 100 are fine', async () => {
    const s = await serve();
    try {
      const fields = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-F${i}`, 'v']));
      // The request has 5 handshake fields of its own.
      await refusedWith(s.port, upgradeRequest(fields(96)), 431, '101 fields');
      const ws = await RawWebSocket.open(s.port, fields(95));
      ws.destroy();
      const baseline = await settledMemory();
      for (let i = 0; i < 100; i++) await refusedWith(s.port, upgradeRequest(fields(500)), 431, `500 fields #${i}`);
      await eventually(() => s.server.connectionCount === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after 100 heads with 500 fields');
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: slowloris (handshake timeout)', () => {
  it(`clients dribbling their heads a byte at a time are dropped within the default ${DEFAULT_HANDSHAKE_TIMEOUT} ms`, async () => {
    assert.equal(DEFAULT_HANDSHAKE_TIMEOUT, 10_000, 'the documented default');
    const s = await serve();
    try {
      const baseline = await settledMemory();
      const started = performance.now();
      const clients = await Promise.all(Array.from({ length: 50 }, () => RawClient.open(s.port)));
      const request = upgradeRequest();
      let i = 0;
      const dribble = setInterval(() => {
        for (const c of clients) c.write(request[i % request.length]!.repeat(1));
        i++;
      }, 250);
      try {
        const results = await Promise.all(clients.map((c) => c.until(() => c.ended || c.closed, DEFAULT_HANDSHAKE_TIMEOUT + 5000)));
        const elapsed = performance.now() - started;
        assert.ok(results.every(Boolean), 'every dribbling client was dropped');
        assert.ok(elapsed < DEFAULT_HANDSHAKE_TIMEOUT + 3000, `dropped after ${elapsed.toFixed(0)} ms`);
        assert.ok(elapsed >= DEFAULT_HANDSHAKE_TIMEOUT - 500, `not before the timeout (${elapsed.toFixed(0)} ms)`);
        for (const c of clients) {
          const status = /^HTTP\/1\.1 (\d{3})/.exec(c.received.toString('latin1'))?.[1];
          assert.ok(status === undefined || status === '408', `answered ${status ?? 'nothing'}`);
        }
      } finally {
        clearInterval(dribble);
        for (const c of clients) c.destroy();
      }
      await eventually(() => s.server.connectionCount === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after 50 slowloris clients');
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: requests RFC 6455 section 4.2.1 and RFC 7230 refuse (400)', () => {
  const cases: Array<[string, string]> = [
    ['no Host header', upgradeRequest({ Host: null })],
    ['an empty Host header', upgradeRequest({ Host: '' })],
    ['HTTP/1.0', upgradeRequest({}, 'GET / HTTP/1.0')],
    ['two different Host headers', upgradeRequest({ Host: ['127.0.0.1', 'evil.example'] })],
    ['the same Host header twice', upgradeRequest({ Host: ['127.0.0.1', '127.0.0.1'] })],
    ['two Upgrade headers', upgradeRequest({ Upgrade: ['websocket', 'websocket'] })],
    ['Upgrade: websocket then Upgrade: h2c', upgradeRequest({ Upgrade: ['websocket', 'h2c'] })],
    ['Connection: Upgrade and Connection: close', upgradeRequest({ Connection: ['Upgrade', 'close'] })],
    ['Connection: close, Upgrade', upgradeRequest({ Connection: 'close, Upgrade' })],
    ['two Sec-WebSocket-Key headers', upgradeRequest({ 'Sec-WebSocket-Key': [KEY, 'x3JJHMbDL1EzLkh9GBhXDw=='] })],
    ['a key that is not 16 bytes', upgradeRequest({ 'Sec-WebSocket-Key': 'c2hvcnQ=' })],
    ['two Origin headers', upgradeRequest({ Origin: ['https://a.example', 'https://b.example'] })],
    ['two Sec-WebSocket-Version headers', upgradeRequest({ 'Sec-WebSocket-Version': ['13', '13'] })],
    ['an absolute-form target naming another host', upgradeRequest({}, 'GET http://evil.example/ HTTP/1.1')],
    ['a body announced with Content-Length', upgradeRequest({ 'Content-Length': '5' })],
    ['a body announced with Transfer-Encoding', upgradeRequest({ 'Transfer-Encoding': 'chunked' })],
  ];

  it('each is answered 400 at once, and none costs memory afterwards', async () => {
    const s = await serve();
    try {
      for (const [what, request] of cases) await refusedWith(s.port, request, 400, what);
      const baseline = await settledMemory();
      for (let round = 0; round < 10; round++) {
        for (const [what, request] of cases) await refusedWith(s.port, request, 400, what);
      }
      assert.equal(s.server.clients.size, 0, 'no connection was accepted');
      await eventually(() => s.server.connectionCount === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, `after ${cases.length * 10} bad requests`);
      // The control: the same server accepts a proper request.
      (await RawWebSocket.open(s.port)).destroy();
    } finally {
      await s.stop();
    }
  });

  it('an absolute-form target naming the Host itself is accepted', async () => {
    const s = await serve();
    try {
      const client = await RawClient.open(s.port);
      client.write(upgradeRequest({ Host: `127.0.0.1:${s.port}` }, `GET http://127.0.0.1:${s.port}/ HTTP/1.1`));
      assert.equal((await client.response()).status, 101);
      client.destroy();
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: what contradicts an upgrade, and what does not (checkUpgradeRequest)', () => {
  const base = { host: 'h', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': KEY, 'sec-websocket-version': '13' };
  const check = (extra: Record<string, string>, target?: string): number => {
    const result = checkUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers: { ...base, ...extra }, target });
    return result.ok ? 101 : result.status;
  };

  it('Connection: close is refused in any position; other companions of Upgrade are fine', () => {
    assert.equal(check({ connection: 'close, Upgrade' }), 400);
    assert.equal(check({ connection: 'Upgrade, CLOSE' }), 400);
    assert.equal(check({ connection: 'keep-alive, Upgrade' }), 101);
  });

  it('a body is refused; Content-Length: 0 is no body', () => {
    assert.equal(check({ 'content-length': '12' }), 400);
    assert.equal(check({ 'transfer-encoding': 'chunked' }), 400);
    assert.equal(check({ 'content-length': '0' }), 101);
  });

  it('an absolute-form target must name the Host, default ports and case aside', () => {
    assert.equal(check({}, 'http://other/'), 400);
    assert.equal(check({}, 'http://h.evil/'), 400);
    assert.equal(check({}, 'http://H/chat'), 101);
    assert.equal(check({}, 'http://h:80/chat'), 101);
    assert.equal(check({ host: 'h:443' }, 'wss://h/'), 101);
    assert.equal(check({ host: 'h:8080' }, 'ws://h:8080?x'), 101);
    assert.equal(check({ host: '[::1]:80' }, 'http://[::1]/'), 101);
    assert.equal(check({}, '/chat'), 101);
  });
});

describe('Hardening: pathological Sec-WebSocket-Protocol and Sec-WebSocket-Extensions (linear time)', () => {
  // Values as long as the 16 KiB head allows, built to hurt backtracking parsers.
  const n = 15 * 1024;
  const values: Array<[string, Record<string, string>, number]> = [
    ['protocol: commas and spaces', { 'Sec-WebSocket-Protocol': ' ,'.repeat(n / 2) }, 101],
    ['protocol: thousands of tokens', { 'Sec-WebSocket-Protocol': 'a,'.repeat(n / 2) + 'b' }, 101],
    ['protocol: spaces then a bad byte', { 'Sec-WebSocket-Protocol': 'a' + ' '.repeat(n) + '@' }, 400],
    ['extensions: thousands of parameters', { 'Sec-WebSocket-Extensions': 'x' + ';a'.repeat(n / 2) }, 101],
    ['extensions: an unterminated quoted string', { 'Sec-WebSocket-Extensions': 'x; a="' + 'b'.repeat(n) }, 400],
    ['extensions: escapes', { 'Sec-WebSocket-Extensions': 'x; a="' + '\\b'.repeat(n / 2) + '"' }, 101],
    ['extensions: permessage-deflate offered thousands of times', { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits, '.repeat(n / 46) }, 101],
    ['extensions: nested-looking separators', { 'Sec-WebSocket-Extensions': 'a;b=c,'.repeat(n / 6) + ';;' }, 400],
  ];

  it('each is answered at once (the server then works as usual)', async () => {
    const s = await serve();
    try {
      const baseline = await settledMemory();
      for (let round = 0; round < 5; round++) {
        for (const [what, headers, status] of values) {
          const answer = await exchange(s.port, upgradeRequest(headers));
          assert.equal(answer.status, status, `${what}: ${answer.head.split('\r\n')[0]}`);
          assert.ok(answer.reactMs < REACT_MS, `${what}: answered after ${answer.reactMs.toFixed(0)} ms`);
        }
      }
      await eventually(() => s.server.connectionCount === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after pathological headers');
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: maxConnections (503 before any per-connection work)', () => {
  it('the default is 10,000', () => {
    assert.equal(DEFAULT_MAX_CONNECTIONS, 10_000);
  });

  it('sockets that have not sent a byte count: past the bound a new one is answered 503 before it speaks', async () => {
    const s = await serve({ maxConnections: 3 });
    try {
      const silent = await Promise.all([0, 1, 2].map(() => RawClient.open(s.port)));
      await sleep(50);
      const late = await RawClient.open(s.port);
      const answer = await late.response();
      assert.equal(answer.status, 503, 'answered without sending anything');
      assert.ok(answer.reactMs < REACT_MS, `after ${answer.reactMs.toFixed(0)} ms`);
      assert.match(answer.head, /retry-after: 5/i);
      late.destroy();
      // A slot frees when a silent socket goes away.
      silent[0]!.destroy();
      await sleep(50);
      const ws = await RawWebSocket.open(s.port);
      ws.destroy();
      for (const c of silent) c.destroy();
    } finally {
      await s.stop();
    }
  });

  it('past the bound every request is 503 at once, holds nothing, and a freed slot is usable again', async () => {
    const s = await serve({ maxConnections: 3 });
    try {
      const held = await Promise.all([0, 1, 2].map(() => RawWebSocket.open(s.port)));
      await eventually(() => s.server.clients.size === 3, 'three connections open');
      await refusedWith(s.port, upgradeRequest(), 503, 'warm-up');
      const baseline = await settledMemory();
      const started = performance.now();
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: 20 }, () => refusedWith(s.port, upgradeRequest(), 503, 'over maxConnections')));
      }
      const perRequest = (performance.now() - started) / 200;
      assert.ok(perRequest < 100, `${perRequest.toFixed(1)} ms per refused request`);
      assert.equal(s.server.clients.size, 3, 'no fourth connection');
      await eventually(() => s.server.connectionCount === 3, 'refused requests are counted nowhere');
      await assertMemoryNear(baseline, 3 * MiB, 'after 200 refused connections');
      held[0]!.destroy();
      await eventually(() => s.server.clients.size === 2, 'a slot freed');
      const again = await RawWebSocket.open(s.port);
      again.destroy();
      for (const h of held) h.destroy();
    } finally {
      await s.stop();
    }
  });
});
