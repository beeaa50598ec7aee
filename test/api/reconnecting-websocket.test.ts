import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ReconnectingWebSocket } from '../../src/api/reconnecting-websocket.js';
import { WebSocketServer } from '../../src/api/server.js';
import { SendQueueFullError } from '../../src/api/errors.js';
import { fakeTimers } from '../helpers/fake-clock.js';
import { FaultProxy } from '../helpers/fault-proxy.js';

const serverScript = fileURLToPath(new URL('../fixtures/reconnect-server.js', import.meta.url));

/** The server process: its port, and the messages it printed, with a way to wait for a count. */
async function startServer(t: TestContext) {
  const child: ChildProcess = spawn(process.execPath, [serverScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const messages: string[] = [];
  let wake: (() => void) | null = null;
  let port = 0;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (line.startsWith('port ')) port = Number(line.slice(5));
    else if (line.startsWith('msg ')) messages.push(line.slice(4));
    wake?.();
  });
  const until = async (done: () => boolean): Promise<void> => {
    while (!done()) {
      if (child.exitCode !== null) throw new Error('the server process exited');
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  await until(() => port !== 0);
  return { child, port, messages, until };
}

/** An echo server in this process. */
async function echoServer(t: TestContext) {
  const server = new WebSocketServer();
  server.route('/', async (ws) => {
    for await (const m of ws) await ws.send(m.data);
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return port;
}

describe('ReconnectingWebSocket: a server process killed and restarted', { timeout: 60_000 }, () => {
  it('queues while the server is down, runs onReconnect first, then flushes every queued message in order', async (t) => {
    let server = await startServer(t);
    const proxy = await FaultProxy.start(() => server.port);
    t.after(() => proxy.close());
    let connections = 0;
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${proxy.port}/`, {
      minDelay: 20,
      maxDelay: 100,
      liveness: false,
      queue: { policy: 'reject', maxMessages: 100 },
      onReconnect: async (ws) => {
        connections++;
        await ws.send(`hello ${connections}`);
      },
    });
    t.after(() => rws.close());
    await once(rws, 'open');
    assert.equal(rws.send('a1'), 'sent');
    assert.equal(rws.send('a2'), 'sent');
    await server.until(() => server.messages.length === 3);
    assert.deepEqual(server.messages, ['hello 1', 'a1', 'a2']);

    const closed = once(rws, 'close');
    server.child.kill('SIGKILL');
    const [code] = (await closed) as [number];
    assert.equal(code, 1006);
    assert.equal(rws.readyState, 'connecting');
    const results = Array.from({ length: 50 }, (_, i) => rws.send(`b${i}`));
    assert.ok(results.every((r) => r === 'queued'), String(results));
    assert.equal(rws.queuedMessages, 50);

    // A new process, on another port: the proxy leads there from now on.
    server = await startServer(t);
    await once(rws, 'open');
    await server.until(() => server.messages.length === 51);
    assert.deepEqual(server.messages, ['hello 2', ...Array.from({ length: 50 }, (_, i) => `b${i}`)]);
    assert.equal(rws.queuedMessages, 0);
  });
});

describe('ReconnectingWebSocket: the send queue while disconnected', { timeout: 30_000 }, () => {
  /** A ReconnectingWebSocket that cannot connect (the proxy refuses), on a clock that never moves. */
  async function offline(t: TestContext, queue: ConstructorParameters<typeof ReconnectingWebSocket>[1] extends infer O ? O extends { queue?: infer Q } ? Q : never : never) {
    const proxy = await FaultProxy.start(1);
    proxy.mode = 'refuse';
    t.after(() => proxy.close());
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${proxy.port}/`, { timers: fakeTimers().timers, liveness: false, queue });
    const drops: Array<[string, string]> = [];
    rws.on('drop', (data, reason) => drops.push([String(data), reason]));
    t.after(() => rws.close());
    return { rws, drops };
  }

  it("'drop-oldest' evicts the oldest and reports it; 'drop-newest' turns the new one away", async (t) => {
    const a = await offline(t, { maxMessages: 3, policy: 'drop-oldest' });
    assert.deepEqual(['1', '2', '3', '4', '5'].map((m) => a.rws.send(m)), ['queued', 'queued', 'queued', 'queued', 'queued']);
    assert.deepEqual(a.drops, [['1', 'overflow'], ['2', 'overflow']]);
    assert.equal(a.rws.queuedMessages, 3);

    const b = await offline(t, { maxMessages: 3, policy: 'drop-newest' });
    assert.deepEqual(['1', '2', '3', '4'].map((m) => b.rws.send(m)), ['queued', 'queued', 'queued', 'dropped']);
    assert.deepEqual(b.drops, []);
  });

  it("'reject' throws SendQueueFullError for the message that does not fit, by count or by bytes, and keeps the rest", async (t) => {
    const a = await offline(t, { maxMessages: 2, policy: 'reject' });
    a.rws.send('1');
    a.rws.send('2');
    assert.throws(() => a.rws.send('3'), (e: unknown) => e instanceof SendQueueFullError && e.limit === 'messages' && e.code === 'ERR_SEND_QUEUE_FULL');
    assert.equal(a.rws.queuedMessages, 2);
    const b = await offline(t, { maxBytes: 10 });
    assert.equal(b.rws.send(new Uint8Array(8)), 'queued');
    assert.throws(() => b.rws.send('é€'), (e: unknown) => e instanceof SendQueueFullError && e.limit === 'bytes');
    assert.equal(b.rws.bufferedAmount, 8);
  });

  it('queue: false drops what is sent while disconnected; close() reports what was still queued', async (t) => {
    const a = await offline(t, false);
    assert.equal(a.rws.send('x'), 'dropped');
    const b = await offline(t, {});
    b.rws.send('left behind');
    const ended = once(b.rws, 'end');
    await b.rws.close();
    assert.deepEqual(await ended, [undefined]);
    assert.deepEqual(b.drops, [['left behind', 'closed']]);
    assert.equal(b.rws.send('late'), 'dropped');
    assert.equal(b.rws.readyState, 'closed');
  });

  it('a message past its ttl is dropped, not sent late; younger ones are sent', async (t) => {
    const port = await echoServer(t);
    const proxy = await FaultProxy.start(port);
    t.after(() => proxy.close());
    proxy.mode = 'refuse';
    const { clock, timers } = fakeTimers();
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${proxy.port}/`, { timers, random: () => 0, liveness: false, queue: { ttl: 1000 } });
    t.after(() => rws.close());
    const drops: string[] = [];
    rws.on('drop', (data, reason) => drops.push(`${String(data)} ${reason}`));
    const received: string[] = [];
    rws.on('message', (data) => received.push(String(data)));
    assert.equal(rws.send('old'), 'queued');
    // random 0: every wait is 0 ms; time moves only when the test says so.
    await once(rws, 'reconnecting');
    clock.advance(600);
    assert.equal(rws.send('young'), 'queued');
    clock.advance(600);
    proxy.mode = 'pass';
    await once(rws, 'open');
    await new Promise<void>((resolve) => rws.on('message', () => received.length === 1 && resolve()));
    assert.deepEqual(received, ['young']);
    assert.deepEqual(drops, ['old expired']);
  });
});

describe('ReconnectingWebSocket: sends the connection could not take', { timeout: 30_000 }, () => {
  it('a message reported sent that never reached the socket goes back to the queue and out on the next connection', async (t) => {
    // Each connection's messages, as the server saw them.
    const byConnection: string[][] = [];
    let wake: () => void = () => {};
    const server = new WebSocketServer({ maxMessageSize: 2 * 1024 * 1024, maxFrameSize: 2 * 1024 * 1024 });
    server.route('/', async (ws) => {
      const seen: string[] = [];
      byConnection.push(seen);
      for await (const m of ws) {
        seen.push(String(m.data).slice(0, 8));
        wake();
      }
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => server.close());
    const proxy = await FaultProxy.start(port);
    t.after(() => proxy.close());
    const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${proxy.port}/`, { minDelay: 10, maxDelay: 50, liveness: false });
    t.after(() => rws.close());
    const drops: unknown[] = [];
    rws.on('drop', (data) => drops.push(data));
    await once(rws, 'open');
    // Nothing gets through: the kernel buffers take the first megabytes, the rest waits in the connection.
    proxy.mode = 'stall';
    const body = 'x'.repeat(1024 * 1024);
    const names = Array.from({ length: 40 }, (_, i) => `m${String(i).padStart(2, '0')}`.padEnd(8, '.'));
    for (const name of names) assert.equal(rws.send(name + body), 'sent');
    assert.ok(rws.bufferedAmount > 8 * 1024 * 1024, `only ${rws.bufferedAmount} bytes waited`);
    const reopened = once(rws, 'open');
    proxy.reset();
    proxy.mode = 'pass';
    await reopened;
    // The second connection carries a run of messages that ends with the last one, in order.
    while (byConnection.length < 2 || byConnection[1]!.at(-1) !== names.at(-1)) await new Promise<void>((resolve) => (wake = resolve));
    const second = byConnection[1]!;
    const start = names.indexOf(second[0]!);
    assert.ok(start > 0, `the second connection began with ${second[0]}`);
    assert.deepEqual(second, names.slice(start));
    assert.deepEqual(drops, []);
  });
});

