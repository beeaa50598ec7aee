import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { DeflateCodec, DEFAULT_DEFLATE_THRESHOLD, validateDeflateCodecOptions } from '../../src/node/deflate-codec.js';
import type { DeflateParams } from '../../src/core/permessage-deflate.js';
import { ZlibLimiter } from '../../src/node/zlib-limiter.js';
import { type ConnectionFailure, ConnectionNotOpenError, InvalidArgumentError, MessageTooLargeError, ProtocolError } from '../../src/core/errors.js';
import { Connection, type Role } from '../../src/core/connection.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * Plain zlib, as an independent check: inflate payload + trailer without expecting a final block.
 * The tiny output chunk makes zlib resolve back references from its window, not from output it
 * still holds, so a distance beyond 2^windowBits really fails.
 */
function inflateReference(payload: Uint8Array, windowBits = 15): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TRAILER]), {
    windowBits,
    chunkSize: 64,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
}

function params(overrides: Partial<DeflateParams> = {}): DeflateParams {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...overrides,
  };
}

/** A client and a server codec over the same negotiated parameters. */
function pair(p: DeflateParams = params(), threshold = 0): { client: DeflateCodec; server: DeflateCodec; close(): void } {
  const client = new DeflateCodec('client', p, 'permessage-deflate', { threshold });
  const server = new DeflateCodec('server', p, 'permessage-deflate', { threshold });
  return {
    client,
    server,
    close() {
      client.close();
      server.close();
    },
  };
}

/** Compressible text-like bytes that are not trivially repetitive (a seeded word salad). */
function text(size: number, seed = 1): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', '"id":', '"name":', 'true', 'false', 'null', '{', '}', ','];
  const out = Buffer.alloc(size);
  let x = seed;
  let i = 0;
  while (i < size) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    i += out.write(words[x % words.length]! + String(x % 997) + ' ', i);
  }
  return out;
}

/** Encode with `from`, check RSV1, decode with `to`. */
async function roundTrip(from: DeflateCodec, to: DeflateCodec, message: Uint8Array, maxSize = 64 * MiB): Promise<Uint8Array> {
  const encoded = await from.encode(message, false);
  if (encoded === null) return message; // sent as it is
  assert.equal(encoded.rsv, 0x40);
  return to.decode(encoded.data, false, encoded.rsv, maxSize);
}

/** A DEFLATE stream of `size` zero bytes, sync-flushed and stripped as RFC 7692 7.2.1 sends it. */
async function zeroBomb(size: number): Promise<Buffer> {
  // Zeros after zeros compress to the same bytes for every 4 MiB slice once the window is full of
  // zeros, so a 1 GiB bomb is built from two compressed slices instead of compressing 1 GiB.
  const slice = 4 * MiB;
  const d = zlib.createDeflateRaw({ level: 9, memLevel: 9, flush: zlib.constants.Z_SYNC_FLUSH });
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const zeros = Buffer.alloc(Math.min(size, slice));
  const compressSlice = () =>
    new Promise<Buffer>((resolve) =>
      d.write(zeros, () => {
        resolve(Buffer.concat(out.splice(0)));
      }),
    );
  const first = await compressSlice();
  const parts = [first];
  if (size > slice) {
    const next = await compressSlice();
    assert.deepEqual(await compressSlice(), next, 'zero slices compress identically');
    for (let done = 2 * slice; done < size; done += slice) parts.push(next);
    parts.push(next);
  }
  d.close();
  const bomb = Buffer.concat(parts);
  return bomb.subarray(0, bomb.length - 4);
}

