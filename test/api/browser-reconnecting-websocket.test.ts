/**
 * The browser flavour of ReconnectingWebSocket ('hybi/browser'), against a real hybi server:
 * browser events across drops, the queue flushed on the next connection, close() ending it, and
 * the backoff schedule on the engine's fake clock.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BrowserReconnectingWebSocket as ReconnectingWebSocket } from '../../src/api/browser-reconnecting-websocket.js';
import { CloseEvent, ErrorEvent } from '../../src/api/browser-events.js';
import { WebSocketServer } from '../../src/api/server.js';
import type { BackoffInfo } from '../../src/api/reconnect/engine.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { fakeTimers } from '../helpers/fake-clock.js';
import { FaultProxy } from '../helpers/fault-proxy.js';

/**
 * A hybi server: /drop-first closes its first connection with 1012 after a text and a binary
 * message, and echoes on every later one; /echo echoes. `received` lists what each connection
 * got, by connection number.
 */
async function serve(t: TestContext) {
  const server = new WebSocketServer();
  server.on('handlerError', () => {});
  const received: string[][] = [];
  let dropped = false;
  const echo = async (ws: WebSocket): Promise<void> => {
    const mine: string[] = [];
    received.push(mine);
    for await (const m of ws) {
      mine.push(String(m.data));
      if (m.data === 'drop me') {
        await ws.close(1012, 'restarting');
        return;
      }
      await ws.send(m.data);
    }
  };
  server.route('/drop-first', async (ws) => {
    if (!dropped) {
      dropped = true;
      received.push([]);
      await ws.send('hello');
      await ws.send(new Uint8Array([1, 2, 3]));
      await ws.close(1012, 'restarting');
      return;
    }
    await echo(ws);
  });
  server.route('/echo', (ws) => echo(ws));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return { port, received };
}

/** Every event of `rws` as a line, and a way to wait until a line count is reached. */
function record(rws: ReconnectingWebSocket) {
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  const push = (line: string): void => {
    lines.push(line);
    wake?.();
  };
  rws.onopen = () => push('open');
  rws.onmessage = (event) => {
    const data: unknown = event.data;
    if (typeof data === 'string') push(`message ${data}`);
    else if (data instanceof Blob) push(`message blob ${data.size}`);
    else if (data instanceof ArrayBuffer) push(`message arraybuffer ${[...new Uint8Array(data)].join(',')}`);
    else push(`message ${typeof data}`);
  };
  rws.addEventListener('close', (event) => {
    assert.ok(event instanceof CloseEvent);
    push(`close ${event.code} ${event.reason} ${event.wasClean}`);
  });
  rws.addEventListener('error', (event) => {
    assert.ok(event instanceof ErrorEvent);
    push(`error ${event.error.constructor.name}`);
  });
  const until = async (count: number): Promise<void> => {
    while (lines.length < count) await new Promise<void>((resolve) => (wake = resolve));
  };
  return { lines, until };
}

