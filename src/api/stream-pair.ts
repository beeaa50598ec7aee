/**
 * A WebSocket as a pair of WHATWG streams, the shape of the browser's WebSocketStream: a
 * ReadableStream of messages and a WritableStream that sends. Used by `WebSocketStream`
 * (websocket-stream.ts) on the client and `ws.stream()` on the server.
 *
 * Backpressure is real on both sides. The readable pulls with `ws.receive()`, one message per
 * pull, and only when its queue (one message) is empty: a reader that stops reading leaves
 * messages in the connection's own queue, which pauses reading the socket once it holds
 * `receiveHighWaterMark` bytes or `receiveHighWaterMessages` messages. The kernel buffer then
 * fills, the TCP window closes and the sender's bufferedAmount grows instead of our memory. The
 * writable's write() resolves when `ws.send()` has handed the message to the socket.
 */
import { Buffer } from 'node:buffer';
import { ConnectionClosedError, InvalidArgumentError } from '../core/errors.js';
import type { WebSocket } from './websocket.js';
import { CloseCode } from '../core/close-code.js';

/** How a WebSocketStream closed, or how to close one: WHATWG's WebSocketCloseInfo. */
export interface WebSocketCloseInfo {
  /** The close code; default 1000 when closing, 1005 seen when the peer sent none. */
  closeCode?: number;
  /** The close reason, at most 123 UTF-8 bytes; default ''. */
  reason?: string;
}

/** What `opened` resolves with (WHATWG's WebSocketOpenInfo). */
export interface WebSocketOpenInfo {
  /** Messages as they arrive: a string for text, an ArrayBuffer for binary (as Chromium's WebSocketStream gives them). */
  readable: ReadableStream<string | ArrayBuffer>;
  /** Writes send one message each: a string as text, an ArrayBuffer or a view as binary. */
  writable: WritableStream<string | ArrayBuffer | ArrayBufferView>;
  /** The subprotocol the server picked ('' for none). */
  protocol: string;
  /** The extensions in use, as in Sec-WebSocket-Extensions ('' for none). */
  extensions: string;
}

/** The pair with the connection's ending: what `ws.stream()` returns. */
export interface WebSocketStreamPair extends WebSocketOpenInfo {
  /** Resolves with the close code and reason after a close handshake; rejects (ConnectionClosedError) when the connection was lost without one. */
  closed: Promise<Required<WebSocketCloseInfo>>;
  /** Starts the closing handshake (default 1000, ''). */
  close(info?: WebSocketCloseInfo): void;
}

/** A binary message as an ArrayBuffer of its own: the Buffer's memory when it is exactly that, else a copy. */
function ownBuffer(data: Buffer): ArrayBuffer {
  const { buffer, byteOffset, length } = data;
  if (buffer instanceof ArrayBuffer && byteOffset === 0 && buffer.byteLength === length) return buffer;
  return Uint8Array.prototype.slice.call(data).buffer as ArrayBuffer;
}

/** The close code and reason carried by a cancel() or abort() reason, as WHATWG's WebSocketError has them. */
function closeInfoOf(reason: unknown): WebSocketCloseInfo {
  if (reason !== null && typeof reason === 'object' && 'closeCode' in reason && typeof reason.closeCode === 'number') {
    return { closeCode: reason.closeCode, reason: 'reason' in reason && typeof reason.reason === 'string' ? reason.reason : '' };
  }
  return {};
}

/**
 * Wraps an open WebSocket. Take the pair once and read the connection only through it (mixing
 * it with receive() or 'message' listeners splits the messages between them).
 */
export function streamPair(ws: WebSocket): WebSocketStreamPair {
  const close = (info: WebSocketCloseInfo = {}): void => {
    if (ws.readyState !== 'open') return;
    ws.close(info.closeCode ?? CloseCode.NormalClosure, info.reason ?? '').catch(() => {});
  };
  const closed = new Promise<Required<WebSocketCloseInfo>>((resolve, reject) => {
    const settle = (code: number, reason: string): void => {
      // 1006: no close frame came (the link broke, or the connection was failed).
      if (code === CloseCode.AbnormalClosure) reject(new ConnectionClosedError(code, reason, false));
      else resolve({ closeCode: code, reason });
    };
    if (ws.readyState === 'closed') settle(ws.closeCode ?? 1006, ws.closeReason ?? '');
    else ws.once('close', settle);
  });
  closed.catch(() => {});

  const readable = new ReadableStream<string | ArrayBuffer>(
    {
      async pull(controller) {
        try {
          const message = await ws.receive();
          controller.enqueue(message.type === 'text' ? message.data : ownBuffer(message.data));
        } catch (error) {
          if (error instanceof ConnectionClosedError && error.closeCode !== 1006) controller.close();
          else controller.error(error);
        }
      },
      cancel(reason) {
        close(closeInfoOf(reason));
      },
    },
    // One message at a time: the connection's own queue, bounded by the high-water marks, holds the rest.
    { highWaterMark: 1 },
  );

  const writable = new WritableStream<string | ArrayBuffer | ArrayBufferView>({
    async write(chunk) {
      if (typeof chunk === 'string') await ws.send(chunk);
      else if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) await ws.send(Buffer.from(chunk instanceof ArrayBuffer ? chunk : chunk.buffer, chunk instanceof ArrayBuffer ? 0 : chunk.byteOffset, chunk.byteLength));
      else throw new InvalidArgumentError('a WebSocketStream writes strings (text), ArrayBuffers and their views (binary)');
    },
    close() {
      close();
    },
    abort(reason) {
      close(closeInfoOf(reason));
    },
  });

  return { readable, writable, protocol: ws.protocol, extensions: ws.extensions, closed, close };
}