describe('RFC 7692 section 7.2.1: compression', () => {
  it('compresses "Hello" to the RFC\'s bytes, and again with context takeover (7.2.3.1, 7.2.3.2)', async () => {
    const codec = new DeflateCodec('server', params(), 'permessage-deflate', { threshold: 0, level: 6 });
    const hello = Buffer.from('Hello');
    const first = await codec.encode(hello, true);
    assert.deepEqual(first, { data: Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv: 0x40 });
    const second = await codec.encode(hello, true);
    assert.deepEqual(second, { data: Buffer.from([0xf2, 0x00, 0x11, 0x00, 0x00]), rsv: 0x40 });
    codec.close();
  });

  it('strips the 0x00 0x00 0xff 0xff tail; the result plus the tail inflates with plain zlib', async () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate', { threshold: 0 });
    const message = text(50 * KiB);
    const encoded = await codec.encode(message, false);
    assert.ok(encoded);
    assert.ok(encoded.data.length < message.length / 2, 'text compresses');
    const tail = Buffer.from(encoded.data.subarray(encoded.data.length - 4));
    assert.notDeepEqual(tail, TRAILER);
    assert.deepEqual(inflateReference(encoded.data), message);
    codec.close();
  });

  it('compresses an empty message to a single 0x00 octet (7.2.3.6)', async () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate', { threshold: 0 });
    assert.deepEqual(await codec.encode(new Uint8Array(0), true), { data: Buffer.from([0x00]), rsv: 0x40 });
    codec.close();
  });

  it(`sends messages under the threshold (default ${DEFAULT_DEFLATE_THRESHOLD} bytes) uncompressed`, async () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate');
    assert.equal(await codec.encode(text(DEFAULT_DEFLATE_THRESHOLD - 1), true), null);
    assert.notEqual(await codec.encode(text(DEFAULT_DEFLATE_THRESHOLD), true), null);
    const big = new DeflateCodec('client', params(), 'permessage-deflate', { threshold: 64 * KiB });
    assert.equal(await big.encode(text(64 * KiB - 1), true), null);
    codec.close();
    big.close();
  });

  it('without context takeover, compresses each message alone and skips compression that does not pay', async () => {
    const p = params({ clientNoContextTakeover: true });
    const codec = new DeflateCodec('client', p, 'permessage-deflate', { threshold: 0 });
    const message = text(8 * KiB);
    const first = await codec.encode(message, false);
    const second = await codec.encode(message, false);
    assert.ok(first && second);
    // Same bytes twice: the second message did not refer back to the first.
    assert.deepEqual(second.data, first.data);
    assert.deepEqual(inflateReference(second.data), message);
    // Random bytes do not compress: they go out as they are (null), which is only allowed
    // because no later message depends on this one's window.
    assert.equal(await codec.encode(randomBytes(4 * KiB), false), null);
    codec.close();
  });

  it('with context takeover, always compresses (the peer\'s window must see every message)', async () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate', { threshold: 0 });
    const first = await codec.encode(text(8 * KiB), false);
    const second = await codec.encode(text(8 * KiB), false);
    assert.ok(first && second);
    assert.ok(second.data.length < first.data.length / 4, 'the second message refers to the first');
    assert.notEqual(await codec.encode(randomBytes(4 * KiB), false), null);
    codec.close();
  });

  it('keeps an 8-bit window within 256 bytes although zlib deflates with 9 bits', async () => {
    // A 300-byte random block repeated: a 512-byte window could refer back 300 bytes, a 256-byte
    // window cannot. An inflater limited to 8 bits fails on any distance beyond 256.
    const block = randomBytes(300);
    const message = Buffer.concat([block, block, block, block]);
    const codec = new DeflateCodec('client', params({ clientMaxWindowBits: 8 }), 'permessage-deflate', { threshold: 0 });
    const encoded = await codec.encode(message, false);
    assert.ok(encoded);
    assert.deepEqual(inflateReference(encoded.data, 8), message);
    codec.close();
    // The check can fail: with 10 bits the 300-byte distance is used and an 8-bit inflater refuses it.
    const wide = new DeflateCodec('client', params({ clientMaxWindowBits: 10 }), 'permessage-deflate', { threshold: 0 });
    const wider = await wide.encode(message, false);
    assert.ok(wider);
    assert.throws(() => inflateReference(wider.data, 8), /invalid distance too far back/);
    wide.close();
  });

  it('with window bits 8 agreed both ways, a long conversation with context takeover round-trips through 8-bit inflaters', async () => {
    // Each side compresses with 9 bits and inflates with exactly 8, the window the other agreed
    // to. Data that invites distances of 257 to 511 bytes (a random block of that period repeated)
    // and every level and memLevel: one distance beyond 256 would fail decoding with 1007. The
    // 64-byte output chunks make zlib resolve distances from its window rather than from output
    // it still holds, so a reference inside one message is checked too, not only across messages.
    for (const level of [1, 6, 9]) {
      for (const memLevel of [1, 8, 9]) {
        const p = params({ serverMaxWindowBits: 8, clientMaxWindowBits: 8 });
        const client = new DeflateCodec('client', p, 'permessage-deflate', { threshold: 0, level, memLevel, chunkSize: 64 });
        const server = new DeflateCodec('server', p, 'permessage-deflate', { threshold: 0, level, memLevel, chunkSize: 64 });
        for (let i = 0; i < 12; i++) {
          const period = 257 + ((i * 97 + level * 31 + memLevel) % 255);
          const block = randomBytes(period);
          const message = Buffer.alloc(2 * KiB + i * 1000);
          for (let j = 0; j < message.length; j++) message[j] = block[j % period]!;
          const [from, to] = i % 2 === 0 ? [client, server] : [server, client];
          const encoded = await from.encode(i % 3 === 2 ? text(message.length, i) : message, false);
          assert.ok(encoded);
          const expected = i % 3 === 2 ? text(message.length, i) : message;
          assert.deepEqual(Buffer.from(await to.decode(encoded.data, false, encoded.rsv, MiB)), expected, `level ${level} memLevel ${memLevel} message ${i}`);
        }
        client.close();
        server.close();
      }
    }
  });
});

