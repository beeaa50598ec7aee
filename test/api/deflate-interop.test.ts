/**
 * permessage-deflate (RFC 7692) against real peers, both directions: the `ws` package, Python
 * `websockets` (compression on by default) and headless Chromium; plus compression bombs sent by
 * hand-written peers to hybi's client and server. Every test asserts the negotiated extensions
 * string and that messages of 1 KiB to 16 MiB round-trip.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import zlib from 'node:zlib';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { chromium } from 'playwright-core';
import { connect, type ClientDeflateOptions, type ConnectOptions } from '../../src/api/connect.js';
import { WebSocketServer, type ServerDeflateOptions } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const PYTHON = '/usr/bin/python3';
// Compiled to build/test/api/; the script stays in the source tree.
const PEER = fileURLToPath(new URL('../../../test/fixtures/deflate_peer.py', import.meta.url));
/** Limits that admit the 16 MiB messages. */
const BIG: ConnectOptions = { maxMessageSize: 32 * MiB, maxFrameSize: 32 * MiB };
const SIZES = [KiB, 64 * KiB, MiB, 16 * MiB];
/** Each test's own bound (a suite's timeout does not stop a test that waits on an open socket). */
const T = { timeout: 60_000 };

/** Compressible, not trivial: numbered JSON-ish records (the Python peer builds the same). */
function payload(size: number, seed: number): string {
  const parts: string[] = [];
  let length = 0;
  for (let i = seed; length < size; i++) {
    const record = `{"id":${(i * 7919) % 100003},"name":"item ${i}","ok":true},`;
    parts.push(record);
    length += record.length;
  }
  return parts.join('').slice(0, size);
}

function pythonAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import websockets'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** Sends every size as text and as binary, expects each echoed; returns bytes sent. */
async function echoRounds(ws: WebSocket, sizes: readonly number[]): Promise<number> {
  let sent = 0;
  for (const [n, size] of sizes.entries()) {
    const text = payload(size, n);
    await ws.send(text);
    const back = await ws.receive();
    assert.equal(back.type, 'text');
    assert.ok(back.data === text, `text of ${size} bytes came back different`);
    const binary = Buffer.from(text);
    await ws.send(binary);
    const backBinary = await ws.receive();
    assert.equal(backBinary.type, 'binary');
    assert.ok(Buffer.compare(backBinary.data as Buffer, binary) === 0, `binary of ${size} bytes came back different`);
    sent += 2 * size;
  }
  // Incompressible bytes too: sent compressed with context takeover, or as they are without.
  const noise = randomBytes(MiB);
  await ws.send(noise);
  const back = await ws.receive();
  assert.ok(back.type === 'binary' && Buffer.compare(back.data, noise) === 0, 'random bytes came back different');
  return sent + noise.length;
}

