import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { reconnecting, ReconnectEngine, type BackoffInfo } from '../../src/api/reconnect/engine.js';
import { backoffDelay, defaultDecision, parseRetryAfter, type ReconnectEnding } from '../../src/api/reconnect/policy.js';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { ConnectError, HandshakeError } from '../../src/node/errors.js';
import { ConnectionClosedError, InvalidArgumentError } from '../../src/core/errors.js';
import { InvalidURLError } from '../../src/api/errors.js';
import { fakeTimers } from '../helpers/fake-clock.js';
import { FaultProxy } from '../helpers/fault-proxy.js';

/** A hybi server: /echo echoes, /close/:code closes with that code, a path starting /deny is refused with 401. */
async function serve(t: TestContext) {
  const server = new WebSocketServer({
    accept: (req) => (req.url?.startsWith('/deny') ? { status: 401, body: 'no' } : true),
  });
  server.on('handlerError', () => {});
  server.route('/echo', async (ws) => {
    for await (const m of ws) await ws.send(m.data);
  });
  server.route('/deny', () => {});
  server.route('/close-on-message/:code', async (ws, _req, match) => {
    await ws.receive();
    await ws.close(Number(match.params.code), 'asked');
  });
  server.route('/close/:code', async (ws, _req, match) => {
    await ws.close(Number(match.params.code), 'bye');
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return { server, port };
}

/** Collects onBackoff calls so a test can wait for the next one. */
function backoffs() {
  const seen: BackoffInfo[] = [];
  let wake: (() => void) | null = null;
  return {
    seen,
    onBackoff(info: BackoffInfo) {
      seen.push(info);
      wake?.();
    },
    async next(count: number): Promise<BackoffInfo> {
      while (seen.length < count) await new Promise<void>((resolve) => (wake = resolve));
      return seen[count - 1]!;
    },
  };
}

/** Resolves once `ws` is closed (at once if it already is). */
function ended(ws: WebSocket): Promise<void> {
  return ws.readyState === 'closed' ? Promise.resolve() : new Promise((resolve) => ws.once('close', () => resolve()));
}

const close = (code: number): ReconnectEnding => ({ type: 'close', code, reason: '', uptime: 0, livenessTimeout: false });
const refusal = (status: number): ReconnectEnding => ({ type: 'handshake', status, retryAfter: null, error: new HandshakeError('x', status) });

describe('reconnect policy: the ending table', () => {
  it('stops on 4xx refusals but 408 and 429, on closes 1000 and 1008; 1001/1012 at once; 1006/1011/1013 and 4000-4999 back off', () => {
    for (const status of [400, 401, 403, 404, 426]) assert.equal(defaultDecision(refusal(status)), 'stop', String(status));
    for (const status of [0, 408, 429, 500, 502, 503]) assert.equal(defaultDecision(refusal(status)), 'backoff', String(status));
    assert.equal(defaultDecision(refusal(301)), 'stop');
    assert.equal(defaultDecision(refusal(101)), 'stop');
    assert.equal(defaultDecision({ type: 'network', error: new ConnectError('refused', '127.0.0.1', 1) }), 'backoff');
    for (const code of [1000, 1008, 1002, 1003, 1007, 1009, 1010]) assert.equal(defaultDecision(close(code)), 'stop', String(code));
    for (const code of [1001, 1012]) assert.equal(defaultDecision(close(code)), 'now', String(code));
    for (const code of [1005, 1006, 1011, 1013, 1014, 3000, 4000, 4999]) assert.equal(defaultDecision(close(code)), 'backoff', String(code));
  });

  it('backs off with full jitter: uniform in [0, min(maxDelay, minDelay * 2^attempt)], the first wait random too', () => {
    assert.equal(backoffDelay(0, 1000, 30_000, () => 0), 0);
    assert.equal(backoffDelay(0, 1000, 30_000, () => 0.999), 999);
    assert.equal(backoffDelay(3, 1000, 30_000, () => 0.5), 4000);
    assert.equal(backoffDelay(10, 1000, 30_000, () => 0.5), 15_000);
    assert.equal(backoffDelay(5000, 1000, 30_000, () => 0.5), 15_000);
  });

  it('reads Retry-After as seconds or an HTTP date, and nothing else', () => {
    const now = Date.parse('Sun, 06 Nov 1994 08:49:37 GMT');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:50:37 GMT', now), 60_000);
    assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:40:00 GMT', now), 0);
    for (const bad of [undefined, '', '-5', '1.5', 'soon', '12abc', '9'.repeat(11)]) assert.equal(parseRetryAfter(bad, now), null, String(bad));
  });

  it('checks the options before dialing', () => {
    assert.throws(() => reconnecting('ws://127.0.0.1:1/', { minDelay: -1 }), InvalidArgumentError);
    assert.throws(() => reconnecting('ws://127.0.0.1:1/', { minDelay: 500, maxDelay: 100 }), InvalidArgumentError);
    assert.throws(() => reconnecting('ws://127.0.0.1:1/', { retry: { attempts: 3 } } as never), /does its own retrying/);
    assert.throws(() => reconnecting('ws://127.0.0.1:1/', { maxPayload: 5 } as never), /maxMessageSize/);
    assert.throws(() => reconnecting('ftp://127.0.0.1/'), InvalidURLError);
    assert.throws(() => reconnecting('ws://127.0.0.1:1/', { liveness: { interval: 0 } }), InvalidArgumentError);
  });
});

describe('reconnecting(): the schedule on a fake clock', { timeout: 30_000 }, () => {
  it('honours Retry-After on 503, backs off with jitter on refused connections, and tries nothing before its time', async (t) => {
    const { port } = await serve(t);
    const proxy = await FaultProxy.start(port);
    t.after(() => proxy.close());
    const { clock, timers } = fakeTimers();
    const b = backoffs();
    proxy.mode = 'http503';
    proxy.retryAfter = 7;
    const loop = reconnecting(`ws://127.0.0.1:${proxy.port}/echo`, { timers, random: () => 0.5, onBackoff: b.onBackoff, liveness: false });
    const first = loop.next();

    // Two 503s with Retry-After: 7 s: the wait is 7 s, above the backoff's 1 s and 2 s.
    for (const [n, expected] of [[1, 7000], [2, 7000]] as const) {
      const info = await b.next(n);
      assert.equal(info.ending.type, 'handshake');
      assert.equal(info.ending.type === 'handshake' && info.ending.status, 503);
      assert.equal(info.ending.type === 'handshake' && info.ending.retryAfter, 7000);
      assert.equal(info.delay, expected);
      await clock.untilTimer();
      const accepted = proxy.accepted;
      clock.advance(expected - 1);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(proxy.accepted, accepted, 'no attempt before the wait is over');
      if (n === 2) proxy.mode = 'refuse';
      clock.advance(1);
    }
    // Refused: full jitter with random 0.5, attempt 3 and 4: 0.5 * 1000 * 2^3, 0.5 * 1000 * 2^4.
    for (const [n, expected] of [[3, 4000], [4, 8000]] as const) {
      const info = await b.next(n);
      assert.equal(info.ending.type, 'network');
      assert.equal(info.delay, expected);
      await clock.untilTimer();
      if (n === 4) proxy.mode = 'pass';
      clock.advance(expected);
    }
    const { value: ws } = await first;
    assert.ok(ws);
    assert.equal(ws.readyState, 'open');
    assert.deepEqual(b.seen.map((i) => i.attempt), [1, 2, 3, 4]);
    await loop.return(undefined);
    assert.notEqual(ws.readyState, 'open', 'leaving the loop closes the connection');
  });

  it('reads a Retry-After date against wall time (wallNow), not the monotonic clock of the timers', async (t) => {
    const { port } = await serve(t);
    const proxy = await FaultProxy.start(port);
    t.after(() => proxy.close());
    proxy.mode = 'http503';
    proxy.retryAfter = 'Sun, 06 Nov 1994 08:50:37 GMT';
    // The fake monotonic clock reads about 1000 s: taken for wall time, the date would lie 25 years ahead.
    const { timers } = fakeTimers();
    const wallNow = (): number => Date.parse('Sun, 06 Nov 1994 08:49:37 GMT');
    const b = backoffs();
    const engine = new ReconnectEngine(`ws://127.0.0.1:${proxy.port}/echo`, { timers, wallNow, random: () => 0.5, onBackoff: b.onBackoff, liveness: false });
    const first = engine.connections().next();
    const info = await b.next(1);
    assert.equal(info.ending.type === 'handshake' && info.ending.retryAfter, 60_000);
    assert.equal(info.delay, 60_000);
    engine.stop();
    assert.deepEqual(await first, { done: true, value: undefined });
  });

  it('gives up after maxAttempts, throwing the last error, and after maxElapsed', async (t) => {
    const proxy = await FaultProxy.start(1);
    t.after(() => proxy.close());
    proxy.mode = 'refuse';
    const { clock, timers } = fakeTimers();
    const b = backoffs();
    const loop = reconnecting(`ws://127.0.0.1:${proxy.port}/`, { timers, random: () => 1, maxAttempts: 3, onBackoff: b.onBackoff, liveness: false });
    const result = loop.next();
    for (const n of [1, 2]) {
      const info = await b.next(n);
      await clock.untilTimer();
      clock.advance(info.delay);
    }
    await assert.rejects(result, ConnectError);
    assert.equal(proxy.accepted, 3);

    const { clock: clock2, timers: timers2 } = fakeTimers();
    const b2 = backoffs();
    // random 1: waits of 2 s, 4 s, 8 s; 2 + 4 fit in 10 s, the third (14 s) does not.
    const loop2 = reconnecting(`ws://127.0.0.1:${proxy.port}/`, { timers: timers2, random: () => 1, maxElapsed: 10_000, onBackoff: b2.onBackoff, liveness: false });
    const result2 = loop2.next();
    for (const n of [1, 2]) {
      const info = await b2.next(n);
      await clock2.untilTimer();
      clock2.advance(info.delay);
    }
    await assert.rejects(result2, ConnectError);
    assert.deepEqual(b2.seen.map((i) => i.delay), [2000, 4000]);
  });
});

describe('reconnecting(): endings from a hybi server', { timeout: 30_000 }, () => {
  /** Runs a loop against /close/:code and reports how many connections it yielded and the waits it took. */
  async function endings(t: TestContext, code: number, extra: Parameters<typeof reconnecting>[1] = {}) {
    const { port } = await serve(t);
    const { clock, timers } = fakeTimers();
    const b = backoffs();
    let connections = 0;
    const loop = reconnecting(`ws://127.0.0.1:${port}/close/${code}`, { timers, random: () => 0.5, minUptime: 0, onBackoff: b.onBackoff, liveness: false, ...extra });
    const run = (async () => {
      for await (const ws of loop) {
        connections++;
        await ended(ws);
        if (connections === 3) break;
      }
    })();
    // Drives the clock through every wait until the loop ends.
    let driven = 0;
    for (;;) {
      const settled = await Promise.race([run.then(() => true), b.next(driven + 1).then(() => false)]);
      if (settled) break;
      driven++;
      // 'now' takes no timer; a backoff waits until its timer is armed, then time moves past it.
      const delay = b.seen[driven - 1]!.delay;
      if (delay === 0) continue;
      await clock.untilTimer();
      clock.advance(delay);
    }
    await run;
    return { connections, waits: b.seen };
  }

  it('1000 and 1008 end the loop after one connection', async (t) => {
    for (const code of [1000, 1008]) {
      const { connections, waits } = await endings(t, code);
      assert.equal(connections, 1, String(code));
      assert.equal(waits.length, 0);
    }
  });

  it('1012 and 1001 come back at once; 1011, 1013 and the application code 4000 back off', async (t) => {
    for (const code of [1012, 1001]) {
      const { connections, waits } = await endings(t, code);
      assert.equal(connections, 3);
      assert.deepEqual(waits.map((w) => [w.decision, w.delay]), [['now', 0], ['now', 0]], String(code));
    }
    for (const code of [1011, 1013, 4000]) {
      const { connections, waits } = await endings(t, code);
      assert.equal(connections, 3);
      assert.deepEqual(waits.map((w) => w.decision), ['backoff', 'backoff'], String(code));
      assert.ok(waits.every((w) => w.ending.type === 'close' && w.ending.code === code && w.delay === 500));
    }
  });

  it('shouldReconnect overrides the table: 4001 stops when the application says so', async (t) => {
    const asked: number[] = [];
    const { connections } = await endings(t, 4001, {
      shouldReconnect: (ending, decision) => {
        if (ending.type === 'close') asked.push(ending.code);
        assert.equal(decision, 'backoff');
        return ending.type === 'close' && ending.code === 4001 ? 'stop' : undefined;
      },
    });
    assert.equal(connections, 1);
    assert.deepEqual(asked, [4001]);
  });

  it('a 401 refusal stops at once with the HandshakeError; URL and headers are functions called per attempt', async (t) => {
    const { port } = await serve(t);
    let calls = 0;
    const loop = reconnecting(() => `ws://127.0.0.1:${port}/deny`, { headers: () => ({ 'X-Try': String(++calls) }), liveness: false });
    await assert.rejects(loop.next(), (e: unknown) => e instanceof HandshakeError && e.status === 401 && e.body === 'no');
    assert.equal(calls, 1);
  });

  it('a connection that lived minUptime resets the attempt count; one that did not keeps backing off', async (t) => {
    const { port } = await serve(t);
    const { clock, timers } = fakeTimers();
    const b = backoffs();
    const loop = reconnecting(`ws://127.0.0.1:${port}/close-on-message/1011`, { timers, random: () => 0.5, minUptime: 5000, onBackoff: b.onBackoff, liveness: false });
    // The engine decides when the next connection is asked for, so the loop is driven by hand.
    let pending = loop.next();
    for (let n = 1; n <= 4; n++) {
      const ws = (await pending).value!;
      // The second connection lives 5 s (on the fake clock) before the server closes it with 1011.
      if (n === 2) clock.advance(5000);
      await ws.send('close please');
      await ended(ws);
      if (n === 4) break;
      pending = loop.next();
      const info = await b.next(n);
      await clock.untilTimer();
      clock.advance(info.delay);
    }
    await loop.return(undefined);
    // attempt 1 -> 0.5 * 2000; after a 5 s life the count restarts: 0.5 * 1000; then 0.5 * 2000.
    assert.deepEqual(b.seen.map((i) => [i.attempt, i.delay]), [[1, 1000], [0, 500], [1, 1000]]);
  });
});

describe('reconnecting(): faults on the link', { timeout: 30_000 }, () => {
  it('finds a half-open link with a liveness ping (stall), reconnects after a reset, and works over a slow drip', async (t) => {
    const { port } = await serve(t);
    const proxy = await FaultProxy.start(port);
    t.after(() => proxy.close());
    const { clock, timers } = fakeTimers();
    const b = backoffs();
    const engine = new ReconnectEngine(`ws://127.0.0.1:${proxy.port}/echo`, {
      timers,
      random: () => 0.5,
      onBackoff: b.onBackoff,
      liveness: { interval: 1000, timeout: 500 },
    });
    const loop = engine.connections();
    const ws1 = (await loop.next()).value!;
    await ws1.send('one');
    assert.deepEqual(await ws1.receive(), { type: 'text', data: 'one' });

    // Stall: nothing flows, nobody closes. The ping at 1 s gets no pong; 0.5 s later the link is given up.
    proxy.mode = 'stall';
    const next = loop.next();
    clock.advance(1000);
    assert.equal(ws1.readyState, 'open');
    clock.advance(500);
    const stalled = await b.next(1);
    assert.deepEqual(stalled.ending, { type: 'close', code: 1006, reason: 'no pong within 500 ms', uptime: 1500, livenessTimeout: true });
    proxy.mode = 'drip';
    await clock.untilTimer();
    clock.advance(stalled.delay);
    // The handshake and a message over a link that passes 16 bytes per 5 ms.
    const ws2 = (await next).value!;
    await ws2.send('two'.repeat(20));
    assert.deepEqual(await ws2.receive(), { type: 'text', data: 'two'.repeat(20) });

    // Reset: an RST on the open connection is a 1006 that backs off.
    proxy.mode = 'pass';
    const third = loop.next();
    proxy.reset();
    const reset = await b.next(2);
    assert.equal(reset.ending.type === 'close' && reset.ending.code, 1006);
    assert.equal(reset.ending.type === 'close' && reset.ending.livenessTimeout, false);
    await clock.untilTimer();
    clock.advance(reset.delay);
    const ws3 = (await third).value!;
    await ws3.send('three');
    assert.deepEqual(await ws3.receive(), { type: 'text', data: 'three' });
    engine.stop();
    assert.deepEqual(await loop.next(), { done: true, value: undefined });
  });

  it('a connection error other than a refusal or a network failure is thrown, not retried', async () => {
    const loop = reconnecting(() => 'nope://x', { liveness: false });
    await assert.rejects(loop.next(), InvalidURLError);
  });

  it('maxAttempts after closes throws a ConnectionClosedError with the last code', async (t) => {
    const { port } = await serve(t);
    const { clock, timers } = fakeTimers();
    const loop = reconnecting(`ws://127.0.0.1:${port}/close/1011`, { timers, maxAttempts: 1, liveness: false });
    const ws = (await loop.next()).value!;
    await ended(ws);
    await assert.rejects(loop.next(), (e: unknown) => e instanceof ConnectionClosedError && e.closeCode === 1011);
  });
});
