/**
 * Connection options: one documented default each, and bad values refused with a typed error
 * that names the option.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createConnection, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Connection, type ConnectionHandler } from '../../src/core/connection.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { BrowserWebSocket } from '../../src/api/browser-websocket.js';
import { connect } from '../../src/api/connect.js';
import { WebSocketServer } from '../../src/api/server.js';
import type { ConnectionInit } from '../../src/api/connection-init.js';
import { WebSocket } from '../../src/api/websocket.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { closePair, wsPair } from '../helpers/ws-pair.js';
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_STALL_TIMEOUT,
  DEFAULT_MESSAGE_TIMEOUT,
  DEFAULT_PING_INTERVAL,
  DEFAULT_PONG_TIMEOUT,
  DEFAULT_RECEIVE_HIGH_WATER_MARK,
  DEFAULT_RECEIVE_HIGH_WATER_MESSAGES,
  MAX_DURATION,
  resolveOptions,
} from '../../src/api/options.js';

describe('defaults', () => {
  test('every option has its documented default', () => {
    assert.deepEqual(resolveOptions(), {
      maxFrameSize: 1024 * 1024,
      maxMessageSize: 1024 * 1024,
      maxFragments: 262_144,
      autoPong: true,
      pingInterval: DEFAULT_PING_INTERVAL,
      pongTimeout: DEFAULT_PONG_TIMEOUT,
      idleTimeout: DEFAULT_IDLE_TIMEOUT,
      closeTimeout: DEFAULT_CLOSE_TIMEOUT,
      propagateErrors: false,
      receiveHighWaterMark: DEFAULT_RECEIVE_HIGH_WATER_MARK,
      receiveHighWaterMessages: DEFAULT_RECEIVE_HIGH_WATER_MESSAGES,
      messageTimeout: DEFAULT_MESSAGE_TIMEOUT,
      maxBufferedAmount: DEFAULT_MAX_BUFFERED_AMOUNT,
      stallTimeout: DEFAULT_STALL_TIMEOUT,
    });
    assert.equal(DEFAULT_STALL_TIMEOUT, 30_000);
    assert.equal(DEFAULT_MESSAGE_TIMEOUT, 60_000);
    assert.equal(DEFAULT_MAX_BUFFERED_AMOUNT, 4 * 1024 * 1024);
    assert.equal(DEFAULT_PING_INTERVAL, 30_000);
    assert.equal(DEFAULT_IDLE_TIMEOUT, 60_000);
    assert.equal(DEFAULT_PONG_TIMEOUT, 20_000);
    assert.equal(DEFAULT_CLOSE_TIMEOUT, 5_000);
  });

  test('given values win, 0 disables timers, Infinity lifts size limits; unknown keys are ignored', () => {
    const resolved = resolveOptions({ pingInterval: 0, idleTimeout: 0, maxMessageSize: Infinity, autoPong: false, ...{ compress: true } });
    assert.equal(resolved.pingInterval, 0);
    assert.equal(resolved.idleTimeout, 0);
    assert.equal(resolved.maxMessageSize, Infinity);
    assert.equal(resolved.autoPong, false);
  });
});

describe('validation', () => {
  test('negative, NaN, non-numeric and infinite durations are refused, naming the option', () => {
    for (const [options, name] of [
      [{ closeTimeout: -1 }, 'closeTimeout'],
      [{ pingInterval: Number.NaN }, 'pingInterval'],
      [{ idleTimeout: Infinity }, 'idleTimeout'],
      [{ pongTimeout: -1 }, 'pongTimeout'],
      [{ messageTimeout: -5 }, 'messageTimeout'],
      [{ maxBufferedAmount: -1 }, 'maxBufferedAmount'],
      [{ maxMessageSize: '5' }, 'maxMessageSize'],
      [{ autoPong: 1 }, 'autoPong'],
      [{ propagateErrors: 'yes' }, 'propagateErrors'],
    ] as const) {
      assert.throws(
        () => resolveOptions(options as never),
        (error: unknown) => error instanceof InvalidArgumentError && error.message.startsWith(name),
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Every front-end checks its options once, before any network (issue 15).

/** Calls a method with arguments its (older) type may not list: ws's callback forms. */
function call<T>(target: object, method: string, ...args: unknown[]): T {
  return (target as Record<string, (...a: unknown[]) => T>)[method]!(...args);
}

/** An InvalidArgumentError whose message matches every pattern given. */
function invalid(...patterns: RegExp[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  };
}

