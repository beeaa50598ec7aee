/**
 * CONTRACT (to be implemented): the connection object every user holds, client and server side.
 * It takes an already-upgraded Duplex and a role; the handshake is not its business.
 */
import type { EventEmitter } from 'node:events';
import type { Duplex, Readable } from 'node:stream';
import type { ExtensionHook, ReadyState, Role } from '../core/connection.js';

/** Options of a connection, shared by connect() and the server. Each default is documented on its field. */
export interface WebSocketOptions {
  maxFrameSize?: number;
  maxMessageSize?: number;
  maxFragments?: number;
  autoPong?: boolean;
  /** Keep-alive ping every this many ms; 0 disables. */
  pingInterval?: number;
  /** Close (1001? 1011?) when nothing at all arrived for this many ms; 0 disables. */
  idleTimeout?: number;
  /** Bound on the closing handshake, after which the socket is destroyed. */
  closeTimeout?: number;
  /** Surface expected endings (peer closed, reset) as 'error' events too (CHICKEN's propagate-common-errors). */
  propagateErrors?: boolean;
  // ...more as the implementation needs (receive high-water marks, write limits)
}

/**
 * The per-message transform an extension provides (permessage-deflate): the Node driver calls it
 * when the core reports a message with the extension's RSV bits, and before sending.
 */
export interface MessageCodec {
  readonly hook: ExtensionHook;
  /** The negotiated Sec-WebSocket-Extensions value, for `ws.extensions`. */
  readonly header: string;
  decode(data: Uint8Array, isText: boolean, rsv: number, maxSize: number): Promise<Uint8Array>;
  /** Returns the transformed payload and the RSV bits to set, or null to send this message as is. */
  encode(data: Uint8Array, isText: boolean): Promise<{ data: Uint8Array; rsv: number } | null>;
  close(): void;
}

/** What the client or server knows once the handshake is done. */
export interface WebSocketInit extends WebSocketOptions {
  role: Role;
  url?: string;
  protocol?: string;
  /** Bytes that arrived after the handshake head: they belong to the WebSocket and are processed first. */
  head?: Uint8Array;
  /** Negotiated extension codecs (permessage-deflate), in response-header order. */
  codecs?: readonly MessageCodec[];
}

export type Message = { type: 'text'; data: string } | { type: 'binary'; data: Buffer };

export interface SendOptions {
  binary?: boolean;
  fragmentSize?: number;
  start?: number;
  end?: number;
  compress?: boolean;
}

/** See DESIGN.md "The public API". */
export declare class WebSocket extends EventEmitter {
  constructor(stream: Duplex, init: WebSocketInit);
  readonly readyState: ReadyState;
  readonly protocol: string;
  readonly extensions: string;
  readonly url: string;
  readonly bufferedAmount: number;
  send(data: string | Uint8Array | ArrayBuffer | Readable | AsyncIterable<Uint8Array | string>, options?: SendOptions): Promise<void>;
  receive(): Promise<Message>;
  receiveStream(): Promise<Readable & { type: 'text' | 'binary' }>;
  ping(data?: string | Uint8Array, options?: { timeout?: number }): Promise<number>;
  close(code?: number, reason?: string): Promise<{ code: number; reason: string }>;
  terminate(): void;
  [Symbol.asyncIterator](): AsyncIterator<Message>;
}
