/**
 * The seed libraries' capabilities on the native WebSocket (issue 18): fragment-level send with
 * beginMessage(), fragmentSize as a function, receiveFragments(), receive({ as }), cork/uncork,
 * close with a per-call timeout, version and socket. Over real loopback TCP pairs, against a raw
 * frame-level peer where the frames themselves are what a user would notice, and against the
 * `ws` package as a peer.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setImmediate as tick } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { WebSocketServer as WsServer, type WebSocket as WsSocket } from 'ws';
import { ConnectionClosedError, ConnectionNotOpenError, InvalidArgumentError } from '../../src/core/errors.js';
import { CloseTimeoutError } from '../../src/node/errors.js';
import { NotUtf8Error } from '../../src/api/errors.js';
import { Opcode } from '../../src/core/opcode.js';
import { connect } from '../../src/api/connect.js';
import type { Fragment } from '../../src/api/fragment-reader.js';
import { closePair, isSocket, rawPair, sleep, within, wsPair, type RawPeer } from '../helpers/ws-pair.js';

const bytes = (...values: number[]): Buffer => Buffer.from(values);

/** The next `count` frames the raw peer reads. */
async function frames(peer: RawPeer, count: number): Promise<{ opcode: number; fin: boolean; payload: string }[]> {
  const out: { opcode: number; fin: boolean; payload: string }[] = [];
  for (let i = 0; i < count; i++) {
    const frame = await within(peer.nextFrame(), 5000, `frame ${i}`);
    assert.ok(frame !== null, 'the stream ended early');
    out.push({ opcode: frame.opcode, fin: frame.fin, payload: Buffer.from(frame.payload).toString('latin1') });
  }
  return out;
}

