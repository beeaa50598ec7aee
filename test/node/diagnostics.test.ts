// The hybi:* diagnostics channels: every channel is subscribed to, and each scenario checks the
// order of what was published (per side: client and server run in this one process) and the
// payloads, as a tool subscribing to them would see them.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { channel, tracingChannel } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { connect } from '../../src/api/connect.js';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { ProtocolError } from '../../src/core/errors.js';
import { ConnectError, HandshakeError } from '../../src/node/errors.js';
import { IdleTimeoutError } from '../../src/api/errors.js';

const CHANNELS = [
  'hybi:server:upgrade',
  'hybi:server:reject',
  'hybi:connection:open',
  'hybi:connection:close',
  'hybi:connection:error',
  'hybi:connection:ping',
  'hybi:connection:pong',
  'hybi:connection:backpressure',
  'hybi:client:retry',
] as const;

type Payload = Record<string, unknown>;
interface Event {
  /** The channel name without 'hybi:' ('server:upgrade', 'connect:start' for the tracing channel). */
  name: string;
  payload: Payload;
}

/** Subscribes to every channel (and the connect tracing channel) until the test ends. */
function record(t: TestContext): Event[] {
  const events: Event[] = [];
  for (const name of CHANNELS) {
    const listener = (payload: unknown): void => void events.push({ name: name.slice(5), payload: payload as Payload });
    channel(name).subscribe(listener);
    t.after(() => channel(name).unsubscribe(listener));
  }
  const tracing = tracingChannel('hybi:client:connect');
  const handlers = Object.fromEntries(
    (['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const).map((kind) => [
      kind,
      (context: unknown) => void events.push({ name: `connect:${kind}`, payload: { ...(context as Payload) } }),
    ]),
  ) as unknown as Parameters<typeof tracing.subscribe>[0];
  tracing.subscribe(handlers);
  t.after(() => tracing.unsubscribe(handlers));
  return events;
}

/** The events one side saw: the client's (tracing, retries and its connection) or the server's. */
function side(events: Event[], role: 'client' | 'server'): Event[] {
  return events.filter((e) => {
    if (e.name.startsWith('server:')) return role === 'server';
    if (e.name.startsWith('connect:') || e.name.startsWith('client:')) return role === 'client';
    return e.payload.role === role;
  });
}

const names = (events: Event[]): string[] => events.map((e) => e.name);
const find = (events: Event[], name: string): Payload => {
  const event = events.find((e) => e.name === name);
  assert.ok(event, `no ${name} event among ${names(events).join(', ')}`);
  return event.payload;
};

async function serve(t: TestContext, options: WebSocketServerOptions, setup?: (server: WebSocketServer) => void) {
  const server = new WebSocketServer(options);
  server.on('handlerError', () => {});
  setup?.(server);
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return { server, port };
}

/** Bounds a wait so that a missing event fails the test instead of hanging it. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once the server's connection (first 'connection') has closed. */
function serverClosed(server: WebSocketServer): Promise<unknown> {
  return new Promise((resolve) => server.once('connection', (ws: WebSocket) => ws.once('close', resolve)));
}

