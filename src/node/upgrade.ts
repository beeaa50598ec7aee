/**
 * Turning an HTTP upgrade request that Node's http.Server has parsed (an IncomingMessage, its
 * socket, and the bytes after its head) into either a `101 Switching Protocols` on a socket ready
 * for WebSocket frames, or an HTTP refusal on a socket that is then closed. The decisions about
 * *whether* to accept (routes, origins, the accept hook) belong to the server in src/api; this
 * module owns the bytes on the wire, the limits Node does not enforce, and the handshake timer.
 */
import { hash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { systemTimers, WheelTimer, type TimerService } from './timer-wheel.js';
import {
  buildRefusalResponse,
  buildUpgradeResponse,
  WEBSOCKET_GUID,
  type HttpRefusal,
  type UpgradeResponseInit,
} from '../core/handshake.js';

/**
 * Default bound on the time from a connection's first byte (or from the `upgrade` event, when the
 * http.Server is not ours) to the 101: 10 s, as Python `websockets` uses for its opening
 * handshake. Long enough for a slow mobile link, short enough that a client dribbling one byte at
 * a time cannot hold a socket (and a `maxConnections` slot) for long.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Default bound on the request head in bytes: 16 KiB, Node's own `maxHeaderSize` default. */
export const DEFAULT_MAX_HEAD_SIZE = 16 * 1024;

/**
 * Default bound on the number of request header fields: 100. A browser's upgrade request has
 * about 15; Node's own bound (2000) silently drops the excess instead of refusing, so we count.
 */
export const DEFAULT_MAX_HEADER_COUNT = 100;

/** How long a refused socket may take to read our answer before it is destroyed anyway. */
const REFUSAL_LINGER = 2_000;

/** Limits checked on the parsed request, before any handshake validation. */
interface UpgradeLimits {
  /** Largest request head in bytes (request line and headers); default DEFAULT_MAX_HEAD_SIZE. */
  maxHeadSize?: number;
  /** Most header fields; default DEFAULT_MAX_HEADER_COUNT. */
  maxHeaderCount?: number;
}

/** Builds a refusal with a short plain-text body (the body says why; it is shown by curl and browsers' devtools). */
export function refusal(status: number, body: string, headers: Record<string, string> = {}): HttpRefusal {
  return { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, body };
}

/**
 * The answer to a plain HTTP request on a server that only speaks WebSocket: 426 Upgrade Required,
 * which (RFC 7231 section 6.5.15) MUST carry an Upgrade header naming the protocol to switch to.
 */
export function upgradeRequiredRefusal(): HttpRefusal {
  return refusal(426, 'This is a WebSocket endpoint: send an Upgrade: websocket request.\n', {
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
  });
}

/**
 * The answer to a request Node's HTTP parser rejected ('clientError'): 431 when the head was too
 * large (HPE_HEADER_OVERFLOW), 408 when it did not arrive in time, 400 for anything else.
 */
export function clientErrorRefusal(error: unknown): HttpRefusal {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'HPE_HEADER_OVERFLOW') return refusal(431, 'Request header fields too large.\n');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return refusal(408, 'Request timeout.\n');
  return refusal(400, 'Bad request.\n');
}

/** The answer to an upgrade that failed on our side (a bug, a hook that threw, headers that cannot be sent). */
export function internalErrorRefusal(): HttpRefusal {
  return refusal(500, 'Internal server error.\n');
}

/** The answer to a client whose handshake did not complete within the handshake timeout. */
export function timeoutRefusal(): HttpRefusal {
  return refusal(408, 'The WebSocket handshake took too long.\n');
}

/**
 * Checks what Node's parser does not (or not in the way a WebSocket server needs): the number of
 * header fields and, when our bound is lower than the http.Server's, the head size. Counting
 * `rawHeaders` is exact as long as the server's `maxHeadersCount` is above our bound; the size is
 * recomputed from the parsed parts (Node trims values, so it can only undercount by whitespace).
 */
export function checkRequestLimits(
  req: { readonly method?: string; readonly url?: string; readonly rawHeaders: readonly string[] },
  limits: UpgradeLimits = {},
): HttpRefusal | null {
  const maxCount = limits.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT;
  const raw = req.rawHeaders;
  if (raw.length / 2 > maxCount) {
    return refusal(431, `Too many header fields (at most ${maxCount}).\n`);
  }
  const maxSize = limits.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE;
  // "GET " + target + " HTTP/1.1\r\n", then "name: value\r\n" per field, then "\r\n".
  let size = (req.method?.length ?? 0) + 1 + (req.url?.length ?? 0) + 11 + 2;
  for (let i = 0; i < raw.length && size <= maxSize; i++) size += raw[i]!.length + 2;
  if (size > maxSize) {
    return refusal(431, `Request head too large (at most ${maxSize} bytes).\n`);
  }
  return null;
}

function swallow(): void {
  // A client that resets a socket we are giving up on is not an error worth crashing for.
}

/**
 * Answers with `refusal` and closes the socket: the response is written, our side is ended (the
 * client sees the body then end-of-stream), anything the client still sends is read and dropped
 * (so that the kernel does not answer it with a reset that could destroy our response before the
 * client reads it), and the socket is destroyed after `linger` ms if the client never closes.
 */
