/**
 * The raw peers of the tests, in one place: endpoints that write exactly the bytes they are told
 * and never answer anything by themselves, for tests that must send what a well-behaved endpoint
 * never would.
 * - `RawPeer`: frames over any stream (an in-memory pair or a TCP socket), no handshake; what the
 *   api and driver tests put in front of a WebSocket (ws-pair.ts `rawPair`).
 * - `RawClient` / `RawWebSocket`: a TCP connection to a server, speaking the HTTP upgrade and then
 *   frames; what the hardening and server tests attack with.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { decodeFrame } from '../../src/core/frame-parser.js';
import { encodeFrame, type EncodeFrameOptions, type Frame } from '../../src/core/frame.js';

/** The RFC 6455 example key; its accept value is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=. */
export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/**
 * A raw WebSocket endpoint: reads frames off a stream (any masking accepted) and writes frames
 * exactly as told. It never answers anything by itself.
 */
export class RawPeer {
  readonly stream: Duplex;
  readonly role: 'client' | 'server';
  private buffered: Uint8Array = new Uint8Array(0);
  private frames: Frame[] = [];
  private waiters: ((frame: Frame | null) => void)[] = [];
  ended = false;

  constructor(stream: Duplex, role: 'client' | 'server') {
    this.stream = stream;
    this.role = role;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onEnd());
    stream.on('close', () => this.onEnd());
    stream.on('error', () => {});
  }

  private onData(chunk: Buffer): void {
    const joined = new Uint8Array(this.buffered.length + chunk.length);
    joined.set(this.buffered);
    joined.set(chunk, this.buffered.length);
    let offset = 0;
    for (;;) {
      const decoded = decodeFrame(joined.subarray(offset));
      if (decoded === null) break;
      offset += decoded.bytesConsumed;
      // Copy: the payload may be a view of `joined`.
      const frame = { ...decoded.frame, payload: Buffer.from(decoded.frame.payload) };
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.frames.push(frame);
    }
    this.buffered = joined.slice(offset);
  }

  private onEnd(): void {
    this.ended = true;
    for (const waiter of this.waiters.splice(0)) waiter(null);
  }

  /** The next frame received, or null when the stream ended first. */
  nextFrame(): Promise<Frame | null> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Encodes a frame (masked when this peer is a client) without writing it. */
  encode(options: EncodeFrameOptions): Uint8Array {
    return encodeFrame({ mask: this.role === 'client', ...options });
  }

  /** Writes frames in one write. */
  send(...frames: EncodeFrameOptions[]): void {
    const parts = frames.map((f) => this.encode(f));
    this.stream.write(Buffer.concat(parts));
  }

  /** Writes raw bytes. */
  write(bytes: Uint8Array): void {
    this.stream.write(bytes);
  }
}

// ------------------------------------------------------------------------------------------------
// Raw HTTP

