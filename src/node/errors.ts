/**
 * The errors the Node layer raises (dialing, the handshake it reads, the driver's bounds); see
 * core/errors.ts for the codes and the base class.
 */
import { ErrorCode, LimitError, WebSocketError } from '../core/errors.js';
import { Failures } from '../core/failures.js';

/** The server answered the upgrade request with something other than a valid `101`. */
export class HandshakeError extends WebSocketError<typeof ErrorCode.Handshake> {
  /** HTTP status the peer sent (0 if it sent no parsable status line). */
  readonly status: number;
  /** Response headers, names lower-cased; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The response body, as far as it was read (bounded), decoded as UTF-8. */
  readonly body: string;

  constructor(message: string, status = 0, headers: Record<string, string> = {}, body = '', options?: { cause?: unknown }) {
    super(ErrorCode.Handshake, message, options);
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
}

/** The transport could not be established: DNS, TCP, TLS, a handshake timeout, an abort. */
export class ConnectError extends WebSocketError<typeof ErrorCode.Connect> {
  readonly host: string;
  readonly port: number;
  /** True when the failure was a timeout (`handshakeTimeout`) rather than a refusal. */
  readonly timedOut: boolean;

  constructor(message: string, host: string, port: number, options?: { cause?: unknown; timedOut?: boolean }) {
    super(ErrorCode.Connect, message, options);
    this.host = host;
    this.port = port;
    this.timedOut = options?.timedOut ?? false;
  }
}

/**
 * The peer began a message (or a frame) and did not finish it within `messageTimeout`: a peer
 * dribbling a message a byte at a time would otherwise hold the connection, and the memory of the
 * partial message, forever. The connection was failed with 1008 (policy violation).
 */
export class MessageTimeoutError extends LimitError<typeof ErrorCode.MessageTimeout> {
  /** The bound, in ms. */
  readonly timeout: number;

  constructor(timeout: number) {
    super(ErrorCode.MessageTimeout, `a message was not completed within ${timeout} ms`, Failures.messageTimeout.closeCode);
    this.timeout = timeout;
  }
}

/**
 * More than `maxBufferedAmount` bytes were waiting to be written, and then `stallTimeout` ms
 * passed without the peer taking any of them: the connection was failed with 1008 (policy
 * violation) and the socket destroyed, rather than let a peer that reads nothing make us buffer
 * without bound. A peer that reads, however slowly, never causes it.
 */
export class SendBufferFullError extends LimitError<typeof ErrorCode.SendBufferFull> {
  /** The bound, in bytes, past which the peer was watched. */
  readonly limit: number;
  /** How long the bytes waited without any being written, in ms. */
  readonly timeout: number;

  constructor(limit: number, timeout: number) {
    super(ErrorCode.SendBufferFull, `more than ${limit} bytes waited ${timeout} ms and none were read: the peer does not read`, Failures.sendBufferFull.closeCode);
    this.limit = limit;
    this.timeout = timeout;
  }
}

/** The peer did not complete the closing handshake within `closeTimeout`; the socket was destroyed. */
export class CloseTimeoutError extends WebSocketError<typeof ErrorCode.CloseTimeout> {
  readonly timeout: number;

  constructor(timeout: number) {
    super(ErrorCode.CloseTimeout, `closing handshake not completed within ${timeout} ms`);
    this.timeout = timeout;
  }
}

/**
 * The proxy refused to open a tunnel to the server: an HTTP proxy answered CONNECT with a status
 * other than 2xx (403, 502, ...), a SOCKS proxy replied with an error, or the proxy's answer was
 * not one the protocol allows. The server itself was never reached.
 */
export class ProxyError extends WebSocketError<typeof ErrorCode.Proxy> {
  /** The proxy's URL, without credentials. */
  readonly proxy: string;
  /** The HTTP status the proxy answered CONNECT with; 0 for SOCKS or an unreadable answer. */
  readonly status: number;
  /** The SOCKS reply code (RFC 1928 section 6, or SOCKS4's 91-93); 0 for HTTP or an unreadable answer. */
  readonly reply: number;

  constructor(message: string, proxy: string, status = 0, reply = 0, options?: { cause?: unknown }) {
    super(ErrorCode.Proxy, message, options);
    this.proxy = proxy;
    this.status = status;
    this.reply = reply;
  }
}

/**
 * The proxy wants credentials it was not given or refused the ones it was: an HTTP proxy's 407
 * (with its `Proxy-Authenticate` challenge) or 401 to CONNECT, or a SOCKS5 proxy that rejected the user name and
 * password (RFC 1929) or accepts none of the methods offered.
 */
export class ProxyAuthError extends WebSocketError<typeof ErrorCode.ProxyAuth> {
  /** The proxy's URL, without credentials. */
  readonly proxy: string;
  /** 407 (or the 401 some proxies send for refused credentials) from an HTTP proxy; 0 from a SOCKS proxy. */
  readonly status: number;
  /**
   * The challenge: the `Proxy-Authenticate` header (or a 401's `WWW-Authenticate`), repeats joined
   * with ', '; '' when absent or SOCKS.
   */
  readonly proxyAuthenticate: string;

  constructor(message: string, proxy: string, status: number, proxyAuthenticate: string) {
    super(ErrorCode.ProxyAuth, message);
    this.proxy = proxy;
    this.status = status;
    this.proxyAuthenticate = proxyAuthenticate;
  }
}


/**
 * A keep-alive ping had no pong within `pongTimeout` ms (RFC 6455 section 5.5.2: a live peer MUST
 * answer a ping). The connection was failed with 1011, as Python websockets does for its
 * "keepalive ping timeout": the peer, or the path to it, is gone or wedged.
 */
export class KeepaliveTimeoutError extends LimitError<typeof ErrorCode.KeepaliveTimeout> {
  /** The bound, in ms. */
  readonly timeout: number;

  constructor(timeout: number) {
    super(ErrorCode.KeepaliveTimeout, `keepalive ping timeout: no pong within ${timeout} ms`, Failures.keepaliveTimeout.closeCode);
    this.timeout = timeout;
  }
}