export function refuseUpgrade(socket: Duplex, answer: HttpRefusal, linger = REFUSAL_LINGER, timers: TimerService = systemTimers): void {
  socket.on('error', swallow);
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  let bytes: string;
  try {
    bytes = buildRefusalResponse(answer);
  } catch {
    // A refusal with a header value that cannot be sent (CR/LF in an accept hook's answer):
    // the client still gets a well-formed answer.
    bytes = buildRefusalResponse(internalErrorRefusal());
  }
  const timer = new WheelTimer(() => socket.destroy(), { timers });
  timer.schedule(linger);
  socket.once('close', () => timer.cancel());
  socket.resume();
  socket.end(bytes);
}

/**
 * Writes the `101 Switching Protocols` head. Returns false, writing nothing, when the socket is
 * already gone (the client gave up while an async accept hook ran). Throws what
 * `buildUpgradeResponse` throws for headers that cannot be sent, before anything is written.
 */
export function writeUpgradeResponse(socket: Duplex, init: UpgradeResponseInit): boolean {
  if (socket.destroyed || !socket.writable) return false;
  // The core checks the key (and throws for a bad one) before it uses the value computed here.
  // Written out rather than `{ ...init, accept }`: in Node 20's V8 a property after a spread takes
  // the runtime's slow path, about half a microsecond per handshake (issue 24).
  const head = buildUpgradeResponse(
    init.accept !== undefined ? init : { key: init.key, accept: acceptKey(init.key), protocol: init.protocol, extensions: init.extensions, headers: init.headers },
  );
  // Frames are small and latency matters more than segment count; and the http.Server's idle
  // timeout for requests must not apply to a long-lived WebSocket (its own timers do that job).
  const s = socket as Duplex & { setNoDelay?: (on: boolean) => void; setTimeout?: (ms: number) => void };
  s.setNoDelay?.(true);
  s.setTimeout?.(0);
  socket.write(head);
  return true;
}

/**
 * Sec-WebSocket-Accept for a valid key: base64(SHA-1(key + GUID)) by node:crypto's one-shot
 * `hash`, which costs less than half the core's SHA-1 in JavaScript (measured: 0.3 against
 * 0.77 us of CPU a key) and allocates less; one per connection a server accepts.
 */
export function acceptKey(key: string): string {
  return hash('sha1', key + WEBSOCKET_GUID, 'base64');
}

/** A running handshake timer: cancel it once the 101 (or a refusal) has been written. */
export interface HandshakeGuard {
  /** Stops the timer; returns false if it had already expired (or was cancelled before). */
  cancel(): boolean;
  /** True once the timer fired (the socket has then been answered with 408 or destroyed). */
  readonly expired: boolean;
  /** True once the socket is gone (the client went away or it was destroyed). */
  readonly gone: boolean;
  /**
   * What the socket is answered with when the timer fires: a refusal, or null to destroy it.
   * Replaceable while the guard runs, so that one timer can bound a handshake through its phases
   * (the head being read, then the upgrade being decided) with the answer each phase needs.
   */
  onExpire: () => HttpRefusal | null;
}

class Guard implements HandshakeGuard {
  expired = false;
  onExpire: () => HttpRefusal | null;
  private active = true;
  private readonly socket: Duplex;
  private readonly timer: WheelTimer | undefined;
  private readonly timers: TimerService;

  constructor(socket: Duplex, timeout: number, onExpire: () => HttpRefusal | null, timers: TimerService) {
    this.socket = socket;
    this.onExpire = onExpire;
    this.timers = timers;
    socket.on('error', swallow);
    // On the timer service (unref'd, as the socket keeps the process alive while it matters).
    this.timer = timeout > 0 && Number.isFinite(timeout) ? new WheelTimer(expireGuard, { target: this, timers }) : undefined;
    this.timer?.schedule(timeout);
  }

  get gone(): boolean {
    return this.socket.destroyed;
  }

  cancel(): boolean {
    if (!this.active) return false;
    this.active = false;
    this.timer?.cancel();
    this.socket.off('error', swallow);
    return true;
  }

  /** @internal the timer fired. */
  expire(): void {
    if (!this.active) return;
    this.active = false;
    this.expired = true;
    const answer = this.onExpire();
    if (answer === null) this.socket.destroy();
    else refuseUpgrade(this.socket, answer, REFUSAL_LINGER, this.timers);
  }
}

function expireGuard(this: Guard): void {
  this.expire();
}

/**
 * Bounds a handshake: after `timeout` ms the socket is answered with `onExpire()`'s refusal (408
 * by default) and closed. While the guard runs, socket errors (a client resetting mid-handshake)
 * are swallowed, so the caller can drop the handshake without a crash. `timeout` 0 or Infinity
 * disables the timer (errors are still swallowed). The timer runs on `timers` (the process's
 * timer service unless another, a fake clock's in tests, is given).
 */
export function guardHandshake(
  socket: Duplex,
  timeout: number,
  onExpire: () => HttpRefusal | null = timeoutRefusal,
  timers: TimerService = systemTimers,
): HandshakeGuard {
  return new Guard(socket, timeout, onExpire, timers);
}