describe('beginMessage(): the caller controls FIN', () => {
  test('each part is one frame and the last part carries FIN (no empty trailing frame)', async (t) => {
    const { ws, peer } = await rawPair('tcp', 'client');
    t.after(() => closePair(ws));
    const w = ws.beginMessage();
    await w.write('hel');
    await w.write('l');
    await w.end('o');
    assert.deepEqual(await frames(peer, 3), [
      { opcode: Opcode.Text, fin: false, payload: 'hel' },
      { opcode: Opcode.Continuation, fin: false, payload: 'l' },
      { opcode: Opcode.Continuation, fin: true, payload: 'o' },
    ]);
    // end() without a part ends with an empty final frame; a binary message says so in its opcode.
    const b = ws.beginMessage({ binary: true });
    void b.write(bytes(1, 2));
    await b.end();
    assert.deepEqual(await frames(peer, 2), [
      { opcode: Opcode.Binary, fin: false, payload: '\x01\x02' },
      { opcode: Opcode.Continuation, fin: true, payload: '' },
    ]);
    await closePair(ws);
  });

  test('sends called while a writer is open wait until it ends; pings go between its frames', async (t) => {
    const { ws, peer } = await rawPair('tcp', 'client');
    t.after(() => closePair(ws));
    const w = ws.beginMessage();
    await w.write('a');
    const after = ws.send('after');
    void ws.ping('p');
    await w.end('b');
    await after;
    assert.deepEqual(await frames(peer, 4), [
      { opcode: Opcode.Text, fin: false, payload: 'a' },
      { opcode: Opcode.Ping, fin: true, payload: 'p' },
      { opcode: Opcode.Continuation, fin: true, payload: 'b' },
      { opcode: Opcode.Text, fin: true, payload: 'after' },
    ]);
    await closePair(ws);
  });

  test('a code point split between text parts is fine; invalid UTF-8 is refused before it is sent', async (t) => {
    const { client, server } = await wsPair('tcp');
    t.after(() => closePair(client, server));
    const w = client.beginMessage();
    await w.write(bytes(0xe2, 0x82));
    await w.end(bytes(0xac));
    assert.deepEqual(await within(server.receive(), 5000), { type: 'text', data: '€' });

    // Nothing of this message was sent: it never existed, and the next send goes through.
    const bad = client.beginMessage();
    await assert.rejects(bad.write(bytes(0xff)), InvalidArgumentError);
    assert.equal(bad.finished, true);
    await assert.rejects(bad.end('x'), InvalidArgumentError);
    await client.send('next');
    assert.deepEqual(await within(server.receive(), 5000), { type: 'text', data: 'next' });

    // A text message may not end inside a code point.
    const open = client.beginMessage();
    await open.write('ok');
    const closed = once(server, 'close');
    await assert.rejects(open.end(bytes(0xe2)), InvalidArgumentError);
    // Half the message was sent: the connection is failed with 1011, never left hanging.
    const [code] = await within(closed, 5000, 'close');
    assert.equal(code, 1011);
    await closePair(client, server);
  });

  test('abort() of a started message fails the connection with 1011; of a queued one lets the next send go', async (t) => {
    const { client, server } = await wsPair('tcp');
    t.after(() => closePair(client, server));
    const first = client.beginMessage();
    const second = client.beginMessage();
    const secondWrite = second.write('never');
    second.abort();
    await assert.rejects(secondWrite, InvalidArgumentError);
    await first.end('whole');
    await client.send('then');
    assert.deepEqual(await within(server.receive(), 5000), { type: 'text', data: 'whole' });
    assert.deepEqual(await within(server.receive(), 5000), { type: 'text', data: 'then' });

    const started = client.beginMessage({ binary: true });
    await started.write(bytes(1));
    const closed = once(server, 'close');
    started.abort();
    const [code] = await within(closed, 5000, 'close');
    assert.equal(code, 1011);
    await assert.rejects(client.beginMessage().write('late'), ConnectionNotOpenError);
    await closePair(client, server);
  });

  test('a writer waiting in the queue rejects its parts with ConnectionClosedError when the connection ends', async (t) => {
    const { client, server } = await wsPair('tcp');
    t.after(() => closePair(client, server));
    const open = client.beginMessage();
    await open.write('a');
    const queued = client.beginMessage();
    const part = queued.write('b');
    assert.ok(client.bufferedAmount >= 1);
    const closed = once(client, 'close');
    server.terminate();
    await within(closed, 5000, 'close');
    await assert.rejects(part, ConnectionClosedError);
    await assert.rejects(open.end('c'), ConnectionClosedError);
    assert.equal(client.bufferedAmount, 0);
  });

  test('parts arrive as one message at a ws server', async () => {
    const wss = new WsServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const received = new Promise<[Buffer, boolean]>((resolve) => {
      wss.on('connection', (peer: WsSocket) => peer.on('message', (data: Buffer, isBinary: boolean) => resolve([data, isBinary])));
    });
    const ws = await connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { pingInterval: 0, idleTimeout: 0 });
    try {
      const w = ws.beginMessage({ binary: true });
      await w.write(Buffer.alloc(1000, 1));
      await w.write(Buffer.alloc(1000, 2));
      await w.end(Buffer.alloc(1000, 3));
      const [data, isBinary] = await within(received, 5000, 'ws message');
      assert.equal(isBinary, true);
      assert.deepEqual(data, Buffer.concat([Buffer.alloc(1000, 1), Buffer.alloc(1000, 2), Buffer.alloc(1000, 3)]));
      await ws.close();
    } finally {
      ws.terminate();
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});

describe('fragmentSize as a function (data, offset) => size', () => {
  test('cuts a message and a streamed chunk where it says; a bad answer sends nothing', async (t) => {
    const { ws, peer } = await rawPair('tcp', 'client');
    t.after(() => closePair(ws));
    const seen: number[] = [];
    await ws.send(Buffer.from('abcdefghij'), {
      fragmentSize: (data, offset) => {
        seen.push(offset);
        assert.equal(data.length, 10);
        return offset === 0 ? 3 : 4;
      },
    });
    assert.deepEqual(seen, [0, 3, 7]);
    assert.deepEqual(await frames(peer, 3), [
      { opcode: Opcode.Binary, fin: false, payload: 'abc' },
      { opcode: Opcode.Continuation, fin: false, payload: 'defg' },
      { opcode: Opcode.Continuation, fin: true, payload: 'hij' },
    ]);

    await assert.rejects(ws.send('text', { fragmentSize: () => 0 }), InvalidArgumentError);
    await assert.rejects(ws.send('text', { fragmentSize: () => 1.5 }), InvalidArgumentError);
    await ws.send('fine');
    assert.deepEqual(await frames(peer, 1), [{ opcode: Opcode.Text, fin: true, payload: 'fine' }]);

    async function* source(): AsyncGenerator<string> {
      yield 'xyz';
    }
    await ws.send(source(), { fragmentSize: () => 2 });
    assert.deepEqual(await frames(peer, 3), [
      { opcode: Opcode.Text, fin: false, payload: 'xy' },
      { opcode: Opcode.Continuation, fin: false, payload: 'z' },
      { opcode: Opcode.Continuation, fin: true, payload: '' },
    ]);
    await closePair(ws);
  });
});

describe('receiveFragments()', () => {
  test('yields the pieces of the next message as they arrive, with fin and type', async (t) => {
    const { ws, peer } = await rawPair('tcp', 'client');
    t.after(() => closePair(ws));
    const iterator = ws.receiveFragments();
    peer.send({ opcode: Opcode.Binary, fin: false, payload: bytes(1, 2) });
    // The first piece comes before the message is complete.
    const first = await within(iterator.next(), 5000, 'first piece');
    assert.deepEqual(first.value, { data: bytes(1, 2), fin: false, type: 'binary' });
    peer.send({ opcode: Opcode.Continuation, fin: false, payload: bytes(3) }, { opcode: Opcode.Continuation, fin: true, payload: bytes(4) });
    const rest: Fragment[] = [];
    for await (const f of iterator) rest.push(f);
    assert.deepEqual(rest, [
      { data: bytes(3), fin: false, type: 'binary' },
      { data: bytes(4), fin: true, type: 'binary' },
    ]);
    // One message per call: the next one goes to the next consumer.
    peer.send({ opcode: Opcode.Text, payload: Buffer.from('next') });
    assert.deepEqual(await within(ws.receive(), 5000), { type: 'text', data: 'next' });
    await closePair(ws);
  });

  test('a connection that closes midway ends the iterator with ConnectionClosedError after the pieces it holds', async (t) => {
    const { ws, peer, peerStream } = await rawPair('tcp', 'client');
    t.after(() => closePair(ws));
    const iterator = ws.receiveFragments();
    const closed = once(ws, 'close');
    peer.send({ opcode: Opcode.Text, fin: false, payload: Buffer.from('par') });
    const first = await within(iterator.next(), 5000, 'first piece');
    assert.deepEqual(first.value, { data: Buffer.from('par'), fin: false, type: 'text' });
    peerStream.destroy();
    await within(closed, 5000, 'close');
    await assert.rejects(iterator.next(), ConnectionClosedError);
  });

  test('the socket is not read while the consumer is behind', async (t) => {
    const { client, server, serverStream } = await wsPair('tcp', { server: { receiveHighWaterMark: 64 * 1024 } });
    t.after(() => closePair(client, server));
    const chunk = 64 * 1024;
    const total = 16 * 1024 * 1024;
    async function* produce(): AsyncGenerator<Buffer> {
      for (let offset = 0; offset < total; offset += chunk) yield Buffer.alloc(chunk, (offset / chunk) & 0xff);
    }
    const sending = client.send(produce(), { binary: true });
    const iterator = server.receiveFragments();
    const first = await within(iterator.next(), 5000, 'first piece');
    let received = first.value.data.length;
    // Not reading: the server stops reading its socket long before the message is through.
    const start = Date.now();
    while (serverStream.readableFlowing !== false) {
      assert.ok(Date.now() - start < 5000, 'the socket kept being read');
      await sleep(5);
    }
    assert.ok(received < total);
    let last = false;
    for await (const f of iterator) {
      received += f.data.length;
      last = f.fin;
    }
    assert.equal(last, true);
    assert.equal(received, total);
    await within(sending, 10000, 'send');
    await closePair(client, server);
  });
});

describe('receive({ as })', () => {
  test("binary as text is decoded; not UTF-8 is NotUtf8Error and the connection stays open; text as binary is bytes", async (t) => {
    const { client, server } = await wsPair('tcp');
    t.after(() => closePair(client, server));
    await client.send(Buffer.from('hi'));
    assert.deepEqual(await within(server.receive({ as: 'text' }), 5000), { type: 'text', data: 'hi' });
    await client.send(bytes(0xff, 0x41));
    const error = await within(server.receive({ as: 'text' }).then(() => null, (e: unknown) => e), 5000);
    assert.ok(error instanceof NotUtf8Error);
    assert.equal(error.code, 'ERR_NOT_UTF8');
    assert.deepEqual(Buffer.from(error.data), bytes(0xff, 0x41));
    assert.equal(server.readyState, 'open');
    await client.send('€');
    assert.deepEqual(await within(server.receive({ as: 'binary' }), 5000), { type: 'binary', data: Buffer.from('€') });
    // A queued message is converted the same way.
    await client.send(Buffer.from('q'));
    await client.send(bytes(0xc3));
    await client.ping();
    assert.deepEqual(await server.receive({ as: 'text' }), { type: 'text', data: 'q' });
    await assert.rejects(server.receive({ as: 'text' }), NotUtf8Error);
    await closePair(client, server);
  });
});

describe('cork() / uncork()', () => {
  test('frames sent between cork() and uncork() leave in one write', async (t) => {
    const { client, server, clientStream } = await wsPair('tcp');
    t.after(() => closePair(client, server));
    let writes = 0;
    const write = clientStream.write.bind(clientStream);
    clientStream.write = ((...args: Parameters<typeof write>) => {
      writes++;
      return write(...args);
    }) as typeof clientStream.write;
    client.cork();
    void client.send('a');
    await tick();
    void client.send('b');
    await tick();
    assert.equal(writes, 0);
    client.uncork();
    assert.equal(writes, 1);
    assert.deepEqual(await within(server.receive(), 5000), { type: 'text', data: 'a' });
    assert.deepEqual(await within(server.receive(), 5000), { type: 'text', data: 'b' });
    await closePair(client, server);
  });

  test('close() uncorks: the close frame does not wait for an uncork', async (t) => {
    const { client, server } = await wsPair('tcp');
    t.after(() => closePair(client, server));
    client.cork();
    void client.send('held');
    const closed = client.close(1000, 'bye');
    assert.deepEqual(await within(server.receive(), 5000), { type: 'text', data: 'held' });
    // The server received our close frame and answered it, well before closeTimeout (5 s).
    assert.equal((await within(closed, 2000, 'close')).code, 1000);
    await closePair(client, server);
  });
});

describe('close(code, reason, { timeout })', () => {
  test('rejects with CloseTimeoutError after its own timeout, not closeTimeout', async (t) => {
    const { ws } = await rawPair('tcp', 'client', { closeTimeout: 60_000 });
    t.after(() => closePair(ws));
    const error = await within(ws.close(1000, '', { timeout: 50 }).then(() => null, (e: unknown) => e), 5000, 'close');
    assert.ok(error instanceof CloseTimeoutError);
    assert.equal(error.timeout, 50);
    assert.equal(ws.readyState, 'closed');
  });

  test('a bad timeout or an unknown option name is InvalidArgumentError and the connection stays open', async (t) => {
    const { client, server } = await wsPair('tcp');
    t.after(() => closePair(client, server));
    await assert.rejects(client.close(1000, '', { timeout: -1 }), InvalidArgumentError);
    await assert.rejects(client.close(1000, '', { timout: 5 } as never), /unknown option for close\(\): 'timout'/);
    await assert.rejects(client.receive({ type: 'text' } as never), /unknown option for receive\(\): 'type'/);
    assert.throws(() => client.beginMessage({ text: true } as never), /unknown option for beginMessage\(\): 'text'/);
    assert.equal(client.readyState, 'open');
    await closePair(client, server);
  });
});

describe('version and socket', () => {
  test("version is 'hybi-13' and socket is the transport under the connection", async (t) => {
    const { client, server, clientStream } = await wsPair('tcp');
    t.after(() => closePair(client, server));
    assert.equal(client.version, 'hybi-13');
    assert.equal(client.socket, clientStream);
    assert.ok(isSocket(client.socket));
    await closePair(client, server);
  });
});

describe('the public surface', () => {
  test("'hybi' exports the writer, the fragment reader and NotUtf8Error", async () => {
    const hybi = (await import('../../src/index.js')) as Record<string, unknown>;
    for (const name of ['MessageWriter', 'FragmentReader', 'NotUtf8Error']) assert.equal(typeof hybi[name], 'function', name);
  });
});
