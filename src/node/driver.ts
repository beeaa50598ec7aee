/**
 * The socket driver: binds one sans-I/O core `Connection` to a Node `Duplex` (a TCP or TLS socket,
 * an HTTP/2 stream, an in-memory pair). It owns everything the core leaves out on purpose:
 * reading (and pausing reads for backpressure or an extension's asynchronous transform), writing
 * (everything one read or one tick produces leaves in one write; 'drain' is waited for), the
 * timers (keep-alive, idle, message and closing-handshake bounds) on the shared timer wheel, and
 * the end of the transport (who closes TCP first, and when to give up and destroy it).
 *
 * It knows nothing of events, promises or queues of messages: that is the api layer's
 * `WebSocket`, which receives everything through `DriverEvents`.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Connection, type ConnectionHandler, type Role } from '../core/connection.js';
import { Hybi00Connection, type CoreConnection } from '../core/hybi00/connection.js'; // legacy hybi-00 (issue 22)
import { CloseTimeoutError, ConnectionClosedError, ConnectionNotOpenError, MessageTimeoutError, ProtocolError, SendBufferFullError } from '../core/errors.js';
import { isMaskMemory, releaseMaskMemory, reserveMaskMemory } from '../core/mask.js';
import type { MessageCodec } from './message-codec.js';
import { setReadTarget } from './read-buffers.js';
import { WheelTimer } from './timer-wheel.js';

/**
 * Why reading the socket is paused. Reads resume only when no reason is left, so independent
 * consumers (a pending transform, a full receive queue, a slow message stream, a pending reply)
 * cannot resume each other's pause by accident.
 */
export const PauseReason = {
  /** An extension's transform (inflate) is running: the core cannot take input meanwhile. */
  Transform: 1,
  /**
   * Unread messages passed the receive high-water mark. Holds parsing too: frames already read
   * would otherwise go on being parsed, inflated and queued past the mark (a read of compressed
   * frames may inflate a thousandfold).
   */
  Queue: 2,
  /** The Readable of a streamed message is full. Holds parsing too, for the same reason as Queue. */
  Stream: 4,
  /**
   * A reply queued while a message was delivered is still being encoded (compressed). Unlike the
   * others this also holds *parsing* (Connection.holdInput): input already read waits too, so a
   * protocol error or a close frame after the message is not answered before the reply is sent.
   * The owner must lift it once the reply has been handed to the driver, whatever happens to it.
   */
  Reply: 8,
} as const;

/** The pause reasons that also hold the core's parsing, not only reading the socket. */
const HOLDS_PARSING: number = PauseReason.Reply | PauseReason.Queue | PauseReason.Stream;

/**
 * The pause reasons that wait for the application to read, which may take any time: while only
 * these hold, the socket is still read, without parsing, up to READ_AHEAD bytes of held input, so
 * that the peer's close frame and the end of the transport are noticed (see onData and onEnd).
 */
const READS_AHEAD: number = PauseReason.Queue | PauseReason.Stream;

/** Unparsed input read ahead while the application does not read (READS_AHEAD): one large read. */
const READ_AHEAD = 256 * 1024;

/**
 * How long a client waits for the server to close TCP after the closing handshake, at most
 * (bounded by closeTimeout too). RFC 6455 section 7.1.1: the client SHOULD wait for the server to
 * close the connection, but MAY close it if that does not happen in a reasonable time.
 */
export const CLIENT_CLOSE_LINGER = 1000;

/** Options of the driver, already validated and defaulted by the api layer (see src/api/options.ts). */
export interface DriverOptions {
  role: Role;
  maxFrameSize?: number;
  maxMessageSize: number;
  maxFragments?: number;
  autoPong?: boolean;
  /** Keep-alive ping after this many ms with nothing received; 0 disables. */
  pingInterval: number;
  /** Close after this many ms with nothing received; 0 disables. */
  idleTimeout: number;
  /** Bound on each phase of the closing handshake, in ms; then the transport is destroyed. 0 disables (wait forever). */
  closeTimeout: number;
  /** Bound on how long a frame or gathered message may take to arrive, in ms (1008); 0 or absent disables. */
  messageTimeout?: number;
  /** Negotiated extension codecs, in response-header order. */
  codecs?: readonly MessageCodec[];
  /** For tests: the mask-key source handed to the core. */
  maskKey?: () => Uint8Array;
  /** legacy (issue 22): 'hybi-00' drives a Hybi00Connection instead of the RFC 6455 Connection; default 'hybi-13'. */
  version?: 'hybi-13' | 'hybi-00';
}

/** How the connection ended, reported once by `DriverEvents.closed`. */
export interface CloseResult {
  /** The peer's close code after a closing handshake; the code we sent when we failed the connection; 1006 otherwise. */
  code: number;
  reason: string;
  /** True when both close frames were exchanged (RFC 6455 section 7.1.5). */
  wasClean: boolean;
  /** Why it ended, when not by a clean handshake: ProtocolError, CloseTimeoutError, a transport error, or null. */
  error: Error | null;
}