/** A TCP server on loopback that answers nothing and counts the connections that reach it. */
async function countingServer(t: TestContext): Promise<{ port: number; url: string; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { port, url: `ws://127.0.0.1:${port}/`, connections: () => connections };
}

/** Invalid connection options with the name each error must give; the same for every front-end. */
const BAD_CONNECTION_OPTIONS: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
  [{ maxFragments: 0 }, 'maxFragments'],
  [{ maxMessageSize: 1.5 }, 'maxMessageSize'],
  [{ maxFrameSize: -1 }, 'maxFrameSize'],
  [{ pingInterval: -1 }, 'pingInterval'],
  [{ idleTimeout: Number.NaN }, 'idleTimeout'],
  [{ pongTimeout: '20s' }, 'pongTimeout'],
  // Beyond what Node's timers hold, a timer would fire after 1 ms instead.
  [{ closeTimeout: 2 ** 31 }, 'closeTimeout'],
  [{ messageTimeout: Infinity }, 'messageTimeout'],
  [{ receiveHighWaterMark: 0.5 }, 'receiveHighWaterMark'],
  [{ receiveHighWaterMessages: -1 }, 'receiveHighWaterMessages'],
  [{ maxBufferedAmount: '4096' }, 'maxBufferedAmount'],
  [{ autoPong: 'no' }, 'autoPong'],
  [{ propagateErrors: 1 }, 'propagateErrors'],
];

describe('one rule per option, the same in the api layer and the core', () => {
  const handler: ConnectionHandler = { output() {}, message() {}, ping() {}, pong() {}, close() {}, protocolError() {} };
  const values: unknown[] = [0, 1, 2, 1.5, -1, Number.NaN, Infinity, -Infinity, '5', true, 2 ** 53, undefined];
  for (const name of ['maxFrameSize', 'maxMessageSize', 'maxFragments', 'autoPong'] as const) {
    test(`${name}: resolveOptions accepts exactly what the core's connection accepts`, () => {
      for (const value of [...values, false]) {
        const core = attempt(() => new Connection({ role: 'client', [name]: value } as never, handler));
        const api = attempt(() => resolveOptions({ [name]: value } as never));
        assert.equal(api, core, `${name}: ${String(value)} is ${core} for the core, ${api} for the api`);
      }
    });
  }

  function attempt(f: () => unknown): 'accepted' | 'refused' {
    try {
      f();
      return 'accepted';
    } catch (error) {
      assert.ok(error instanceof InvalidArgumentError);
      return 'refused';
    }
  }

  test('byte and count bounds are integers (or Infinity); durations are numbers of ms up to 2^31 - 1', () => {
    assert.equal(MAX_DURATION, 2 ** 31 - 1);
    assert.equal(resolveOptions({ closeTimeout: MAX_DURATION }).closeTimeout, MAX_DURATION);
    assert.equal(resolveOptions({ pingInterval: 0.5 }).pingInterval, 0.5);
    assert.equal(resolveOptions({ maxBufferedAmount: Infinity }).maxBufferedAmount, Infinity);
    for (const [options, name] of BAD_CONNECTION_OPTIONS) {
      assert.throws(() => resolveOptions(options as never), invalid(new RegExp(`^${name} `)));
    }
  });
});