/** A ws server echoing every message, counting the bytes its socket read and wrote. */
async function wsEcho(perMessageDeflate: boolean | object) {
  const wss = new WsServer({ host: '127.0.0.1', port: 0, perMessageDeflate, maxPayload: 32 * MiB });
  await once(wss, 'listening');
  const sockets: Socket[] = [];
  wss.on('connection', (sock, req) => {
    sockets.push(req.socket);
    sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary }));
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`,
    wire: () => sockets.reduce((acc, s) => ({ read: acc.read + s.bytesRead, written: acc.written + s.bytesWritten }), { read: 0, written: 0 }),
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

describe('client interop: hybi connect() with compress against the ws package', { timeout: 120_000 }, () => {
  const cases: Array<{ name: string; server: boolean | object; client: true | ClientDeflateOptions; extensions: string }> = [
    { name: 'defaults (context takeover, 15-bit windows)', server: true, client: true, extensions: 'permessage-deflate' },
    {
      name: 'the server asks for no context takeover both ways',
      server: { serverNoContextTakeover: true, clientNoContextTakeover: true },
      client: true,
      extensions: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    },
    {
      name: 'the server reduces both windows to 10 bits',
      server: { serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
      client: true,
      extensions: 'permessage-deflate; client_max_window_bits=10; server_max_window_bits=10',
    },
    {
      name: 'hybi asks for 9-bit windows and no context takeover',
      server: true,
      client: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      extensions: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
    },
    // Window bits 8 (Autobahn 13.3, 13.5): hybi compresses with 9 bits, which zlib keeps within
    // 250 bytes, and inflates with 8; a distance beyond 256 bytes either way would fail with 1007.
    {
      name: 'the server limits both windows to 8 bits',
      server: { serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
      client: true,
      extensions: 'permessage-deflate; client_max_window_bits=8; server_max_window_bits=8',
    },
    {
      name: 'hybi asks for 8-bit windows with context takeover',
      server: true,
      client: { serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
      extensions: 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=8',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: negotiates "${c.extensions}", 1 KiB to 16 MiB both ways, compressed on the wire`, T, async () => {
      const server = await wsEcho(typeof c.server === 'object' ? { ...c.server, threshold: 0 } : { threshold: 0 });
      try {
        const ws = await connect(server.url, { ...BIG, compress: c.client });
        assert.equal(ws.extensions, c.extensions);
        const sent = await echoRounds(ws, SIZES);
        await ws.close();
        // The text is compressible: had either side sent it uncompressed, the socket would have
        // carried at least `sent` bytes in that direction.
        const wire = server.wire();
        assert.ok(wire.read < sent / 2, `client to server: ${wire.read} bytes on the wire for ${sent}`);
        assert.ok(wire.written < sent / 2, `server to client: ${wire.written} bytes on the wire for ${sent}`);
      } finally {
        await server.close();
      }
    });
  }

  it('per-message compress: false sends that message uncompressed', T, async () => {
    const server = await wsEcho({ threshold: 0 });
    try {
      const ws = await connect(server.url, { ...BIG, compress: true });
      const text = payload(MiB, 1);
      await ws.send(text, { compress: false });
      assert.deepEqual(await ws.receive(), { type: 'text', data: text });
      assert.ok(server.wire().read > MiB, 'sent as it is');
      await ws.close();
    } finally {
      await server.close();
    }
  });
});

describe('compress options are checked before anything is dialed or accepted', () => {
  it('connect() refuses a bad level before dialing (InvalidArgumentError, not ConnectError)', async () => {
    // Port 1 is closed: a check made after dialing would surface as a ConnectError instead.
    await assert.rejects(connect('ws://127.0.0.1:1/', { compress: { level: 10 } }), (e: unknown) => (e as Error).name === 'InvalidArgumentError');
    await assert.rejects(connect('ws://127.0.0.1:1/', { compress: { memLevel: 0 } }), (e: unknown) => (e as Error).name === 'InvalidArgumentError');
  });

  it('the server refuses a bad level at construction', () => {
    assert.throws(() => new WebSocketServer({ compress: { level: -1 } }), (e: unknown) => (e as Error).name === 'InvalidArgumentError');
  });
});

/** Runs the Python peer as a server; resolves once it printed its port. */
async function pythonServer() {
  const child = spawn(PYTHON, [PEER, 'server'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 10_000) stderr += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const events: Array<Record<string, unknown>> = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`python peer did not start: ${stderr}`)), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`python peer exited (${code}): ${stderr}`));
    });
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(Number(line));
      lines.on('line', (l) => events.push(JSON.parse(l) as Record<string, unknown>));
    });
  });
  return {
    url: `ws://127.0.0.1:${port}/`,
    events,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      lines.close();
      child.stdin.destroy();
    },
  };
}