/** What the driver reports to its owner. All are called synchronously; none may throw. */
export interface DriverEvents {
  message(data: Uint8Array, isText: boolean): void;
  fragment(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void;
  ping(payload: Uint8Array): void;
  pong(payload: Uint8Array): void;
  /**
   * The peer's close frame arrived. The core has answered it if we had closed first or
   * `holdCloseReply` said no; otherwise the answer waits for `SocketDriver.replyToClose` (at most
   * closeTimeout, then it is sent anyway).
   */
  peerClose(code: number, reason: string): void;
  /** The peer's close frame is arriving: true to hold the answer (see ConnectionHandler.holdCloseReply). Absent: answer at once. */
  holdCloseReply?(): boolean;
  /** The peer broke the protocol; a close frame with `error.closeCode` is on its way. */
  protocolError(error: ProtocolError): void;
  /** Nothing arrived for `pingInterval` ms: time for a keep-alive ping. */
  keepalive(): void;
  /** Nothing arrived for `idleTimeout` ms. */
  idle(): void;
  /** The transport is gone; nothing more will be reported. */
  closed(result: CloseResult): void;
}

const EMPTY = new Uint8Array(0);
const NO_CODECS: readonly MessageCodec[] = [];
/** One settled promise for every wait that is already over (no allocation per send). */
const RESOLVED: Promise<void> = Promise.resolve();
const ignore = (): void => {};
/** An empty write, used only for its callback (see whenWritten). */
const EMPTY_WRITE = Buffer.alloc(0);

/**
 * Output held in a batch is written at once when it reaches this many bytes, so that a sender
 * looping within one tick never holds more than this outside the stream (where `whenWritten`
 * sees it and holds the sender back).
 */
const BATCH_FLUSH_BYTES = 64 * 1024;

/**
 * The rest of a frame at least this long is read straight into its message, where the socket
 * allows it (see readTarget); shorter rests go through the socket's buffers like the rest.
 */
const DIRECT_READ_MIN = 64 * 1024;

/** Held output of several runs up to this size is joined into one buffer before it is written (see flushHeld). */
const JOIN_BYTES = 16 * 1024;

// The stream's listeners are shared by every connection and find their driver through one
// property on the stream: five closures per connection (and their context) were about 300 bytes
// of heap each, idle or not. They are never removed: the stream lives exactly as long.
const kDriver = Symbol('hybi.driver');
type DrivenStream = Duplex & { [kDriver]: SocketDriver };

function onStreamData(this: DrivenStream, chunk: Uint8Array): void {
  this[kDriver].onData(chunk);
}

function onStreamError(this: DrivenStream, error: Error): void {
  this[kDriver].onError(error);
}

function onStreamEnd(this: DrivenStream): void {
  this[kDriver].onEnd();
}

function onStreamClose(this: DrivenStream): void {
  this[kDriver].onClose();
}

/**
 * Whole milliseconds of the monotonic clock, for the liveness timestamps: a field that only ever
 * holds small integers is stored in the object itself, while one that held a fraction is a
 * pointer to a boxed number (16 bytes more per connection).
 */
function nowMs(): number {
  return Math.floor(performance.now());
}

/**
 * The core's allocator (ConnectionOptions.allocate): memory that is not zero-filled first, for
 * arrays the core overwrites entirely (an assembled message, a masked frame). Its own
 * ArrayBuffer, never a slice of Node's shared pool, whose other bytes `.buffer` would expose.
 */
function allocateUninitialised(size: number): Uint8Array {
  return Buffer.allocUnsafeSlow(size);
}

/**
 * The allocator over a net.Socket (TLS included): masked frames go into blocks of the masking
 * module's memory (one copy instead of three, in memory used again and again), given back once
 * the socket has written them (see writeChunk). Only for sockets: a socket is done with a chunk
 * when its write callback runs, while another Duplex (an in-memory pair) may hand the very chunk
 * on to its reader.
 */
function allocateForSocket(size: number, output: boolean): Uint8Array {
  if (output) {
    const block = reserveMaskMemory(size);
    if (block !== null) return block;
  }
  return Buffer.allocUnsafeSlow(size);
}

/** Writes one chunk; a block of the masking module's memory goes back to its pool once written (or dropped). */
function writeChunk(stream: Duplex, chunk: Uint8Array): void {
  if (isMaskMemory(chunk)) stream.write(chunk, () => releaseMaskMemory(chunk));
  else stream.write(chunk);
}

/** A sender waiting until the operating system has taken the output up to `upTo` (see whenWritten). */
interface WriteWaiter {
  upTo: number;
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

/** A peer being watched for not reading (see watchStall). */
interface StallWatch {
  timer: WheelTimer;
  /** Bytes written when the watch was last armed: no more by the next check means no progress. */
  mark: number;
  limit: number;
  timeout: number;
}

/** Output that will never be written (the stream is gone): its blocks of masking memory go back now. */
function dropChunks(chunks: readonly Uint8Array[]): void {
  for (const chunk of chunks) releaseMaskMemory(chunk);
}

/** Ends the batch a send opened outside any read (see SocketDriver.sendMessage). */
function endTickBatch(driver: SocketDriver): void {
  driver.endBatch();
}

/** One core connection over one Duplex. */
export class SocketDriver {
  // Timer callbacks shared by every driver (the timer passes its driver as `this`).
  private static readonly livenessCheck = function (this: SocketDriver): void {
    this.checkLiveness();
  };
  private static readonly closeTimeout = function (this: SocketDriver): void {
    this.onCloseTimeout();
  };
  private static readonly messageTimeout = function (this: SocketDriver): void {
    this.onMessageTimeout();
  };
  private static readonly stallCheck = function (this: SocketDriver): void {
    this.checkStall();
  };

  readonly connection: CoreConnection; // legacy (issue 22): a Connection or a Hybi00Connection
  readonly stream: Duplex;
  private readonly events: DriverEvents;
  private readonly options: DriverOptions;
  /** The negotiated extension codecs (read by the server's metrics). */
  readonly codecs: readonly MessageCodec[];

  private pauseReasons = 0;
  private started = false;
  private finished = false;