describe('WebSocketServer: options checked at construction', () => {
  test('every bad connection option throws InvalidArgumentError naming it, before any socket', () => {
    for (const [options, name] of BAD_CONNECTION_OPTIONS) {
      assert.throws(() => new WebSocketServer(options as never), invalid(new RegExp(name)));
    }
  });

  test("the server's own options are checked too", () => {
    for (const [options, name] of [
      [{ handshakeTimeout: Infinity }, 'handshakeTimeout'],
      [{ handshakeTimeout: -1 }, 'handshakeTimeout'],
      [{ concurrency: 0 }, 'concurrency'],
      [{ concurrency: 1.5 }, 'concurrency'],
      [{ maxConnections: 2.5 }, 'maxConnections'],
      [{ maxHeadSize: Infinity }, 'maxHeadSize'],
      [{ protocols: 'chat' }, 'protocols'],
      [{ protocols: ['a b'] }, 'protocols'],
      [{ requireProtocol: 'yes' }, 'requireProtocol'],
      [{ accept: true }, 'accept'],
      [{ allowedOrigins: 'https://example.com' }, 'allowedOrigins'],
      [{ headers: 'X-A: 1' }, 'headers'],
      [{ compress: 'yes' }, 'compress'],
    ] as const) {
      assert.throws(() => new WebSocketServer(options as never), invalid(new RegExp(name)));
    }
    assert.throws(() => new WebSocketServer('/chat' as never), invalid(/must be an object/));
  });

  test("unknown names are refused, all of them at once, and ws's names get a hint", () => {
    for (const [name, hint] of [
      ['server', /attach\(/],
      ['port', /listen\(/],
      ['host', /listen\(/],
      ['noServer', /handleUpgrade\(/],
      ['maxPayload', /maxMessageSize/],
      ['perMessageDeflate', /compress/],
      ['verifyClient', /accept/],
      ['path', /route\(/],
    ] as const) {
      assert.throws(() => new WebSocketServer({ [name]: 1 } as never), invalid(new RegExp(`'${name}'`), hint));
    }
    assert.throws(() => new WebSocketServer({ maxMessageSize: 10, colour: 'red', sped: 1 } as never), invalid(/unknown options .*'colour'.*'sped'/));
    assert.throws(() => new WebSocketServer({ compress: { zlibDeflateOptions: { level: 1 } } } as never), invalid(/'zlibDeflateOptions'.*level/));
    // ws's constructor takes a 'listening' callback; here it would never be called.
    assert.throws(() => new (WebSocketServer as new (...args: unknown[]) => WebSocketServer)({}, () => {}), invalid(/callback/));
  });

  test('route(), listen() and broadcast() options: unknown names and bad values are refused', async () => {
    const server = new WebSocketServer();
    const echo = (): void => {};
    assert.throws(() => server.route('/a', { protocol: ['chat'] } as never, echo), invalid(/'protocol'/));
    assert.throws(() => server.route('/a', { protocols: ['a,b'] }, echo), invalid(/protocols/));
    assert.throws(() => server.route('/a', { requireProtocol: 1 } as never, echo), invalid(/requireProtocol/));
    assert.throws(() => server.route('/a', { accept: 'no' } as never, echo), invalid(/accept/));
    await assert.rejects(server.listen({ port: 0, hots: '127.0.0.1' } as never), invalid(/'hots'/));
    await assert.rejects(server.listen({ port: 0, tls: {} } as never), invalid(/'tls'.*attach\(\)/));
    await assert.rejects(server.listen({ port: 70000 }), invalid(/port/));
    await assert.rejects(call<Promise<unknown>>(server, 'listen', { port: 0 }, () => {}), invalid(/callback/));
    assert.equal(server.address(), null, 'nothing listens after refused options');
    assert.throws(() => server.broadcast('x', { exclude: [] } as never), invalid(/'exclude'/));
    await server.close();
  });

  test('a good server still takes every documented option', async (t) => {
    const server = new WebSocketServer({
      protocols: ['chat'],
      requireProtocol: false,
      accept: () => true,
      allowedOrigins: ['https://example.com'],
      headers: { 'X-A': '1' },
      compress: { threshold: 0, level: 1 },
      concurrency: Infinity,
      handshakeTimeout: 1000,
      maxHeadSize: 8192,
      maxHeaderCount: 50,
      maxConnections: Infinity,
      maxFragments: 1,
      pingInterval: 0,
      idleTimeout: 0,
    });
    server.route('/chat', { protocols: ['chat'], requireProtocol: true, concurrency: 2 }, { message: () => {} });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1', onRequest: (_req, res) => res.end() });
    t.after(() => server.close());
    const ws = await connect(`ws://127.0.0.1:${port}/chat`, { protocols: ['chat'], pingInterval: 0, idleTimeout: 0 });
    assert.equal(ws.protocol, 'chat');
    await ws.close();
  });
});

describe('connect(): options checked before dialing', { timeout: 20_000 }, () => {
  test('a bad connection option rejects with InvalidArgumentError, and no connection reaches the server', async (t) => {
    const target = await countingServer(t);
    for (const [options, name] of BAD_CONNECTION_OPTIONS) {
      // Were it dialed, this server would never answer: the short bound ends the try.
      await assert.rejects(connect(target.url, { handshakeTimeout: 500, ...options } as never), invalid(new RegExp(name)));
    }
    await assert.rejects(connect(target.url, { handshakeTimeout: 2 ** 31 }), invalid(/handshakeTimeout/));
    assert.equal(target.connections(), 0);
  });

  test("unknown names are refused with a hint for ws's, TLS settings pointing to tls", async (t) => {
    const target = await countingServer(t);
    for (const [name, hint] of [
      ['rejectUnauthorized', /tls: \{ rejectUnauthorized \}/],
      ['ca', /tls: \{ ca \}/],
      ['maxPayload', /maxMessageSize/],
      ['perMessageDeflate', /compress/],
      ['followRedirects', /maxRedirects/],
    ] as const) {
      await assert.rejects(connect(target.url, { handshakeTimeout: 500, [name]: false } as never), invalid(new RegExp(`connect\\(\\).*'${name}'`), hint));
    }
    await assert.rejects(connect(target.url, { handshakeTimeout: 500, tls: { rejectUnauthorised: false } } as never), invalid(/tls.*'rejectUnauthorised'/));
    await assert.rejects(connect(target.url, { handshakeTimeout: 500, retry: { attemps: 3 } } as never), invalid(/retry.*'attemps'/));
    await assert.rejects(connect(target.url, { handshakeTimeout: 500, compress: { concurrencyLimit: 2 } } as never), invalid(/'concurrencyLimit'.*limiter/));
    await assert.rejects(connect(target.url, { handshakeTimeout: 500, retry: { onRetry: 'log' } } as never), invalid(/onRetry/));
    await assert.rejects(connect(target.url, 'chat' as never), invalid(/must be an object/));
    assert.equal(target.connections(), 0);
  });
});

describe('BrowserWebSocket: options checked in the constructor', { timeout: 20_000 }, () => {
  test('a bad or unknown option throws InvalidArgumentError from the constructor, and nothing is dialed', async (t) => {
    const target = await countingServer(t);
    for (const [options, name] of BAD_CONNECTION_OPTIONS) {
      assert.throws(() => new BrowserWebSocket(target.url, { handshakeTimeout: 500, ...options } as never), invalid(new RegExp(name)));
    }
    assert.throws(() => new BrowserWebSocket(target.url, { maxPayload: 10 } as never), invalid(/BrowserWebSocket.*'maxPayload'.*maxMessageSize/));
    assert.throws(() => new BrowserWebSocket(target.url, { protocols: ['chat'], rejectUnauthorized: false } as never), invalid(/tls/));
    // A round trip on the loopback: a dial made by the constructors would have arrived by now.
    const probe = createConnection(target.port, '127.0.0.1');
    await once(probe, 'connect');
    probe.destroy();
    await until(() => target.connections() >= 1);
    assert.equal(target.connections(), 1, 'only the probe reached the server');
  });
});

describe('new WebSocket(stream, init): options checked before the stream is touched', () => {
  test('bad and unknown options throw InvalidArgumentError and leave the stream alone', () => {
    const [a, b] = duplexPair();
    for (const [options, name] of BAD_CONNECTION_OPTIONS) {
      assert.throws(() => new WebSocket(a, { role: 'client', ...options } as never), invalid(new RegExp(name)));
    }
    assert.throws(() => new WebSocket(a, { role: 'client', maxPayload: 10 } as never), invalid(/new WebSocket\(\).*'maxPayload'/));
    // Options that did not come from resolveOptions are checked like the fields would be.
    const init: ConnectionInit = { role: 'client', options: { ...resolveOptions(), maxFragments: 0 } };
    assert.throws(() => new WebSocket(a, init), invalid(/maxFragments/));
    assert.equal(a.listenerCount('data') + a.listenerCount('readable') + a.listenerCount('close'), 0);
    a.destroy();
    b.destroy();
  });
});

describe("ws's callbacks: called as ws calls them, or refused", { timeout: 20_000 }, () => {
  test('send(data, cb) and send(data, options, cb): cb() once sent, cb(error) when the send fails', async () => {
    const { client, server } = await wsPair('memory');
    const errors: unknown[] = [];
    await new Promise<void>((resolve) => call(client, 'send', 'one', (error?: Error) => (errors.push(error), resolve())));
    await new Promise<void>((resolve) => call(client, 'send', Buffer.from('two'), { binary: false }, (error?: Error) => (errors.push(error), resolve())));
    assert.deepEqual(errors, [undefined, undefined]);
    assert.deepEqual(await server.receive(), { type: 'text', data: 'one' });
    assert.deepEqual(await server.receive(), { type: 'text', data: 'two' });
    // An option error and a closed connection reach the callback as errors.
    const bad = await new Promise<unknown>((resolve) => call(client, 'send', 'x', { mask: true }, resolve));
    assert.ok(bad instanceof InvalidArgumentError && /'mask'/.test(bad.message), String(bad));
    await client.close();
    const late = await new Promise<unknown>((resolve) => call(client, 'send', 'x', resolve));
    assert.equal((late as Error).name, 'ConnectionNotOpenError');
    await closePair(client, server);
  });

  test('send() refuses unknown option names, and a callback that is not a function throws at once', async () => {
    const { client, server } = await wsPair('memory');
    await assert.rejects(client.send('x', { fin: false } as never), invalid(/'fin'/));
    await assert.rejects(client.send('x', { binary: true, compres: false } as never), invalid(/'compres'/));
    assert.throws(() => call(client, 'send', 'x', {}, 'done'), invalid(/callback/));
    assert.throws(() => call(client, 'send', 'x', () => {}, {}), invalid(/callback/));
    await client.send('still open');
    assert.deepEqual(await server.receive(), { type: 'text', data: 'still open' });
    await closePair(client, server);
  });

  test('a callback that throws is a failed listener: reported as an error, and the connection closes 1011', async () => {
    const { client, server } = await wsPair('memory');
    const reported = once(client, 'error');
    const closed = once(server, 'close');
    call(client, 'send', 'x', () => {
      throw new Error('callback bug');
    });
    assert.equal(((await reported)[0] as Error).message, 'callback bug');
    assert.equal((await closed)[0], 1011);
    await closePair(client, server);
  });

  test('ping(cb), ping(data, cb), ping(data, mask, cb) and pong(...) call back once the frame is sent; a mask the role cannot honour is refused', async () => {
    const { client, server } = await wsPair('memory');
    const pings: string[] = [];
    server.on('ping', (payload) => pings.push(payload.toString()));
    const sent = (...args: unknown[]): Promise<unknown> => new Promise((resolve) => call(client, 'ping', ...args, resolve));
    assert.equal(await sent(), undefined);
    assert.equal(await sent('a'), undefined);
    assert.equal(await sent('b', true), undefined);
    const rtt = call<Promise<number>>(client, 'ping', 'c', true);
    assert.equal(typeof (await rtt), 'number');
    await until(() => pings.length === 4);
    assert.deepEqual(pings, ['', 'a', 'b', 'c']);
    // A client masks every frame and a server none (RFC 6455 section 5.3).
    await assert.rejects(call<Promise<number>>(client, 'ping', 'x', false), invalid(/mask/));
    await assert.rejects(call<Promise<number>>(server, 'ping', 'x', true), invalid(/mask/));
    await assert.rejects(client.ping('x', { timout: 10 } as never), invalid(/'timout'/));
    assert.throws(() => call(client, 'ping', 'x', {}, 42), invalid(/callback/));
    const pongs: string[] = [];
    client.on('pong', (payload) => pongs.push(payload.toString()));
    assert.equal(await new Promise((resolve) => call(server, 'pong', 'p', false, resolve)), undefined);
    await until(() => pongs.includes('p'));
    await client.close();
    const late = await sent('after');
    assert.equal((late as Error).name, 'ConnectionNotOpenError');
    await closePair(client, server);
  });

  test('handleUpgrade(req, socket, head, cb): cb(ws, req) once open, not for a refused request; a non-function throws', async (t) => {
    const server = new WebSocketServer({ pingInterval: 0, idleTimeout: 0 });
    server.route('/ok', () => {});
    const errors: unknown[] = [];
    server.on('handlerError', (error) => errors.push(error));
    const http = createHttpServer();
    const called: Array<{ ws: WebSocket; url: string | undefined }> = [];
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === '/bad-callback') {
        assert.throws(() => call(server, 'handleUpgrade', req, socket, head, 'cb'), invalid(/callback/));
        socket.destroy();
        return;
      }
      call(server, 'handleUpgrade', req, socket, head, (ws: WebSocket, r: IncomingMessage) => {
        called.push({ ws, url: r.url });
        ws.on('message', (data) => void ws.send(`echo ${String(data)}`));
        if (r.url === '/ok?throw') throw new Error('callback bug');
      });
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    t.after(async () => {
      await server.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });
    const base = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const ws = await connect(`${base}/ok`, { pingInterval: 0, idleTimeout: 0 });
    await ws.send('hi');
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'echo hi' });
    assert.equal(called.length, 1);
    assert.equal(called[0]!.url, '/ok');
    assert.equal(called[0]!.ws.readyState, 'open');
    await ws.close();
    await assert.rejects(connect(`${base}/missing`, { pingInterval: 0, idleTimeout: 0 }), (error: unknown) => (error as { status?: number }).status === 404);
    assert.equal(called.length, 1, 'no callback for a refused request');
    await assert.rejects(connect(`${base}/bad-callback`, { handshakeTimeout: 2000 }));
    const failing = await connect(`${base}/ok?throw`, { pingInterval: 0, idleTimeout: 0 });
    const [code] = await once(failing, 'close');
    assert.equal(code, 1011);
    assert.equal((errors[0] as Error).message, 'callback bug');
  });
});

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
