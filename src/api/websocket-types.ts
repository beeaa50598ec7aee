/**
 * The public types of a WebSocket connection: what its methods take and give, and its events.
 * The class itself is in websocket.ts, which exports all of these too.
 */
import type { Buffer } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { ReadyState, Role } from '../core/connection.js';
import type { FragmentSizer } from './fragment-size.js';
import type { ProtocolVersion } from './legacy.js'; // legacy (issue 22)
import type { WebSocketOptions } from './options.js';

/** What the client or server knows once the handshake is done. */
export interface WebSocketInit extends WebSocketOptions {
  role: Role;
  /** The URL the client connected to (the request URL on the server side); `ws.url`. */
  url?: string;
  /** The negotiated subprotocol, '' if none; `ws.protocol`. */
  protocol?: string;
  /** Bytes that arrived after the handshake head: they belong to the WebSocket and are processed first. */
  head?: Uint8Array;
  /** legacy (issue 22): the protocol the handshake agreed on; default 'hybi-13' (RFC 6455). */
  version?: ProtocolVersion;
}

/** One received message, as `receive()` and `for await` give it. */
export type Message = { type: 'text'; data: string } | { type: 'binary'; data: Buffer };

/** A received message as a stream of its bytes (`receiveStream()`); text arrives as UTF-8 bytes. */
export type MessageReadable = Readable & { readonly type: 'text' | 'binary' };

/** Options of one `send()`. */
export interface SendOptions {
  /**
   * Send as binary (true) or text (false). By default a string is text and bytes are binary; a
   * stream is text when its first chunk is a string. Bytes sent as text must be valid UTF-8.
   */
  binary?: boolean;
  /**
   * Split the message into frames of at most this many bytes. Streams default to 64 KiB
   * (DEFAULT_FRAGMENT_SIZE) per frame; a plain buffer or string is one frame unless given. May
   * also be a function `(data, offset) => size` choosing each frame's size (see FragmentSizer),
   * called with the message's bytes (after compression, if any) or a streamed chunk's.
   */
  fragmentSize?: number | FragmentSizer;
  /** Send only from this index (bytes for binary data, UTF-16 code units for a string), without copying bytes. */
  start?: number;
  /** Send only up to this index (exclusive). */
  end?: number;
  /** Let a negotiated extension (permessage-deflate) transform this message; default true. Streams are never compressed. */
  compress?: boolean;
}

/** Options of `receive()`. */
export interface ReceiveOptions {
  /**
   * Force the message's type: 'text' decodes a binary message as UTF-8 (a message that is not valid
   * UTF-8 rejects this call with NotUtf8Error, the connection stays open); 'binary' gives a text
   * message's UTF-8 bytes. By default each message comes as the type it was sent as.
   */
  as?: 'text' | 'binary';
}

/** Options of one `close()`. */
export interface CloseOptions {
  /**
   * How long to wait for the peer's close frame once ours is sent, in ms, before the socket is
   * destroyed and close() rejects with CloseTimeoutError; 0 waits without bound. Default: the
   * connection's closeTimeout.
   */
  timeout?: number;
}

/**
 * A ws-style completion callback of `send()`, `ping()` and `pong()`: called with no argument once
 * the frame was handed to the socket (as the returned promise resolves), or with the error the
 * promise rejects with.
 */
export type SendCallback = (error?: Error) => void;

/** A ping or pong payload: at most 125 bytes (RFC 6455 section 5.5). */
export type PingData = string | Uint8Array | ArrayBuffer;

/** Options of one `ping()`. */
export interface PingOptions {
  /** Reject with PingTimeoutError when no matching pong came within this many ms; default 0 (wait until the close). */
  timeout?: number;
}

/** What `send()` accepts: text, bytes, or a stream of either sent as one fragmented message. */
export type SendData = string | Uint8Array | ArrayBuffer | ArrayBufferView | Readable | AsyncIterable<Uint8Array | string>;

/** The events of a WebSocket and their arguments. */
export interface WebSocketEvents {
  /** The connection is open (emitted once, on the turn of the event loop after construction). */
  open: [];
  /**
   * A message for the push consumers: a string for text, a Buffer for binary. (`on('message')`
   * and the other ways to add a listener take a listener typed with MessageListenerArgs, where the
   * two arguments go together.)
   */
  message: [data: string | Buffer, isBinary: boolean];
  /** The transport is closed: the peer's code after a clean handshake, ours after a failure, 1006 otherwise. */
  close: [code: number, reason: string];
  /** A protocol error, an exception of a listener, or (with propagateErrors) an expected ending. */
  error: [error: Error];
  /** A ping arrived (already answered unless autoPong is false). */
  ping: [payload: Buffer];
  /** A pong arrived (solicited or not). */
  pong: [payload: Buffer];
}

/**
 * The states a connection object can be in. It is made once the handshake is done, so it is never
 * 'connecting' (the ReadyState of the core, which also covers the handshake, has that one too).
 */
export type WebSocketReadyState = Exclude<ReadyState, 'connecting'>;

/** How the connection ended; `closeCode` and `closeReason` give it once `readyState` is 'closed'. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/**
 * The arguments of a 'message' listener, correlated: text comes as a string with `isBinary`
 * false, binary as a Buffer with `isBinary` true, so `if (isBinary)` narrows `data`.
 */
export type MessageListenerArgs = [data: string, isBinary: false] | [data: Buffer, isBinary: true];
