/**
 * The wire side of the conformance suite: a hand-written RFC 6455 peer that plays the part of
 * Autobahn|Testsuite's "fuzzing" endpoint against hybi. As a client it speaks masked frames to
 * hybi's WebSocketServer (server role); as a server it answers hybi's connect() with a raw 101 and
 * unmasked frames (client role). It shares no code with hybi: frames, handshakes, UTF-8 checks and
 * permessage-deflate are written here from the RFCs (zlib itself is node:zlib), so that a bug in
 * hybi's own framing cannot cancel itself out.
 *
 * A case (see cases.ts) is a list of steps the fuzzer performs, the events it must then have seen
 * (echoed messages, pongs), and how the connection must end: who sends the first close frame and
 * with which codes the other side may answer. `runCase` plays it over one connection and returns
 * the list of problems, empty when the case passes; the checks are the ones Autobahn grades a case
 * OK by, made stricter where the brief asks (a close frame with the right code is required, a
 * dropped TCP connection is not accepted in its place).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { constants as zconst, deflateRawSync, inflateRawSync } from 'node:zlib';

/** RFC 6455 section 1.3: the GUID appended to the key for Sec-WebSocket-Accept. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const EMPTY = Buffer.alloc(0);
/** RFC 7692 section 7.2.1: the tail a sync flush ends with, removed on the wire. */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** The largest LZ77 window: history kept for context takeover. */
const WINDOW = 32 * 1024;

export const Op = { Continuation: 0x0, Text: 0x1, Binary: 0x2, Close: 0x8, Ping: 0x9, Pong: 0xa } as const;

// ------------------------------------------------------------------------------------------------
// Frames

/** A frame to send. `rsv` counts as Autobahn does: 4 is RSV1, 2 is RSV2, 1 is RSV3. */
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array;
  fin?: boolean;
  rsv?: number;
}

/** Encodes one frame (RFC 6455 section 5.2), masked with a fresh random key when `mask`. */
export function encodeFrame(spec: FrameSpec, mask: boolean): Buffer {
  const payload = spec.payload ?? EMPTY;
  const n = payload.length;
  const extended = n < 126 ? 0 : n < 0x10000 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + (mask ? 4 : 0));
  header[0] = (spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) & 7) << 4 | (spec.opcode & 0x0f);
  header[1] = (mask ? 0x80 : 0) | (extended === 0 ? n : extended === 2 ? 126 : 127);
  if (extended === 2) header.writeUInt16BE(n, 2);
  else if (extended === 8) header.writeBigUInt64BE(BigInt(n), 2);
  if (!mask) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  key.copy(header, 2 + extended);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([header, body]);
}

/** A frame as received, payload unmasked. */
export interface WireFrame {
  fin: boolean;
  /** The three RSV bits, 4 = RSV1. */
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Reads frames off a byte stream without judging them (the fuzzer reports what it sees). */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): WireFrame[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const frames: WireFrame[] = [];
    for (;;) {
      if (this.length < 2) break;
      const head = this.peek(14);
      const len7 = head[1]! & 0x7f;
      const masked = (head[1]! & 0x80) !== 0;
      const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      const headerSize = 2 + extended + (masked ? 4 : 0);
      if (head.length < headerSize) break;
      const n = extended === 0 ? len7 : extended === 2 ? head.readUInt16BE(2) : Number(head.readBigUInt64BE(2));
      if (this.length < headerSize + n) break;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
      const payload = Buffer.from(all.subarray(headerSize, headerSize + n));
      if (masked) {
        const key = all.subarray(headerSize - 4, headerSize);
        for (let i = 0; i < n; i++) payload[i] = payload[i]! ^ key[i & 3]!;
      }
      frames.push({ fin: (head[0]! & 0x80) !== 0, rsv: (head[0]! >> 4) & 7, opcode: head[0]! & 0x0f, masked, payload });
      const rest = all.subarray(headerSize + n);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.length = rest.length;
    }
    return frames;
  }

  private peek(count: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= count || this.chunks.length === 1) return first.subarray(0, count);
    return Buffer.concat(this.chunks, this.length).subarray(0, count);
  }
}

// ------------------------------------------------------------------------------------------------
// UTF-8, the reference the cases are judged by

