/**
 * The options of one connection (WebSocketOptions), each default with its reason, and
 * `resolveOptions`, which every front-end (`connect()`, `WebSocketServer`, `BrowserWebSocket`, a
 * directly built `WebSocket`) runs once before any network, handing the resolved object down.
 */
import { resolveCoreLimits, type CoreLimits } from '../../core/limits.js';
import { count, duration, flag } from './checks.js';

/**
 * Default `pingInterval`: 30 s. Proxies and NAT tables commonly drop flows silent for 60 s; a
 * ping after 30 s of silence keeps them open at the cost of a few bytes per idle minute.
 */
export const DEFAULT_PING_INTERVAL = 30_000;

/**
 * Default `pongTimeout`: 20 s, as Python websockets' `ping_timeout`. RFC 6455 section 5.5.2 says a
 * peer MUST answer a ping "as soon as is practical", so a live one answers within a round trip;
 * 20 s leaves room for a congested path and still finds a dead peer at 50 s of silence (a ping at
 * 30 s, then 20 s), before `idleTimeout`'s 60 s, with a close code (1011) and an error
 * (KeepaliveTimeoutError) that name the cause.
 */
export const DEFAULT_PONG_TIMEOUT = 20_000;

/**
 * Default `idleTimeout`: 60 s, twice the ping interval. A live peer answers the keep-alive ping
 * (RFC 6455 section 5.5.2 says it MUST), so only a dead or wedged peer stays silent that long.
 */
export const DEFAULT_IDLE_TIMEOUT = 60_000;

/** Default `closeTimeout`: 5 s; a live peer answers a close in milliseconds. */
export const DEFAULT_CLOSE_TIMEOUT = 5_000;

/**
 * Default `receiveHighWaterMark`: 4 MiB of unread data (queued messages, or a message stream's
 * buffered fragments) before reading the socket pauses. Four messages of the default maximum size.
 */
export const DEFAULT_RECEIVE_HIGH_WATER_MARK = 4 * 1024 * 1024;

/**
 * Default `receiveHighWaterMessages`: 1024 unread messages before reading the socket pauses, so
 * that a flood of tiny messages is bounded by count as well as by bytes.
 */
export const DEFAULT_RECEIVE_HIGH_WATER_MESSAGES = 1024;

/**
 * Default `messageTimeout`: 60 s from the first byte of a frame or message to its last. A peer
 * dribbling a message a byte at a time holds the connection and the partial message; at the
 * default 1 MiB message size this still admits links of about 17 KiB/s.
 */
export const DEFAULT_MESSAGE_TIMEOUT = 60_000;

/**
 * Default `maxBufferedAmount`: 4 MiB waiting to be written, past which the connection watches for
 * a peer that reads nothing (see `stallTimeout`). Producers that await send() never get there.
 */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 4 * 1024 * 1024;

/**
 * Default `stallTimeout`: 30 s with more than maxBufferedAmount waiting and not a byte of it
 * written. As long as pingInterval: a peer that takes nothing off its socket for that long while
 * megabytes wait for it is not reading, and a slow but reading peer makes progress much sooner.
 */
export const DEFAULT_STALL_TIMEOUT = 30_000;

/** Default `fragmentSize` of a streamed send: 64 KiB per frame, as Node's stream chunks. */
export const DEFAULT_FRAGMENT_SIZE = 64 * 1024;