describe('RFC 7692 section 7.2.2: decompression', () => {
  const hello = Buffer.from('Hello');
  const decodeAll = async (codec: DeflateCodec, payloads: number[][]): Promise<string[]> => {
    const out: string[] = [];
    for (const p of payloads) out.push(Buffer.from(await codec.decode(Uint8Array.from(p), true, 0x40, MiB)).toString());
    return out;
  };

  it('decodes the RFC\'s examples (7.2.3.1 to 7.2.3.6)', async () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate');
    assert.deepEqual(
      await decodeAll(codec, [
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], // 7.2.3.1
        [0xf2, 0x00, 0x11, 0x00, 0x00], // 7.2.3.2: refers to the previous message
        [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00], // 7.2.3.3: stored block
        [0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00], // 7.2.3.5: two blocks
        [0x00], // 7.2.3.6: empty
      ]),
      ['Hello', 'Hello', 'Hello', 'Hello', ''],
    );
    codec.close();
  });

  it('decodes a message ended with a final block (7.2.3.4), and the messages after it', async () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate');
    assert.deepEqual(
      await decodeAll(codec, [
        [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], // without the stored block's header octet
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
      ]),
      ['Hello', 'Hello', 'Hello'],
    );
    codec.close();
  });

  it('inflates with the window agreed: a peer that promised 8 bits and refers 300 bytes back into an earlier message fails with 1007', async () => {
    // An independent deflater with a 1 KiB window and context takeover: the second message is a
    // copy of the first, so it is a back-reference 300 bytes into the first message, which only
    // the inflater's window holds by then.
    const block = randomBytes(300);
    const sender = zlib.createDeflateRaw({ windowBits: 10 });
    const compress = (data: Buffer): Promise<Buffer> =>
      new Promise((resolve) => {
        const out: Buffer[] = [];
        const onData = (c: Buffer): void => void out.push(c);
        sender.on('data', onData);
        sender.write(data);
        sender.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          sender.off('data', onData);
          resolve(Buffer.concat(out).subarray(0, -4));
        });
      });
    const first = await compress(block);
    const second = await compress(block);
    sender.close();
    assert.ok(second.length < 20, 'the second message is a back-reference');
    const strict = new DeflateCodec('server', params({ clientMaxWindowBits: 8 }), 'permessage-deflate');
    assert.deepEqual(Buffer.from(await strict.decode(first, false, 0x40, MiB)), block);
    await assert.rejects(strict.decode(second, false, 0x40, MiB), (e: unknown) => e instanceof ProtocolError && e.closeCode === 1007);
    strict.close();
    // The same bytes are fine where the peer may use 10 bits.
    const loose = new DeflateCodec('server', params({ clientMaxWindowBits: 10 }), 'permessage-deflate');
    assert.deepEqual(Buffer.from(await loose.decode(first, false, 0x40, MiB)), block);
    assert.deepEqual(Buffer.from(await loose.decode(second, false, 0x40, MiB)), block);
    loose.close();
  });

  it('fails with 1007 on data after a final block rather than dropping it', async () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate');
    const payload = Uint8Array.from([0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xf3, 0x00, 0x11, 0x00, 0x00]);
    await assert.rejects(codec.decode(payload, true, 0x40, MiB), (e: unknown) => e instanceof ProtocolError && e.closeCode === 1007);
    codec.close();
  });

  it('fails with 1007 on invalid DEFLATE data, and every later message too', async () => {
    const codec = new DeflateCodec('server', params(), 'permessage-deflate');
    await assert.rejects(
      codec.decode(Uint8Array.from([0xff, 0xff, 0xff, 0xff]), false, 0x40, MiB),
      (e: unknown) => e instanceof ProtocolError && e.closeCode === 1007 && e.code === 'ERR_INVALID_COMPRESSED_DATA',
    );
    await assert.rejects(codec.decode(Uint8Array.from(hello), false, 0x40, MiB), ProtocolError);
    codec.close();
  });

  it('forgets the window between messages when the peer promised no context takeover', async () => {
    // The server decodes client messages; with client_no_context_takeover a message that refers
    // back to an earlier one is invalid and must not decode to the earlier data.
    const codec = new DeflateCodec('server', params({ clientNoContextTakeover: true }), 'permessage-deflate');
    assert.deepEqual(await decodeAll(codec, [[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]), ['Hello']);
    await assert.rejects(codec.decode(Uint8Array.from([0xf2, 0x00, 0x11, 0x00, 0x00]), true, 0x40, MiB), ProtocolError);
    codec.close();
  });
});