/**
 * Where a byte sequence stops being UTF-8 (Unicode table 3-7, RFC 3629): 'valid', 'truncated'
 * (valid so far, but ends inside a code point), or the index of the first byte after which no
 * continuation can make it valid. An endpoint that fails fast fails exactly there.
 */
export function utf8Status(bytes: Uint8Array): 'valid' | 'truncated' | number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) (need = 2), (lo = 0xa0);
    else if (b === 0xed) (need = 2), (hi = 0x9f);
    else if (b >= 0xe1 && b <= 0xef) need = 2;
    else if (b === 0xf0) (need = 3), (lo = 0x90);
    else if (b === 0xf4) (need = 3), (hi = 0x8f);
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else return i;
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return 'truncated';
      const c = bytes[i + k]!;
      if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i + k;
    }
    i += need + 1;
  }
  return 'valid';
}

// ------------------------------------------------------------------------------------------------
// permessage-deflate on the fuzzer's side

/** What the fuzzer does about compression on one connection, from the negotiated response. */
export interface FuzzerDeflate {
  /** The fuzzer compresses every message from an empty window. */
  sendNoContext: boolean;
  /** Window the fuzzer compresses with (zlib's smallest is 9; it never reaches back past 250 bytes there). */
  sendWindowBits: number;
  /** The peer promised to compress every message from an empty window. */
  recvNoContext: boolean;
  /** Window the peer promised to compress within (8..15): the fuzzer inflates with exactly it. */
  recvWindowBits: number;
}

/** Parses one `permessage-deflate; a; b=9` element into its parameters (the tests' own header parser). */
export function parseDeflateElement(header: string): Map<string, string | true> | null {
  const params = new Map<string, string | true>();
  const parts = header.split(';').map((p) => p.trim());
  if (parts[0] !== 'permessage-deflate') return null;
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) params.set(part, true);
    else params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim().replace(/^"|"$/g, ''));
  }
  return params;
}

/** The fuzzer's deflate settings once `response` was agreed, the fuzzer being `role`. */
export function fuzzerDeflate(response: string, role: 'client' | 'server'): FuzzerDeflate | null {
  const params = parseDeflateElement(response);
  if (params === null) return null;
  const own = role === 'client' ? 'client' : 'server';
  const peer = role === 'client' ? 'server' : 'client';
  const bits = params.get(`${own}_max_window_bits`);
  const peerBits = params.get(`${peer}_max_window_bits`);
  return {
    sendNoContext: params.has(`${own}_no_context_takeover`),
    sendWindowBits: typeof bits === 'string' ? Math.max(9, Number(bits)) : 15,
    recvNoContext: params.has(`${peer}_no_context_takeover`),
    recvWindowBits: typeof peerBits === 'string' ? Number(peerBits) : 15,
  };
}

function keepWindow(history: Buffer, added: Uint8Array): Buffer {
  const all = history.length === 0 ? Buffer.from(added) : Buffer.concat([history, added]);
  return all.length > WINDOW ? Buffer.from(all.subarray(all.length - WINDOW)) : all;
}

// ------------------------------------------------------------------------------------------------
// Cases

/** What the fuzzer must have received, in order (its own sync pongs excluded). */
export type WireEvent = { type: 'message'; binary: boolean; data: Buffer } | { type: 'pong'; data: Buffer } | { type: 'ping'; data: Buffer };

/** One thing the fuzzer does. */
export type Step =
  /** Frames, written as one chunk, or in writes of `chop` bytes (or one write per frame), yielding to the event loop between writes. */
  | { do: 'send'; frames: FrameSpec[]; chop?: number | 'frame' }
  /** A whole data message, compressed when deflate was negotiated and `compress` is not false, split into frames of `fragmentSize`. */
  | { do: 'message'; binary: boolean; payload: Uint8Array; fragmentSize?: number; compress?: boolean; chop?: number | 'frame'; then?: FrameSpec[] }
  /**
   * Bytes `from` to `to` of one frame's payload (the header goes with the first part): a frame
   * delivered in pieces, with other steps between them. Parts of one frame share its FrameSpec object.
   */
  | { do: 'framePart'; frame: FrameSpec; from: number; to: number }
  /** A ping/pong round trip: proof that the peer has processed everything before it and is still open. */
  | { do: 'sync' }
  /** Waits this long with nothing happening (only where no event can show progress: the middle of a frame). */
  | { do: 'quiet'; ms: number }
  /** Waits until this many events have been received. */
  | { do: 'awaitEvents'; count: number }
  /** The peer must close now (fail fast), before the fuzzer sends anything more. */
  | { do: 'awaitClose' }
  /** Sends a close frame: a code (and reason), or exactly `payload`. */
  | { do: 'close'; code?: number; reason?: Uint8Array; payload?: Uint8Array }
  /** `count` round trips: send a message, wait for its echo, compare (the echoes are not events). */
  | { do: 'echoLoop'; count: number; binary: boolean; payload: (i: number) => Uint8Array; fragmentSize?: number; compress?: boolean };