/** An upgrade request head; a header given `null` is left out, an array value repeats the header. */
export function upgradeRequest(headers: Record<string, string | string[] | null> = {}, line = 'GET / HTTP/1.1'): string {
  const all: Record<string, string | string[] | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let text = `${line}\r\n`;
  for (const [name, value] of Object.entries(all)) {
    if (value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
  }
  return text + '\r\n';
}

export interface HttpAnswer {
  /** The status of the first response line; 0 when the server closed without answering. */
  status: number;
  head: string;
  /** ms from the last byte we sent to the server's answer (or its close, when it sent nothing). */
  reactMs: number;
  /** The server closed the connection (end or reset) after answering. */
  closed: boolean;
}

/** An open TCP connection to the server, with everything it received so far. */
export class RawClient {
  readonly socket: Socket;
  received: Buffer = Buffer.alloc(0);
  ended = false;
  closed = false;
  lastSent = performance.now();
  private wake: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
      this.poke();
    });
    socket.on('end', () => {
      this.ended = true;
      this.poke();
    });
    socket.on('close', () => {
      this.closed = true;
      this.poke();
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<RawClient> {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const client = new RawClient(socket);
    await once(socket, 'connect');
    return client;
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  write(bytes: string | Uint8Array): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(bytes);
    this.lastSent = performance.now();
  }

  /** Waits until `predicate` holds (checked on every arrival) or `timeout` ms pass; true if it held. */
  async until(predicate: () => boolean, timeout: number): Promise<boolean> {
    const end = performance.now() + timeout;
    while (!predicate()) {
      const left = end - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return true;
  }

  /** Reads an HTTP response head (and waits for the close that follows a refusal, when `closes`). */
  async response(timeout = 5000): Promise<HttpAnswer> {
    const headDone = (): boolean => this.received.indexOf('\r\n\r\n') !== -1 || this.ended || this.closed;
    await this.until(headDone, timeout);
    const reactMs = performance.now() - this.lastSent;
    const text = this.received.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    const head = end === -1 ? text : text.slice(0, end);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    if (status !== 101) await this.until(() => this.ended || this.closed, timeout);
    return { status, head, reactMs, closed: this.ended || this.closed };
  }

  /** Bytes after the response head (WebSocket frames, after a 101). */
  afterHead(): Buffer {
    const end = this.received.indexOf('\r\n\r\n');
    return end === -1 ? Buffer.alloc(0) : this.received.subarray(end + 4);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resets the connection (RST, not FIN), as a crashed or hostile peer does. */
  reset(): void {
    this.socket.resetAndDestroy();
  }
}

/** One request on a fresh connection: its answer. */
export async function exchange(port: number, request: string | Uint8Array, timeout = 5000): Promise<HttpAnswer> {
  const client = await RawClient.open(port);
  try {
    client.write(request);
    return await client.response(timeout);
  } finally {
    client.destroy();
  }
}

// ------------------------------------------------------------------------------------------------
// Raw WebSocket client

/** What the server sent back before closing: its frames' opcodes, and the close code if any. */
export interface ServerClose {
  /** The close code the server sent (0 when no close frame came, 1005 when it had no code). */
  code: number;
  /** ms from our last write to the server's close frame (or to the end of the connection). */
  reactMs: number;
  /** The TCP connection ended too. */
  ended: boolean;
  /** Data frames the server sent before its close. */
  messages: number;
}

/** A raw client past a 101 from the server: it sends exactly the frames it is told. */
export class RawWebSocket {
  readonly client: RawClient;

  private constructor(client: RawClient) {
    this.client = client;
  }

  /** Connects and upgrades; fails the test unless the answer is 101. */
  static async open(port: number, headers: Record<string, string | string[] | null> = {}): Promise<RawWebSocket> {
    const client = await RawClient.open(port);
    client.write(upgradeRequest(headers));
    const answer = await client.response();
    assert.equal(answer.status, 101, `upgrade answered ${answer.status}: ${answer.head}`);
    return new RawWebSocket(client);
  }

  /** Sends frames as a client must (masked), or as given. */
  send(...frames: EncodeFrameOptions[]): void {
    this.client.write(Buffer.concat(frames.map((f) => encodeFrame({ mask: true, ...f }))));
  }

  write(bytes: Uint8Array): void {
    this.client.write(bytes);
  }

  /** Frames received so far from the server (after the 101 head). */
  frames(): Array<{ opcode: number; payload: Uint8Array; fin: boolean }> {
    let bytes: Uint8Array = this.client.afterHead();
    const out: Array<{ opcode: number; payload: Uint8Array; fin: boolean }> = [];
    for (;;) {
      const decoded = decodeFrame(bytes, { role: 'client' });
      if (decoded === null) break;
      out.push({ opcode: decoded.frame.opcode, payload: decoded.frame.payload, fin: decoded.frame.fin });
      bytes = bytes.subarray(decoded.bytesConsumed);
    }
    return out;
  }

  /** Data frames received so far. */
  messages(): Array<{ opcode: number; payload: Uint8Array }> {
    return this.frames().filter((f) => f.opcode < 8);
  }

  /** Waits for the server's close frame (and the end of TCP), up to `timeout` ms. */
  async closed(timeout = 5000): Promise<ServerClose> {
    const closeFrame = (): { opcode: number; payload: Uint8Array } | undefined => this.frames().find((f) => f.opcode === 8);
    await this.client.until(() => closeFrame() !== undefined || this.client.ended || this.client.closed, timeout);
    const reactMs = performance.now() - this.client.lastSent;
    await this.client.until(() => this.client.ended || this.client.closed, timeout);
    const frame = closeFrame();
    const code = frame === undefined ? 0 : frame.payload.length >= 2 ? (frame.payload[0]! << 8) | frame.payload[1]! : 1005;
    return { code, reactMs, ended: this.client.ended || this.client.closed, messages: this.messages().length };
  }

  /** Waits until the server sent `n` data frames. */
  async waitMessages(n: number, timeout = 5000): Promise<boolean> {
    return this.client.until(() => this.messages().length >= n, timeout);
  }

  destroy(): void {
    this.client.destroy();
  }
}
