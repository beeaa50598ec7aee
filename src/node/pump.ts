/**
 * The pump, the reading half of the socket driver: bytes from the stream into the core, one
 * batch of output per read; holds on input (a stream paused, and parsing held, for as long as
 * any holder wants); reading ahead, unparsed, while only the application is slow, so that the
 * peer's close frame and FIN are still noticed; an extension's asynchronous transform (inflate)
 * between the core's request and its result; and the end of the transport deferred until what was
 * read before it has been parsed.
 *
 * Holds are neutral tokens: whoever holds input makes its own token with `defineHold`, saying
 * what the hold stops, and lifts it with the same token; the pump knows no holder by name.
 *
 * SocketDriver (driver.ts) is built on this class; a connection is still one object.
 */
import type { Duplex } from 'node:stream';
import { type ConnectionFailure, ProtocolError } from '../core/errors.js';
import { isConnectionFailure, violation } from '../core/failure-errors.js';
import { Failures } from '../core/failures.js';
import { ConnectionTimers, type TimerSettings } from './connection-timers.js';
import { addEndListener } from './end-listener.js'; // perf-mem (issue 24)
import { isClosedHttp2Stream } from './http2-streams.js';
import type { MessageCodec } from './message-codec.js';
import { CLOSE_DEFERRED, END_DEFERRED, READ_ENDED, STARTED, withBit } from './driver-state.js'; // issue 24, idle memory

/** What a hold on input stops, besides reading the socket. */
export interface HoldKind {
  /**
   * Parsing too (Connection.holdInput): input already read waits, unparsed, so that nothing after
   * the point of the hold (messages, a protocol error, a close frame) is acted on before it lifts.
   */
  readonly parsing: boolean;
  /**
   * The hold waits for the application, which may take any time: while only such holds are on,
   * the socket is still read, without parsing, up to READ_AHEAD bytes, so that the peer's close
   * frame and the end of the transport are noticed. Only with `parsing`.
   */
  readonly readAhead: boolean;
}

/** The pump's own hold: an extension's transform (inflate) is running; the core cannot take input meanwhile. */
export const TransformHold = 1;

let nextHold = TransformHold << 1;
/** The holds that also hold the core's parsing, not only reading the socket. */
let HOLDS_PARSING = 0;
/** The holds that wait for the application (see HoldKind.readAhead). */
let READS_AHEAD = 0;

/**
 * Makes a hold token of the given kind, for `pause(token)` and `resume(token)`: each holder makes
 * its own (once, at load), so independent holders cannot lift each other's hold by accident.
 * At most 30 tokens exist in a process.
 */
export function defineHold(kind: HoldKind): number {
  if (nextHold > 1 << 30) throw new RangeError('no more hold tokens');
  const token = nextHold;
  nextHold <<= 1;
  if (kind.parsing) HOLDS_PARSING |= token;
  if (kind.parsing && kind.readAhead) READS_AHEAD |= token;
  return token;
}

/** Unparsed input read ahead while only the application holds (READS_AHEAD): one large read. */
const READ_AHEAD = 256 * 1024;

/**
 * The rest of a frame at least this long is read straight into its message, where the socket
 * allows it (see readTarget); shorter rests go through the socket's buffers like the rest.
 */
const DIRECT_READ_MIN = 64 * 1024;

// The stream's listeners are shared by every connection and find their pump through one
// property on the stream: five closures per connection (and their context) were about 300 bytes
// of heap each, idle or not. They are never removed: the stream lives exactly as long.
const kPump = Symbol('hybi.driver');
type PumpedStream = Duplex & { [kPump]: InputPump };

function onStreamData(this: PumpedStream, chunk: Uint8Array): void {
  this[kPump].onData(chunk);
}

function onStreamError(this: PumpedStream, error: Error): void {
  this[kPump].onError(error);
}

function onStreamEnd(this: PumpedStream): void {
  this[kPump].onEnd();
}