/** A permessage-deflate setup for both roles. */
export interface DeflateVariant {
  /** Server role: the Sec-WebSocket-Extensions header the fuzzing client offers. */
  offer: string;
  /** Client role: hybi connect()'s `compress` option. */
  clientOptions: Record<string, unknown>;
  /** Client role: the Sec-WebSocket-Extensions the fuzzing server answers with. */
  response: string;
  /** Server role: the response hybi's server must give ('' when it must decline). */
  expectResponse?: string;
}

export interface ConformanceCase {
  /** Autobahn's number where the case follows one of its cases; extra cases continue its numbering scheme. */
  id: string;
  title: string;
  steps: Step[];
  expect: WireEvent[];
  /** Who sends the first close frame, and the codes the other side may answer with (1005: an empty close frame). */
  close: { by: 'fuzzer' | 'peer'; codes: readonly number[] };
  /** Milliseconds for the whole case; default DEFAULT_CASE_TIMEOUT. */
  timeout?: number;
  deflate?: DeflateVariant;
}

/** Per-case bound: a case that needs longer is stuck. */
export const DEFAULT_CASE_TIMEOUT = 2000;

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function describeBytes(data: Buffer): string {
  if (data.length > 40) return `${data.length} bytes, sha1 ${createHash('sha1').update(data).digest('hex').slice(0, 12)}`;
  return `0x${data.toString('hex')}`;
}

function describeEvent(e: WireEvent): string {
  if (e.type === 'message') return `${e.binary ? 'binary' : 'text'} message ${describeBytes(e.data)}`;
  return `${e.type} ${describeBytes(e.data)}`;
}

function sameEvent(a: WireEvent, b: WireEvent): boolean {
  if (a.type !== b.type || !a.data.equals(b.data)) return false;
  return a.type !== 'message' || b.type !== 'message' || a.binary === b.binary;
}

/**
 * One connection, seen from the fuzzer. `role` is the fuzzer's: 'client' masks what it sends and
 * expects unmasked frames and the peer (a server) to close TCP first; 'server' the reverse, and it
 * closes TCP itself once the closing handshake is done, as Autobahn's fuzzing server does.
 */
export class Fuzzer {
  readonly problems: string[] = [];
  readonly events: WireEvent[] = [];
  /** The peer's close frame: its code (1005 for none) and whether ours had gone first. */
  peerClose: { code: number; reason: Buffer; afterOurs: boolean } | null = null;
  closeSent = false;
  /** The peer's FIN (or reset) arrived. */
  ended = false;
  /** We ended or destroyed the socket before the peer ended it. */
  endedByUs = false;

  private readonly socket: Socket | Duplex;
  private readonly role: 'client' | 'server';
  private readonly deflate: FuzzerDeflate | null;
  private readonly reader = new FrameReader();
  private readonly deadline: number;
  private readonly waiters = new Set<() => void>();
  private sendHistory: Buffer = EMPTY;
  private recvHistory: Buffer = EMPTY;
  private syncCount = 0;
  /** Frames sent in parts (framePart), encoded once so that every part shares the masking key. */
  private readonly partFrames = new Map<FrameSpec, Buffer>();
  private readonly syncPending = new Set<string>();
  // The message being received.
  private message: { binary: boolean; compressed: boolean; parts: Buffer[] } | null = null;

