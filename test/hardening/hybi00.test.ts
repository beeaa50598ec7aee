// Hostile hybi-00 (draft-hixie-76) peers against a server with legacy: { hybi00: true }: bad
// keys, a key3 that never comes, frames without their end, invalid UTF-8, oversized frames, and a
// length-prefixed frame claiming 2^60 bytes. Every one is refused or closed, in bounded time and
// memory; with the option off the request gets 426.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import { eventually, exchange, RawClient, serve } from './harness.js';

const KEY1 = '4 @1  46546xW%0l 1 5';
const KEY2 = '12998 5 Y3 1  .P00';
const KEY3 = '^n:ds[4U';
const ANSWER = "8jKS'y:G*Co,Wxa-";

function head(keys: { key1?: string; key2?: string } = {}): string {
  return (
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n' +
    `Sec-WebSocket-Key1: ${keys.key1 ?? KEY1}\r\nSec-WebSocket-Key2: ${keys.key2 ?? KEY2}\r\n\r\n`
  );
}

const LEGACY: WebSocketServerOptions = { legacy: { hybi00: true } };

/** An open hybi-00 connection to a fresh server; the server's 'close' codes are collected. */
async function opened(options: WebSocketServerOptions) {
  const served = await serve({ ...LEGACY, ...options });
  const client = await RawClient.open(served.port);
  client.write(head() + KEY3);
  assert.ok(await client.until(() => client.received.includes(ANSWER), 5000), 'the 101 and its answer');
  const start = client.received.indexOf(ANSWER) + ANSWER.length;
  return { ...served, client, after: () => client.received.subarray(start) };
}

/** Waits until the server sent its closing frame and ended TCP, and its connection reported 'close'. */
async function closedByServer(o: Awaited<ReturnType<typeof opened>>): Promise<number> {
  assert.ok(await o.client.until(() => o.client.ended || o.client.closed, 5000), 'the server ends the connection');
  assert.deepEqual([...o.after().subarray(-2)], [0xff, 0x00], 'the closing frame came first');
  o.client.destroy();
  await eventually(() => o.closes.length > 0, "the server's connection reports 'close'");
  return o.closes[0]!.code;
}

describe('hardening: hybi-00 handshakes', () => {
  it('with the option off, a hybi-00 request gets 426', async () => {
    const { port, stop } = await serve();
    try {
      assert.equal((await exchange(port, head() + KEY3)).status, 426);
    } finally {
      await stop();
    }
  });

  for (const [name, keys] of [
    ['a key with no spaces', { key1: '12345' }],
    ['a key whose number is not a multiple of its spaces', { key2: '1 2 3' }],
    ['a key over 32 bits', { key1: '8589934592 ' }],
    ['a key of only noise', { key2: 'abc def' }],
    ['a 10 KiB key', { key1: '1 '.repeat(5000) }],
  ] as const) {
    it(`refuses ${name} with 400 and closes`, async () => {
      const { port, stop } = await serve(LEGACY);
      try {
        const answer = await exchange(port, head(keys) + KEY3);
        assert.equal(answer.status, 400);
        assert.equal(answer.closed, true);
      } finally {
        await stop();
      }
    });
  }

  it('a key3 that never comes: 408 within handshakeTimeout (own server)', async () => {
    const { port, stop } = await serve({ ...LEGACY, handshakeTimeout: 200 });
    try {
      const client = await RawClient.open(port);
      client.write(head() + KEY3.slice(0, 5));
      const answer = await client.response(5000);
      assert.equal(answer.status, 408);
      assert.equal(answer.closed, true);
      client.destroy();
    } finally {
      await stop();
    }
  });

  it('a key3 that never comes: 408 within handshakeTimeout (attached to an http.Server)', async () => {
    const http = createHttpServer();
    const server = new WebSocketServer({ ...LEGACY, handshakeTimeout: 200 });
    server.attach(http);
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    try {
      const client = await RawClient.open((http.address() as AddressInfo).port);
      client.write(head());
      const answer = await client.response(5000);
      assert.equal(answer.status, 408);
      assert.equal(answer.closed, true);
      client.destroy();
    } finally {
      await server.close();
      http.close();
    }
  });
});

describe('hardening: hybi-00 frames', () => {
  it('a text frame that never ends is bounded by messageTimeout: closing frame, then the end', async () => {
    const o = await opened({ messageTimeout: 200 });
    try {
      o.client.write(Buffer.from([0x00, 0x61, 0x62]));
      assert.equal(await closedByServer(o), 1008);
    } finally {
      o.client.destroy();
      await o.stop();
    }
  });

  it('a text frame that never ends is bounded by maxMessageSize as it grows', async () => {
    const o = await opened({ maxMessageSize: 1024 });
    try {
      o.client.write(Buffer.concat([Buffer.from([0x00]), Buffer.alloc(4096, 0x61)]));
      assert.equal(await closedByServer(o), 1009);
    } finally {
      o.client.destroy();
      await o.stop();
    }
  });

  it('invalid UTF-8 closes the connection (1007)', async () => {
    const o = await opened({});
    try {
      o.client.write(Buffer.from([0x00, 0x61, 0xc3, 0x28, 0xff]));
      assert.equal(await closedByServer(o), 1007);
      assert.equal(o.after().length, 2, 'no message was echoed');
    } finally {
      o.client.destroy();
      await o.stop();
    }
  });

  it('an oversized complete frame closes the connection (1009)', async () => {
    const o = await opened({ maxMessageSize: 100 });
    try {
      o.client.write(Buffer.concat([Buffer.from([0x00]), Buffer.alloc(101, 0x61), Buffer.from([0xff])]));
      assert.equal(await closedByServer(o), 1009);
    } finally {
      o.client.destroy();
      await o.stop();
    }
  });

  it('a length-prefixed frame claiming 2^60 bytes is refused from its length alone (1009)', async () => {
    const o = await opened({});
    try {
      // 0x80 frame type; 2^60 in 7-bit groups, most significant first: 0x90, eight 0x80, 0x00.
      o.client.write(Buffer.from([0x80, 0x90, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]));
      assert.equal(await closedByServer(o), 1009);
    } finally {
      o.client.destroy();
      await o.stop();
    }
  });

  it('a discarded length-prefixed frame within the limit is skipped and the connection goes on', async () => {
    const o = await opened({});
    try {
      o.client.write(Buffer.concat([Buffer.from([0x80, 0x81, 0x00]), Buffer.alloc(128, 0xff), Buffer.from([0x00, 0x6f, 0x6b, 0xff])]));
      assert.ok(await o.client.until(() => o.after().includes(Buffer.from([0x00, 0x6f, 0x6b, 0xff])), 5000), 'the echo of the text after it');
    } finally {
      o.client.destroy();
      await o.stop();
    }
  });
});