function onStreamClose(this: PumpedStream): void {
  this[kPump].onClose();
}

/** The options the pump reads. */
export interface PumpSettings extends TimerSettings {
  /** Largest message after an extension's transform, in bytes. */
  readonly maxMessageSize: number;
  /** Negotiated extension codecs, in response-header order; absent: none. */
  readonly codecs?: readonly MessageCodec[];
}

const NO_CODECS: readonly MessageCodec[] = [];

/** The reading side of one connection (see the file's comment). */
export abstract class InputPump<O extends PumpSettings = PumpSettings> extends ConnectionTimers<O> {
  private pauseReasons = 0;

  /** Bytes read from the stream, frame headers included (for metrics). */
  bytesIn = 0;

  constructor(stream: Duplex, options: O) {
    super(stream, options);
  }

  /** The negotiated extension codecs, in response-header order (read by the server's metrics; kept in the options, idle memory). */
  get codecs(): readonly MessageCodec[] {
    return this.options.codecs ?? NO_CODECS;
  }

  // issue 24, idle memory: these booleans are bits of `bits` (driver-state.ts).
  protected get started(): boolean {
    return (this.bits & STARTED) !== 0;
  }

  protected set started(on: boolean) {
    this.bits = withBit(this.bits, STARTED, on);
  }

  protected get readEnded(): boolean {
    return (this.bits & READ_ENDED) !== 0;
  }

  protected set readEnded(on: boolean) {
    this.bits = withBit(this.bits, READ_ENDED, on);
  }

  /** The peer's FIN came while input read before it still waited to be parsed (see onEnd). */
  protected get endDeferred(): boolean {
    return (this.bits & END_DEFERRED) !== 0;
  }

  protected set endDeferred(on: boolean) {
    this.bits = withBit(this.bits, END_DEFERRED, on);
  }

  /** Likewise the stream's 'close' (see onClose). */
  protected get closeDeferred(): boolean {
    return (this.bits & CLOSE_DEFERRED) !== 0;
  }

  protected set closeDeferred(on: boolean) {
    this.bits = withBit(this.bits, CLOSE_DEFERRED, on);
  }

  /** The transport reported an error (kept for the close result). */
  abstract onError(error: Error): void;
  /** The peer's close frame has arrived (reading ahead is then over). */
  protected abstract peerClosed(): boolean;
  /** The transport is gone and what was read is parsed: report the end. */
  protected abstract finish(): void;

  /** Listens for the transport's end; the data listener comes with `start`. */
  protected listen(): void {
    const stream = this.stream as PumpedStream;
    // Listeners for the transport's end come first: an 'error' with no listener would crash.
    stream[kPump] = this;
    stream.on('error', onStreamError);
    addEndListener(stream, onStreamEnd); // perf-mem (issue 24): no listener array per socket
    stream.on('close', onStreamClose);
  }

  /**
   * Starts reading: first `head` (bytes that arrived with the handshake), then the stream. The
   * owner calls it once its own listeners are in place.
   */
  start(head?: Uint8Array): void {
    if (this.started) return;
    this.started = true;
    this.startKeepalive();
    if (this.stream.destroyed) {
      // Handed a dead stream: nothing will ever emit 'close' again.
      this.connection.transportClosed();
      this.finish();
      return;
    }
    if (head !== undefined && head.length > 0) this.onData(head);
    // Paused mode first, so that adding the 'data' listener does not start the flow by itself:
    // updateFlow decides, in case the head left a reason to stay paused (a pending transform).
    this.stream.pause();
    this.stream.on('data', onStreamData);
    this.updateFlow();
    if (this.stream.readableEnded) this.onEnd();
  }

