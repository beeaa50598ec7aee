/**
 * What `hybi serve` knows about one connection: where it came from, what it carried each way,
 * and the two log lines it writes. Driven over an in-memory pair of hybi WebSockets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { pathOf, remoteAddressOf, Session } from '../../src/cli/session.js';
import { wsPair } from '../helpers/ws-pair.js';

function request(url: string, remoteAddress: string | undefined, remotePort = 5000): IncomingMessage {
  return { url, socket: { remoteAddress, remotePort } } as unknown as IncomingMessage;
}

describe('where a connection came from', () => {
  it('is address:port, with brackets for IPv6', () => {
    assert.equal(remoteAddressOf(request('/', '127.0.0.1', 51234)), '127.0.0.1:51234');
    assert.equal(remoteAddressOf(request('/', '::1', 51234)), '[::1]:51234');
    assert.equal(remoteAddressOf(request('/', undefined)), 'unknown');
  });

  it('logs the path without the query, which may carry a token', () => {
    assert.equal(pathOf(request('/chat?token=secret', '::1')), '/chat');
    assert.equal(pathOf(request('/a/b', '::1')), '/a/b');
  });
});

describe('counting what a connection carries', () => {
  it('counts messages and payload bytes each way, and reports the close', async () => {
    const { client, server } = await wsPair('memory');
    const session = new Session(7, server, '127.0.0.1:5000', '/echo');
    session.onMessage((m) => void session.send(m.text ?? m.bytes!));
    assert.equal(session.openLine(), '#7 open addr=127.0.0.1:5000 path=/echo protocol=-');

    await client.send('héllo'); // 6 bytes of UTF-8
    await client.send(Uint8Array.from([1, 2, 3]));
    assert.deepEqual(await client.receive(), { type: 'text', data: 'héllo' });
    assert.equal((await client.receive()).type, 'binary');
    await client.close(1000, 'bye');
    const summary = await session.ended;
    assert.equal(summary.code, 1000);
    assert.equal(summary.reason, 'bye');
    assert.match(
      session.closeLine(summary),
      /^#7 close addr=127\.0\.0\.1:5000 path=\/echo protocol=- code=1000 \(normal closure\) "bye" duration=\d+ms in=2msg\/9B out=2msg\/9B$/,
    );
  });

  it('counts messages taken by iteration too, and ends the iteration on any close', async () => {
    const { client, server } = await wsPair('memory');
    const session = new Session(1, server, 'x', '/');
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of session.messages()) seen.push(m.text ?? `bytes:${m.bytes!.byteLength}`);
    })();
    await client.send('a');
    await client.send(new Uint8Array(10));
    for (let i = 0; i < 500 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    // An abnormal end (no close frame) ends the loop quietly too.
    client.terminate();
    await loop;
    assert.deepEqual(seen, ['a', 'bytes:10']);
    assert.equal(session.messagesIn, 2);
    assert.equal(session.bytesIn, 11);
    assert.equal((await session.ended).code, 1006);
  });

  it('does not count (or throw on) sends after the connection closed', async () => {
    const { client, server } = await wsPair('memory');
    const session = new Session(1, server, 'x', '/');
    await client.close();
    await session.ended;
    await session.send('late');
    assert.equal(session.messagesOut, 0);
  });
});