describe('RFC 7692 section 7.2: round trips', () => {
  const sizes = [0, 1, 1000, 1024, 70 * KiB];

  for (let bits = 9; bits <= 15; bits++) {
    for (const takeover of [true, false]) {
      it(`window bits ${bits}, ${takeover ? 'with' : 'without'} context takeover, both directions`, async () => {
        const p = params({
          serverMaxWindowBits: bits,
          clientMaxWindowBits: bits,
          serverNoContextTakeover: !takeover,
          clientNoContextTakeover: !takeover,
        });
        const { client, server, close } = pair(p);
        for (let round = 0; round < 2; round++) {
          for (const size of sizes) {
            const message = text(size, size + round);
            assert.deepEqual(Buffer.from(await roundTrip(client, server, message)), message);
            assert.deepEqual(Buffer.from(await roundTrip(server, client, message)), message);
          }
        }
        close();
      });
    }
  }

  it('round-trips 1 KiB to 16 MiB of text and of random bytes', async () => {
    const { client, server, close } = pair(params(), DEFAULT_DEFLATE_THRESHOLD);
    for (const size of [KiB, 64 * KiB, MiB, 16 * MiB]) {
      for (const message of [text(size, size), randomBytes(size)]) {
        assert.deepEqual(Buffer.from(await roundTrip(client, server, message)), message);
        assert.deepEqual(Buffer.from(await roundTrip(server, client, message)), message);
      }
    }
    close();
  });

  it('decodes what an independent deflater produced, with and without context takeover', async () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate');
    const reference = zlib.createDeflateRaw({ flush: zlib.constants.Z_SYNC_FLUSH, level: 9 });
    const out: Buffer[] = [];
    reference.on('data', (c: Buffer) => out.push(c));
    for (let i = 0; i < 5; i++) {
      const message = text(20 * KiB, 7); // the same message: later ones are all back references
      await new Promise<void>((resolve) => reference.write(message, () => resolve()));
      const compressed = Buffer.concat(out.splice(0));
      const payload = compressed.subarray(0, compressed.length - 4);
      assert.deepEqual(Buffer.from(await codec.decode(payload, false, 0x40, MiB)), message);
    }
    reference.close();
    codec.close();
  });
});