describe('hybi:* diagnostics channels', { timeout: 30_000 }, () => {
  test('a normal session: upgrade, open, ping and pong with the round trip, close with who closed and how long it lasted', async (t) => {
    const events = record(t);
    const { server, port } = await serve(t, { protocols: ['chat'] }, (s) =>
      s.route('/room', { protocols: ['chat'] }, async (ws) => {
        for await (const m of ws) await ws.send(m.type === 'text' ? m.data : m.data);
      }),
    );
    const closed = serverClosed(server);
    const url = `ws://127.0.0.1:${port}/room?x=1`;
    const options = { protocols: ['chat'] };
    const ws = await connect(url, options);
    await once(ws, 'open');
    await ws.send('hello');
    await ws.receive();
    const rtt = await ws.ping('p1');
    await ws.close(1000, 'bye');
    await within(closed, 5000, 'server close');

    const client = side(events, 'client');
    const srv = side(events, 'server');
    assert.deepEqual(names(client), [
      'connect:start',
      'connect:end',
      'connect:asyncStart',
      'connect:asyncEnd',
      'connection:open',
      'connection:pong',
      'connection:close',
    ]);
    assert.deepEqual(names(srv), ['server:upgrade', 'connection:open', 'connection:ping', 'connection:close']);

    // The tracing context: connect()'s arguments, then its result.
    const start = find(client, 'connect:start');
    assert.equal(start.url, url);
    assert.equal(start.options, options);
    assert.equal(find(client, 'connect:asyncEnd').result, ws);

    const clientOpen = find(client, 'connection:open');
    assert.equal(clientOpen.websocket, ws);
    assert.deepEqual(
      { protocol: clientOpen.protocol, extensions: clientOpen.extensions, transport: clientOpen.transport, url: clientOpen.url },
      { protocol: 'chat', extensions: '', transport: 'http1', url },
    );
    assert.deepEqual(clientOpen.address, { address: '127.0.0.1', family: 'IPv4', port });

    const upgrade = find(srv, 'server:upgrade');
    assert.equal((upgrade.request as { url: string }).url, '/room?x=1');
    const serverOpen = find(srv, 'connection:open');
    const serverWs = serverOpen.websocket as WebSocket;
    assert.equal(serverWs.protocol, 'chat');
    assert.deepEqual(
      { role: serverOpen.role, protocol: serverOpen.protocol, extensions: serverOpen.extensions, transport: serverOpen.transport, url: serverOpen.url },
      { role: 'server', protocol: 'chat', extensions: '', transport: 'http1', url: '/room?x=1' },
    );
    assert.equal((serverOpen.address as { address: string }).address, '127.0.0.1');

    // The client's ping arrives at the server; its pong comes back with the round trip.
    const ping = find(srv, 'connection:ping');
    assert.equal(ping.websocket, serverWs);
    assert.equal(Buffer.from(ping.payload as Uint8Array).toString(), 'p1');
    const pong = find(client, 'connection:pong');
    assert.equal(Buffer.from(pong.payload as Uint8Array).toString(), 'p1');
    assert.equal(typeof pong.roundTrip, 'number');
    assert.ok((pong.roundTrip as number) >= 0 && (pong.roundTrip as number) <= rtt + 1, `roundTrip ${String(pong.roundTrip)} vs ping() ${rtt}`);

    // code and reason are those of the peer's close frame, as the 'close' event gives them: the
    // server echoed 1000 without a reason.
    const clientClose = find(client, 'connection:close');
    assert.deepEqual(
      { websocket: clientClose.websocket, code: clientClose.code, reason: clientClose.reason, wasClean: clientClose.wasClean, closedBy: clientClose.closedBy },
      { websocket: ws, code: 1000, reason: '', wasClean: true, closedBy: 'local' },
    );
    assert.equal(typeof clientClose.duration, 'number');
    assert.ok((clientClose.duration as number) >= 0);
    const serverClose = find(srv, 'connection:close');
    assert.deepEqual(
      { websocket: serverClose.websocket, code: serverClose.code, reason: serverClose.reason, wasClean: serverClose.wasClean, closedBy: serverClose.closedBy },
      { websocket: serverWs, code: 1000, reason: 'bye', wasClean: true, closedBy: 'remote' },
    );
  });

  test('a refused handshake: upgrade then reject (status, reason); the client trace ends in error', async (t) => {
    const events = record(t);
    const { port } = await serve(t, {}, (s) => s.route('/room', () => {}));
    const url = `ws://127.0.0.1:${port}/elsewhere`;
    await assert.rejects(connect(url), (error: unknown) => error instanceof HandshakeError && error.status === 404);

    const srv = side(events, 'server');
    assert.deepEqual(names(srv), ['server:upgrade', 'server:reject']);
    const reject = find(srv, 'server:reject');
    assert.equal(reject.status, 404);
    assert.equal(reject.reason, 'No WebSocket endpoint at this path');
    assert.equal((reject.request as { url: string }).url, '/elsewhere');
    assert.equal(reject.request, find(srv, 'server:upgrade').request);

    const client = side(events, 'client');
    assert.deepEqual(names(client), ['connect:start', 'connect:end', 'connect:error', 'connect:asyncStart', 'connect:asyncEnd']);
    assert.ok(find(client, 'connect:error').error instanceof HandshakeError);
  });

  test('a protocol error: the server publishes the error, then a close it started (1002, not clean)', async (t) => {
    const events = record(t);
    const { server, port } = await serve(t, {});
    const closed = serverClosed(server);
    const socket = netConnect({ port, host: '127.0.0.1' });
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(
      'GET /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await readUntil(socket, '\r\n\r\n');
    // RFC 6455 section 5.1: a client's frames must be masked; this text frame is not.
    socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    socket.resume();
    await within(closed, 5000, 'server close');

    const srv = side(events, 'server');
    assert.deepEqual(names(srv), ['server:upgrade', 'connection:open', 'connection:error', 'connection:close']);
    const error = find(srv, 'connection:error').error;
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.closeCode, 1002);
    const close = find(srv, 'connection:close');
    assert.deepEqual({ code: close.code, wasClean: close.wasClean, closedBy: close.closedBy }, { code: 1002, wasClean: false, closedBy: 'local' });
  });

  test('a ping timeout: unanswered keep-alive pings, then the idle error and a close (1001) the server started', async (t) => {
    const events = record(t);
    const { server, port } = await serve(t, { pingInterval: 20, idleTimeout: 600 });
    const closed = serverClosed(server);
    // A client that never answers pings (autoPong: false) and sends nothing.
    const ws = await connect(`ws://127.0.0.1:${port}/`, { autoPong: false, pingInterval: 0, idleTimeout: 0 });
    const clientClosed = once(ws, 'close');
    await within(Promise.all([closed, clientClosed]), 5000, 'idle close');

    const srv = side(events, 'server');
    assert.deepEqual(names(srv), ['server:upgrade', 'connection:open', 'connection:error', 'connection:close']);
    assert.ok(find(srv, 'connection:error').error instanceof IdleTimeoutError);
    const close = find(srv, 'connection:close');
    assert.deepEqual({ code: close.code, closedBy: close.closedBy }, { code: 1001, closedBy: 'local' });
    // The client saw the keep-alive pings (how many depends on the timers) and no pong of its own.
    const client = names(side(events, 'client')).filter((n) => !n.startsWith('connect:'));
    assert.equal(client[0], 'connection:open');
    assert.equal(client[client.length - 1], 'connection:close');
    const middle = client.slice(1, -1);
    assert.ok(middle.length >= 1 && middle.every((n) => n === 'connection:ping'), middle.join(', '));
    const clientClose = find(side(events, 'client'), 'connection:close');
    assert.deepEqual({ code: clientClose.code, reason: clientClose.reason, closedBy: clientClose.closedBy }, { code: 1001, reason: 'idle timeout', closedBy: 'remote' });
  });

  test('a client retry: the failed try, the wait and its cause, then the connection', async (t) => {
    const events = record(t);
    let tries = 0;
    const { port } = await serve(t, { accept: () => (++tries === 1 ? { status: 503, body: 'Busy, try again.\n' } : true) });
    const ws = await connect(`ws://127.0.0.1:${port}/`, { retry: { attempts: 3, minDelay: 1, maxDelay: 5 } });
    t.after(() => ws.terminate());

    const client = names(side(events, 'client')).filter((n) => n !== 'connection:open');
    assert.deepEqual(client, ['connect:start', 'connect:end', 'client:retry', 'connect:asyncStart', 'connect:asyncEnd']);
    const retry = find(events, 'client:retry');
    assert.equal(retry.url, `ws://127.0.0.1:${port}/`);
    assert.equal(retry.attempt, 1);
    assert.ok(typeof retry.delay === 'number' && retry.delay >= 1 && retry.delay <= 5, String(retry.delay));
    assert.ok(retry.cause instanceof HandshakeError && retry.cause.status === 503);
    const srv = names(side(events, 'server'));
    assert.deepEqual(srv.slice(0, 3), ['server:upgrade', 'server:reject', 'server:upgrade']);
    assert.equal(find(events, 'server:reject').reason, 'Busy, try again');
  });

  test('a refused TCP connection is retried with a ConnectError as the cause', async (t) => {
    const events = record(t);
    // A port nobody listens on: listen, note it, close.
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`, { retry: { attempts: 2, minDelay: 1, maxDelay: 2 } }), ConnectError);
    const client = side(events, 'client');
    assert.deepEqual(names(client), ['connect:start', 'connect:end', 'client:retry', 'connect:error', 'connect:asyncStart', 'connect:asyncEnd']);
    assert.ok(find(client, 'client:retry').cause instanceof ConnectError);
  });

  test('backpressure: crossing maxBufferedAmount up, then back down once the peer has read', async (t) => {
    const events = record(t);
    const mark = 1024;
    let serverWs: WebSocket | undefined;
    const { server, port } = await serve(t, { maxBufferedAmount: mark }, (s) => s.on('connection', (ws) => (serverWs = ws)));
    const ws = await connect(`ws://127.0.0.1:${port}/`, { maxMessageSize: 64 * 1024 * 1024, maxFrameSize: 64 * 1024 * 1024 });
    t.after(() => ws.terminate());
    await once(ws, 'open');
    assert.ok(serverWs);
    const big = Buffer.alloc(16 * 1024 * 1024, 7);
    const first = serverWs.send(big);
    // This send finds the first one's bytes still waiting: more than any socket buffer takes at once.
    const second = serverWs.send('after');
    const up = events.filter((e) => e.name === 'connection:backpressure');
    assert.equal(up.length, 1, 'published once, on the crossing up');
    assert.deepEqual({ websocket: up[0]!.payload.websocket, role: up[0]!.payload.role, state: up[0]!.payload.state, mark: up[0]!.payload.mark }, {
      websocket: serverWs,
      role: 'server',
      state: 'above',
      mark,
    });
    assert.ok((up[0]!.payload.bufferedAmount as number) > mark);
    assert.ok(server.metrics().bufferedBytes > mark, 'the metrics see the bytes waiting too');
    await ws.receive();
    await ws.receive();
    await Promise.all([first, second]);
    await within(
      (async () => {
        while (!events.some((e) => e.name === 'connection:backpressure' && e.payload.state === 'below')) await new Promise((r) => setImmediate(r));
      })(),
      5000,
      'the crossing down',
    );
    const states = events.filter((e) => e.name === 'connection:backpressure').map((e) => e.payload.state);
    assert.deepEqual(states, ['above', 'below']);
    const below = events.find((e) => e.payload.state === 'below')!.payload;
    assert.ok((below.bufferedAmount as number) <= mark);
  });

  test('without subscribers nothing is published and nothing is recorded', async (t) => {
    for (const name of CHANNELS) assert.equal(channel(name).hasSubscribers, false, name);
    assert.equal(tracingChannel('hybi:client:connect').hasSubscribers, false);
    // A session still works with nobody looking (the publish functions return at once).
    const { port } = await serve(t, {});
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    await ws.ping('x');
    await ws.close();
  });
});

/** Reads from a raw socket until `marker` has arrived. */
async function readUntil(socket: Socket, marker: string): Promise<string> {
  let text = '';
  return within(
    new Promise<string>((resolve) => {
      const onData = (chunk: Buffer): void => {
        text += chunk.toString('latin1');
        if (text.includes(marker)) {
          socket.off('data', onData);
          socket.pause();
          resolve(text);
        }
      };
      socket.on('data', onData);
    }),
    5000,
    `'${marker}' from the server`,
  );
}