  /** `socket` may also be an HTTP/2 stream (RFC 8441), which has no Nagle to turn off. */
  constructor(socket: Socket | Duplex, role: 'client' | 'server', deflate: FuzzerDeflate | null, timeout: number) {
    this.socket = socket;
    this.role = role;
    this.deflate = deflate;
    this.deadline = performance.now() + timeout;
    (socket as Partial<Socket>).setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.reader.push(chunk)) this.onFrame(frame);
      this.changed();
    });
    socket.on('end', () => {
      this.ended = true;
      this.changed();
    });
    socket.on('close', () => {
      this.ended = true;
      this.changed();
    });
    socket.on('error', () => {
      // A reset after we wrote into a connection the peer had failed: 'close' follows.
    });
    // The handshake reader left the socket paused.
    socket.resume();
  }

  /** Feeds bytes that arrived with the handshake. */
  start(head: Buffer): void {
    if (head.length > 0) {
      for (const frame of this.reader.push(head)) this.onFrame(frame);
    }
  }

  private changed(): void {
    for (const check of [...this.waiters]) check();
  }

  /** Resolves once `test()` holds; rejects at the case's deadline. */
  until(test: () => boolean, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = (): void => {
        if (test()) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}`));
      }, Math.max(1, this.deadline - performance.now()));
      this.waiters.add(check);
    });
  }

  private onFrame(frame: WireFrame): void {
    const peerIs = this.role === 'client' ? 'server' : 'client';
    // RFC 6455 section 5.1: a client masks every frame, a server none.
    if (frame.masked !== (peerIs === 'client')) this.problems.push(`${peerIs} sent a${frame.masked ? ' masked' : 'n unmasked'} frame (opcode ${frame.opcode})`);
    if (this.peerClose !== null) {
      this.problems.push(`frame with opcode ${frame.opcode} after the peer's close frame`);
      return;
    }
    const op = frame.opcode;
    if (op >= 0x8) {
      if (!frame.fin || frame.rsv !== 0 || frame.payload.length > 125) this.problems.push(`malformed control frame (opcode ${op})`);
      if (op === Op.Ping) this.events.push({ type: 'ping', data: frame.payload });
      else if (op === Op.Pong) {
        const token = frame.payload.toString('latin1');
        if (this.syncPending.has(token)) this.syncPending.delete(token);
        else this.events.push({ type: 'pong', data: frame.payload });
      } else if (op === Op.Close) this.onClose(frame.payload);
      else this.problems.push(`frame with reserved opcode ${op}`);
      return;
    }
    if (op !== Op.Continuation && op !== Op.Text && op !== Op.Binary) {
      this.problems.push(`frame with reserved opcode ${op}`);
      return;
    }
    const compressedBit = (frame.rsv & 4) !== 0;
    if ((frame.rsv & 3) !== 0 || (compressedBit && (this.deflate === null || op === Op.Continuation))) {
      this.problems.push(`frame with RSV bits ${frame.rsv} that were not negotiated`);
    }
    if (op === Op.Continuation) {
      if (this.message === null) {
        this.problems.push('continuation frame without a message');
        return;
      }
    } else {
      if (this.message !== null) this.problems.push('new data frame inside a fragmented message');
      this.message = { binary: op === Op.Binary, compressed: compressedBit, parts: [] };
    }
    this.message.parts.push(frame.payload);
    if (!frame.fin) return;
    const { binary, compressed, parts } = this.message;
    this.message = null;
    let data: Buffer = Buffer.concat(parts);
    if (compressed) {
      try {
        data = this.inflate(data);
      } catch (error) {
        this.problems.push(`a compressed message did not inflate: ${(error as Error).message}`);
        return;
      }
    }
    if (!binary && utf8Status(data) !== 'valid') this.problems.push('the peer sent a text message that is not UTF-8');
    this.events.push({ type: 'message', binary, data });
  }

  private onClose(payload: Buffer): void {
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    this.peerClose = { code, reason: payload.subarray(2), afterOurs: this.closeSent };
    if (payload.length === 1) this.problems.push('the peer sent a close frame with a 1-byte payload');
    if (!this.closeSent) {
      // Section 5.5.1: answer with a close frame, echoing the status code (as Autobahn does).
      this.write(encodeFrame({ opcode: Op.Close, payload: payload.subarray(0, 2) }, this.role === 'client'));
      this.closeSent = true;
    }
    // Section 7.1.1: the server closes TCP once the closing handshake is done.
    if (this.role === 'server') this.endTcp();
  }

  private endTcp(): void {
    if (!this.ended) this.endedByUs = true;
    this.socket.end();
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(bytes);
  }

  private compress(payload: Uint8Array): Buffer {
    const d = this.deflate!;
    const options: { finishFlush: number; windowBits: number; dictionary?: Buffer } = { finishFlush: zconst.Z_SYNC_FLUSH, windowBits: d.sendWindowBits };
    if (!d.sendNoContext && this.sendHistory.length > 0) options.dictionary = this.sendHistory;
    const out = deflateRawSync(payload, options);
    if (!d.sendNoContext) this.sendHistory = keepWindow(this.sendHistory, payload);
    // RFC 7692 section 7.2.1: the sync flush's empty stored block tail is left off.
    return out.subarray(0, out.length - 4);
  }

  private inflate(data: Buffer): Buffer {
    const d = this.deflate!;
    // Inflated with the window the testee promised: a distance beyond it fails the case. With a
    // reduced window the output comes in 64-byte chunks, so that zlib resolves every distance from
    // its window rather than from output it still holds, and a reference inside one message beyond
    // the window fails as well.
    const options: { finishFlush: number; windowBits: number; dictionary?: Buffer; chunkSize?: number } = { finishFlush: zconst.Z_SYNC_FLUSH, windowBits: d.recvWindowBits };
    if (d.recvWindowBits < 15) options.chunkSize = 64;
    if (!d.recvNoContext && this.recvHistory.length > 0) options.dictionary = this.recvHistory;
    const out = inflateRawSync(Buffer.concat([data, DEFLATE_TAIL]), options);
    if (!d.recvNoContext) this.recvHistory = keepWindow(this.recvHistory, out);
    return out;
  }

  private async writeChopped(bytes: Buffer[], chop: number | 'frame' | undefined): Promise<void> {
    if (chop === undefined) {
      this.write(bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes));
      return;
    }
    const pieces: Buffer[] = [];
    if (chop === 'frame') pieces.push(...bytes);
    else {
      const all = Buffer.concat(bytes);
      for (let at = 0; at < all.length; at += chop) pieces.push(all.subarray(at, at + chop));
    }
    // Yielding between writes lets each piece reach the peer in a read of its own (the peer
    // runs in this process, so its socket is read in the poll phase between two ticks).
    for (const piece of pieces) {
      this.write(piece);
      if (this.peerClose !== null || this.ended) return;
      await tick();
    }
  }

  private messageFrames(binary: boolean, payload: Uint8Array, fragmentSize: number | undefined, compress: boolean | undefined): Buffer[] {
    const mask = this.role === 'client';
    const compressed = this.deflate !== null && compress !== false;
    const body = compressed ? this.compress(payload) : Buffer.from(payload);
    const size = fragmentSize ?? Math.max(1, body.length);
    const frames: Buffer[] = [];
    let at = 0;
    do {
      const end = Math.min(body.length, at + size);
      frames.push(
        encodeFrame(
          { opcode: at === 0 ? (binary ? Op.Binary : Op.Text) : Op.Continuation, payload: body.subarray(at, end), fin: end === body.length, rsv: at === 0 && compressed ? 4 : 0 },
          mask,
        ),
      );
      at = end;
    } while (at < body.length);
    return frames;
  }

  private stopped(): boolean {
    return this.peerClose !== null || this.ended;
  }

  async run(step: Step, index: number): Promise<void> {
    const mask = this.role === 'client';
    const where = `step ${index + 1} (${step.do})`;
    switch (step.do) {
      case 'send':
        await this.writeChopped(step.frames.map((f) => encodeFrame(f, mask)), step.chop);
        return;
      case 'message': {
        // `then`: frames that follow the message in the same write (say, a protocol error).
        const frames = [...this.messageFrames(step.binary, step.payload, step.fragmentSize, step.compress), ...(step.then ?? []).map((f) => encodeFrame(f, mask))];
        await this.writeChopped(frames, step.chop);
        return;
      }
      case 'framePart': {
        let encoded = this.partFrames.get(step.frame);
        if (encoded === undefined) {
          encoded = encodeFrame(step.frame, mask);
          this.partFrames.set(step.frame, encoded);
        }
        const headerSize = encoded.length - (step.frame.payload?.length ?? 0);
        this.write(encoded.subarray(step.from === 0 ? 0 : headerSize + step.from, headerSize + step.to));
        return;
      }
      case 'sync': {
        const token = `sync-${++this.syncCount}`;
        this.syncPending.add(token);
        this.write(encodeFrame({ opcode: Op.Ping, payload: Buffer.from(token, 'latin1') }, mask));
        await this.until(() => !this.syncPending.has(token) || this.stopped(), `the pong of ${where}`);
        if (this.syncPending.has(token)) throw new Error(`the peer closed before answering the ping of ${where}`);
        return;
      }
      case 'quiet': {
        await new Promise((resolve) => setTimeout(resolve, step.ms));
        if (this.stopped()) throw new Error(`the peer closed during ${where}, before the payload became invalid`);
        return;
      }
      case 'awaitEvents':
        await this.until(() => this.events.length >= step.count || this.stopped(), `${step.count} events`);
        if (this.events.length < step.count) throw new Error(`the peer closed with ${this.events.length} of ${step.count} events received (${where})`);
        return;
      case 'awaitClose':
        await this.until(() => this.stopped(), `the peer to fail the connection at once (${where})`);
        return;
      case 'close': {
        const payload =
          step.payload ?? (step.code === undefined ? EMPTY : Buffer.concat([Buffer.from([step.code >> 8, step.code & 0xff]), step.reason ?? EMPTY]));
        this.write(encodeFrame({ opcode: Op.Close, payload }, mask));
        this.closeSent = true;
        return;
      }
      case 'echoLoop': {
        for (let i = 0; i < step.count; i++) {
          const payload = Buffer.from(step.payload(i));
          await this.writeChopped(this.messageFrames(step.binary, payload, step.fragmentSize, step.compress), undefined);
          await this.until(() => this.events.length > 0 || this.stopped(), `the echo of message ${i + 1} of ${step.count}`);
          const got = this.events.shift();
          if (got === undefined) throw new Error(`the peer closed before echoing message ${i + 1} of ${step.count}`);
          const want: WireEvent = { type: 'message', binary: step.binary, data: payload };
          if (!sameEvent(got, want)) throw new Error(`message ${i + 1} of ${step.count}: expected ${describeEvent(want)}, got ${describeEvent(got)}`);
        }
        return;
      }
    }
  }

  /** Plays the case's steps, ends the connection as the case says, and checks the outcome. */
  async play(c: ConformanceCase): Promise<string[]> {
    try {
      for (let i = 0; i < c.steps.length; i++) await this.run(c.steps[i]!, i);
      if (c.close.by === 'fuzzer') {
        // Autobahn closes once everything expected has arrived (or the peer gave up).
        await this.until(() => this.events.length >= c.expect.length || this.stopped(), `${c.expect.length} events`).catch(() => {});
        if (!this.closeSent && this.peerClose === null) await this.run({ do: 'close', code: 1000 }, c.steps.length);
      }
      await this.until(() => this.peerClose !== null || this.ended, "the peer's close frame");
      // Server role: the server closes TCP first (section 7.1.1), Autobahn fails a client that had to.
      await this.until(() => this.ended, 'the TCP connection to be closed');
    } catch (error) {
      this.problems.push((error as Error).message);
    }
    this.check(c);
    this.socket.destroy();
    return this.problems;
  }

  private check(c: ConformanceCase): void {
    const got = this.events;
    const want = c.expect;
    const same = got.length === want.length && got.every((e, i) => sameEvent(e, want[i]!));
    if (!same) {
      this.problems.push(`received [${got.map(describeEvent).join(', ')}], expected [${want.map(describeEvent).join(', ')}]`);
    }
    const close = this.peerClose;
    if (close === null) {
      this.problems.push(this.ended ? 'the peer dropped the TCP connection without a close frame' : 'no close frame from the peer');
    } else {
      if (c.close.by === 'peer' && close.afterOurs) this.problems.push('the peer did not fail the connection: it only answered our close frame');
      if (c.close.by === 'fuzzer' && !close.afterOurs) this.problems.push(`the peer closed (code ${close.code}) before we did`);
      if (!c.close.codes.includes(close.code)) this.problems.push(`close code ${close.code}, expected ${c.close.codes.join(' or ')}`);
    }
    if (this.role === 'client' && this.endedByUs) this.problems.push('the fuzzing client had to close the TCP connection: the server should');
  }
}

