/**
 * Hostile frames against a hybi server with its default options (compression where a test says
 * so), on 127.0.0.1: every protocol violation closes with its code (RFC 6455 section 7.4.1), fast,
 * and the connection's memory is given back; frames and messages announced past the limits are
 * refused from their headers (1009) without the announced size ever being allocated.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { encodeFrame } from '../../src/core/frame.js';
import { DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_MESSAGE_SIZE } from '../../src/core/limits.js';
import { MiB, RawWebSocket, assertMemoryNear, eventually, serve, settledMemory, sleep, type Served } from './harness.js';

const REACT_MS = 2000;
const KEY4 = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/** A masked client frame with any first byte and any announced length (64-bit form when asked). */
function rawFrame(b0: number, payload: Uint8Array, options: { announce?: bigint; unmasked?: boolean } = {}): Uint8Array {
  const length = options.announce ?? BigInt(payload.length);
  const head: number[] = [b0];
  const maskBit = options.unmasked ? 0 : 0x80;
  if (options.announce === undefined && length < 126n) head.push(maskBit | Number(length));
  else if (options.announce === undefined && length < 65536n) head.push(maskBit | 126, Number(length >> 8n), Number(length & 0xffn));
  else {
    head.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((length >> shift) & 0xffn));
  }
  const body = payload.slice();
  if (!options.unmasked) {
    head.push(...KEY4);
    for (let i = 0; i < body.length; i++) body[i] ^= KEY4[i & 3]!;
  }
  return Buffer.concat([Uint8Array.from(head), body]);
}

/**
 * `count` frames of `payload`: the first with `firstB0`, the middle ones continuations, the last
 * one with FIN. Built straight into one buffer, so that the test holds no object per frame (its
 * own garbage would otherwise hide or fake the server's).
 */
