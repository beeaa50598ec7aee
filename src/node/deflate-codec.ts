/**
 * The permessage-deflate payload transform (RFC 7692 section 7.2) over node:zlib.
 *
 * One raw DEFLATE stream per direction and connection. With context takeover the streams live as
 * long as the connection, so a message can refer back to earlier ones (that is where most of the
 * compression on small, similar messages comes from). When the side that compresses promised
 * `no_context_takeover`, each message is compressed from an empty window, and we free the
 * corresponding zlib context after every message instead of keeping ~300 KiB per idle connection.
 * The deflate context is only created on the first compressed send, so a connection that never
 * sends a message over the threshold never pays for one.
 *
 * Inflation is bounded: output is counted chunk by chunk (zlib hands it over in `chunkSize`
 * pieces, one thread-pool job each) and the stream is destroyed as soon as the message exceeds
 * `maxSize`, so a bomb costs at most about `maxSize + chunkSize` bytes and the CPU to produce them.
 *
 * The parameters come from the negotiation in src/core/permessage-deflate.ts.
 */
import zlib from 'node:zlib';
import type { ExtensionHook, Role } from '../core/connection.js';
import { ConnectionNotOpenError, InvalidArgumentError, MessageTooLargeError } from '../core/errors.js';
import { violation } from '../core/failure-errors.js';
import { Failures } from '../core/failures.js';
import { DEFLATE_RSV, PERMESSAGE_DEFLATE, type DeflateParams } from '../core/permessage-deflate.js';
import type { MessageCodec } from './message-codec.js';
import { Fifo } from './fifo.js';
import { zlibLimiter, type ZlibLimiter } from './zlib-limiter.js';

/** The 4 octets a sync flush ends with: an empty stored block's LEN/NLEN (RFC 7692 section 7.2.1). */
const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** RFC 7692 section 7.2.3.6: an empty non-final stored block, what an empty message compresses to. */
const EMPTY_BLOCK = new Uint8Array([0x00]);

/** Payloads up to this size are copied to join the trailer (one zlib job instead of two). */
const MAX_JOINED_PAYLOAD = 64 * 1024;

/** Messages smaller than this are sent uncompressed by default (bytes). */
export const DEFAULT_DEFLATE_THRESHOLD = 1024;

/**
 * Default compression level: 1. Measured (docs/permessage-deflate.md): on messages of 16 to 64 KiB
 * level 1 compresses 4 to 6 times faster than zlib's default 6 (about 1.5 times on 2 KiB) while
 * its output is 15 to 20% larger, and a WebSocket server is usually CPU-bound long before it is
 * bandwidth-bound.
 */
const DEFAULT_DEFLATE_LEVEL = 1;

/**
 * Default zlib memLevel (1..9): 8, zlib's own default. The compressor's hash tables cost
 * 2^(memLevel+9) bytes (128 KiB at 8); lower values save memory per connection at some ratio.
 */
const DEFAULT_DEFLATE_MEM_LEVEL = 8;

/** Tuning of the codec that is not negotiated: each field's default and reason are on its field. */
export interface DeflateCodecOptions {
  /**
   * Messages smaller than this many bytes are sent uncompressed (default 1024): below about 1 KiB,
   * the CPU and the thread-pool round trip cost more than the bytes saved. 0 compresses everything.
   */
  threshold?: number;
  /** zlib compression level 0..9 (default 1, see DEFAULT_DEFLATE_LEVEL). */
  level?: number;
  /** zlib memLevel 1..9 (default 8, see DEFAULT_DEFLATE_MEM_LEVEL). */
  memLevel?: number;
  /**
   * Size of the pieces zlib produces output in (default 16 KiB, Node's). Each piece is one
   * thread-pool job and also the granularity of the inflation bound; each stream keeps one
   * buffer of this size.
   */
  chunkSize?: number;
  /** The limiter that bounds concurrent zlib work; default the process-wide `zlibLimiter`. */
  limiter?: ZlibLimiter;
}