  /**
   * @internal For the socket's reads (read-buffers.ts): memory for the next read to go straight
   * into, the rest of a large frame (Connection.receiveTarget). Only while reading flows and the
   * stream holds nothing read earlier: the next bytes read must be the next bytes parsed.
   */
  readTarget(): Uint8Array | null {
    if (this.finished || this.pauseReasons !== 0 || this.stream.readableLength !== 0) return null;
    return this.connection.receiveTarget(DIRECT_READ_MIN);
  }

  protected readingHeld(): boolean {
    return this.pauseReasons !== 0;
  }

  /** Stops reading the socket for `hold` until `resume(hold)` (and parsing too, for a hold of that kind). */
  pause(hold: number): void {
    if ((this.pauseReasons & hold) !== 0) return;
    this.pauseReasons |= hold;
    if ((hold & HOLDS_PARSING) !== 0) this.connection.holdInput();
    this.updateFlow();
  }

  /**
   * Lifts one hold; reading resumes when none is left. Lifting the last hold on parsing parses
   * the input kept meanwhile, now, in one batch (as a read would).
   */
  resume(hold: number): void {
    if ((this.pauseReasons & hold) === 0) return;
    this.pauseReasons &= ~hold;
    if ((hold & HOLDS_PARSING) !== 0 && (this.pauseReasons & HOLDS_PARSING) === 0 && !this.finished) {
      this.batchDepth++;
      try {
        this.connection.releaseInput();
      } finally {
        this.endBatch();
      }
      this.trackMessage();
      if ((this.pauseReasons & READS_AHEAD) !== 0) this.onReadAhead();
    }
    this.updateFlow();
    if ((this.endDeferred || this.closeDeferred) && !this.parsingPending()) {
      if (this.endDeferred) {
        this.endDeferred = false;
        this.onEnd();
      }
      if (this.closeDeferred) {
        this.closeDeferred = false;
        this.finish();
      }
    }
  }

  /** Is reading held by this token? */
  isPaused(hold: number): boolean {
    return (this.pauseReasons & hold) !== 0;
  }

  /**
   * Input already read waits in the core, unparsed, until something of ours completes: an
   * inflation in progress, or parsing held for a reply. Both end in bounded time.
   */
  protected parsingPending(): boolean {
    if (this.finished || this.connection.closed) return false;
    return this.connection.awaitingTransform || ((this.pauseReasons & HOLDS_PARSING) !== 0 && this.connection.bufferedInput > 0);
  }

  /** Reading goes on while only the application holds parsing (READS_AHEAD) and little input is held. */
  private readingAhead(): boolean {
    return (this.pauseReasons & ~READS_AHEAD) === 0 && !this.readEnded && this.connection.bufferedInput < READ_AHEAD;
  }

  protected updateFlow(): void {
    if (!this.started || this.stream.destroyed) return;
    if (this.pauseReasons !== 0) {
      if (this.readingAhead()) {
        if (this.stream.readableFlowing !== true) this.stream.resume();
      } else if (this.stream.readableFlowing !== false) this.stream.pause();
      // While we do not read (or parse), the peer cannot be blamed for a message not arriving.
      this.pauseMessageClock();
    } else {
      if (this.stream.readableFlowing !== true) this.stream.resume();
      this.resumeMessageClock();
    }
  }

  /** @internal */
  onData(chunk: Uint8Array): void {
    this.keepalive?.received();
    this.bytesIn += chunk.length;
    // One batch for the whole chunk: everything the core and the owner's listeners write while
    // it is processed (pongs, echoed messages, a close reply) leaves in one write.
    this.batchDepth++;
    try {
      this.connection.receive(chunk);
    } finally {
      this.endBatch();
    }
    if (this.options.messageTimeout) this.trackMessage();
    if ((this.pauseReasons & READS_AHEAD) !== 0) this.onReadAhead();
  }