/** A seeded generator, so a failing case can be replayed. */
function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/**
 * Two core connections joined back to back, each with its codec on the receive path (the part of
 * the Node driver that matters here): bytes cross in slices of random sizes, and a compressed
 * message is inflated by the codec and handed back with finishTransform / failTransform.
 */
function corePair(p: DeflateParams, seed: number, maxMessageSize = 64 * MiB) {
  const random = prng(seed);
  const codecs = { client: new DeflateCodec('client', p, 'permessage-deflate'), server: new DeflateCodec('server', p, 'permessage-deflate') };
  const received: Record<Role, Array<{ data: Buffer; isText: boolean }>> = { client: [], server: [] };
  const errors: Record<Role, ConnectionFailure[]> = { client: [], server: [] };
  const waiters: Array<() => void> = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  const conns = {} as Record<Role, Connection>;
  for (const role of ['client', 'server'] as const) {
    const other: Role = role === 'client' ? 'server' : 'client';
    const codec = codecs[role];
    conns[role] = new Connection(
      { role, maxMessageSize, maxFrameSize: maxMessageSize, extensions: [codec.hook] },
      {
        output(chunks) {
          // Re-slice the bytes at random boundaries, as TCP may.
          const bytes = Buffer.concat(chunks);
          for (let at = 0; at < bytes.length; ) {
            const n = 1 + random(Math.min(bytes.length - at, 1 + random(40_000)));
            conns[other].receive(bytes.subarray(at, at + n));
            at += n;
          }
        },
        message(data, isText) {
          received[role].push({ data: Buffer.from(data), isText });
          notify();
        },
        ping() {},
        pong() {},
        close() {},
        protocolError(error) {
          errors[role].push(error);
          notify();
        },
        transformMessage(data, isText, rsv) {
          codec.decode(data, isText, rsv, maxMessageSize).then(
            (result) => conns[role].finishTransform(result),
            (error: ConnectionFailure) => conns[role].failTransform(error),
          );
        },
      },
    );
  }
  /** Compress (or not) and send, split into frames of random size. */
  const send = async (from: Role, message: Buffer, isText: boolean) => {
    const encoded = await codecs[from].encode(message, isText);
    const fragmentSize = 1 + random(random(2) === 0 ? 64 : 20_000);
    conns[from].sendMessage(encoded ? encoded.data : message, isText, { rsv: encoded ? encoded.rsv : 0, fragmentSize });
  };
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => (done() ? resolve() : waiters.push(check));
      check();
    });
  return { codecs, conns, received, errors, send, until, close: () => (codecs.client.close(), codecs.server.close()) };
}