function fragmented(firstB0: number, payload: Uint8Array, count: number, fin = true): Buffer {
  const one = rawFrame(0x00, payload);
  const out = Buffer.allocUnsafe(one.length * count);
  for (let i = 0; i < count; i++) out.set(one, i * one.length);
  out[0] = firstB0;
  if (fin) out[(count - 1) * one.length] = 0x80;
  return out;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const closePayload = (code: number, reason: Uint8Array = new Uint8Array(0)): Uint8Array => Buffer.concat([Uint8Array.of(code >> 8, code & 0xff), reason]);

/** Sends `bytes` on a fresh connection and asserts the server closes with `code`, in time, and forgets it. */
async function violation(s: Served, bytes: Uint8Array, code: number, what: string): Promise<void> {
  const ws = await RawWebSocket.open(s.port);
  try {
    ws.write(bytes);
    const closed = await ws.closed();
    assert.equal(closed.code, code, `${what}: close code`);
    assert.ok(closed.reactMs < REACT_MS, `${what}: closed after ${closed.reactMs.toFixed(0)} ms`);
    assert.ok(closed.ended, `${what}: the server ended the TCP connection`);
  } finally {
    ws.destroy();
  }
}

describe('Hardening: every framing violation closes with its code (RFC 6455 sections 5, 7.4.1, 8.1)', () => {
  const cases: Array<[string, () => Uint8Array, number]> = [
    ['an unmasked frame from a client (5.1)', () => rawFrame(0x81, text('hi'), { unmasked: true }), 1002],
    ['a reserved data opcode 0x3 (5.2)', () => rawFrame(0x83, new Uint8Array(0)), 1002],
    ['a reserved control opcode 0xB (5.2)', () => rawFrame(0x8b, new Uint8Array(0)), 1002],
    ['RSV1 without an extension (5.2)', () => rawFrame(0xc1, text('hi')), 1002],
    ['RSV3 without an extension (5.2)', () => rawFrame(0x91, text('hi')), 1002],
    ['a fragmented ping (5.5)', () => rawFrame(0x09, new Uint8Array(0)), 1002],
    ['a ping of 126 bytes (5.5)', () => rawFrame(0x89, new Uint8Array(126)), 1002],
    ['a continuation with no message (5.4)', () => rawFrame(0x80, text('x')), 1002],
    ['a new message inside a fragmented one (5.4)', () => Buffer.concat([rawFrame(0x01, text('a')), rawFrame(0x81, text('b'))]), 1002],
    ['a 64-bit length with its top bit set (5.2)', () => rawFrame(0x82, new Uint8Array(0), { announce: 1n << 63n }), 1002],
    ['text that is not UTF-8 (8.1)', () => rawFrame(0x81, Uint8Array.of(0x68, 0xff)), 1007],
    ['a surrogate encoded in UTF-8 (8.1)', () => rawFrame(0x81, Uint8Array.of(0xed, 0xa0, 0x80)), 1007],
    ['invalid UTF-8 in a first fragment, message unfinished (fail fast)', () => rawFrame(0x01, Uint8Array.of(0xc0, 0xaf)), 1007],
    ['a close frame of 1 byte (5.5.1)', () => rawFrame(0x88, Uint8Array.of(3)), 1002],
    ['close code 1005 on the wire (7.4.1)', () => rawFrame(0x88, closePayload(1005)), 1002],
    ['close code 999 (7.4.2)', () => rawFrame(0x88, closePayload(999)), 1002],
    ['close code 2999 (7.4.2)', () => rawFrame(0x88, closePayload(2999)), 1002],
    ['a close reason that is not UTF-8 (5.5.1)', () => rawFrame(0x88, closePayload(1000, Uint8Array.of(0xff))), 1007],
    ['a frame over maxFrameSize (10.4)', () => rawFrame(0x82, new Uint8Array(0), { announce: BigInt(DEFAULT_MAX_MESSAGE_SIZE + 1) }), 1009],
  ];

  it('each closes with its code at once, and the server holds nothing afterwards', async () => {
    const s = await serve();
    try {
      for (const [what, bytes, code] of cases) await violation(s, bytes(), code, what);
      const baseline = await settledMemory();
      for (let round = 0; round < 5; round++) {
        for (const [what, bytes, code] of cases) await violation(s, bytes(), code, what);
      }
      await eventually(() => s.server.clients.size === 0, 'every failed connection released');
      await assertMemoryNear(baseline, 3 * MiB, `after ${cases.length * 5} violations`);
      const codes = s.closes.map((c) => c.code);
      assert.ok(codes.every((c) => [1002, 1007, 1009].includes(c)), `the server side saw ${[...new Set(codes)].join(', ')}`);
    } finally {
      await s.stop();
    }
  });

  it('messages completed before the violation were delivered (and echoed) first', async () => {
    const s = await serve();
    try {
      const ws = await RawWebSocket.open(s.port);
      ws.write(Buffer.concat([rawFrame(0x81, text('one')), rawFrame(0x82, text('two')), rawFrame(0x83, new Uint8Array(0))]));
      const closed = await ws.closed();
      assert.equal(closed.code, 1002);
      assert.deepEqual(ws.messages().map((m) => Buffer.from(m.payload).toString()), ['one', 'two']);
      ws.destroy();
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: sizes announced past the limits (1009) without allocating them', () => {
  it('a frame header announcing 2^40 bytes closes with 1009 from the header alone', async () => {
    const s = await serve();
    try {
      await violation(s, rawFrame(0x82, new Uint8Array(0), { announce: 1n << 40n }), 1009, 'warm-up');
      const baseline = await settledMemory();
      for (let i = 0; i < 50; i++) {
        await violation(s, rawFrame(0x82, new Uint8Array(16), { announce: 1n << 40n }), 1009, `2^40 #${i}`);
        await violation(s, rawFrame(0x01, new Uint8Array(16), { announce: 1n << 40n }), 1009, `2^40 text fragment #${i}`);
      }
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after 100 frames announcing 2^40 bytes');
    } finally {
      await s.stop();
    }
  });

  it('200 connections announcing a frame of the full 1 MiB and sending one byte hold far less than 1 MiB each', async () => {
    const s = await serve();
    const clients: RawWebSocket[] = [];
    try {
      const baseline = await settledMemory();
      for (let i = 0; i < 200; i++) {
        const ws = await RawWebSocket.open(s.port);
        // Exactly the limit: the header is acceptable, so the server must wait for the bytes.
        ws.write(rawFrame(0x82, Uint8Array.of(7), { announce: BigInt(DEFAULT_MAX_MESSAGE_SIZE) }));
        clients.push(ws);
      }
      await eventually(() => s.server.clients.size === 200, '200 connections open');
      const held = (await settledMemory()) - baseline;
      assert.ok(held < 40 * MiB, `200 announced 1 MiB frames hold ${(held / MiB).toFixed(1)} MiB (${(held / 200 / 1024).toFixed(0)} KiB each)`);
      for (const c of clients) c.destroy();
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after the announced frames');
    } finally {
      for (const c of clients) c.destroy();
      await s.stop();
    }
  });

  it('a message gathered from pieces between floods of pings holds about its own size, not the reads it came in', async () => {
    const s = await serve();
    const peers: RawWebSocket[] = [];
    try {
      const baseline = await settledMemory();
      // Each write: 56 KiB of pings, then an 8 KiB fragment. A read that ends up holding both
      // must not be kept whole just because the fragment is a view into it.
      const pings = Buffer.concat(Array.from({ length: 430 }, () => rawFrame(0x89, new Uint8Array(125))));
      const piece = rawFrame(0x00, new Uint8Array(8 * 1024));
      const round = Buffer.concat([pings, piece]);
      for (let p = 0; p < 5; p++) {
        const ws = await RawWebSocket.open(s.port);
        ws.client.socket.pause();
        peers.push(ws);
        ws.write(rawFrame(0x02, new Uint8Array(16)));
        for (let i = 0; i < 100; i++) ws.write(round);
      }
      await sleep(1500);
      const held = (await settledMemory()) - baseline;
      // 5 messages of 800 KiB each are 4 MiB; the reads they arrived in were 32 MiB.
      assert.ok(held < 14 * MiB, `5 connections with 800 KiB gathered hold ${(held / MiB).toFixed(1)} MiB`);
      for (const ws of peers) ws.destroy();
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after the interleaved messages');
    } finally {
      for (const ws of peers) ws.destroy();
      await s.stop();
    }
  });

  it('100,000 tiny fragments adding up past maxMessageSize close with 1009 while buffering at most the limit', async () => {
    const s = await serve();
    try {
      const baseline = await settledMemory();
      assert.ok(100_000 * 11 > DEFAULT_MAX_MESSAGE_SIZE);
      await violation(s, fragmented(0x01, new Uint8Array(11).fill(0x61), 100_000), 1009, '100,000 fragments of 11 bytes');
      await eventually(() => s.server.clients.size === 0, 'connection released');
      await assertMemoryNear(baseline, 3 * MiB, 'after the fragmented message');
    } finally {
      await s.stop();
    }
  });

  it(`more than ${DEFAULT_MAX_FRAGMENTS} empty fragments close with 1009; a legitimate 65,536-fragment message passes`, async () => {
    const s = await serve();
    try {
      // What conformance suites send: 4 MiB as 65,536 fragments of 64 bytes would exceed 1 MiB,
      // so the legitimate case here is 65,536 fragments of 16 bytes (1 MiB exactly).
      const ok = await RawWebSocket.open(s.port);
      ok.write(fragmented(0x02, new Uint8Array(16).fill(0x62), 65_536));
      assert.ok(await ok.waitMessages(1, 10_000), 'the 65,536-fragment message is echoed');
      assert.equal(ok.messages()[0]!.payload.length, 65_536 * 16);
      ok.destroy();

      const baseline = await settledMemory();
      await violation(s, fragmented(0x02, new Uint8Array(0), DEFAULT_MAX_FRAGMENTS + 1, false), 1009, `${DEFAULT_MAX_FRAGMENTS + 1} empty fragments`);
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after the fragment flood');
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: a compression bomb (permessage-deflate, RFC 7692 section 8.1)', () => {
  it('500 MiB of zeros in one compressed frame closes with 1009 near the 1 MiB limit', async () => {
    const s = await serve({ compress: true });
    try {
      const bomb = deflateRawSync(Buffer.alloc(500 * MiB));
      // RFC 7692 section 7.2.1: the sender removes the 0x00 0x00 0xff 0xff tail of a sync flush;
      // a final block has none to remove, and the receiver appends it either way.
      const payload = bomb.subarray(0, bomb.length);
      assert.ok(payload.length < DEFAULT_MAX_MESSAGE_SIZE, `the bomb is ${payload.length} bytes on the wire`);
      const offer = { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover' };
      const run = async (): Promise<void> => {
        const ws = await RawWebSocket.open(s.port, offer);
        assert.match(ws.client.received.toString('latin1'), /sec-websocket-extensions: permessage-deflate/i);
        ws.write(Buffer.concat([encodeFrame({ opcode: 2, payload, rsv1: true, mask: true })]));
        const closed = await ws.closed(10_000);
        assert.equal(closed.code, 1009);
        assert.ok(closed.reactMs < 5000, `closed after ${closed.reactMs.toFixed(0)} ms`);
        ws.destroy();
      };
      await run();
      const baseline = await settledMemory();
      const rss = process.memoryUsage().rss;
      let peak = 0;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers);
      }, 2);
      try {
        await Promise.all([run(), run(), run(), run(), run()]);
      } finally {
        clearInterval(sampler);
      }
      // Five bombs of 500 MiB at once: unbounded inflation would need 2.5 GiB.
      assert.ok(peak - baseline < 64 * MiB, `peak ${((peak - baseline) / MiB).toFixed(1)} MiB over the baseline`);
      assert.ok(process.memoryUsage().rss - rss < 256 * MiB, 'resident memory stayed far below the inflated size');
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 4 * MiB, 'after the bombs');
    } finally {
      await s.stop();
    }
  });
});