  /**
   * After input was read or parsed while the application holds parsing (the rest is kept,
   * unparsed): reading goes on or stops (see readingAhead), and the peer's close frame
   * among it is not answered until the application reads the messages before it (the lead's
   * close path may hold the reply longer still), but a consumer that never comes back must not
   * keep the connection forever: closeTimeout bounds the wait, then the transport is destroyed.
   */
  private onReadAhead(): void {
    if (this.finished || this.peerClosed()) return;
    if (this.options.closeTimeout > 0 && !this.closeTimerPending() && this.connection.closeHeld) {
      this.armCloseTimer(this.options.closeTimeout);
    }
    this.updateFlow();
  }

  // The extension's transform (ConnectionHandler.transformMessage).

  /** @internal The core asks for a message's transform (inflate): reading waits for its result. */
  transformMessage(data: Uint8Array, isText: boolean, rsv: number): void {
    this.progress = true;
    this.pause(TransformHold);
    let codec: MessageCodec | undefined;
    for (const c of this.codecs) {
      if ((c.hook.rsvBits & rsv) !== 0) {
        codec = c;
        break;
      }
    }
    if (codec === undefined) {
      // The core only asks for RSV bits an extension claimed; this is a defence, not a path.
      this.failTransform(violation(Failures.unexpectedRsv, 'reserved bits set that no extension claims'));
      return;
    }
    const name = codec.hook.name;
    let promise: Promise<Uint8Array>;
    try {
      promise = codec.decode(data, isText, rsv, this.options.maxMessageSize);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (result) => {
        if (this.finished) return;
        this.batchDepth++;
        try {
          this.connection.finishTransform(result);
        } finally {
          this.endBatch();
        }
        // Input that arrived during the transform was parsed just now, and may have started the
        // next transform: reading stays paused for that one.
        this.trackMessage();
        if (!this.connection.awaitingTransform) this.resume(TransformHold);
        if ((this.pauseReasons & READS_AHEAD) !== 0) this.onReadAhead();
      },
      (error: unknown) => {
        if (this.finished) return;
        this.failTransform(
          isConnectionFailure(error)
            ? error
            : new ProtocolError(`${name} failed: ${error instanceof Error ? error.message : String(error)}`, Failures.internal.closeCode),
        );
      },
    );
  }

  private failTransform(error: ConnectionFailure): void {
    this.batchDepth++;
    try {
      this.connection.failTransform(error);
    } finally {
      this.endBatch();
    }
    this.resume(TransformHold);
  }

  // The end of the transport.

  /** @internal */
  onEnd(): void {
    if (this.readEnded) return;
    // Bytes read before the FIN may still wait in the core (an inflation in progress, parsing held
    // for a reply or for the application): they may hold messages and the close frame, so the end
    // waits for them (resume). The application may never read: closeTimeout bounds the wait.
    if (this.parsingPending()) {
      this.endDeferred = true;
      this.boundTransportEnd();
      return;
    }
    this.readEnded = true;
    this.stopKeepalive();
    // The peer's FIN. Without a close frame before it, the connection closed abnormally (1006).
    if (!this.connection.closed) this.connection.transportClosed();
    const stream = this.stream;
    if (stream.destroyed) return;
    this.flushHeld();
    // Our side follows (a net.Socket without allowHalfOpen does this itself); once our writes
    // are flushed the transport is done, so destroy it for streams that would not emit 'close'.
    // An HTTP/2 stream its session closed has nothing left to flush (see isClosedHttp2Stream).
    if (!stream.writableFinished && !isClosedHttp2Stream(stream)) {
      if (!stream.writableEnded) stream.end();
      stream.once('finish', () => stream.destroy());
      // Our writes may never flush if the peer stopped reading: bound the wait.
      this.boundTransportEnd();
    } else {
      stream.destroy();
    }
  }

  /** @internal */
  onClose(): void {
    // As for the FIN (onEnd): what was read before the stream went is parsed before it is over.
    if (this.parsingPending()) {
      this.closeDeferred = true;
      this.boundTransportEnd();
      return;
    }
    this.finish();
  }
}