type Resolved = Required<Omit<DeflateCodecOptions, 'limiter'>>;

/**
 * Checks the codec's tuning and applies its defaults; throws InvalidArgumentError naming the first
 * bad field. Call it when options are given (before dialing, when a server is constructed), so a
 * mistake shows at configuration rather than after a handshake.
 */
export function validateDeflateCodecOptions(options: DeflateCodecOptions = {}): Resolved {
  return {
    threshold: checkInt('threshold', options.threshold ?? DEFAULT_DEFLATE_THRESHOLD, 0, Number.MAX_SAFE_INTEGER),
    level: checkInt('level', options.level ?? DEFAULT_DEFLATE_LEVEL, 0, 9),
    memLevel: checkInt('memLevel', options.memLevel ?? DEFAULT_DEFLATE_MEM_LEVEL, 1, 9),
    chunkSize: checkInt('chunkSize', options.chunkSize ?? zlib.constants.Z_DEFAULT_CHUNK, 64, 1 << 30),
  };
}

/**
 * permessage-deflate for one connection. `decode` and `encode` may be called without waiting for
 * earlier calls: each direction runs its operations one at a time in call order (the LZ77 window
 * is shared state), and every operation takes a slot of the limiter while it runs.
 */
export class DeflateCodec implements MessageCodec {
  /** Tells the core that RSV1 marks this extension's messages. */
  readonly hook: ExtensionHook = { name: PERMESSAGE_DEFLATE, rsvBits: DEFLATE_RSV };
  /** The negotiated Sec-WebSocket-Extensions element, for `ws.extensions`. */
  readonly header: string;

  readonly #options: Resolved;
  readonly #limiter: ZlibLimiter;
  /** Our compressor: window bits and reset policy from the params of our own role. */
  readonly #deflateBits: number;
  readonly #deflateReset: boolean;
  /** Our decompressor: window bits and reset policy from the peer's params. */
  readonly #inflateBits: number;
  readonly #inflateReset: boolean;

  #deflater: zlib.DeflateRaw | undefined;
  #inflater: zlib.InflateRaw | undefined;
  /** Input bytes handed to the current inflater, to notice a peer's final block (see #inflated). */
  #inflaterFed = 0;
  /** Each direction's operations, one running at a time in call order. */
  readonly #decodes = new Line<Uint8Array>();
  readonly #encodes = new Line<Encoded | null>();
  /** After a failed inflation the window is unknown, so every later decode fails the same way. */
  #decodeError: Error | undefined;
  #closed = false;
  // For metrics (the compression ratio): message bytes before and after, per direction, counted
  // once per compressed message. Messages sent uncompressed are not counted.
  /** Bytes of the messages we compressed, before and after. */
  rawSent = 0;
  compressedSent = 0;
  /** Bytes of the compressed messages we received, before and after inflating them. */
  compressedReceived = 0;
  rawReceived = 0;

  constructor(role: Role, params: DeflateParams, header: string, options: DeflateCodecOptions = {}) {
    this.header = header;
    this.#limiter = options.limiter ?? zlibLimiter;
    this.#options = validateDeflateCodecOptions(options);
    const ours = role === 'server' ? 'server' : 'client';
    const bits = (side: string): number =>
      checkInt(`${side}MaxWindowBits`, side === 'server' ? params.serverMaxWindowBits : params.clientMaxWindowBits, 8, 15);
    const theirs = ours === 'server' ? 'client' : 'server';
    // Window bits 8 (RFC 7692 section 7.1.2): zlib cannot deflate with a 256-byte window (raw
    // deflate refuses 8, and Node asks for 9 instead), so we compress with 9 when 8 was agreed.
    // That is safe: zlib's matcher never looks further back than the window size minus
    // MIN_LOOKAHEAD (262 bytes: a longest match of 258 plus 3 plus 1), so with 9 bits no distance
    // exceeds 250 and a peer that inflates with 256 bytes reads everything we send. The codec test
    // "keeps an 8-bit window within 256 bytes" checks this against Node's zlib. Inflation uses
    // the window agreed, 8 included (zlib's inflate supports it): the peer promised no more.
    this.#deflateBits = Math.max(9, bits(ours));
    this.#inflateBits = bits(theirs);
    // RFC 7692 section 7.2.1/7.2.2: the side that promised no_context_takeover compresses each
    // message from an empty window; the other side may then forget its window between messages.
    this.#deflateReset = ours === 'server' ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.#inflateReset = ours === 'server' ? params.clientNoContextTakeover : params.serverNoContextTakeover;
  }