  private peerCloseFrame: { code: number; reason: string } | null = null;
  private failure: ProtocolError | null = null;
  private transportError: Error | null = null;
  private timeoutError: Error | null = null;
  private readEnded = false;
  /** The peer's FIN came while input read before it still waited to be parsed (see onEnd). */
  private endDeferred = false;
  /** Likewise the stream's 'close' (see onClose). */
  private closeDeferred = false;
  /** terminate() was called: what is still parsed is discarded, not reported. */
  private terminated = false;

  /** Keep-alive and idle checks share one timer; null when both features are off. */
  private readonly liveness: WheelTimer | null;
  private lastReceived = 0;
  private lastPing = 0;
  private closeTimer: WheelTimer | null = null;
  /** The bound on the wait for the peer's close frame (closeTimeout unless close() was given one), for its CloseTimeoutError. */
  private closeWait: number;

  // messageTimeout: a partly received frame or message is timed from the read in which it began
  // (after the last one that completed something), minus the time reads were paused by us.
  private messageTimer: WheelTimer | null = null;
  /** A partial frame or message is being timed. */
  private messageActive = false;
  /** Its remaining time, as of messageStartedAt. */
  private messageLeft = 0;
  private messageStartedAt = 0;
  /** The core completed a frame or message during the current read. */
  private progress = false;
  /** Bytes handed to stream.write so far (held output counts once it is written). */
  private written = 0;
  /** See writtenOut(). */
  private lastWrittenOut = 0;
  /**
   * Senders waiting for the operating system to take their bytes, oldest first; null while there
   * are none (no array per idle connection). One entry per batch, shared by its sends.
   */
  private writeWaiters: WriteWaiter[] | null = null;
  /** The wait shared by the sends of the batch being held (see whenWritten); null outside one. */
  private batchWaiter: WriteWaiter | null = null;
  /** The write callback passed while senders wait; made when first needed. */
  private afterWrite: ((error?: Error | null) => void) | null = null;
  /** The watch on a peer that may not be reading; null until a send found too much waiting. */
  private stall: StallWatch | null = null;
  /** How the connection ended, once it has. */
  private result: CloseResult | null = null;

  // Counters for metrics (WebSocketServer.metrics()): plain integers in the object, one increment
  // per message or read, summed only when someone asks; nothing else is done with them.
  /** Messages received: whole ones, and the last fragment of each one delivered in pieces. */
  messagesIn = 0;
  /** Messages handed over to be sent (a broadcast counts once per connection). */
  messagesOut = 0;
  /** Bytes read from the stream, frame headers included. */
  bytesIn = 0;
  /** When the driver was made, in whole ms of the monotonic clock (a connection's duration). */
  readonly openedAt: number = nowMs();
  /** Who started the end: 0 nobody (yet), 1 we did (a close frame, a failure, terminate), 2 the peer's close frame came first. */
  closedBy: 0 | 1 | 2 = 0;

  // Output batching. While a batch is open (a read being processed, or the tick of a send from
  // outside a read), the core's output is held rather than written, and written in one go when
  // the batch ends: one write per read instead of one per frame, which is most of the cost of
  // small messages (a write is a system call). Consecutive views of one buffer are merged on the
  // way in: the core cuts headers and small frames from one slab per connection, so the frames
  // of a batch are usually adjacent and leave as a single contiguous chunk, not a long writev.
  private batchDepth = 0;
  /** The levels of batchDepth opened by cork() (see cork). */
  private corkDepth = 0;
  /** Closed runs of held output, in order (null while there are none: no array per idle connection). */
  private held: Uint8Array[] | null = null;
  /** The run being extended: bytes [runStart, runEnd) of runBuffer. */
  private runBuffer: ArrayBufferLike | null = null;
  private runStart = 0;
  private runEnd = 0;
  private heldBytes = 0;