describe('through the core: fragments of any size, reads of any size (RFC 7692 section 6.1)', () => {
  for (const [name, p] of [
    ['context takeover', params()],
    ['no context takeover, 10-bit windows', params({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 10 })],
  ] as const) {
    it(`${name}: every message arrives whole and in order, both directions`, async () => {
      for (const seed of [1, 2, 3]) {
        const link = corePair(p, seed);
        const random = prng(seed * 7919);
        const sent: Record<Role, Buffer[]> = { client: [], server: [] };
        for (let i = 0; i < 30; i++) {
          const from: Role = random(2) === 0 ? 'client' : 'server';
          const size = [0, 10, 1500, 70 * KiB, 300 * KiB][random(5)]!;
          const message = random(4) === 0 ? randomBytes(size) : text(size, seed * 100 + i);
          sent[from].push(message);
          // Not awaited one by one: the codec keeps the order, as the api's send queue would.
          await link.send(from, message, false);
        }
        await link.until(() => link.received.server.length === sent.client.length && link.received.client.length === sent.server.length);
        assert.deepEqual(link.errors, { client: [], server: [] });
        assert.deepEqual(link.received.server.map((m) => m.data), sent.client, `seed ${seed}: client to server`);
        assert.deepEqual(link.received.client.map((m) => m.data), sent.server, `seed ${seed}: server to client`);
        link.close();
      }
    });
  }

  it('a compressed text message is validated as UTF-8 after inflation (1007 for invalid)', async () => {
    const link = corePair(params(), 9);
    const good = Buffer.from('héllo wörld '.repeat(200));
    await link.send('client', good, true);
    // Deflate invalid UTF-8 and send it as text: only the inflated bytes can show it is invalid.
    const bad = Buffer.concat([Buffer.from('x'.repeat(2000)), Buffer.from([0xc3, 0x28])]);
    await link.send('client', bad, true);
    await link.until(() => link.errors.server.length > 0);
    assert.deepEqual(link.received.server, [{ data: good, isText: true }]);
    assert.equal(link.errors.server[0]!.closeCode, 1007);
    link.close();
  });

  it('a bomb in fragments fails the connection with 1009 (maxMessageSize after inflation)', async () => {
    const limit = 256 * KiB;
    const link = corePair(params(), 11, limit);
    const bomb = await zeroBomb(64 * MiB);
    assert.ok(bomb.length < limit, 'the compressed message itself is within the limit');
    link.conns.client.sendMessage(bomb, false, { rsv: 0x40, fragmentSize: 1000 });
    await link.until(() => link.errors.server.length > 0);
    assert.ok(link.errors.server[0] instanceof MessageTooLargeError);
    assert.equal(link.errors.server[0]!.closeCode, 1009);
    assert.equal(link.received.server.length, 0);
    link.close();
  });
});

