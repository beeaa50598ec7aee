// server.metrics() and toPrometheus(): the figures match what the test did (connections, refusals,
// messages and wire bytes, close codes, ping round trips, deflate), and the Prometheus text passes
// `promtool check metrics` (Debian's prometheus package) and a strict parse of its own.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { connect } from '../../src/api/connect.js';
import { MAX_REFUSAL_REASONS, PING_RTT_BUCKETS, toPrometheus, type MetricsSnapshot } from '../../src/api/metrics.js';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { HandshakeError } from '../../src/node/errors.js';

async function serve(t: TestContext, options: WebSocketServerOptions = {}) {
  const server = new WebSocketServer({ pingInterval: 0, idleTimeout: 0, ...options });
  server.on('handlerError', () => {});
  const connections: WebSocket[] = [];
  server.on('connection', (ws) => void connections.push(ws));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return { server, port, connections };
}

/** Resolves when the server's `n`-th connection from now has closed. */
function nextServerClose(server: WebSocketServer): Promise<unknown> {
  return new Promise((resolve) => server.once('connection', (ws: WebSocket) => ws.once('close', resolve)));
}

/** Echoes every message on every connection. */
function echo(server: WebSocketServer): void {
  server.on('connection', (ws) => ws.on('message', (data, isBinary) => void ws.send(isBinary ? data : data.toString()).catch(() => {})));
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the text exposition format 0.0.4: every line is a HELP, a TYPE or a sample
 * of the family last declared (histogram samples with _bucket/_sum/_count); label values are
 * quoted with \\, \" and \n escapes; values are floats, +Inf, -Inf or NaN. Throws on anything else.
 */
function parsePrometheus(text: string): Sample[] {
  assert.ok(text.endsWith('\n'), 'ends with a line feed');
  const samples: Sample[] = [];
  const declared = new Map<string, string>();
  let family: string | null = null;
  let type: string | null = null;
  const helped = new Set<string>();
  const lines = text.slice(0, -1).split('\n');
  for (const line of lines) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      assert.ok(!helped.has(m[1]!), `HELP twice for ${m[1]}`);
      helped.add(m[1]!);
      family = m[1]!;
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      assert.equal(m[1], family, `TYPE right after the HELP of ${m[1]}`);
      assert.ok(!declared.has(m[1]!), `TYPE twice for ${m[1]}`);
      declared.set(m[1]!, m[2]!);
      type = m[2]!;
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = m;
    assert.ok(family !== null, `sample before any TYPE: ${line}`);
    if (type === 'histogram') assert.ok([`${family}_bucket`, `${family}_sum`, `${family}_count`].includes(name!), `${name} in histogram ${family}`);
    else assert.equal(name, family, `sample ${name} inside family ${family}`);
    if (type === 'counter') assert.ok(name!.endsWith('_total'), `counter ${name} ends in _total`);
    const labels: Record<string, string> = {};
    let rest = labelText ?? '';
    while (rest.length > 0) {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      assert.ok(l, `bad labels: ${labelText}`);
      assert.ok(!(l[1]! in labels), `label ${l[1]} twice`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l[0].length);
    }
    assert.ok(/^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|\+Inf|-Inf|NaN)$/.test(valueText!), `bad value ${valueText}`);
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    samples.push({ name: name!, labels, value });
  }
  return samples;
}

/** The value of one sample; every label given must match and the sample must be unique. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]!.value;
}

/** Runs `promtool check metrics` on the text: exit 0 and no complaint. */
function promtool(text: string): void {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  assert.equal(result.error, undefined, `promtool could not run (Debian package prometheus): ${String(result.error)}`);
  assert.equal(result.status, 0, `promtool check metrics failed:\n${result.stdout}${result.stderr}\n--- text ---\n${text}`);
  assert.equal(`${result.stdout}${result.stderr}`.trim(), '', 'promtool has no lint complaint');
}

