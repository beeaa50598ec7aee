/**
 * The receiving layer of the WebSocket class (websocket.ts is the facade; closing.ts is below):
 * the pull calls (`receive()`, `receiveStream()`, `receiveFragments()`, `for await`), the
 * driver's reports of messages and fragments (DriverEvents), and the 'message' events. A message
 * goes straight to the 'message' listeners while nothing waits; the receive queue
 * (receive-queue.ts), made the first time a message must wait or a pull consumer asks, decides
 * the rest.
 */
import type { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { InvalidArgumentError } from '../core/errors.js';
import { onFragment, onMessage } from '../node/driver.js';
import { NOT_THE_BATCH, UNWATCHED } from '../node/write-waiter.js';
import { asBuffer } from './bytes.js';
import { handled, RECEIVE_NAMES } from './call-arguments.js';
import { WebSocketClosing } from './closing.js';
import type { Fragment } from './fragment-reader.js';
import { messageListeners } from './listener-table.js';
import { checkOptionNames, optionsObject } from './options.js';
import { emitMessage, hasMessageListeners } from './owner-keys.js';
import { ReceiveQueue } from './receive-queue.js';
import type { Message, MessageReadable, ReceiveOptions, WebSocketEvents } from './websocket-types.js';

/** Node's emit, read once rather than through EventEmitter.prototype for every message (see emitMessage). */
const defaultEmit = EventEmitter.prototype.emit;

/** The receiving layer of WebSocket. Not exported from the package. */
export abstract class WebSocketReceiving extends WebSocketClosing {
  /**
   * The next message, in order: `{ type: 'text', data: string }` or `{ type: 'binary', data:
   * Buffer }`. Takes a queued message first; rejects with ConnectionClosedError once the
   * connection is closed and nothing is queued. `{ as: 'text' }` or `{ as: 'binary' }` forces the
   * type (see ReceiveOptions); a binary message that is not UTF-8 then rejects with NotUtf8Error
   * (its bytes in `error.data`) and the connection stays open.
   */
  receive(options: { as: 'text' }): Promise<{ type: 'text'; data: string }>;
  receive(options: { as: 'binary' }): Promise<{ type: 'binary'; data: Buffer }>;
  receive(options?: ReceiveOptions): Promise<Message>;
  receive(options?: ReceiveOptions): Promise<Message> {
    const as = options?.as;
    try {
      if (options !== undefined) checkOptionNames('receive()', optionsObject('receive()', options), RECEIVE_NAMES);
      if (as !== undefined && as !== 'text' && as !== 'binary') {
        throw new InvalidArgumentError(`receive({ as }) takes 'text' or 'binary', got ${String(as)}`);
      }
    } catch (error) {
      return handled(Promise.reject(error));
    }
    return this.ensureReceiver().receive(as);
  }

  /**
   * The next message as a Readable of its bytes, with `type` 'text' or 'binary'; for messages
   * too big to hold. The bytes arrive as the frames do (so `maxMessageSize` does not apply; the
   * consumer bounds memory), and while the Readable is full the socket is not read. A message
   * already queued whole comes as one chunk. If the Readable is destroyed early, the rest of its
   * message is discarded. It errors with ConnectionClosedError if the connection closes midway.
   */
  receiveStream(): Promise<MessageReadable> {
    return this.ensureReceiver().receiveStream();
  }

  /**
   * The next message as its pieces, as they arrive: `for await (const f of ws.receiveFragments())`
   * yields `{ data: Buffer, fin, type }` until the piece with `fin` (see Fragment: a piece is a
   * frame's payload, or the part of a long frame read so far; text may end inside a code point).
   * One message per call, taken in order with the other pull calls. Like receiveStream(), the
   * pieces come as they arrive (so `maxMessageSize` does not apply), and while more than a quarter
   * of `receiveHighWaterMark` waits unread in the iterator the socket is not read. A message
   * already queued whole comes as one piece. Breaking out of the loop discards the rest of the
   * message. If the connection closes first the iterator throws ConnectionClosedError (after the
   * pieces it already holds).
   */
  receiveFragments(): AsyncIterableIterator<Fragment> {
    return this.ensureReceiver().receiveFragments();
  }

  /**
   * Iterates the messages in order until the connection closes. While an iterator is active,
   * every message goes to it (or to other pull calls), not to 'message' listeners. It ends
   * quietly on any close, unless propagateErrors is set and the close was not normal (1000,
   * 1001 or 1005), in which case it throws ConnectionClosedError.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this.ensureReceiver().iterate();
  }

  // issue 24, idle memory: TypeScript-private, not #private (see websocket-emitter.ts, runSendCallback).
  private ensureReceiver(): ReceiveQueue {
    return (this.receiver ??= new ReceiveQueue(this));
  }

  // The driver's reports of messages (DriverEvents), and what the queues need of the messages.

  /** @internal */
  [onMessage](data: Uint8Array, isText: boolean): void {
    // Without a receive queue nothing waits, so a listener takes the message at once.
    if (this.receiver !== null) this.receiver.deliver(data, isText);
    else if (messageListeners(this) !== undefined) this[emitMessage](data, isText);
    else this.ensureReceiver().deliver(data, isText);
  }

  /** @internal */
  [onFragment](data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void {
    this.ensureReceiver().fragment(data, isText, first, fin);
  }

  /** @internal */
  [hasMessageListeners](): boolean {
    return messageListeners(this) !== undefined;
  }

  /** @internal */
  [emitMessage](data: Uint8Array, isText: boolean): void {
    const buffer = asBuffer(data);
    const payload = isText ? buffer.toString('utf8') : buffer;
    // Sends queued by the listeners hold parsing until they are handed over (see enqueue).
    this.delivering++;
    try {
      const listener = messageListeners(this);
      if (typeof listener === 'function' && this.emit === defaultEmit) {
        // One listener, and emit() not replaced (see captureResult): called here, as emit() would.
        const result: unknown = listener.call(this, payload, !isText);
        if (result !== undefined && result !== null && (result !== capturedResult || capturedBy !== this)) {
          // send()'s promise for this read's batch is watched by the driver, which gives it the
          // handler only if it rejects; any other result gets one now.
          const watch = this.driver.batchWatch(result);
          if (watch === UNWATCHED) this.driver.watchBatch(listenerRejection(this, payload, !isText));
          else if (watch === NOT_THE_BATCH) captureResult(this, result, payload, !isText);
        }
      } else {
        this.safeEmit('message', payload, !isText);
      }
    } catch (thrown) {
      this.listenerFailed(thrown, 'message');
    } finally {
      this.delivering--;
    }
  }
}

// issue 24, small messages: a 'message' listener such as `(data) => ws.send(data)` returns a promise,
// and with captureRejections (see WebSocketEmitter) Node's emit() gives every such result a
// rejection handler of its own: a `then` and one more promise per message, settled through the
// microtask queue. The sends of one read share one promise (OutputBatcher.whenWritten), so the
// same promise came back for every message of the read. It is now given one handler per
// connection, which reports its rejection once (as a failed listener, as emit() would, 1011), not
// once per message that returned it; the driver keeps that handler for its own batch's promise
// and attaches it only if the promise rejects (OutputBatcher.watchBatch). Only the result last
// given a handler here is remembered, and only until it settles.
let capturedResult: unknown = null;
let capturedBy: object | null = null;

function forgetCaptured(result: unknown): void {
  if (capturedResult === result) {
    capturedResult = null;
    capturedBy = null;
  }
}

/** What a 'message' listener's rejected promise does: later, as emit() does, so that the rejection is not followed by one of this handler's own. */
function listenerRejection(ws: WebSocketReceiving, data: WebSocketEvents['message'][0], isBinary: boolean): (error: unknown) => void {
  return (error) => process.nextTick(() => ws[EventEmitter.captureRejectionSymbol]<'message'>(error as Error, 'message', data, isBinary));
}

/** What Node's emit() does with a listener's result under captureRejections (events.js addCatch). */
function captureResult(ws: WebSocketReceiving, result: unknown, data: WebSocketEvents['message'][0], isBinary: boolean): void {
  const then = (result as { then?: unknown }).then;
  if (typeof then !== 'function') return;
  capturedResult = result;
  capturedBy = ws;
  const reject = listenerRejection(ws, data, isBinary);
  (then as (onFulfilled: () => void, onRejected: (error: unknown) => void) => unknown).call(
    result,
    () => forgetCaptured(result),
    (error: unknown) => {
      forgetCaptured(result);
      reject(error);
    },
  );
}