describe('bounded inflation (maxMessageSize, close code 1009)', () => {
  it('accepts a message of exactly maxSize bytes and refuses one byte more', async () => {
    const { client, server, close } = pair();
    const message = text(100 * KiB);
    const encoded = await client.encode(message, false);
    assert.ok(encoded);
    assert.equal((await server.decode(encoded.data, false, 0x40, message.length)).length, message.length);
    const again = await client.encode(message, false);
    assert.ok(again);
    await assert.rejects(
      server.decode(again.data, false, 0x40, message.length - 1),
      (e: unknown) => e instanceof MessageTooLargeError && e.closeCode === 1009 && e.limit === message.length - 1,
    );
    close();
  });

  it('refuses a 4 KiB frame that inflates to 4 MiB when the limit is 64 KiB', async () => {
    const bomb = await zeroBomb(4 * MiB);
    assert.ok(bomb.length < 5 * KiB, `bomb is ${bomb.length} bytes`);
    const codec = new DeflateCodec('server', params(), 'permessage-deflate');
    await assert.rejects(codec.decode(bomb, false, 0x40, 64 * KiB), (e: unknown) => e instanceof MessageTooLargeError && e.closeCode === 1009);
    // The connection is failed after this; the codec stays failed rather than reuse a broken window.
    await assert.rejects(codec.decode(Uint8Array.from([0x00]), false, 0x40, 64 * KiB), MessageTooLargeError);
    codec.close();
  });

  it('refuses a 1 MiB frame that inflates to 1 GiB after inflating about 1 MiB, memory staying small', async () => {
    // DEFLATE cannot expand more than about 1032:1, so 1 GiB needs a frame of about 1 MiB; it fits
    // the default maxFrameSize (1 MiB) and is the worst a single default-sized frame can do.
    const bomb = await zeroBomb(1024 * MiB);
    assert.ok(bomb.length <= MiB, `bomb is ${bomb.length} bytes`);
    const limit = MiB;
    const codec = new DeflateCodec('server', params(), 'permessage-deflate');
    global.gc?.();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakBuffers = before.arrayBuffers;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
    }, 1);
    // CPU time of the process (zlib's worker threads included), not the wall clock: other
    // processes loading the machine do not count, inflating the whole bomb still would.
    const started = process.cpuUsage();
    try {
      await assert.rejects(codec.decode(bomb, false, 0x40, limit), (e: unknown) => e instanceof MessageTooLargeError && e.closeCode === 1009);
    } finally {
      clearInterval(sampler);
    }
    const after = process.memoryUsage();
    peakRss = Math.max(peakRss, after.rss);
    peakBuffers = Math.max(peakBuffers, after.arrayBuffers);
    const used = process.cpuUsage(started);
    const elapsed = (used.user + used.system) / 1000;
    // Measured: about 1 MiB of growth and under 20 ms. Inflating the whole bomb would take 1 GiB
    // and seconds; the bounds below are generous multiples of the limit and still far from that.
    assert.ok(peakRss - before.rss < 16 * limit, `rss grew ${((peakRss - before.rss) / MiB).toFixed(1)} MiB`);
    assert.ok(peakBuffers - before.arrayBuffers < 8 * limit, `arrayBuffers grew ${((peakBuffers - before.arrayBuffers) / MiB).toFixed(1)} MiB`);
    assert.ok(elapsed < 2000, `took ${elapsed.toFixed(0)} ms of CPU time`);
    codec.close();
  });
});

describe('order and the zlib limiter', () => {
  it('resolves encodes in call order without awaiting each (the window is shared state)', async () => {
    const { client, server, close } = pair(params(), DEFAULT_DEFLATE_THRESHOLD);
    const messages = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? text(100, i) : text(5 * KiB + i * 97, i)));
    const settledOrder: number[] = [];
    const encoded = await Promise.all(
      messages.map((m, i) =>
        client.encode(m, false).then((r) => {
          settledOrder.push(i);
          return r;
        }),
      ),
    );
    assert.deepEqual(settledOrder, messages.map((_, i) => i));
    // Decoding in the same order reproduces every message; a reordering would break back references.
    const decoded = await Promise.all(encoded.map((e, i) => (e === null ? messages[i]! : server.decode(e.data, false, e.rsv, MiB))));
    decoded.forEach((d, i) => assert.deepEqual(Buffer.from(d), messages[i]));
    close();
  });

  it('never runs more zlib operations at once than the limiter allows, across codecs', async () => {
    const limiter = new ZlibLimiter(2);
    let peak = 0;
    // The codec takes its slots through the limiter's callback form (schedule, then release).
    const original = limiter.schedule.bind(limiter);
    limiter.schedule = (start: () => void): void =>
      original(() => {
        peak = Math.max(peak, limiter.active);
        start();
      });
    const codecs = Array.from({ length: 6 }, () => new DeflateCodec('client', params(), 'permessage-deflate', { limiter }));
    const peers = Array.from({ length: 6 }, () => new DeflateCodec('server', params(), 'permessage-deflate', { limiter }));
    await Promise.all(
      codecs.map(async (codec, i) => {
        for (let k = 0; k < 5; k++) {
          const message = text(32 * KiB, i * 10 + k);
          assert.deepEqual(Buffer.from(await roundTrip(codec, peers[i]!, message)), message);
        }
      }),
    );
    assert.ok(peak >= 1 && peak <= 2, `peak ${peak}`);
    for (const c of [...codecs, ...peers]) c.close();
  });
});