  constructor(stream: Duplex, options: DriverOptions, events: DriverEvents) {
    this.stream = stream;
    this.options = options;
    this.events = events;
    this.closeWait = options.closeTimeout;
    this.codecs = options.codecs ?? NO_CODECS;
    this.connection = new (options.version === 'hybi-00' ? Hybi00Connection : Connection)( // legacy (issue 22)
      {
        role: options.role,
        maxFrameSize: options.maxFrameSize,
        maxMessageSize: options.maxMessageSize,
        maxFragments: options.maxFragments,
        autoPong: options.autoPong,
        extensions: this.codecs.length === 0 ? undefined : this.codecs.map((c) => c.hook),
        isUtf8,
        maskKey: options.maskKey,
        allocate: stream instanceof Socket ? allocateForSocket : allocateUninitialised,
      },
      new CoreHandler(this),
    );
    this.liveness = options.pingInterval > 0 || options.idleTimeout > 0 ? new WheelTimer(SocketDriver.livenessCheck, { target: this }) : null;
    // Frames are written whole (header and payload corked together), so Nagle's algorithm can
    // only add latency: a small message would wait for the ACK of the previous one.
    const socket = stream as Duplex & { setNoDelay?: (noDelay: boolean) => unknown };
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    // Listeners for the transport's end come first: an 'error' with no listener would crash.
    (stream as DrivenStream)[kDriver] = this;
    stream.on('error', onStreamError);
    stream.on('end', onStreamEnd);
    stream.on('close', onStreamClose);
    setReadTarget(stream, this);
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

  /**
   * Starts reading: first `head` (bytes that arrived with the handshake), then the stream. The
   * owner calls it once its own listeners are in place.
   */
  start(head?: Uint8Array): void {
    if (this.started) return;
    this.started = true;
    if (this.liveness !== null) {
      this.lastReceived = this.lastPing = nowMs();
      this.scheduleLiveness();
    }
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

  /** True until the transport is gone. */
  get active(): boolean {
    return !this.finished;
  }

  /** Bytes sent that the stream has not yet written out (held in a batch, or buffered by the stream). */
  get bufferedAmount(): number {
    return this.stream.writableLength + this.heldBytes;
  }

  /** Bytes of output so far, frame headers included: handed to the stream or held in a batch (for metrics). */
  get bytesOut(): number {
    return this.written + this.heldBytes;
  }

  /**
   * Bytes of our output the stream has handed to the operating system (a socket's write
   * completed), as last seen while the stream was alive: a destroyed stream forgets the bytes it
   * held (writableLength drops to 0) without having written them.
   */
  private writtenOut(): number {
    if (!this.stream.destroyed) this.lastWrittenOut = this.written - this.stream.writableLength;
    return this.lastWrittenOut;
  }

  /**
   * Resolves once everything sent so far has been taken by the operating system (for a socket:
   * its write completed, as the callback of Node's `write` says), so `await` on it never outruns
   * a slow peer. Rejects with ConnectionClosedError when the transport ends first: those bytes
   * may never have left the process. Until it settles the caller's payload may still be read: a
   * server frame's payload is the caller's buffer itself, never copied.
   */
  whenWritten(): Promise<void> {
    // Every send of a batch shares one wait, for the end of the batch: one promise per batch
    // (a read's replies, a tick's sends, a broadcast's send per client), not one per message.
    const batch = this.batchWaiter;
    if (batch !== null) return batch.promise;
    const held = this.heldBytes > 0;
    const upTo = this.written + this.heldBytes;
    if (upTo <= this.writtenOut()) return RESOLVED;
    if (this.finished) return Promise.reject(this.closedError());
    let settle: { resolve(): void; reject(error: Error): void } | undefined;
    const promise = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // Senders may fire and forget: a rejection nobody awaits must not be an unhandled one.
    promise.catch(ignore);
    // Held output: the end of the batch is known when it is written (flushHeld sets upTo).
    const waiter: WriteWaiter = { upTo: held ? Infinity : upTo, promise, resolve: settle!.resolve, reject: settle!.reject };
    (this.writeWaiters ??= []).push(waiter);
    if (held) this.batchWaiter = waiter;
    else this.callBackWhenWritten();
    return promise;
  }

  /**
   * Output is waited for and not all written yet: an empty write behind it calls back once
   * everything before it is written. Writes themselves carry no callback: most complete at once
   * (writtenOut sees that right after them), and a callback per write costs a tick each.
   */
  private callBackWhenWritten(): void {
    if (this.stream.writableEnded || this.stream.destroyed) return;
    this.afterWrite ??= (error?: Error | null) => this.onWritten(error);
    this.stream.write(EMPTY_WRITE, this.afterWrite);
  }

  /** After writing: settle the senders whose bytes are out, and be called back for the rest. */
  private afterWriting(): void {
    if (this.writeWaiters === null) return;
    this.settleWritten();
    if (this.writeWaiters !== null && this.batchWaiter === null) this.callBackWhenWritten();
  }

  /** A write the stream was given while senders waited is done (or failed): settle what is out. */
  private onWritten(_error?: Error | null): void {
    this.settleWritten();
  }

  /** Resolves the senders whose bytes the operating system has taken, oldest first. */
  private settleWritten(): void {
    const waiters = this.writeWaiters;
    if (waiters === null) return;
    const out = this.writtenOut();
    let done = 0;
    while (done < waiters.length && waiters[done]!.upTo <= out) waiters[done++]!.resolve();
    if (done === waiters.length) this.writeWaiters = null;
    else if (done > 0) waiters.splice(0, done);
  }

  /**
   * A send found more than `limit` bytes waiting: from now on, `timeout` ms in which bytes wait
   * and none of them is written mean a peer that does not read, and the connection is failed
   * (1008) and destroyed. A peer that takes anything off its socket in that time is watched for
   * another period while bytes still wait. 0 disables.
   */
  watchStall(limit: number, timeout: number): void {
    if (timeout <= 0 || this.finished) return;
    let stall = this.stall;
    if (stall === null) stall = this.stall = { timer: new WheelTimer(SocketDriver.stallCheck, { target: this }), mark: 0, limit, timeout };
    else if (stall.timer.pending) return;
    stall.mark = this.writtenOut();
    stall.limit = limit;
    stall.timeout = timeout;
    stall.timer.schedule(timeout);
  }

  private checkStall(): void {
    const stall = this.stall;
    if (stall === null || this.finished || this.bufferedAmount === 0) return;
    const out = this.writtenOut();
    if (out === stall.mark) {
      this.fail(new SendBufferFullError(stall.limit, stall.timeout), true);
      return;
    }
    // Progress, but bytes still wait: keep watching.
    stall.mark = out;
    stall.timer.schedule(stall.timeout);
  }

  /** Stops reading the socket for `reason` until `resume(reason)` (and parsing too, for the reasons in HOLDS_PARSING). */
  pause(reason: number): void {
    if ((this.pauseReasons & reason) !== 0) return;
    this.pauseReasons |= reason;
    if ((reason & HOLDS_PARSING) !== 0) this.connection.holdInput();
    this.updateFlow();
  }

  /**
   * Lifts one pause reason; reading resumes when none is left. Lifting the last reason that held
   * parsing parses the input kept meanwhile, now, in one batch (as a read would).
   */
  resume(reason: number): void {
    if ((this.pauseReasons & reason) === 0) return;
    this.pauseReasons &= ~reason;
    if ((reason & HOLDS_PARSING) !== 0 && (this.pauseReasons & HOLDS_PARSING) === 0 && !this.finished) {
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

  /**
   * Input already read waits in the core, unparsed, until something of ours completes: an
   * inflation in progress, or parsing held for a reply. Both end in bounded time.
   */
  private parsingPending(): boolean {
    if (this.finished || this.connection.closed) return false;
    return this.connection.awaitingTransform || ((this.pauseReasons & HOLDS_PARSING) !== 0 && this.connection.bufferedInput > 0);
  }

  /** Is reading paused for this reason? */
  isPaused(reason: number): boolean {
    return (this.pauseReasons & reason) !== 0;
  }

  // Sending. Inside a read, output joins the read's batch. Outside one, the first send opens a
  // batch that ends on process.nextTick: sends made in one tick (a broadcast, a loop, replies
  // from promise continuations) reach the socket as one write per connection. The bytes are
  // handed over in order either way; only the system call waits for the end of the tick.

  /** See Connection.sendMessage. */
  sendMessage(data: Uint8Array, isText: boolean, options?: { rsv?: number; fragmentSize?: number }): void {
    this.openTickBatch();
    this.connection.sendMessage(data, isText, options);
    this.messagesOut++;
  }

  /** See Connection.sendFrame. */
  sendFrame(data: Uint8Array, isText: boolean, first: boolean, fin: boolean, rsv?: number): void {
    this.openTickBatch();
    this.connection.sendFrame(data, isText, first, fin, rsv);
    if (fin) this.messagesOut++;
  }

  private openTickBatch(): void {
    if (this.batchDepth !== 0) return;
    this.batchDepth = 1;
    process.nextTick(endTickBatch, this);
  }

  /**
   * Holds output until the matching uncork(), as one more level of batch: frames sent in between
   * leave in one write (up to BATCH_FLUSH_BYTES held; past that they are written anyway, so a
   * corked sender never holds more than that outside the stream). Calls nest.
   */
  cork(): void {
    this.corkDepth++;
    this.batchDepth++;
  }

  /** Ends one cork() level; the last one writes what was held (unless a read's batch is open). */
  uncork(): void {
    if (this.corkDepth === 0) return;
    this.corkDepth--;
    this.endBatch();
  }

  /** Ends every cork() level at once (a close must not wait behind a forgotten cork). */
  uncorkAll(): void {
    while (this.corkDepth > 0) this.uncork();
  }

  /** How many cork() calls are not yet matched by uncork(). */
  get corked(): number {
    return this.corkDepth;
  }

  /** @internal Closes one level of batch; the outermost writes what was held. */
  endBatch(): void {
    if (--this.batchDepth === 0) this.flushHeld();
  }

  /** Writes the held output now: one chunk as a plain write, several corked into one writev. */
  private flushHeld(): void {
    if (this.runBuffer === null) return;
    const last = new Uint8Array(this.runBuffer, this.runStart, this.runEnd - this.runStart);
    const held = this.held;
    const total = this.heldBytes;
    this.held = null;
    this.runBuffer = null;
    this.heldBytes = 0;
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) {
      if (held !== null) dropChunks(held);
      releaseMaskMemory(last);
      // Its senders stay waiting, and are told at the end that their bytes never left.
      this.batchWaiter = null;
    } else {
      this.written += total;
      if (this.batchWaiter !== null) {
        this.batchWaiter.upTo = this.written;
        this.batchWaiter = null;
      }
      if (held === null) {
        writeChunk(stream, last);
      } else if (total <= JOIN_BYTES) {
        // Several small runs (frames prepared once for many connections, a header and a small
        // payload): one copy into one buffer costs less than a writev of many small chunks, each
        // wrapped and tracked by the stream. Every byte of the buffer is written below.
        const joined = Buffer.allocUnsafe(total);
        let at = 0;
        for (const chunk of held) {
          joined.set(chunk, at);
          at += chunk.length;
        }
        joined.set(last, at);
        stream.write(joined);
        // Copied: blocks of masking memory among them are free again.
        dropChunks(held);
        releaseMaskMemory(last);
      } else {
        stream.cork();
        for (const chunk of held) writeChunk(stream, chunk);
        writeChunk(stream, last);
        stream.uncork();
      }
      this.afterWriting();
    }
  }

  /** Ends the stream after writing whatever a batch still holds (a close reply must precede the FIN). */
  private endStream(): void {
    this.flushHeld();
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
  }

  /**
   * Writes frames encoded elsewhere, byte for byte (a server's broadcast: one unmasked frame
   * built once and written to every client). The caller guarantees they are whole, valid frames
   * for this role and that no message sent piece by piece is open.
   */
  sendEncoded(chunks: readonly Uint8Array[]): void {
    if (this.connection.readyState !== 'open') throw new ConnectionNotOpenError(this.connection.readyState);
    this.openTickBatch();
    this.coreOutput(chunks as Uint8Array[]);
    this.messagesOut++;
  }

  /** See Connection.ping. */
  ping(payload: Uint8Array = EMPTY): void {
    this.connection.ping(payload);
  }

  /** See Connection.pong. */
  pong(payload: Uint8Array = EMPTY): void {
    this.connection.pong(payload);
  }

  /**
   * Starts the closing handshake (the core validates code and reason and may throw
   * InvalidArgumentError) and bounds the wait for the peer's close frame with `timeout` (default
   * closeTimeout; 0 waits without bound), after which the transport is destroyed and the result's
   * error is a CloseTimeoutError.
   */
  close(code?: number, reason?: string, timeout: number = this.options.closeTimeout): void {
    const wasOpen = this.connection.readyState === 'open';
    const answering = this.connection.closeReplyPending;
    // Our close frame goes out now, behind whatever was corked.
    this.uncorkAll();
    this.connection.close(code, reason);
    // Our close was the answer to the peer's, held until now: the handshake is complete.
    if (answering && this.connection.readyState === 'closed') return this.endTransport();
    if (!wasOpen) return;
    if (this.closedBy === 0) this.closedBy = 1;
    this.stopLiveness();
    // Unless the answer already came (a transport may deliver it synchronously), bound the wait.
    // A close(code, reason, { timeout }) of the owner bounds it with its own timeout.
    this.closeWait = timeout;
    if (this.peerCloseFrame === null) this.armCloseTimer(timeout);
  }

  /**
   * Sends the answer to the peer's close frame that `holdCloseReply` held, then ends the transport
   * as after any closing handshake. Does nothing unless an answer is held.
   */
  replyToClose(): void {
    if (!this.connection.closeReplyPending) return;
    this.connection.replyToClose();
    this.endTransport();
  }

  /** Destroys the transport at once; `closed` follows with 1006 unless the handshake had completed. */
  terminate(): void {
    this.terminated = true;
    if (this.closedBy === 0 && !this.finished) this.closedBy = 1;
    this.stopLiveness();
    if (!this.stream.destroyed) this.stream.destroy();
    else if (!this.finished && !this.stream.closed) queueMicrotask(() => this.finish());
  }

  // The core's callbacks, through CoreHandler (the driver's own ping/pong/close are calls in).

  /** @internal */
  coreOutput(chunks: Uint8Array[]): void {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return dropChunks(chunks);
    if (this.batchDepth !== 0) {
      for (let i = 0; i < chunks.length; i++) this.hold(chunks[i]!);
      if (this.heldBytes >= BATCH_FLUSH_BYTES) this.flushHeld();
      return;
    }
    if (chunks.length === 1) {
      this.written += chunks[0]!.byteLength;
      writeChunk(stream, chunks[0]!);
    } else {
      stream.cork();
      for (const chunk of chunks) {
        this.written += chunk.byteLength;
        writeChunk(stream, chunk);
      }
      stream.uncork();
    }
    this.afterWriting();
  }

  /** Appends a chunk to the held output, extending the current run when it follows it in memory. */
  private hold(chunk: Uint8Array): void {
    const length = chunk.byteLength;
    if (length === 0) return;
    if (this.runBuffer === chunk.buffer && this.runEnd === chunk.byteOffset) {
      this.runEnd += length;
    } else {
      if (this.runBuffer !== null) (this.held ??= []).push(new Uint8Array(this.runBuffer, this.runStart, this.runEnd - this.runStart));
      this.runBuffer = chunk.buffer;
      this.runStart = chunk.byteOffset;
      this.runEnd = chunk.byteOffset + length;
    }
    this.heldBytes += length;
  }

  /** @internal */
  coreMessage(data: Uint8Array, isText: boolean): void {
    this.progress = true;
    this.messagesIn++;
    // Nothing reaches the owner after terminate() (from a listener, say). A transport that merely
    // went away still delivers what was read before (parsed late, after an inflation).
    if (!this.terminated) this.events.message(data, isText);
  }

  /** @internal */
  coreFragment(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void {
    if (fin) {
      this.progress = true;
      this.messagesIn++;
    }
    if (!this.terminated) this.events.fragment(data, isText, first, fin);
  }

  /** @internal */
  corePing(payload: Uint8Array): void {
    // A control frame is progress only outside a message: one between a dribbled message's
    // fragments does not bring that message any closer to its end.
    if (!this.connection.receiving) this.progress = true;
    if (!this.terminated) this.events.ping(payload);
  }

  /** @internal */
  corePong(payload: Uint8Array): void {
    if (!this.connection.receiving) this.progress = true;
    if (!this.terminated) this.events.pong(payload);
  }

  /** @internal */
  coreTransform(data: Uint8Array, isText: boolean, rsv: number): void {
    this.progress = true;
    this.pause(PauseReason.Transform);
    let codec: MessageCodec | undefined;
    for (const c of this.codecs) {
      if ((c.hook.rsvBits & rsv) !== 0) {
        codec = c;
        break;
      }
    }
    if (codec === undefined) {
      // The core only asks for RSV bits an extension claimed; this is a defence, not a path.
      this.failTransform(new ProtocolError('reserved bits set that no extension claims', 1002));
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
        if (!this.connection.awaitingTransform) this.resume(PauseReason.Transform);
        if ((this.pauseReasons & READS_AHEAD) !== 0) this.onReadAhead();
      },
      (error: unknown) => {
        if (this.finished) return;
        this.failTransform(
          error instanceof ProtocolError
            ? error
            : new ProtocolError(`${name} failed: ${error instanceof Error ? error.message : String(error)}`, 1011),
        );
      },
    );
  }

  /** @internal */
  coreHoldCloseReply(): boolean {
    return !this.stream.destroyed && this.events.holdCloseReply?.() === true;
  }

  /** @internal */
  coreClose(code: number, reason: string): void {
    this.peerCloseFrame = { code, reason };
    if (this.closedBy === 0) this.closedBy = 2;
    // The answer (and what was corked before it) must not wait for an uncork that may never come.
    this.uncorkAll();
    this.stopLiveness();
    if (this.connection.closeReplyPending) {
      // Our answer is held while the owner's consumer catches up, for at most half of closeTimeout:
      // a peer that bounds its closing handshake with the same timeout still gets it in time.
      this.armCloseTimer(Math.ceil(this.options.closeTimeout / 2));
      this.events.peerClose(code, reason);
      return;
    }
    this.events.peerClose(code, reason);
    this.endTransport();
  }

  /** @internal */
  coreProtocolError(error: ProtocolError): void {
    if (this.failure === null) this.failure = error;
    if (this.closedBy === 0) this.closedBy = 1;
    this.uncorkAll();
    this.stopLiveness();
    this.events.protocolError(error);
    // RFC 6455 section 7.1.7: after the close frame, _Close the WebSocket Connection_ (TCP); we
    // still read until the peer's FIN (or the close timeout), discarding, so its own close frame
    // and FIN are taken off the wire rather than reset.
    this.endStream();
    this.armCloseTimer(this.options.closeTimeout);
  }

  // Internals.

  private failTransform(error: ProtocolError): void {
    this.batchDepth++;
    try {
      this.connection.failTransform(error);
    } finally {
      this.endBatch();
    }
    this.resume(PauseReason.Transform);
  }

  /** After the closing handshake: who closes TCP first (RFC 6455 section 7.1.1). */
  private endTransport(): void {
    if (this.options.role === 'server') {
      // The server SHOULD close the TCP connection first, so that it, not the client, holds
      // TIME_WAIT. The close reply goes before the FIN.
      this.endStream();
      this.armCloseTimer(this.options.closeTimeout);
    } else {
      // The client waits for the server's FIN (onEnd), but not for long.
      const timeout = this.options.closeTimeout;
      this.armCloseTimer(timeout > 0 ? Math.min(timeout, CLIENT_CLOSE_LINGER) : CLIENT_CLOSE_LINGER);
    }
  }

  private armCloseTimer(delay: number): void {
    if (this.finished) return;
    if (delay <= 0) {
      this.closeTimer?.cancel();
      return;
    }
    // Ref'd: a closing handshake is short and bounded, and its end (the destroy) must happen.
    this.closeTimer ??= new WheelTimer(SocketDriver.closeTimeout, { ref: true, target: this });
    this.closeTimer.schedule(delay);
  }

  private onCloseTimeout(): void {
    if (this.finished) return;
    // The owner's consumer did not catch up in time: answer the peer's close now.
    if (this.connection.closeReplyPending) return this.replyToClose();
    if (this.peerCloseFrame === null && this.failure === null && this.timeoutError === null) {
      this.timeoutError = new CloseTimeoutError(this.closeWait);
    }
    // The stream is already gone and what it left unparsed was never taken: end without it.
    if (this.closeDeferred) {
      this.closeDeferred = false;
      this.endDeferred = false;
      return this.finish();
    }
    this.stream.destroy();
  }

  /** Reading goes on while only the application holds parsing (READS_AHEAD) and little input is held. */
  private readingAhead(): boolean {
    return (this.pauseReasons & ~READS_AHEAD) === 0 && !this.readEnded && this.connection.bufferedInput < READ_AHEAD;
  }

  private updateFlow(): void {
    if (!this.started || this.stream.destroyed) return;
    if (this.pauseReasons !== 0) {
      if (this.readingAhead()) {
        if (this.stream.readableFlowing !== true) this.stream.resume();
      } else if (this.stream.readableFlowing !== false) this.stream.pause();
      // While we do not read (or parse), the peer cannot be blamed for a message not arriving.
      if (this.messageActive && this.messageTimer?.pending) {
        this.messageTimer.cancel();
        this.messageLeft -= nowMs() - this.messageStartedAt;
      }
    } else {
      if (this.stream.readableFlowing !== true) this.stream.resume();
      if (this.messageActive && !this.messageTimer?.pending) {
        this.messageStartedAt = nowMs();
        this.messageTimer ??= new WheelTimer(SocketDriver.messageTimeout, { target: this });
        this.messageTimer.schedule(Math.max(1, this.messageLeft));
      }
    }
  }

  /** @internal */
  onData(chunk: Uint8Array): void {
    if (this.liveness !== null) this.lastReceived = nowMs();
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
    if (this.finished || this.peerCloseFrame !== null) return;
    if (this.options.closeTimeout > 0 && (this.closeTimer === null || !this.closeTimer.pending) && this.connection.closeHeld) {
      this.armCloseTimer(this.options.closeTimeout);
    }
    this.updateFlow();
  }

  /** After a read: start, keep or stop timing the partial frame or message it ended inside. */
  private trackMessage(): void {
    const timeout = this.options.messageTimeout ?? 0;
    if (timeout <= 0) return;
    const progress = this.progress;
    this.progress = false;
    if (this.finished || !this.connection.receiving) {
      this.messageActive = false;
      this.messageTimer?.cancel();
      return;
    }
    // Still inside the same partial as before this read: its clock keeps running.
    if (this.messageActive && !progress) return;
    this.messageActive = true;
    this.messageLeft = timeout;
    this.messageStartedAt = nowMs();
    if (this.pauseReasons === 0) {
      this.messageTimer ??= new WheelTimer(SocketDriver.messageTimeout, { target: this });
      this.messageTimer.schedule(timeout);
    }
  }

  private onMessageTimeout(): void {
    this.messageActive = false;
    if (this.finished || !this.connection.receiving) return;
    this.fail(new MessageTimeoutError(this.options.messageTimeout ?? 0));
  }

  /**
   * Fails the connection for a bound of ours the peer made us reach (RFC 6455 section 7.1.7, as
   * for a protocol error: close frame with the error's code, input ignored, `protocolError`
   * reported); with `destroy`, the transport goes at once, for when a close frame could not get
   * through anyway.
   */
  fail(error: ProtocolError, destroy = false): void {
    this.batchDepth++;
    try {
      this.connection.failConnection(error);
    } finally {
      this.endBatch();
    }
    if (destroy) this.terminate();
  }

  /** @internal */
  onError(error: Error): void {
    this.transportError ??= error;
  }

  /** @internal */
  onEnd(): void {
    if (this.readEnded) return;
    // Bytes read before the FIN may still wait in the core (an inflation in progress, parsing held
    // for a reply or for the application): they may hold messages and the close frame, so the end
    // waits for them (resume). The application may never read: closeTimeout bounds the wait.
    if (this.parsingPending()) {
      this.endDeferred = true;
      this.boundDeferredEnd();
      return;
    }
    this.readEnded = true;
    this.stopLiveness();
    // The peer's FIN. Without a close frame before it, the connection closed abnormally (1006).
    if (!this.connection.closed) this.connection.transportClosed();
    const stream = this.stream;
    if (stream.destroyed) return;
    this.flushHeld();
    // Our side follows (a net.Socket without allowHalfOpen does this itself); once our writes
    // are flushed the transport is done, so destroy it for streams that would not emit 'close'.
    if (!stream.writableFinished) {
      if (!stream.writableEnded) stream.end();
      stream.once('finish', () => stream.destroy());
      // Our writes may never flush if the peer stopped reading: bound the wait.
      if (this.closeTimer === null || !this.closeTimer.pending) this.armCloseTimer(this.options.closeTimeout || CLIENT_CLOSE_LINGER);
    } else {
      stream.destroy();
    }
  }

  /** @internal */
  onClose(): void {
    // As for the FIN (onEnd): what was read before the stream went is parsed before it is over.
    if (this.parsingPending()) {
      this.closeDeferred = true;
      this.boundDeferredEnd();
      return;
    }
    this.finish();
  }

  private boundDeferredEnd(): void {
    if (this.closeTimer === null || !this.closeTimer.pending) this.armCloseTimer(this.options.closeTimeout || CLIENT_CLOSE_LINGER);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    // The transport went while our answer to the peer's close was still held: not a clean close.
    const unanswered = this.connection.closeReplyPending;
    this.stopLiveness();
    this.closeTimer?.cancel();
    this.messageTimer?.cancel();
    this.messageActive = false;
    if (!this.connection.closed) this.connection.transportClosed();
    this.stall?.timer.cancel();
    for (const codec of this.codecs) {
      try {
        codec.close();
      } catch {
        // A codec that fails to release is not the connection's failure.
      }
    }
    let result: CloseResult;
    const peer = this.peerCloseFrame;
    if (peer !== null && this.failure === null) {
      result = { code: peer.code, reason: peer.reason, wasClean: !unanswered, error: null };
    } else if (this.failure !== null) {
      result = { code: this.failure.closeCode, reason: this.failure.message, wasClean: false, error: this.failure };
    } else {
      result = { code: 1006, reason: '', wasClean: false, error: this.timeoutError ?? this.transportError };
    }
    this.result = result;
    // Senders whose bytes the operating system took are done; the others' may never have left.
    this.settleWritten();
    const waiters = this.writeWaiters;
    this.writeWaiters = null;
    for (const waiter of waiters ?? []) waiter.reject(this.closedError());
    this.events.closed(result);
  }

  /** The error for a send that did not make it before the transport ended. */
  private closedError(): ConnectionClosedError {
    const result = this.result;
    return new ConnectionClosedError(result?.code ?? 1006, result?.reason ?? '', result?.wasClean ?? false);
  }

  private scheduleLiveness(): void {
    const timer = this.liveness;
    if (timer === null) return;
    const { pingInterval, idleTimeout } = this.options;
    let next = Infinity;
    if (idleTimeout > 0) next = this.lastReceived + idleTimeout;
    if (pingInterval > 0) next = Math.min(next, Math.max(this.lastReceived, this.lastPing) + pingInterval);
    timer.schedule(Math.max(1, next - nowMs()));
  }

  private stopLiveness(): void {
    this.liveness?.cancel();
  }

  private checkLiveness(): void {
    if (this.finished || this.connection.readyState !== 'open') return;
    const now = nowMs();
    // While we are the ones not reading (backpressure, a transform), silence proves nothing.
    if (this.pauseReasons !== 0) this.lastReceived = now;
    const { pingInterval, idleTimeout } = this.options;
    if (idleTimeout > 0 && now - this.lastReceived >= idleTimeout) {
      this.events.idle();
      return;
    }
    if (pingInterval > 0 && now - Math.max(this.lastReceived, this.lastPing) >= pingInterval) {
      this.lastPing = now;
      this.events.keepalive();
    }
    if (!this.finished && this.connection.readyState === 'open') this.scheduleLiveness();
  }
}

/** Forwards the core's callbacks to the driver; one small object per connection, no closures. */
class CoreHandler implements ConnectionHandler {
  private readonly driver: SocketDriver;

  constructor(driver: SocketDriver) {
    this.driver = driver;
  }

  output(chunks: Uint8Array[]): void {
    this.driver.coreOutput(chunks);
  }

  message(data: Uint8Array, isText: boolean): void {
    this.driver.coreMessage(data, isText);
  }

  fragment(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void {
    this.driver.coreFragment(data, isText, first, fin);
  }

  ping(payload: Uint8Array): void {
    this.driver.corePing(payload);
  }

  pong(payload: Uint8Array): void {
    this.driver.corePong(payload);
  }

  close(code: number, reason: string): void {
    this.driver.coreClose(code, reason);
  }

  holdCloseReply(): boolean {
    return this.driver.coreHoldCloseReply();
  }

  protocolError(error: ProtocolError): void {
    this.driver.coreProtocolError(error);
  }

  transformMessage(data: Uint8Array, isText: boolean, rsv: number): void {
    this.driver.coreTransform(data, isText, rsv);
  }
}