/** Options of a connection, shared by connect() and the server. Each default is documented on its field. */
export interface WebSocketOptions {
  /**
   * Largest frame payload accepted in a message received whole, in bytes (1009 beyond it);
   * default 1 MiB (DEFAULT_MAX_FRAME_SIZE). Not applied to messages read with `receiveStream()`,
   * whose frames go to the stream's consumer as they arrive (a peer may send a large message as
   * one frame).
   */
  maxFrameSize?: number;
  /**
   * Largest message accepted, in bytes, after decompression (1009 beyond it); default 1 MiB, as
   * Python `websockets`. Messages read with `receiveStream()` are bounded by
   * the stream's consumer instead (unless compressed: those are inflated whole, and bounded).
   */
  maxMessageSize?: number;
  /** Most fragments in one message (1009 beyond it); default 262,144 (DEFAULT_MAX_FRAGMENTS). */
  maxFragments?: number;
  /** Answer pings with pongs automatically, as RFC 6455 section 5.5.2 requires; default true. */
  autoPong?: boolean;
  /**
   * Send a keep-alive ping after this many ms in which nothing arrived (and again every as many
   * ms while the silence lasts); 0 disables. Default 30 s (DEFAULT_PING_INTERVAL).
   */
  pingInterval?: number;
  /**
   * Fail the connection (1011, KeepaliveTimeoutError) when a keep-alive ping of `pingInterval`
   * has had no pong for this many ms; any pong counts, since a peer may answer only the latest of
   * several pings. 0 disables (then only `idleTimeout` notices a dead peer). Time during which we
   * ourselves stopped reading does not count. Default 20 s (DEFAULT_PONG_TIMEOUT).
   */
  pongTimeout?: number;
  /**
   * Close the connection (1001, "idle timeout") when nothing at all, not even a pong, arrived for
   * this many ms; 0 disables. Time during which we ourselves stopped reading (backpressure) does
   * not count. Default 60 s (DEFAULT_IDLE_TIMEOUT).
   */
  idleTimeout?: number;
  /**
   * Bound on the closing handshake, in ms: when the peer has not answered our close frame (or
   * closed TCP after the handshake) by then, the socket is destroyed; 0 waits forever. Default 5 s
   * (DEFAULT_CLOSE_TIMEOUT).
   */
  closeTimeout?: number;
  /**
   * Emit 'error' for expected endings too (the peer vanished without a close frame, a network
   * error, a close or idle timeout), and make `for await` throw when the connection did not
   * close normally. Default false.
   */
  propagateErrors?: boolean;
  /**
   * Bytes of unread received data (queued messages not yet taken by `receive()`) above which
   * parsing and reading the socket pause, so TCP pushes back on the peer and input already read
   * is not inflated past it; they resume when the queue is down to half. A `receiveStream()`
   * Readable buffers a quarter of it. Default 4 MiB.
   */
  receiveHighWaterMark?: number;
  /** Unread messages above which reading the socket pauses, as `receiveHighWaterMark`. Default 1024. */
  receiveHighWaterMessages?: number;
  /**
   * Fail the connection (1008, MessageTimeoutError) when a frame or a message has started
   * arriving and is not complete after this many ms, however steadily its bytes come; 0
   * disables. Time during which we ourselves stopped reading does not count, and a message read
   * with `receiveStream()` is bounded by its consumer instead. Default 60 s (DEFAULT_MESSAGE_TIMEOUT).
   */
  messageTimeout?: number;
  /**
   * When a send() finds more than this many bytes already waiting to be written
   * (`bufferedAmount`), the connection starts watching the peer: if then `stallTimeout` ms pass
   * in which bytes wait and not one of them is written, the connection fails (1008,
   * SendBufferFullError) and the socket is destroyed. A peer that reads, however slowly, is never
   * cut off: a burst of sends is not a dead peer. Infinity disables. Default 4 MiB
   * (DEFAULT_MAX_BUFFERED_AMOUNT).
   */
  maxBufferedAmount?: number;
  /**
   * How long bytes may wait with no progress at all, once more than `maxBufferedAmount` were
   * waiting, before the peer counts as not reading (1008); 0 disables. Default 30 s
   * (DEFAULT_STALL_TIMEOUT).
   */
  stallTimeout?: number;
}

/** WebSocketOptions with every default applied, as the WebSocket uses them. Made only by `resolveOptions`. */
export interface ResolvedOptions extends CoreLimits {
  pingInterval: number;
  pongTimeout: number;
  idleTimeout: number;
  closeTimeout: number;
  propagateErrors: boolean;
  receiveHighWaterMark: number;
  receiveHighWaterMessages: number;
  messageTimeout: number;
  maxBufferedAmount: number;
  stallTimeout: number;
}

/** The names of every WebSocketOptions field, for the front-ends' checks of unknown option names. */
export const CONNECTION_OPTION_NAMES: readonly (keyof WebSocketOptions)[] = [
  'maxFrameSize',
  'maxMessageSize',
  'maxFragments',
  'autoPong',
  'pingInterval',
  'pongTimeout',
  'idleTimeout',
  'closeTimeout',
  'propagateErrors',
  'receiveHighWaterMark',
  'receiveHighWaterMessages',
  'messageTimeout',
  'maxBufferedAmount',
  'stallTimeout',
];

/** Resolved option objects: a WebSocket trusts these without checking them again. */
const resolved = new WeakSet<object>();

/** Whether `options` came from `resolveOptions` (and so needs no further check). */
export function isResolvedOptions(options: unknown): options is ResolvedOptions {
  return typeof options === 'object' && options !== null && resolved.has(options);
}

/**
 * Applies the defaults and validates, once per front-end call: `connect()` before dialing, a
 * `WebSocketServer` at construction, a `WebSocket` built directly from its init. The size limits
 * and `autoPong` follow the core's own rules (resolveCoreLimits), so that nothing accepted here
 * can fail later inside the core, after a 101 was sent. Throws InvalidArgumentError naming the
 * first bad option; names other than WebSocketOptions' are the caller's business.
 */
export function resolveOptions(options: WebSocketOptions = {}): ResolvedOptions {
  const result: ResolvedOptions = {
    ...resolveCoreLimits(options),
    pingInterval: duration('pingInterval', options.pingInterval, DEFAULT_PING_INTERVAL),
    pongTimeout: duration('pongTimeout', options.pongTimeout, DEFAULT_PONG_TIMEOUT),
    idleTimeout: duration('idleTimeout', options.idleTimeout, DEFAULT_IDLE_TIMEOUT),
    closeTimeout: duration('closeTimeout', options.closeTimeout, DEFAULT_CLOSE_TIMEOUT),
    propagateErrors: flag('propagateErrors', options.propagateErrors, false),
    receiveHighWaterMark: count('receiveHighWaterMark', options.receiveHighWaterMark, DEFAULT_RECEIVE_HIGH_WATER_MARK, 0, true),
    receiveHighWaterMessages: count('receiveHighWaterMessages', options.receiveHighWaterMessages, DEFAULT_RECEIVE_HIGH_WATER_MESSAGES, 0, true),
    messageTimeout: duration('messageTimeout', options.messageTimeout, DEFAULT_MESSAGE_TIMEOUT),
    maxBufferedAmount: count('maxBufferedAmount', options.maxBufferedAmount, DEFAULT_MAX_BUFFERED_AMOUNT, 0, true),
    stallTimeout: duration('stallTimeout', options.stallTimeout, DEFAULT_STALL_TIMEOUT),
  };
  resolved.add(result);
  return result;
}