describe('close()', () => {
  it('settles operations in progress and refuses new ones with ConnectionNotOpenError', async () => {
    const { client, server, close } = pair();
    // Everything is prepared first: started before an await, the encode could finish (on an idle
    // machine, or a loaded one) before close() and resolve instead of being settled by it.
    const bomb = await zeroBomb(4 * MiB);
    const message = text(4 * MiB);
    const pendingEncode = client.encode(message, false);
    const pendingDecode = server.decode(bomb, false, 0x40, 64 * MiB);
    close();
    await assert.rejects(pendingEncode, ConnectionNotOpenError);
    await assert.rejects(pendingDecode, ConnectionNotOpenError);
    await assert.rejects(client.encode(text(4 * KiB), false), ConnectionNotOpenError);
    await assert.rejects(server.decode(Uint8Array.from([0x00]), false, 0x40, MiB), ConnectionNotOpenError);
    close(); // twice is harmless
  });

  it('also settles what waits behind them, and gives every limiter slot back', async () => {
    // One slot for the whole process's codecs, as a small limiter: a slot kept by an operation
    // that close() settled would stop every other connection's compression for good.
    const limiter = new ZlibLimiter(1);
    const a = new DeflateCodec('client', params(), 'permessage-deflate', { limiter, threshold: 1024 });
    const b = new DeflateCodec('client', params(), 'permessage-deflate', { limiter, threshold: 1024 });
    const first = b.encode(text(4 * MiB), false); // holds the one slot
    const waiting = a.encode(text(64 * KiB, 2), false); // a's turn has come; it waits for the slot
    const queued = a.encode(text(64 * KiB, 3), false); // behind it in a's own line
    const small = a.encode(text(100, 4), false); // under the threshold: keeps its place in line
    const decoding = a.decode(Uint8Array.from([0x00]), false, 0x40, MiB);
    assert.equal(limiter.active, 1);
    assert.equal(limiter.pending, 2); // a's encode and a's decode
    a.close();
    await assert.rejects(waiting, ConnectionNotOpenError);
    await assert.rejects(queued, ConnectionNotOpenError);
    assert.equal(await small, null);
    await assert.rejects(decoding, ConnectionNotOpenError);
    assert.ok((await first) !== null);
    // a's operations got their slots after b's, and gave them back at once.
    assert.equal(limiter.active, 0);
    assert.equal(limiter.pending, 0);
    const c = new DeflateCodec('client', params(), 'permessage-deflate', { limiter, threshold: 1024 });
    assert.ok((await c.encode(text(64 * KiB, 5), false)) !== null);
    b.close();
    c.close();
  });
});

describe('options', () => {
  it('rejects levels, memLevels, window bits and thresholds out of range', () => {
    const make = (o: object, p: Partial<DeflateParams> = {}) => () => new DeflateCodec('client', params(p), 'permessage-deflate', o);
    for (const bad of [make({ level: 10 }), make({ level: -1 }), make({ memLevel: 0 }), make({ memLevel: 10 }), make({ threshold: -1 }), make({ threshold: 1.5 })]) {
      assert.throws(bad, InvalidArgumentError);
    }
    assert.throws(make({}, { clientMaxWindowBits: 16 }), InvalidArgumentError);
    assert.throws(make({}, { serverMaxWindowBits: 7 }), InvalidArgumentError);
    // The same checks without building a codec, for configuration time.
    assert.throws(() => validateDeflateCodecOptions({ level: 10 }), /level/);
    assert.throws(() => validateDeflateCodecOptions({ chunkSize: 1 }), /chunkSize/);
    assert.deepEqual(validateDeflateCodecOptions(), { threshold: 1024, level: 1, memLevel: 8, chunkSize: 16384 });
  });

  it('exposes the hook the core needs and the negotiated header', () => {
    const codec = new DeflateCodec('client', params(), 'permessage-deflate; client_max_window_bits=15');
    assert.deepEqual(codec.hook, { name: 'permessage-deflate', rsvBits: 0x40 });
    assert.equal(codec.header, 'permessage-deflate; client_max_window_bits=15');
    codec.close();
  });
});