describe('ReconnectingWebSocket (hybi/browser) against a hybi server', { timeout: 30_000 }, () => {
  it('fires open, message, close per connection across a 1012 drop, and reconnects at once', async (t) => {
    const { port } = await serve(t);
    const waits: BackoffInfo[] = [];
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/drop-first`, { minUptime: 0, liveness: false, onBackoff: (info) => waits.push(info) });
    t.after(() => rws.close());
    assert.equal(rws.readyState, ReconnectingWebSocket.CONNECTING);
    assert.deepEqual([rws.CONNECTING, rws.OPEN, rws.CLOSING, rws.CLOSED], [0, 1, 2, 3]);
    const events = record(rws);
    await events.until(5);
    assert.deepEqual(events.lines, ['open', 'message hello', 'message blob 3', 'close 1012 restarting true', 'open']);
    assert.equal(rws.readyState, ReconnectingWebSocket.OPEN);
    // 1012 (service restart) is in the table's "at once" row: a wait of 0, not a backoff.
    assert.deepEqual(waits.map((w) => [w.decision, w.delay]), [['now', 0]]);
    assert.equal(rws.retryCount, 0);

    rws.binaryType = 'arraybuffer';
    assert.equal(rws.send(new Uint8Array([7, 8])), 'sent');
    await events.until(6);
    assert.equal(events.lines[5], 'message arraybuffer 7,8');
    rws.binaryType = 'bogus' as never;
    assert.equal(rws.binaryType, 'arraybuffer', 'a value outside the enumeration is ignored');
  });

  it('queues sends while disconnected and flushes them, in order, on the next connection', async (t) => {
    const { port, received } = await serve(t);
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/echo`, { minUptime: 0, liveness: false });
    t.after(() => rws.close());
    const events = record(rws);
    // Before the first connection: queued, not an InvalidStateError as a plain browser WebSocket throws.
    assert.equal(rws.send('early'), 'queued');
    assert.equal(rws.bufferedAmount, 5);
    await events.until(2);
    assert.deepEqual(events.lines, ['open', 'message early']);

    // The server drops the connection; what is sent from the close event waits for the next one.
    let fromClose: unknown[] = [];
    rws.onclose = () => {
      // Captured, not asserted here: a listener's exception becomes a process warning.
      fromClose = [rws.send('a'), rws.send('b'), rws.readyState, rws.queuedMessages];
      rws.onclose = null;
    };
    rws.send('drop me');
    await events.until(6);
    assert.deepEqual(fromClose, ['queued', 'queued', ReconnectingWebSocket.CONNECTING, 2]);
    assert.deepEqual(events.lines.slice(2), ['close 1012 restarting true', 'open', 'message a', 'message b']);
    assert.deepEqual(received, [['early', 'drop me'], ['a', 'b']]);
    assert.equal(rws.queuedMessages, 0);
  });

  it('close() ends it for good: one close event, no further connection, sends dropped', async (t) => {
    const { port, received } = await serve(t);
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/echo`, { liveness: false });
    const events = record(rws);
    await events.until(1);
    assert.throws(() => rws.close(1001), (e: unknown) => e instanceof DOMException && e.name === 'InvalidAccessError');
    assert.throws(() => rws.close(1000, 'x'.repeat(124)), (e: unknown) => e instanceof DOMException && e.name === 'SyntaxError');
    rws.close(4001, 'done');
    assert.equal(rws.readyState, ReconnectingWebSocket.CLOSING);
    await rws.ended;
    assert.equal(rws.readyState, ReconnectingWebSocket.CLOSED);
    // The code and reason of the server's answering close frame (hybi echoes the code, not the reason).
    assert.deepEqual(events.lines, ['open', 'close 4001  true']);
    assert.equal(rws.send('late'), 'dropped');
    assert.equal(received.length, 1, 'no connection after close()');
  });

  it('reconnect() closes the open connection and comes back at once, even after a 1000', async (t) => {
    const { port, received } = await serve(t);
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/echo`, { minUptime: 0, liveness: false });
    t.after(() => rws.close());
    const events = record(rws);
    await events.until(1);
    rws.reconnect();
    await events.until(3);
    assert.deepEqual(events.lines, ['open', 'close 1000  true', 'open']);
    assert.equal(received.length, 2);
    assert.equal(rws.send('still here'), 'sent');
    await events.until(4);
    assert.equal(events.lines[3], 'message still here');
  });
});

describe('ReconnectingWebSocket (hybi/browser): the schedule on a fake clock', { timeout: 30_000 }, () => {
  it('fires error and close 1006 per failed attempt, counts retries, and waits the backoff before each', async (t) => {
    const { port } = await serve(t);
    const proxy = await FaultProxy.start(port);
    t.after(() => proxy.close());
    proxy.mode = 'refuse';
    const { clock, timers } = fakeTimers();
    const delays: number[] = [];
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${proxy.port}/echo`, {
      timers,
      random: () => 0.5,
      minDelay: 1000,
      maxDelay: 4000,
      liveness: false,
      onBackoff: (info) => void delays.push(info.delay),
    });
    t.after(() => rws.close());
    const events = record(rws);
    // Full jitter with random 0.5: half of min(maxDelay, minDelay * 2^attempt).
    for (const [n, delay] of [[1, 1000], [2, 2000], [3, 2000]] as const) {
      await events.until(2 * n);
      assert.deepEqual(events.lines.slice(-2), ['error ConnectError', 'close 1006  false']);
      assert.equal(rws.retryCount, n);
      assert.equal(rws.readyState, ReconnectingWebSocket.CONNECTING);
      await clock.untilTimer();
      assert.equal(delays.at(-1), delay);
      const accepted = proxy.accepted;
      clock.advance(delay - 1);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(proxy.accepted, accepted, 'no attempt before the wait is over');
      if (n === 3) proxy.mode = 'pass';
      clock.advance(1);
    }
    await events.until(7);
    assert.equal(events.lines[6], 'open');
  });

  it('close() during a backoff wait ends it at once, with no attempt after', async (t) => {
    const proxy = await FaultProxy.start(1);
    t.after(() => proxy.close());
    proxy.mode = 'refuse';
    const { clock, timers } = fakeTimers();
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${proxy.port}/`, { timers, liveness: false });
    const events = record(rws);
    await events.until(2);
    await clock.untilTimer();
    rws.close();
    // The fake clock never advances: only the stop can end the wait.
    await rws.ended;
    assert.equal(rws.readyState, ReconnectingWebSocket.CLOSED);
    assert.equal(proxy.accepted, 1);
    // Time moving on now starts no attempt: the wait's timer went with the stop.
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(proxy.accepted, 1);
    assert.deepEqual(events.lines, ['error ConnectError', 'close 1006  false']);
  });
});