// ------------------------------------------------------------------------------------------------
// Handshakes

interface Head {
  startLine: string;
  headers: Map<string, string>;
  rest: Buffer;
}

/** Reads an HTTP head (up to 16 KiB) off a socket; the bytes after it are `rest`. */
function readHead(socket: Socket, timeout: number): Promise<Head> {
  return new Promise<Head>((resolve, reject) => {
    let buffered = EMPTY;
    const finish = (error: Error | null, head?: Head): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (error !== null) reject(error);
      else resolve(head!);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > 16384) finish(new Error('HTTP head over 16 KiB'));
        return;
      }
      const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers.set(name, headers.has(name) ? `${headers.get(name)!}, ${value}` : value);
      }
      finish(null, { startLine: lines[0]!, headers, rest: Buffer.from(buffered.subarray(end + 4)) });
    };
    const onClose = (): void => finish(new Error('connection closed during the handshake'));
    const timer = setTimeout(() => finish(new Error('handshake timed out')), timeout);
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** The fuzzing client's opening handshake (server role). Resolves with the socket, the response's extensions and the bytes after the head. */
export async function openClient(
  port: number,
  path: string,
  extensions: string | undefined,
  timeout: number,
): Promise<{ socket: Socket; extensions: string; head: Buffer }> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
  ];
  if (extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  try {
    const head = await readHead(socket, timeout);
    if (!/^HTTP\/1\.1 101 /.test(head.startLine)) throw new Error(`handshake answered ${head.startLine}`);
    if (head.headers.get('sec-websocket-accept') !== acceptFor(key)) throw new Error('wrong Sec-WebSocket-Accept');
    return { socket, extensions: head.headers.get('sec-websocket-extensions') ?? '', head: head.rest };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** A request the fuzzing server accepted: the socket after its 101 (or the stream after its 200), and what the client asked for. */
export interface Accepted {
  socket: Socket | Duplex;
  path: string;
  /** The client's Sec-WebSocket-Extensions ('' when none). */
  offer: string;
  head: Buffer;
}

/**
 * The fuzzing server (client role): answers each upgrade with a raw 101 carrying the extensions
 * `respond(path, offer)` returns ('' for none), then hands the socket to `onAccepted`.
 */
export class FuzzingServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(respond: (path: string, offer: string) => string, onAccepted: (accepted: Accepted) => void) {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
      readHead(socket, DEFAULT_CASE_TIMEOUT).then(
        (head) => {
          const key = head.headers.get('sec-websocket-key');
          const match = /^GET (\S+) HTTP\/1\.1$/.exec(head.startLine);
          if (key === undefined || match === null) {
            socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
            return;
          }
          const path = match[1]!;
          const offer = head.headers.get('sec-websocket-extensions') ?? '';
          const extensions = respond(path, offer);
          const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`];
          if (extensions !== '') lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
          socket.write(`${lines.join('\r\n')}\r\n\r\n`);
          // Still paused: the Fuzzer resumes it once its listener is in place.
          onAccepted({ socket, path, offer, head: head.rest });
        },
        () => socket.destroy(),
      );
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return address.port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The fuzzing server over HTTP/2 (client role, RFC 8441): an h2c server that advertises
 * SETTINGS_ENABLE_CONNECT_PROTOCOL and answers each extended CONNECT with `:status 200` and the
 * extensions `respond(path, offer)` returns, then hands the stream to `onAccepted`. Node's http2
 * does the HTTP/2 framing; the WebSocket frames on the stream are the Fuzzer's own, as over TCP.
 */
export class FuzzingH2Server {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(respond: (path: string, offer: string) => string, onAccepted: (accepted: Accepted) => void) {
    // Windows as large as the cases' messages, so that flow control paces nothing but the peers.
    this.server = http2.createServer({ settings: { enableConnectProtocol: true, initialWindowSize: 16 * 1024 * 1024 } });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => {});
    });
    this.server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      const path = headers[':path'];
      if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket' || path === undefined) {
        stream.respond({ ':status': 400 }, { endStream: true });
        return;
      }
      const offer = String(headers['sec-websocket-extensions'] ?? '');
      const extensions = respond(path, offer);
      stream.respond(extensions === '' ? { ':status': 200 } : { ':status': 200, 'sec-websocket-extensions': extensions });
      onAccepted({ socket: stream, path, offer, head: EMPTY });
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return address.port;
  }

  /** How many HTTP/2 sessions (TCP connections) are open. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