describe('client interop: hybi connect() with compress against Python websockets', { timeout: 120_000 }, () => {
  const available = pythonAvailable();
  it('accepts its 12-bit answer, 1 KiB to 16 MiB both ways', { ...T, skip: !available && 'python3 websockets is not installed' }, async () => {
    const server = await pythonServer();
    try {
      const ws = await connect(server.url, { ...BIG, compress: true });
      // websockets answers a valueless client_max_window_bits with 12 bits both ways.
      assert.equal(ws.extensions, 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12');
      await echoRounds(ws, SIZES);
      await ws.close();
    } finally {
      await server.stop();
    }
  });

  it('without context takeover, as hybi asks', { ...T, skip: !available && 'python3 websockets is not installed' }, async () => {
    const server = await pythonServer();
    try {
      const ws = await connect(server.url, { ...BIG, compress: { serverNoContextTakeover: true, clientNoContextTakeover: true } });
      assert.match(ws.extensions, /^permessage-deflate; server_no_context_takeover; client_no_context_takeover/);
      await echoRounds(ws, [KiB, MiB]);
      await ws.close();
    } finally {
      await server.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Server side: hybi's WebSocketServer with compress, against ws, Python websockets and Chromium.

/** A hybi echo server with `compress`; a page for the browser at `/`. */
async function hybiEcho(compress: true | ServerDeflateOptions) {
  const server = new WebSocketServer({ compress, maxMessageSize: 32 * MiB, maxFrameSize: 32 * MiB });
  server.on('connection', (ws) => {
    ws.on('message', (data: string | Buffer, isBinary: boolean) => void ws.send(data, { binary: isBinary }).catch(() => {}));
    ws.on('error', () => {});
  });
  const { port } = await server.listen({
    host: '127.0.0.1',
    port: 0,
    onRequest: (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(BROWSER_PAGE);
    },
  });
  return { port, url: `ws://127.0.0.1:${port}/echo`, close: () => server.close() };
}

/** A ws client against `url`; resolves with the Sec-WebSocket-Extensions answer and the socket. */
async function wsClient(url: string, perMessageDeflate: boolean | object) {
  const client = new WsClient(url, { perMessageDeflate, maxPayload: 32 * MiB });
  let extensions = '';
  client.on('upgrade', (res) => {
    extensions = String(res.headers['sec-websocket-extensions'] ?? '');
  });
  await once(client, 'open');
  const inbox: Array<{ data: Buffer; isBinary: boolean }> = [];
  const waiters: Array<() => void> = [];
  client.on('message', (data: Buffer, isBinary: boolean) => {
    inbox.push({ data, isBinary });
    waiters.splice(0).forEach((w) => w());
  });
  const next = async () => {
    while (inbox.length === 0) await new Promise<void>((r) => waiters.push(r));
    return inbox.shift()!;
  };
  return { client, extensions, next };
}

describe('server interop: hybi WebSocketServer with compress against the ws client', { timeout: 120_000 }, () => {
  const cases: Array<{ name: string; server: true | ServerDeflateOptions; client: boolean | object; extensions: string }> = [
    { name: 'defaults both sides', server: true, client: { threshold: 0 }, extensions: 'permessage-deflate' },
    {
      name: 'the client asks for no context takeover both ways',
      server: true,
      client: { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
      extensions: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    },
    {
      name: 'the client asks for 10-bit windows',
      server: true,
      client: { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
      // The client's 10 is a hint (RFC 7692 section 7.1.2.2): answered, it binds the client.
      extensions: 'permessage-deflate; server_max_window_bits=10; client_max_window_bits=10',
    },
    {
      name: 'the server limits both windows to 12 bits, memLevel 5',
      server: { serverMaxWindowBits: 12, clientMaxWindowBits: 12, memLevel: 5 },
      client: { threshold: 0 },
      extensions: 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
    },
    // Window bits 8 (Autobahn 13.3, 13.5), as ws's client asks for them.
    {
      name: 'the client asks for 8-bit windows',
      server: true,
      client: { threshold: 0, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
      extensions: 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=8',
    },
    {
      name: 'the server limits both windows to 8 bits',
      server: { serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
      client: { threshold: 0 },
      extensions: 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=8',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: answers "${c.extensions}", 1 KiB to 16 MiB both ways, compressed on the wire`, T, async () => {
      const server = await hybiEcho(c.server === true ? { threshold: 0 } : { ...c.server, threshold: 0 });
      try {
        const { client, extensions, next } = await wsClient(server.url, c.client);
        assert.equal(extensions, c.extensions);
        let sent = 0;
        for (const [n, size] of SIZES.entries()) {
          const text = payload(size, n);
          client.send(text);
          const back = await next();
          assert.ok(!back.isBinary && back.data.toString() === text, `text of ${size} bytes`);
          const binary = Buffer.from(text);
          client.send(binary);
          const backBinary = await next();
          assert.ok(backBinary.isBinary && Buffer.compare(backBinary.data, binary) === 0, `binary of ${size} bytes`);
          sent += 2 * size;
        }
        const socket = (client as unknown as { _socket: Socket })._socket;
        assert.ok(socket.bytesWritten < sent / 2, `client to server: ${socket.bytesWritten} bytes on the wire for ${sent}`);
        assert.ok(socket.bytesRead < sent / 2, `server to client: ${socket.bytesRead} bytes on the wire for ${sent}`);
        client.close();
        await once(client, 'close');
      } finally {
        await server.close();
      }
    });
  }
});

describe('server interop: hybi WebSocketServer with compress against Python websockets', { timeout: 120_000 }, () => {
  const available = pythonAvailable();
  it('negotiates with its default offer, 1 KiB to 16 MiB both ways', { ...T, skip: !available && 'python3 websockets is not installed' }, async () => {
    const server = await hybiEcho(true);
    try {
      const child = spawn(PYTHON, [PEER, 'client', server.url, ...SIZES.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout) as { extensions: string; rounds: Array<{ size: number; text_ok: boolean; binary_ok: boolean }>; close_code: number };
      // websockets 10 offers `permessage-deflate; client_max_window_bits`; with nothing to limit,
      // the answer is bare (its own client then compresses with 15-bit windows).
      assert.equal(result.extensions, 'permessage-deflate');
      assert.deepEqual(
        result.rounds.map((r) => [r.size, r.text_ok, r.binary_ok]),
        SIZES.map((size) => [size, true, true]),
      );
      assert.equal(result.close_code, 1000);
    } finally {
      await server.close();
    }
  });
});

/**
 * The page Chromium loads from the hybi server: `roundTrips(url, sizes)` sends a text and a binary
 * message of each size, compares each echo, and reports the negotiated extensions.
 */
const BROWSER_PAGE = `<!doctype html><meta charset="utf-8"><title>hybi deflate</title><script>
function text(size, seed) {
  let s = '';
  for (let i = seed; s.length < size; i++) s += '{"id":' + ((i * 7919) % 100003) + ',"name":"item ' + i + '","ok":true},';
  return s.slice(0, size);
}
function roundTrips(url, sizes) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const results = [];
    let step = 0;
    let expected = null;
    const sendNext = () => {
      const n = Math.floor(step / 2);
      if (n >= sizes.length) return ws.close(1000, 'browser done');
      const t = text(sizes[n], n);
      expected = step % 2 === 0 ? t : new TextEncoder().encode(t);
      ws.send(expected);
    };
    ws.onopen = () => sendNext();
    ws.onmessage = (event) => {
      let same;
      if (typeof expected === 'string') same = event.data === expected;
      else {
        const got = new Uint8Array(event.data);
        same = got.length === expected.length && got.every((b, i) => b === expected[i]);
      }
      results.push({ size: sizes[Math.floor(step / 2)], kind: step % 2 === 0 ? 'text' : 'binary', same });
      step++;
      sendNext();
    };
    ws.onclose = (event) => resolve({ extensions: ws.extensions, results, code: event.code });
  });
}
</script>`;

describe('server interop: hybi WebSocketServer with compress against headless Chromium', { timeout: 180_000 }, () => {
  it('accepts the browser\'s offer, 1 KiB to 16 MiB both ways', { timeout: 150_000 }, async (t) => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    t.after(() => browser.close());
    for (const [compress, extensions] of [
      // Chromium offers `permessage-deflate; client_max_window_bits`; with nothing to limit, the answer is bare.
      [true, 'permessage-deflate'],
      [{ serverMaxWindowBits: 12, clientMaxWindowBits: 12, memLevel: 5 }, 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12'],
      [{ serverNoContextTakeover: true, clientNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
    ] as const) {
      const server = await hybiEcho(compress);
      try {
        const page = await browser.newPage();
        await page.goto(`http://127.0.0.1:${server.port}/`);
        const seen = (await page.evaluate(
          ([url, sizes]) => (window as unknown as { roundTrips: (u: string, s: number[]) => Promise<unknown> }).roundTrips(url as string, sizes as number[]),
          [server.url, SIZES] as const,
        )) as { extensions: string; results: Array<{ size: number; kind: string; same: boolean }>; code: number };
        await page.close();
        assert.equal(seen.extensions, extensions, JSON.stringify(compress));
        assert.deepEqual(
          seen.results,
          SIZES.flatMap((size) => [
            { size, kind: 'text', same: true },
            { size, kind: 'binary', same: true },
          ]),
        );
        assert.equal(seen.code, 1000);
      } finally {
        await server.close();
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Bombs: peers written by hand, so that they can send what no library would.

/**
 * A DEFLATE stream of `size` zero bytes, sync-flushed and stripped (RFC 7692 7.2.1). Zeros after
 * zeros compress to the same bytes for every 4 MiB slice once the window is full of zeros, so the
 * stream is assembled from two compressed slices instead of compressing `size` bytes.
 */
async function zeroBomb(size: number): Promise<Buffer> {
  const slice = 4 * MiB;
  const d = zlib.createDeflateRaw({ level: 9, memLevel: 9, flush: zlib.constants.Z_SYNC_FLUSH });
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const zeros = Buffer.alloc(slice);
  const next = () => new Promise<Buffer>((resolve) => d.write(zeros, () => resolve(Buffer.concat(out.splice(0)))));
  const first = await next();
  const repeat = await next();
  d.close();
  const parts = [first];
  for (let done = slice; done < size; done += slice) parts.push(repeat);
  const bomb = Buffer.concat(parts);
  return bomb.subarray(0, bomb.length - 4);
}

/** A frame header: FIN, RSV1 (compressed), binary; 64-bit length; unmasked (server to client). */
function compressedFrameHeader(length: number, mask?: Buffer): Buffer {
  const header = Buffer.alloc(10);
  header[0] = 0x80 | 0x40 | 0x02;
  header[1] = 127 | (mask ? 0x80 : 0);
  header.writeBigUInt64BE(BigInt(length), 2);
  return mask ? Buffer.concat([header, mask]) : header;
}

/** Reads the close frame's status code among the (masked) frames a client wrote. */
function closeCodeIn(bytes: Buffer): number | undefined {
  let at = 0;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    const masked = (bytes[at + 1]! & 0x80) !== 0;
    let length = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2);
      head = 4;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at + 2));
      head = 10;
    }
    const keyAt = at + head;
    const dataAt = keyAt + (masked ? 4 : 0);
    if (dataAt + length > bytes.length) return undefined;
    if (opcode === 0x8 && length >= 2) {
      const b0 = bytes[dataAt]! ^ (masked ? bytes[keyAt]! : 0);
      const b1 = bytes[dataAt + 1]! ^ (masked ? bytes[keyAt + 1]! : 0);
      return (b0 << 8) | b1;
    }
    at = dataAt + length;
  }
  return undefined;
}

/** Samples rss and arrayBuffers until stopped; returns the peaks above the values at the start. */
function memoryPeaks(): () => { rss: number; arrayBuffers: number } {
  const start = process.memoryUsage();
  let rss = start.rss;
  let arrayBuffers = start.arrayBuffers;
  const timer = setInterval(() => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss);
    arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers);
  }, 1);
  return () => {
    clearInterval(timer);
    return { rss: rss - start.rss, arrayBuffers: arrayBuffers - start.arrayBuffers };
  };
}

describe('compression bombs are refused with 1009 (RFC 7692 section 8.1, RFC 6455 section 10.4)', { timeout: 60_000 }, () => {
  it('hybi client: a 1 MiB frame that inflates to 1 GiB closes with 1009, memory a small multiple of maxMessageSize', T, async () => {
    // DEFLATE expands at most about 1032:1, so 1 GiB needs about 1 MiB on the wire: the largest
    // frame the default limits (maxFrameSize = maxMessageSize = 1 MiB) let through.
    const bomb = await zeroBomb(1024 * MiB);
    assert.ok(bomb.length <= MiB, `bomb is ${bomb.length} bytes`);
    const fromClient: Buffer[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        if (!head.includes('\r\n\r\n')) {
          head += chunk.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          const key = /sec-websocket-key: *([^\r\n]+)/i.exec(head)![1]!;
          const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
          socket.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
          );
          socket.write(compressedFrameHeader(bomb.length));
          socket.write(bomb);
          return;
        }
        fromClient.push(chunk);
      });
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      global.gc?.();
      const peaks = memoryPeaks();
      const ws = await connect(`ws://127.0.0.1:${(server.address() as { port: number }).port}/`, { compress: true });
      const errors: Error[] = [];
      ws.on('error', (error: Error) => errors.push(error));
      // Not events.once: it would reject on the 'error' event that a failed connection emits.
      const code = await new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c)));
      const peak = peaks();
      if (process.env.HYBI_VERBOSE) console.log(`bomb: rss +${(peak.rss / MiB).toFixed(1)} MiB, arrayBuffers +${(peak.arrayBuffers / MiB).toFixed(1)} MiB`);
      assert.equal(code, 1009);
      assert.ok(errors.length === 0 || (errors[0] as { closeCode?: number }).closeCode === 1009);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(closeCodeIn(Buffer.concat(fromClient)), 1009, 'the close frame sent to the peer says 1009');
      // Measured: a few MiB (the 1 MiB frame itself, the ~1 MiB output, zlib's buffers).
      assert.ok(peak.rss < 32 * MiB, `rss grew ${(peak.rss / MiB).toFixed(1)} MiB`);
      assert.ok(peak.arrayBuffers < 16 * MiB, `arrayBuffers grew ${(peak.arrayBuffers / MiB).toFixed(1)} MiB`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('hybi server: a client\'s 1 MiB frame that inflates to 1 GiB closes with 1009, memory a small multiple of maxMessageSize', T, async () => {
    const bomb = await zeroBomb(1024 * MiB);
    const server = new WebSocketServer({ compress: true });
    const serverSaw: number[] = [];
    server.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('close', (code: number) => serverSaw.push(code));
      ws.on('message', () => assert.fail('no message may be delivered'));
    });
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
    const socket = new (await import('node:net')).Socket();
    try {
      socket.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
          'Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n',
      );
      const received: Buffer[] = [];
      socket.on('data', (c: Buffer) => received.push(c));
      socket.on('error', () => {});
      while (!Buffer.concat(received).includes('\r\n\r\n')) await once(socket, 'data');
      const head = Buffer.concat(received).toString('latin1');
      assert.match(head, /^HTTP\/1\.1 101/);
      assert.match(head, /sec-websocket-extensions: permessage-deflate/i);
      received.length = 0;
      // RFC 6455 section 5.3: a client masks; RFC 7692 section 6: RSV1 marks the message compressed.
      const mask = randomBytes(4);
      const masked = Buffer.from(bomb);
      for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i & 3]!;
      global.gc?.();
      const peaks = memoryPeaks();
      socket.write(Buffer.concat([compressedFrameHeader(masked.length, mask), masked]));
      await Promise.race([once(socket, 'end'), once(socket, 'close')]);
      const peak = peaks();
      assert.equal(closeCodeIn(Buffer.concat(received)), 1009, 'the close frame sent to the client says 1009');
      // The server's 'close' event follows its TCP close, which may come just after our 'end'.
      for (let waited = 0; serverSaw.length === 0 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(serverSaw, [1009]);
      assert.ok(peak.rss < 32 * MiB, `rss grew ${(peak.rss / MiB).toFixed(1)} MiB`);
      assert.ok(peak.arrayBuffers < 16 * MiB, `arrayBuffers grew ${(peak.arrayBuffers / MiB).toFixed(1)} MiB`);
    } finally {
      socket.destroy();
      await server.close();
    }
  });
});