describe('WebSocketServer.metrics()', { timeout: 60_000 }, () => {
  test('counts what one session did: messages and wire bytes both ways, a ping round trip, a clean close', async (t) => {
    const { server, port, connections } = await serve(t);
    echo(server);
    const fresh = server.metrics();
    assert.equal(fresh.connections.open, 0);
    assert.equal(fresh.messages.received, 0);

    const closed = nextServerClose(server);
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    await ws.send('hello');
    assert.equal((await ws.receive()).data, 'hello');
    const rtt = await connections[0]!.ping('p');

    const open = server.metrics();
    assert.equal(open.connections.open, 1);
    assert.equal(open.connections.accepted, 1);
    assert.equal(open.messages.received, 1);
    assert.equal(open.messages.sent, 1);
    // Client frames are masked: 2 + 4 + payload; the server's are 2 + payload.
    assert.equal(open.bytes.received, 6 + 5 + (6 + 1), 'the text frame and the pong');
    assert.equal(open.bytes.sent, 2 + 5 + (2 + 1), 'the echo and the ping');
    assert.equal(open.pingRoundTrip.count, 1);
    assert.ok(Math.abs(open.pingRoundTrip.sum - rtt / 1000) < 1e-9, 'the round trip ping() resolved with, in seconds');
    const le = PING_RTT_BUCKETS.find((b) => rtt / 1000 <= b) ?? Infinity;
    for (const bucket of open.pingRoundTrip.buckets) assert.equal(bucket.count, bucket.le >= le ? 1 : 0, `le ${bucket.le}`);

    await ws.close(1000, 'bye');
    await closed;
    const after = server.metrics();
    assert.equal(after.connections.open, 0);
    assert.deepEqual(after.connections.closed, { clean: 1, failed: 0, abnormal: 0 });
    assert.deepEqual(after.connections.closedBy, { local: 0, remote: 1, none: 0 });
    assert.deepEqual(after.closeCodes, [{ code: 1000, count: 1 }]);
    // The close frame (1000 'bye') in, its echo (1000, no reason) out; nothing lost at the close.
    assert.equal(after.bytes.received, open.bytes.received + 6 + 2 + 3);
    assert.equal(after.bytes.sent, open.bytes.sent + 2 + 2);
    assert.equal(after.messages.received, 1);
    assert.equal(after.bufferedBytes, 0);
  });

  test('counts refusals by status and reason, failed and abnormal closes, and renders all of it for Prometheus', async (t) => {
    const { server, port } = await serve(t, {
      compress: true,
      accept: (req) => (req.url === '/quote' ? { status: 401, body: 'Say "please" \\ first\n' } : true),
    });
    server.route('/', () => new Promise(() => {}));
    server.route('/echo', (ws) => {
      ws.on('message', (data, isBinary) => void ws.send(isBinary ? data : data.toString()).catch(() => {}));
      return new Promise((resolve) => ws.once('close', resolve));
    });
    server.route('/quote', () => {});

    // Two refusals: no route, and an accept hook's answer whose reason needs escaping.
    await assert.rejects(connect(`ws://127.0.0.1:${port}/nowhere`), (e: unknown) => e instanceof HandshakeError && e.status === 404);
    await assert.rejects(connect(`ws://127.0.0.1:${port}/quote`), (e: unknown) => e instanceof HandshakeError && e.status === 401);

    // A compressed session, closed cleanly by the client.
    let closed = nextServerClose(server);
    const text = 'compress me '.repeat(500);
    const deflating = await connect(`ws://127.0.0.1:${port}/echo`, { compress: true });
    assert.match(deflating.extensions, /permessage-deflate/);
    await deflating.send(text);
    await deflating.send(text);
    await deflating.receive();
    await deflating.receive();
    await deflating.close();
    await closed;

    // A protocol error: an unmasked client frame (RFC 6455 section 5.1), failed by the server with 1002.
    closed = nextServerClose(server);
    const raw = netConnect({ port, host: '127.0.0.1' });
    t.after(() => raw.destroy());
    raw.on('error', () => {});
    await once(raw, 'connect');
    raw.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await once(raw, 'data');
    raw.write(Buffer.from([0x81, 0x00]));
    raw.resume();
    await closed;

    // A client that vanishes: no close frame from either side (1006).
    closed = nextServerClose(server);
    const gone = await connect(`ws://127.0.0.1:${port}/`);
    await once(gone, 'open');
    gone.terminate();
    await closed;

    const m = server.metrics();
    assert.equal(m.connections.accepted, 3);
    assert.equal(m.connections.refused, 2);
    assert.equal(m.connections.open, 0);
    assert.deepEqual(m.connections.closed, { clean: 1, failed: 1, abnormal: 1 });
    assert.deepEqual(m.connections.closedBy, { local: 1, remote: 1, none: 1 });
    assert.deepEqual(m.closeCodes, [
      { code: 1000, count: 1 },
      { code: 1002, count: 1 },
      { code: 1006, count: 1 },
    ]);
    assert.deepEqual(
      m.refusals.sort((a, b) => a.status - b.status),
      [
        { status: 401, reason: 'Say "please" \\ first', count: 1 },
        { status: 404, reason: 'No WebSocket endpoint at this path', count: 1 },
      ],
    );
    assert.equal(m.messages.received, 2);
    assert.equal(m.messages.sent, 2);
    assert.equal(m.deflate.received.raw, 2 * text.length);
    assert.equal(m.deflate.sent.raw, 2 * text.length);
    assert.ok(m.deflate.received.compressed > 0 && m.deflate.received.ratio! < 0.1, `ratio ${m.deflate.received.ratio}`);
    assert.ok(m.deflate.sent.compressed > 0 && m.deflate.sent.ratio! < 0.1, `ratio ${m.deflate.sent.ratio}`);

    const prom = m.toPrometheus();
    promtool(prom);
    const samples = parsePrometheus(prom);
    assert.equal(value(samples, 'hybi_connections_open'), 0);
    assert.equal(value(samples, 'hybi_connections_total'), 3);
    assert.equal(value(samples, 'hybi_connections_closed_total', { outcome: 'clean' }), 1);
    assert.equal(value(samples, 'hybi_connections_closed_total', { outcome: 'failed' }), 1);
    assert.equal(value(samples, 'hybi_connections_closed_total', { outcome: 'abnormal' }), 1);
    assert.equal(value(samples, 'hybi_connections_closed_by_total', { side: 'none' }), 1);
    assert.equal(value(samples, 'hybi_handshake_refusals_total', { status: '401', reason: 'Say "please" \\ first' }), 1);
    assert.equal(value(samples, 'hybi_handshake_refusals_total', { status: '404' }), 1);
    assert.equal(value(samples, 'hybi_close_codes_total', { code: '1002' }), 1);
    assert.equal(value(samples, 'hybi_messages_received_total'), 2);
    assert.equal(value(samples, 'hybi_messages_sent_total'), 2);
    assert.equal(value(samples, 'hybi_received_bytes_total'), m.bytes.received);
    assert.equal(value(samples, 'hybi_sent_bytes_total'), m.bytes.sent);
    assert.equal(value(samples, 'hybi_buffered_bytes'), 0);
    assert.equal(value(samples, 'hybi_ping_rtt_seconds_bucket', { le: '+Inf' }), 0);
    assert.equal(value(samples, 'hybi_ping_rtt_seconds_count'), 0);
    assert.equal(value(samples, 'hybi_deflate_raw_bytes_total', { direction: 'received' }), 2 * text.length);
    assert.equal(value(samples, 'hybi_deflate_compressed_bytes_total', { direction: 'sent' }), m.deflate.sent.compressed);
  });

  test('refusals over maxConnections and handshakes that time out are counted too', async (t) => {
    const { server, port } = await serve(t, { maxConnections: 1, handshakeTimeout: 50 });
    const closed = nextServerClose(server);
    const first = await connect(`ws://127.0.0.1:${port}/`);
    t.after(() => first.terminate());
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`), (e: unknown) => e instanceof HandshakeError && e.status === 503);
    first.terminate();
    await closed;
    // A connection that never sends its request head.
    const silent = netConnect({ port, host: '127.0.0.1' });
    t.after(() => silent.destroy());
    silent.on('error', () => {});
    silent.resume();
    await once(silent, 'close');
    const refusals = server.metrics().refusals.sort((a, b) => a.status - b.status);
    assert.deepEqual(refusals.map((r) => [r.status, r.count]), [
      [408, 1],
      [503, 1],
    ]);
  });

  test(`keeps at most ${MAX_REFUSAL_REASONS} refusal reasons apart; the rest count as "other"`, async (t) => {
    let n = 0;
    const { server, port } = await serve(t, { accept: () => ({ status: 403, body: `reason ${n++}\n` }) });
    const total = MAX_REFUSAL_REASONS + 3;
    for (let i = 0; i < total; i++) await assert.rejects(connect(`ws://127.0.0.1:${port}/`), HandshakeError);
    const m = server.metrics();
    assert.equal(m.connections.refused, total);
    assert.equal(m.refusals.length, MAX_REFUSAL_REASONS + 1);
    assert.equal(m.refusals.find((r) => r.reason === 'other')?.count, 3);
    assert.equal(m.refusals.reduce((sum, r) => sum + r.count, 0), total);
    promtool(m.toPrometheus());
  });

  test('toPrometheus() renders a histogram with cumulative buckets, _sum and _count', () => {
    const buckets = [...PING_RTT_BUCKETS.map((le, i) => ({ le, count: i < 3 ? 1 : 2 })), { le: Infinity, count: 3 }];
    const snapshot: Omit<MetricsSnapshot, 'toPrometheus'> = {
      connections: { open: 2, accepted: 5, refused: 0, closed: { clean: 3, failed: 0, abnormal: 0 }, closedBy: { local: 1, remote: 2, none: 0 } },
      refusals: [],
      messages: { received: 10, sent: 20 },
      bytes: { received: 100, sent: 200 },
      closeCodes: [],
      bufferedBytes: 7,
      pingRoundTrip: { buckets, sum: 12.5, count: 3 },
      deflate: { sent: { raw: 0, compressed: 0, ratio: null }, received: { raw: 0, compressed: 0, ratio: null } },
    };
    const text = toPrometheus(snapshot);
    promtool(text);
    const samples = parsePrometheus(text);
    assert.equal(value(samples, 'hybi_ping_rtt_seconds_bucket', { le: '0.001' }), 1);
    assert.equal(value(samples, 'hybi_ping_rtt_seconds_bucket', { le: '10' }), 2);
    assert.equal(value(samples, 'hybi_ping_rtt_seconds_bucket', { le: '+Inf' }), 3);
    assert.equal(value(samples, 'hybi_ping_rtt_seconds_sum'), 12.5);
    assert.equal(value(samples, 'hybi_ping_rtt_seconds_count'), 3);
    assert.equal(value(samples, 'hybi_buffered_bytes'), 7);
    assert.match(text, /^# TYPE hybi_ping_rtt_seconds histogram$/m);
    assert.match(text, /^# TYPE hybi_messages_sent_total counter$/m);
  });

  test('the strict parser refuses malformed exposition text', () => {
    for (const bad of ['# TYPE x counter\nx 1\n', 'x{a="b} 1\n', '# HELP y_total h\n# TYPE y_total counter\ny_total one\n', '# HELP z h\n# TYPE z gauge\nz 1']) {
      assert.throws(() => parsePrometheus(bad), bad);
    }
  });
});
