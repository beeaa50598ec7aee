/**
 * WebSocketStream: the WHATWG streams API for WebSockets (as Chromium ships it) on Node, over
 * `connect()`, with real backpressure on the receive side (see stream-pair.ts): a reader that
 * stops reading stops the socket being read.
 */
import { ConnectError } from '../node/errors.js';
import { connect, type ConnectOptions } from './connect.js';
import { streamPair, type WebSocketCloseInfo, type WebSocketOpenInfo, type WebSocketStreamPair } from './stream-pair.js';
import type { WebSocket } from './websocket.js';

/** `new WebSocketStream(url, options)`: WHATWG's `protocols` and `signal`, plus any option of connect(). */
export interface WebSocketStreamOptions extends Omit<ConnectOptions, 'protocols' | 'signal'> {
  /** Subprotocols to offer; default none. */
  protocols?: string | readonly string[];
  /** Aborts the opening handshake (not an open connection): `opened` and `closed` reject with the reason. */
  signal?: AbortSignal;
}

/**
 * A WebSocket as a pair of streams. `opened` resolves with `{ readable, writable, protocol,
 * extensions }` once the server accepted; `closed` with `{ closeCode, reason }` after the close
 * handshake (it rejects when the connection failed or never opened); `close({ closeCode, reason })`
 * closes (or, before the handshake finished, abandons it).
 */
export class WebSocketStream {
  /** The URL given. */
  readonly url: string;
  /** Resolves with the streams once open; rejects (ConnectError, HandshakeError, ...) when connecting failed. */
  readonly opened: Promise<WebSocketOpenInfo>;
  /** Resolves with the close code and reason; rejects when the connection failed or never opened. */
  readonly closed: Promise<Required<WebSocketCloseInfo>>;
  readonly #abandon = new AbortController();
  #pair: WebSocketStreamPair | null = null;
  #pendingClose: WebSocketCloseInfo | null = null;

  constructor(url: string | URL, options: WebSocketStreamOptions = {}) {
    this.url = String(url);
    const { signal, ...rest } = options;
    const abandon = this.#abandon.signal;
    const connecting: Promise<WebSocket> = connect(url, { ...rest, signal: signal === undefined ? abandon : AbortSignal.any([signal, abandon]) });
    const pair = connecting.then((ws) => {
      this.#pair = streamPair(ws);
      if (this.#pendingClose !== null) this.#pair.close(this.#pendingClose);
      return this.#pair;
    });
    this.opened = pair.then(({ readable, writable, protocol, extensions }) => ({ readable, writable, protocol, extensions }));
    this.closed = pair.then((p) => p.closed);
    // Either may be left unobserved (a caller who only awaits `opened`): no unhandled rejection.
    this.opened.catch(() => {});
    this.closed.catch(() => {});
  }

  /** Closes with `closeCode` (default 1000) and `reason`; before the handshake is done, abandons it (`opened` rejects). */
  close(info: WebSocketCloseInfo = {}): void {
    if (this.#pair !== null) {
      this.#pair.close(info);
      return;
    }
    this.#pendingClose = info;
    this.#abandon.abort(new ConnectError('the WebSocketStream was closed before its handshake completed', '', 0));
  }
}

export type { WebSocketCloseInfo, WebSocketOpenInfo, WebSocketStreamPair } from './stream-pair.js';
