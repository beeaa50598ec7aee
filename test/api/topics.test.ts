// Topics on one server (issue 20): subscribe, publish, order, offsets and history, compression
// shared by the connections that can share it, and slow subscribers under each policy.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { constants, inflateRawSync } from 'node:zlib';
import { connect } from '../../src/api/connect.js';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import type { SlowSubscriberPolicy, TopicDrop } from '../../src/api/topics/types.js';
import { memoryBroker } from '../../src/api/topics/memory-broker.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { Opcode } from '../../src/core/opcode.js';
import type { Frame } from '../../src/core/frame.js';
import { RawPeer, within } from '../helpers/ws-pair.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A server whose route `/t/a,b` subscribes each connection to the topics a and b. */
async function serve(t: TestContext, options: WebSocketServerOptions = {}) {
  const server = new WebSocketServer(options);
  server.on('handlerError', () => {});
  server.route('/t/:topics', (ws, _req, match) => {
    for (const topic of match.params.topics!.split(',')) ws.subscribe(topic);
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  // Clients go first, so that close() does not wait for raw peers that never answer.
  const closers: (() => void)[] = [];
  t.after(() => {
    for (const close of closers) close();
    return server.close();
  });
  return { server, port, url: `ws://127.0.0.1:${port}`, own: (close: () => void) => closers.push(close) };
}

/** Resolves once `condition` holds, checking after each turn of the event loop (bounded). */
async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${what} never held`);
}

async function texts(ws: WebSocket, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = await within(ws.receive(), 10_000, `message ${i}`);
    out.push(typeof m.data === 'string' ? m.data : `bytes:${Buffer.from(m.data as Uint8Array).toString('hex')}`);
  }
  return out;
}

/** A raw client that completed the handshake; its reading can be paused. */
async function rawClient(port: number, path: string, extensions?: string, framed = true): Promise<{ socket: Socket; peer: RawPeer; response: string }> {
  const socket = netConnect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
      (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
      '\r\n',
  );
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    head = Buffer.concat([head, chunk]);
  }
  socket.pause();
  const end = head.indexOf('\r\n\r\n') + 4;
  if (end < head.length) socket.unshift(head.subarray(end));
  // Unframed: the test counts bytes itself (RawPeer re-reads its buffer on every chunk).
  const peer = framed ? new RawPeer(socket, 'client') : (null as unknown as RawPeer);
  if (framed) socket.resume();
  return { socket, peer, response: head.subarray(0, end).toString('latin1') };
}

describe('topics on one server', { timeout: 60_000 }, () => {
  it('subscribers get each topic in publish order, with offsets; except, binary and unsubscribe work', async (t) => {
    const { server, url, own } = await serve(t);
    const a = await connect(`${url}/t/news,sport`);
    const b = await connect(`${url}/t/news`);
    own(() => [a, b].forEach((c) => c.terminate()));
    await until(() => server.subscriberCount('news') === 2 && server.subscriberCount('sport') === 1);
    const [aSide, bSide] = [...server.clients];
    assert.deepEqual([...aSide!.topics].sort(), ['news', 'sport']);

    const first = await server.publish('news', 'n1');
    const second = await server.publish('sport', 's1');
    const third = await server.publish('news', 'n2', { except: bSide });
    await server.publish('news', new Uint8Array([1, 2]));
    await server.publish('news', 'as bytes', { binary: true });
    assert.equal(first.offset, 1);
    assert.equal(third.offset, 2);
    assert.equal(third.epoch, first.epoch);
    assert.equal(second.offset, 1, 'offsets count per topic');
    assert.notEqual(second.epoch, '');

    assert.deepEqual(await texts(a, 5), ['n1', 's1', 'n2', 'bytes:0102', `bytes:${Buffer.from('as bytes').toString('hex')}`]);
    assert.deepEqual(await texts(b, 3), ['n1', 'bytes:0102', `bytes:${Buffer.from('as bytes').toString('hex')}`]);

    assert.equal(bSide!.unsubscribe('news'), true);
    assert.equal(bSide!.unsubscribe('news'), false);
    assert.equal(server.subscriberCount('news'), 1);
    await server.publish('news', 'after');
    await server.publish('sport', 'to b? no');
    bSide!.subscribe('sport');
    await server.publish('sport', 'b now');
    assert.deepEqual(await texts(b, 1), ['b now']);
    assert.deepEqual(await texts(a, 3), ['after', 'to b? no', 'b now']);
  });

  it('totalSubscriberCount(): the memory broker counts this server; a broker that counts across servers is told of every change and asked', async (t) => {
    const { server, url, own } = await serve(t);
    const a = await connect(`${url}/t/news,sport`);
    const b = await connect(`${url}/t/news`);
    own(() => [a, b].forEach((c) => c.terminate()));
    await until(() => server.subscriberCount('news') === 2);
    assert.equal(await server.totalSubscriberCount('news'), 2);
    assert.equal(await server.totalSubscriberCount('sport'), 1);
    assert.equal(await server.totalSubscriberCount('nobody'), 0);
    await assert.rejects(server.totalSubscriberCount(''), InvalidArgumentError);

    // A broker that keeps counts elsewhere: it hears of each change with this server's count,
    // and its answer (here: this server's plus 40 elsewhere) is what the server returns.
    const told: string[] = [];
    const inner = memoryBroker();
    let sink: Parameters<typeof inner.open>[0] | null = null;
    const counting = {
      open: (s: Parameters<typeof inner.open>[0]) => {
        sink = s;
        return inner.open(s);
      },
      subscribe: (topic: string) => inner.subscribe(topic),
      unsubscribe: (topic: string) => inner.unsubscribe(topic),
      publish: inner.publish.bind(inner),
      history: inner.history.bind(inner),
      close: () => inner.close(),
      subscribersChanged: (topic: string) => told.push(`${topic}=${sink!.count(topic)}`),
      subscriberCount: async (topic: string) => sink!.count(topic) + 40,
    };
    const other = await serve(t, { broker: counting });
    const c = await connect(`${other.url}/t/news`);
    const d = await connect(`${other.url}/t/news,sport`);
    other.own(() => [c, d].forEach((x) => x.terminate()));
    await until(() => told.length === 3);
    assert.deepEqual(told.sort(), ['news=1', 'news=2', 'sport=1']);
    assert.equal(await other.server.totalSubscriberCount('news'), 42);
    assert.equal(other.server.subscriberCount('news'), 2, 'subscriberCount() stays this server\'s, synchronous');
    const cSide = [...other.server.clients].find((ws) => ws.topics.size === 1);
    assert.equal(cSide!.unsubscribe('news'), true);
    assert.deepEqual(told.at(-1), 'news=1');
    d.terminate();
    await until(() => told.length === 6);
    assert.deepEqual(told.slice(4).sort(), ['news=0', 'sport=0']);
  });

  it('broadcast() is publishing to everyone on this server, in order with topic messages', async (t) => {
    const { server, url, own } = await serve(t);
    const a = await connect(`${url}/t/x`);
    const b = await connect(`${url}/t/y`);
    own(() => [a, b].forEach((c) => c.terminate()));
    await until(() => server.subscriberCount('x') === 1 && server.subscriberCount('y') === 1);
    await server.publish('x', 'x1');
    assert.equal(server.broadcast('all'), 2);
    await server.publish('y', 'y1');
    assert.deepEqual(await texts(a, 2), ['x1', 'all']);
    assert.deepEqual(await texts(b, 2), ['all', 'y1']);
  });

  it('broadcasts of one tick reach each client as that client was sent them, when clients were sent different ones', async (t) => {
    // Issue 24: the frames of one tick are joined once and shared by the clients that got the
    // same ones; a client left out of one must get its own sequence, not a neighbour's.
    const { server, url, own } = await serve(t);
    const a = await connect(`${url}/t/x`);
    const b = await connect(`${url}/t/y`);
    const c = await connect(`${url}/t/x`);
    own(() => [a, b, c].forEach((client) => client.terminate()));
    await until(() => server.subscriberCount('x') === 2 && server.subscriberCount('y') === 1);
    const bSide = [...server.clients].find((ws) => ws.topics.has('y'))!;
    assert.equal(server.broadcast('one'), 3);
    assert.equal(server.broadcast('two', { except: bSide }), 2);
    assert.equal(server.broadcast('three'), 3);
    assert.equal(server.broadcast('four', { except: bSide }), 2);
    assert.equal(server.broadcast('five'), 3);
    assert.deepEqual(await texts(a, 5), ['one', 'two', 'three', 'four', 'five']);
    assert.deepEqual(await texts(b, 3), ['one', 'three', 'five']);
    assert.deepEqual(await texts(c, 5), ['one', 'two', 'three', 'four', 'five']);
  });

  it('refuses bad topics and options with InvalidArgumentError; a client connection cannot subscribe', async (t) => {
    const { server, url, own } = await serve(t);
    await assert.rejects(server.publish('', 'x'), InvalidArgumentError);
    await assert.rejects(server.publish('x'.repeat(1025), 'x'), InvalidArgumentError);
    await assert.rejects(server.publish('t', 'x', { nope: 1 } as never), /unknown option 'nope'/);
    await assert.rejects(server.publish('t', 42 as never), InvalidArgumentError);
    assert.throws(() => new WebSocketServer({ slowSubscriber: { policy: 'maybe' as never } }), InvalidArgumentError);
    assert.throws(() => new WebSocketServer({ slowSubscriber: { maxQueuedBytes: 0 } }), InvalidArgumentError);
    assert.throws(() => new WebSocketServer({ broker: {} as never }), InvalidArgumentError);
    const client = await connect(`${url}/t/a`);
    own(() => client.terminate());
    assert.throws(() => client.subscribe('a'), InvalidArgumentError);
    assert.equal(client.topics.size, 0);
    await assert.rejects(server.history('t', { since: { epoch: 'e', offset: -1 } }), InvalidArgumentError);
  });

  it('history() replays what the bounded history holds and says whether the gap was filled', async (t) => {
    const { server } = await serve(t, { broker: memoryBroker({ historySize: 3 }) });
    const positions = [];
    for (let i = 1; i <= 5; i++) positions.push(await server.publish('h', `m${i}`));
    // Offsets 3..5 are held; a client at 3 misses nothing, one at 1 missed offset 2.
    const filled = await server.history('h', { since: positions[2]! });
    assert.equal(filled.complete, true);
    assert.deepEqual(filled.messages.map((m) => [m.offset, Buffer.from(m.data).toString()]), [[4, 'm4'], [5, 'm5']]);
    assert.equal(filled.offset, 5);
    const gap = await server.history('h', { since: positions[0]! });
    assert.equal(gap.complete, false);
    assert.deepEqual(gap.messages.map((m) => m.offset), [3, 4, 5]);
    const otherEpoch = await server.history('h', { since: { epoch: 'not-this-one', offset: 4 } });
    assert.equal(otherEpoch.complete, false);
    const upToDate = await server.history('h', { since: positions[4]! });
    assert.deepEqual([upToDate.complete, upToDate.messages.length], [true, 0]);
    const all = await server.history('h');
    assert.equal(all.complete, false, 'offsets 1 and 2 were trimmed');
    // A retry with the same id is stored (and delivered) once.
    const again = await server.publish('h', 'retried', { id: 'same' });
    assert.deepEqual(await server.publish('h', 'retried', { id: 'same' }), again);
    assert.equal((await server.history('h')).offset, 6);
  });

  it('compresses once for the connections that can share it, plain for the others', async (t) => {
    const { server, port, own } = await serve(t, { compress: { threshold: 0 } });
    const shared = await rawClient(port, '/t/z', 'permessage-deflate; server_no_context_takeover');
    const ownWindow = await rawClient(port, '/t/z', 'permessage-deflate');
    const plain = await rawClient(port, '/t/z');
    own(() => [shared, ownWindow, plain].forEach((c) => c.socket.destroy()));
    assert.match(shared.response, /server_no_context_takeover/);
    await until(() => server.subscriberCount('z') === 3);
    const text = 'compress me '.repeat(100);
    await server.publish('z', text);
    const frames = await Promise.all([shared, ownWindow, plain].map((c) => c.peer.nextFrame()));
    const [f1, f2, f3] = frames as Frame[];
    assert.equal(f1.rsv1, true, 'no context takeover: the shared compressed frame');
    const inflated = inflateRawSync(Buffer.concat([f1.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
    assert.equal(inflated, text);
    assert.ok(f1.payload.length < text.length / 5);
    assert.equal(f2.rsv1, false, 'context takeover: sent uncompressed rather than break its compressor');
    assert.equal(Buffer.from(f2.payload).toString(), text);
    assert.equal(f3.rsv1, false);
    assert.equal(Buffer.from(f3.payload).toString(), text);
    await server.publish('z', text, { compress: false });
    assert.equal((await shared.peer.nextFrame())!.rsv1, false, 'compress: false');
  });
});

describe('a socket full of the application\'s own sends', { timeout: 60_000 }, () => {
  it('queues published messages behind them and sends them once it drains', async (t) => {
    const { server, port, own } = await serve(t, { slowSubscriber: { writeBuffer: 1024 } });
    const raw = await rawClient(port, '/t/q', undefined, false);
    own(() => raw.socket.destroy());
    await until(() => server.subscriberCount('q') === 1);
    const ws = [...server.clients][0]!;
    // The application's own send fills the socket; the publishes wait in the topic queue.
    const big = 'b'.repeat(8 << 20);
    void ws.send(big).catch(() => {});
    await server.publish('q', 'first');
    await server.publish('q', 'second');
    assert.equal(server.topicMetrics().queuedMessages, 2);
    // The big message's frame (10-byte header), then the two published ones, in that order.
    const expected = 10 + big.length + (2 + 'first'.length) + (2 + 'second'.length);
    const chunks: Buffer[] = [];
    let total = 0;
    raw.socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
    });
    raw.socket.resume();
    await until(() => total >= expected, 'everything arrived');
    const tail = Buffer.concat(chunks).subarray(10 + big.length);
    assert.deepEqual([...tail], [0x81, 5, ...Buffer.from('first'), 0x81, 6, ...Buffer.from('second')]);
    assert.equal(total, expected);
  });
});

/**
 * A subscriber that stopped reading (a paused raw socket) beside one that reads: publish until the
 * slow one's queue is over its bounds, then check what each got.
 */
async function slowScenario(t: TestContext, policy: SlowSubscriberPolicy) {
  const maxQueuedBytes = 64 * 1024;
  const { server, port, url, own } = await serve(t, { slowSubscriber: { policy, maxQueuedMessages: 20, maxQueuedBytes, writeBuffer: 16 * 1024 } });
  const drops: TopicDrop[] = [];
  server.on('topicDrop', (d) => drops.push(d));
  const slow = await rawClient(port, '/t/feed');
  const fast = await connect(`${url}/t/feed`, { maxMessageSize: 1 << 20 });
  own(() => {
    slow.socket.destroy();
    fast.terminate();
  });
  await until(() => server.subscriberCount('feed') === 2);
  // The raw client connected first, and clients are listed in the order they came.
  const slowSide = [...server.clients][0]!;
  slow.socket.pause();
  const received: string[] = [];
  const reading = (async () => {
    for await (const m of fast) {
      received.push((m.data as string).slice(0, 8));
    }
  })();
  const pad = 'p'.repeat(16 * 1024);
  let published = 0;
  let maxQueued = 0;
  // Until the slow subscriber's queue overflowed (the kernel's buffers fill first), bounded.
  const overflowed = (): boolean => {
    const m = server.topicMetrics();
    return m.closedSlow > 0 || m.dropped['drop-oldest'] + m.dropped['drop-newest'] > 0 || (policy === 'conflate' && m.dropped.conflate > 20);
  };
  while (!overflowed() && published < 3000) {
    const n = ++published;
    await server.publish('feed', `${String(n).padStart(8, '0')}${pad}`, policy === 'conflate' ? { key: 'latest' } : {});
    const m = server.topicMetrics();
    maxQueued = Math.max(maxQueued, m.queuedBytes);
    assert.ok(slowSide.readyState !== 'open' || slowSide.bufferedAmount <= 16 * 1024 + pad.length + 100, `socket buffer bounded (${slowSide.bufferedAmount})`);
    // Let the fast reader keep up: it is not the one under test.
    await until(() => received.length === n, 'the fast subscriber keeps up');
  }
  assert.ok(overflowed(), `the queue overflowed after ${published} publishes`);
  // Ten more after the overflow, so each policy has something to act on.
  for (let i = 0; i < 10; i++) {
    const n = ++published;
    await server.publish('feed', `${String(n).padStart(8, '0')}${pad}`, policy === 'conflate' ? { key: 'latest' } : {});
    maxQueued = Math.max(maxQueued, server.topicMetrics().queuedBytes);
    await until(() => received.length === n, 'the fast subscriber keeps up');
  }
  assert.ok(maxQueued <= maxQueuedBytes, `queued bytes stay within the bound (${maxQueued})`);
  // The reader that keeps up got everything, in order.
  await until(() => received.length === published, 'the fast subscriber got all');
  assert.deepEqual(received, Array.from({ length: published }, (_, i) => String(i + 1).padStart(8, '0')));
  fast.terminate();
  await reading.catch(() => {});
  return { server, slow, slowSide, drops, published };
}

/** Reads the slow client's frames until the stream ends or `stop` says enough. */
async function drain(peer: RawPeer, stop: (f: Frame) => boolean): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (;;) {
    const f = await within(peer.nextFrame(), 10_000, 'a frame');
    if (f === null) return frames;
    frames.push(f);
    if (stop(f)) return frames;
  }
}

function offsetOf(f: Frame): number {
  return Number(Buffer.from(f.payload.subarray(0, 8)).toString());
}

describe('slow subscribers', { timeout: 120_000 }, () => {
  it("'close': 1008 with a reason that says why; the others are unaffected", async (t) => {
    const { slow, server } = await slowScenario(t, 'close');
    assert.equal(server.topicMetrics().closedSlow, 1);
    slow.socket.resume();
    const frames = await drain(slow.peer, (f) => f.opcode === Opcode.Close);
    const close = frames.at(-1)!;
    assert.equal(close.opcode, Opcode.Close);
    assert.equal(Buffer.from(close.payload).readUInt16BE(0), 1008);
    assert.match(Buffer.from(close.payload.subarray(2)).toString(), /^too slow: \d+ messages \(\d+ bytes\) waiting, topic "feed"$/);
    // What reached the socket before the close is in order, without gaps.
    const offsets = frames.filter((f) => f.opcode === Opcode.Text).map(offsetOf);
    assert.deepEqual(offsets, Array.from({ length: offsets.length }, (_, i) => i + 1));
  });

  for (const policy of ['drop-oldest', 'drop-newest', 'conflate'] as const) {
    it(`'${policy}': bounded, every drop counted and emitted, pings still answered ahead of the queue`, async (t) => {
      const { slow, server, drops, published, slowSide } = await slowScenario(t, policy);
      const metrics = server.topicMetrics();
      assert.ok(drops.length > 0);
      assert.equal(drops.length, metrics.dropped[policy]);
      assert.ok(drops.every((d) => d.policy === policy && d.topic === 'feed' && d.ws === slowSide));
      const queuedNow = metrics.queuedMessages;
      assert.ok(queuedNow >= 1 && queuedNow <= 20, `queued ${queuedNow}`);
      // A ping sent while data waits: its pong comes before the queued messages (it never waits
      // in the queue), and the connection stays open.
      slow.peer.send({ opcode: Opcode.Ping, payload: Buffer.from('still there?') });
      slow.socket.resume();
      // Every message was either delivered or counted as dropped.
      const expected = published - drops.length;
      let texts = 0;
      const frames = await drain(slow.peer, (f) => f.opcode === Opcode.Text && ++texts === expected);
      const pongAt = frames.findIndex((f) => f.opcode === Opcode.Pong);
      assert.ok(pongAt !== -1, 'the ping was answered');
      assert.equal(Buffer.from(frames[pongAt]!.payload).toString(), 'still there?');
      const afterPong = frames.slice(pongAt + 1).filter((f) => f.opcode === Opcode.Text).length;
      assert.ok(afterPong >= Math.min(queuedNow, 1), `queued messages came after the pong (${afterPong})`);
      const offsets = frames.filter((f) => f.opcode === Opcode.Text).map(offsetOf);
      for (let i = 1; i < offsets.length; i++) assert.ok(offsets[i]! > offsets[i - 1]!, 'in publish order');
      if (policy !== 'drop-newest') assert.equal(offsets.at(-1), published, 'the newest message arrives');
      else assert.ok(drops.some((d) => d.offset === published), 'the newest messages were the ones dropped');
      assert.equal(slowSide.readyState, 'open');
    });
  }
});