  /**
   * Decompress one message whose first frame had RSV1 set (RFC 7692 section 7.2.2). Rejects with
   * MessageTooLargeError (1009) as soon as the output exceeds `maxSize`, with a ProtocolError (1007,
   * ERR_INVALID_COMPRESSED_DATA) if the payload is not valid DEFLATE data, and with
   * ConnectionNotOpenError after `close()`. `data` is read until the promise settles.
   */
  decode(data: Uint8Array, _isText: boolean, _rsv: number, maxSize: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => this.#submit(this.#decodes, newOperation(data, maxSize, resolve, reject)));
  }

  /**
   * Compress one message (RFC 7692 section 7.2.1), or resolve null to send it uncompressed: below
   * the threshold, or when compressing without context takeover would not make it smaller.
   * `data` is read until the promise settles; the result is a fresh buffer.
   */
  encode(data: Uint8Array, _isText: boolean): Promise<Encoded | null> {
    if (this.#closed) return Promise.reject(closedError());
    if (data.length < this.#options.threshold) {
      // Resolve after the messages queued before it, so that a caller awaiting results in any
      // order still sees them in call order: an operation with no data keeps that place in line.
      if (this.#encodes.idle) return Promise.resolve(null);
      return new Promise((resolve, reject) => this.#submit(this.#encodes, newOperation(null, 0, resolve, reject)));
    }
    return new Promise((resolve, reject) => this.#submit(this.#encodes, newOperation(data, 0, resolve, reject)));
  }

  /**
   * Free both zlib contexts; operations in progress or queued reject with ConnectionNotOpenError
   * (an encode under the threshold, which compresses nothing, still resolves null).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deflater?.destroy();
    this.#inflater?.destroy();
    this.#deflater = undefined;
    this.#inflater = undefined;
    const error = closedError();
    for (const line of [this.#decodes, this.#encodes] as Line<unknown>[]) {
      if (line.running !== null) this.#finish(line, line.running, error);
    }
  }

  // One operation at a time per direction (the window is shared state), each in a slot of the
  // limiter while it runs. Callbacks and one listener of each kind per zlib stream, rather than
  // promise chains and listeners added per message: a compressed echo's server allocated about
  // two thirds more than ws's per message with those, and collected its old generation every
  // 50-150 ms for it (issue 24; bench/README.md, "Compression and queued sends").

  #submit<T>(line: Line<T>, operation: Operation<T>): void {
    line.push(operation);
    if (line.running === null) this.#next(line);
  }

  /** Starts the next operation of `line`, which has none running. */
  #next<T>(line: Line<T>): void {
    for (let operation = line.shift(); operation !== undefined; operation = line.shift()) {
      if (operation.data === null) {
        // An encode under the threshold, whose turn it is: it goes uncompressed (also once the
        // codec is closed, as it always did; the sender then finds the connection closed).
        operation.settled = true;
        operation.resolve(null as T);
      } else if (this.#closed) {
        operation.settled = true;
        operation.reject(closedError());
      } else {
        line.running = operation;
        if (line === (this.#decodes as Line<unknown>)) this.#limiter.schedule(() => this.#inflate(operation as Operation<Uint8Array>));
        else this.#limiter.schedule(() => this.#deflate(operation as Operation<Encoded | null>));
        return;
      }
    }
  }

  /** Settles `operation` (once), gives back its slot, and starts the next of its line. */
  #finish<T>(line: Line<T>, operation: Operation<T>, error: Error | undefined, value?: T): void {
    if (operation.settled) return;
    operation.settled = true;
    if (operation.started) this.#limiter.release();
    if (error !== undefined) operation.reject(error);
    else operation.resolve(value as T);
    if (line.running === operation) {
      line.running = null;
      this.#next(line);
    }
  }

  /** The limiter gave `operation` its slot. */
  #inflate(operation: Operation<Uint8Array>): void {
    operation.started = true;
    // Settled while it waited for the slot (the codec was closed): only the slot is left to give back.
    if (operation.settled) return this.#limiter.release();
    if (this.#closed) return this.#finish(this.#decodes, operation, closedError());
    if (this.#decodeError) return this.#finish(this.#decodes, operation, this.#decodeError);
    const inflater = (this.#inflater ??= this.#newInflater());
    const data = operation.data!;
    const written = (error?: Error | null): void => this.#inflated(operation, inflater, error);
    // RFC 7692 section 7.2.2: append 0x00 0x00 0xff 0xff to the payload, then inflate. Small
    // payloads are joined to their trailer so that the message costs one thread-pool job; large
    // ones are written as they are rather than copied. The stream flushes every write
    // (Z_SYNC_FLUSH), so the last write's callback comes after all of the message's output.
    this.#inflaterFed += data.length + TRAILER.length;
    if (data.length <= MAX_JOINED_PAYLOAD) {
      const joined = new Uint8Array(data.length + TRAILER.length);
      joined.set(data);
      joined.set(TRAILER, data.length);
      inflater.write(joined, written);
    } else {
      inflater.write(data);
      inflater.write(TRAILER, written);
    }
  }

  /** Output of the current inflater, for the inflation running. */
  #inflateData(inflater: zlib.InflateRaw, chunk: Buffer): void {
    const operation = this.#decodes.running;
    if (operation === null || inflater !== this.#inflater) return;
    operation.total += chunk.length;
    // Stop at the first piece past the limit: zlib has produced at most one chunkSize more than
    // maxSize, and destroying the stream keeps it from starting the next piece.
    if (operation.total > operation.maxSize) {
      const max = operation.maxSize;
      this.#failInflation(operation, inflater, new MessageTooLargeError(`message of more than ${max} bytes (maxMessageSize)`, max));
      return;
    }
    operation.chunks.push(chunk);
  }

  /** An 'error' or 'close' of the current inflater fails the inflation running. */
  #inflaterFailed(inflater: zlib.InflateRaw, error: Error): void {
    const operation = this.#decodes.running;
    if (operation === null || inflater !== this.#inflater) return;
    this.#failInflation(operation, inflater, error);
  }

  /**
   * A failed inflation leaves the shared window in an unknown state: drop the stream (which also
   * stops zlib at once) and fail every later message the same way.
   */
  #failInflation(operation: Operation<Uint8Array>, inflater: zlib.InflateRaw, error: Error): void {
    if (operation.settled) return;
    if (!this.#closed) {
      this.#decodeError = error;
      this.#discardInflater(inflater);
    }
    this.#finish(this.#decodes, operation, error);
  }

  /** The callback of an inflation's last write: all of its output has come. */
  #inflated(operation: Operation<Uint8Array>, inflater: zlib.InflateRaw, error: Error | null | undefined): void {
    if (operation.settled) return;
    // A zlib error fails pending writes too, possibly before the 'error' event.
    if (error || inflater.destroyed) {
      this.#failInflation(operation, inflater, invalidData(error ?? new Error('zlib stream destroyed')));
      return;
    }
    // A peer may end a message with a final block (BFINAL = 1, RFC 7692 section 7.2.3.4). zlib
    // then stops consuming input, which shows as input not counted in bytesWritten. What may
    // legitimately follow is the header octet of the empty stored block the sender appended (0x00,
    // as in the RFC's example) and our own trailer; anything more would be a second DEFLATE stream
    // that zlib cannot continue, and dropping it would corrupt the message.
    const unconsumed = this.#inflaterFed - inflater.bytesWritten;
    if (unconsumed > TRAILER.length + 1) {
      this.#failInflation(operation, inflater, violation(Failures.invalidCompressedData, 'data after the final DEFLATE block'));
      return;
    }
    // After a final block the stream is finished; so is the window when the peer promised
    // no_context_takeover. Either way the next message starts from a fresh context.
    if (unconsumed > 0 || this.#inflateReset) this.#discardInflater(inflater);
    const total = operation.total;
    this.compressedReceived += operation.data!.length;
    this.rawReceived += total;
    this.#finish(this.#decodes, operation, undefined, total === 0 ? new Uint8Array(0) : Buffer.concat(operation.chunks, total));
  }

  /** The limiter gave `operation` its slot. */
  #deflate(operation: Operation<Encoded | null>): void {
    operation.started = true;
    if (operation.settled) return this.#limiter.release();
    if (this.#closed) return this.#finish(this.#encodes, operation, closedError());
    const deflater = (this.#deflater ??= this.#newDeflater());
    // RFC 7692 section 7.2.1: compress, end with an empty stored block (what Z_SYNC_FLUSH writes:
    // the stream flushes every write, so a message is one thread-pool job), then remove its 4
    // octets 0x00 0x00 0xff 0xff from the tail.
    deflater.write(operation.data!, (error?: Error | null) => this.#deflated(operation, deflater, error));
  }

  /** Output of the current deflater, for the compression running. */
  #deflateData(deflater: zlib.DeflateRaw, chunk: Buffer): void {
    const operation = this.#encodes.running;
    if (operation === null || deflater !== this.#deflater) return;
    operation.total += chunk.length;
    operation.chunks.push(chunk);
  }

  /** An 'error' or 'close' of the current deflater fails the compression running. */
  #deflaterFailed(deflater: zlib.DeflateRaw, error: Error): void {
    const operation = this.#encodes.running;
    if (operation === null || deflater !== this.#deflater) return;
    this.#failDeflation(operation, deflater, error);
  }

  #failDeflation(operation: Operation<Encoded | null>, deflater: zlib.DeflateRaw, error: Error): void {
    if (this.#deflater === deflater) this.#deflater = undefined;
    deflater.destroy();
    this.#finish(this.#encodes, operation, error);
  }

  /** The callback of a compression's write: all of its output has come. */
  #deflated(operation: Operation<Encoded | null>, deflater: zlib.DeflateRaw, error: Error | null | undefined): void {
    if (operation.settled) return;
    if (error || deflater.destroyed) {
      this.#failDeflation(operation, deflater, error ?? new Error('zlib stream destroyed'));
      return;
    }
    // zlib skips a second flush block in a row, so an empty message right after another message
    // produces no output at all; section 7.2.3.6 gives its payload: one empty stored block
    // header, 0x00. Otherwise the output must end with the flush block's tail.
    const total = operation.total;
    let payload: Uint8Array;
    if (total === 0) {
      payload = EMPTY_BLOCK.slice();
    } else {
      const out = Buffer.concat(operation.chunks, total);
      if (total < TRAILER.length || !endsWithTrailer(out)) {
        this.#failDeflation(operation, deflater, new Error('zlib did not end the message with a sync flush block'));
        return;
      }
      payload = out.subarray(0, total - TRAILER.length);
      // A fresh stream's flush of an empty message is 00 00 00 ff ff: stripped, that is 0x00.
      if (payload.length === 0) payload = EMPTY_BLOCK.slice();
    }
    if (this.#deflateReset) {
      // No context takeover on our side: the next message starts from an empty window, so there
      // is nothing worth keeping until then.
      this.#deflater = undefined;
      deflater.destroy();
    }
    const data = operation.data!;
    // Without context takeover the peer's window does not depend on this message, so an
    // incompressible message may as well go out as it is.
    if (this.#deflateReset && payload.length >= data.length) {
      this.#finish(this.#encodes, operation, undefined, null);
      return;
    }
    this.rawSent += data.length;
    this.compressedSent += payload.length;
    this.#finish(this.#encodes, operation, undefined, { data: payload, rsv: DEFLATE_RSV });
  }

  /** A stream for the peer's messages, with its listeners: they act only while it is the current one. */
  #newInflater(): zlib.InflateRaw {
    this.#inflaterFed = 0;
    const inflater = zlib.createInflateRaw({
      windowBits: this.#inflateBits,
      chunkSize: this.#options.chunkSize,
      flush: zlib.constants.Z_SYNC_FLUSH,
    });
    inflater.on('data', (chunk: Buffer) => this.#inflateData(inflater, chunk));
    inflater.on('error', (error: Error) => this.#inflaterFailed(inflater, invalidData(error)));
    inflater.on('close', () => this.#inflaterFailed(inflater, closedError()));
    return inflater;
  }

  /** A stream for our messages, with its listeners: they act only while it is the current one. */
  #newDeflater(): zlib.DeflateRaw {
    const deflater = zlib.createDeflateRaw({
      windowBits: this.#deflateBits,
      memLevel: this.#options.memLevel,
      level: this.#options.level,
      chunkSize: this.#options.chunkSize,
      flush: zlib.constants.Z_SYNC_FLUSH,
    });
    deflater.on('data', (chunk: Buffer) => this.#deflateData(deflater, chunk));
    deflater.on('error', (error: Error) => this.#deflaterFailed(deflater, error));
    deflater.on('close', () => this.#deflaterFailed(deflater, closedError()));
    return deflater;
  }

  #discardInflater(inflater: zlib.InflateRaw): void {
    if (this.#inflater === inflater) this.#inflater = undefined;
    inflater.destroy();
  }
}

function endsWithTrailer(out: Uint8Array): boolean {
  const n = out.length;
  return out[n - 4] === 0x00 && out[n - 3] === 0x00 && out[n - 2] === 0xff && out[n - 1] === 0xff;
}

function closedError(): ConnectionNotOpenError {
  return new ConnectionNotOpenError('closed');
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`permessage-deflate ${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/** A compressed message, ready for its frames: the payload and the RSV bits that mark it. */
interface Encoded {
  data: Uint8Array;
  rsv: number;
}

/** One decode or encode: its input, its output so far, and its promise's settle functions. */
interface Operation<T> {
  /** null: an encode under the threshold, which only keeps its place in line. */
  readonly data: Uint8Array | null;
  /** The bound on the inflated size (decodes). */
  readonly maxSize: number;
  chunks: Buffer[];
  total: number;
  /** The limiter gave it a slot (which it gives back when settled). */
  started: boolean;
  settled: boolean;
  resolve(value: T): void;
  reject(error: Error): void;
}

function newOperation<T>(data: Uint8Array | null, maxSize: number, resolve: (value: T) => void, reject: (error: Error) => void): Operation<T> {
  return { data, maxSize, chunks: [], total: 0, started: false, settled: false, resolve, reject };
}

/** The operations of one direction: the one running, then those waiting, oldest first. */
class Line<T> extends Fifo<Operation<T>> {
  running: Operation<T> | null = null;

  /** Nothing runs and nothing waits. */
  get idle(): boolean {
    return this.running === null && this.length === 0;
  }
}

/** A zlib error while inflating: the peer sent data that is not DEFLATE (1007). */
function invalidData(error: Error): Error {
  const wrapped = violation(Failures.invalidCompressedData, `invalid compressed data: ${error.message}`);
  wrapped.cause = error;
  return wrapped;
}
