/**
 * The receive side of one connection beyond plain 'message' events: the queue of messages
 * nobody took yet, the pull consumers waiting (`receive()`, `for await`, `receiveStream()`,
 * `receiveFragments()`), the message streamed to one of them, and the books that decide when the
 * answer to the peer's close may go. A connection makes it the first time a message must wait or
 * a pull consumer asks; a connection served by 'message' listeners alone never does.
 *
 * How push and pull share the incoming messages (see docs/connection.md): each message goes to
 * exactly one consumer, chosen when it arrives:
 *   1. the oldest pending `receive()`, `receiveStream()` or iterator `next()`, if any;
 *   2. otherwise, if no iterator is active and the queue is empty, the 'message' listeners, if any;
 *   3. otherwise the queue, from which the next pull takes it, or, once a 'message' listener is
 *      attached and no iterator is active, the listeners (right after attaching, in order).
 * So no message is delivered twice, and none is dropped while nobody listens.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { ConnectionClosedError } from '../core/errors.js';
import { CloseCode } from '../core/close-code.js';
import { Failures } from '../core/failures.js';
import { NotUtf8Error } from './errors.js';
import type { CloseResult, SocketDriver } from '../node/driver.js';
import { PauseReason } from './holds.js';
import { asBuffer, detached } from './bytes.js';
import { NO_QUEUE, own, type Fifo } from '../node/fifo.js';
import { FragmentReader, type Fragment } from './fragment-reader.js';
import { MessageStream, streamHighWaterMark } from './message-stream.js';
import type { ResolvedOptions } from './options.js';
import { emitMessage, failConnection, hasMessageListeners, ownerDriver, ownerFinal, ownerOptions, ownerTerminated, replyToClose } from './owner-keys.js';
import type { Message, MessageReadable } from './websocket-types.js';

interface QueuedMessage {
  data: Uint8Array;
  isText: boolean;
}

type WaiterKind = 'receive' | 'stream' | 'iterate' | 'fragments';

interface Waiter {
  kind: WaiterKind;
  /** receive({ as }). */
  as?: 'text' | 'binary' | undefined;
  /** The reader of a receiveFragments() call. */
  reader?: FragmentReader;
  resolve(value: Message | MessageReadable | IteratorResult<Message>): void;
  reject(error: Error): void;
}

/** The state of the message being received in the core's streaming mode. */
interface Incoming {
  stream: MessageStream | null;
  reader?: FragmentReader | null;
  chunks: Uint8Array[] | null;
  size: number;
}

/** What a receive queue needs of its connection (the WebSocket itself; keys in owner-keys.ts). */
export interface ReceiveQueueOwner {
  readonly [ownerDriver]: SocketDriver;
  readonly [ownerOptions]: ResolvedOptions;
  /** How the connection ended; null while it lasts. */
  readonly [ownerFinal]: CloseResult | null;
  /** terminate() was called. */
  readonly [ownerTerminated]: boolean;
  [hasMessageListeners](): boolean;
  /** Gives one message to the 'message' listeners. */
  [emitMessage](data: Uint8Array, isText: boolean): void;
  /** Fails the connection: it is closing from now on, and the core sends a close frame with `code`. */
  [failConnection](code: number, reason: string): void;
  /** Sends the held answer to the peer's close, behind the sends queued before it. */
  [replyToClose](): void;
}

const noop = (): void => {};

/** Close codes after which `for await` ends quietly even with propagateErrors. */
function isNormalClose(code: number): boolean {
  return code === CloseCode.NormalClosure || code === CloseCode.GoingAway || code === CloseCode.NoStatusReceived;
}

/** A received message as `receive()` gives it; `as` forces the type (NotUtf8Error for binary that is not UTF-8). */
function toMessage(data: Uint8Array, isText: boolean, as?: 'text' | 'binary'): Message {
  const buffer = asBuffer(data);
  if (as === 'text' && !isText && !isUtf8(buffer)) throw new NotUtf8Error(buffer);
  const text = as === undefined ? isText : as === 'text';
  return text ? { type: 'text', data: buffer.toString('utf8') } : { type: 'binary', data: buffer };
}

export class ReceiveQueue {
  readonly #owner: ReceiveQueueOwner;
  /** Queues are the shared empty NO_QUEUE until something is queued (see own()). */
  #inbox: Fifo<QueuedMessage> = NO_QUEUE;
  #inboxBytes = 0;
  #waiters: Fifo<Waiter> = NO_QUEUE;
  #iterators = 0;
  #flushScheduled = false;
  #streaming = false;
  #incoming: Incoming | null = null;
  /**
   * A pull consumer took a message and has not come back for the next one yet: an iterator whose
   * loop body is running ('iterate'), or a receive() or receiveStream() caller ('receive'). While
   * it is set, or messages are queued, the answer to the peer's close waits (holdCloseReply).
   */
  #pullTaken: 'iterate' | 'receive' | null = null;
  /** Counts takes by receive() while a close answer waits, so that each gets its grace (#graceForTake). */
  #takes = 0;

  constructor(owner: ReceiveQueueOwner) {
    this.#owner = owner;
  }

  /** Routes one whole message to exactly one consumer (the rules at the top of this file). */
  deliver(data: Uint8Array, isText: boolean): void {
    this.#dropCancelled();
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#pullTaken = waiter.kind === 'iterate' ? 'iterate' : 'receive';
      if (waiter.kind === 'stream') waiter.resolve(this.#wholeStream(data, isText));
      else if (waiter.kind === 'iterate') waiter.resolve({ done: false, value: toMessage(data, isText) });
      else if (waiter.kind === 'fragments') waiter.reader!.push(asBuffer(data), isText, true);
      else if (waiter.as === 'text' && !isText && !isUtf8(data)) {
        // Only this call fails: the message was valid binary, the connection goes on.
        waiter.reject(new NotUtf8Error(asBuffer(data)));
      } else waiter.resolve(toMessage(data, isText, waiter.as));
      this.#updateStreaming();
      return;
    }
    const owner = this.#owner;
    if (this.#iterators === 0 && this.#inbox.length === 0 && owner[hasMessageListeners]()) {
      owner[emitMessage](data, isText);
      return;
    }
    // A queued message may wait long: as a small view it would keep its whole socket chunk
    // alive, and the high-water mark (which counts message bytes) would not see that memory.
    data = detached(data);
    (this.#inbox = own(this.#inbox)).push({ data, isText });
    this.#inboxBytes += data.length;
    const options = owner[ownerOptions];
    if (this.#inboxBytes > options.receiveHighWaterMark || this.#inbox.length > options.receiveHighWaterMessages) {
      // A slow pull consumer: stop reading, so TCP pushes back on the peer instead of memory growing.
      owner[ownerDriver].pause(PauseReason.Queue);
    }
  }

  /** A piece of a message, in the core's streaming mode (on while a stream consumer waits first). */
  fragment(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void {
    const owner = this.#owner;
    if (first) {
      this.#dropCancelled();
      const waiter = this.#waiters.peek();
      if (waiter !== undefined && waiter.kind === 'fragments') {
        this.#waiters.shift();
        this.#pullTaken = 'receive';
        this.#incoming = { stream: null, reader: waiter.reader!, chunks: null, size: 0 };
        this.#updateStreaming();
      } else if (waiter !== undefined && waiter.kind === 'stream') {
        this.#waiters.shift();
        this.#pullTaken = 'receive';
        const stream: MessageStream = new MessageStream(
          isText ? 'text' : 'binary',
          streamHighWaterMark(owner[ownerOptions].receiveHighWaterMark),
          () => owner[ownerDriver].resume(PauseReason.Stream),
          () => {
            // Destroyed early by its reader, or ended: either way it no longer holds the socket.
            if (this.#incoming?.stream === stream) owner[ownerDriver].resume(PauseReason.Stream);
          },
        );
        this.#incoming = { stream, chunks: null, size: 0 };
        waiter.resolve(stream);
        this.#updateStreaming();
      } else {
        // Defensive: streaming mode with no stream consumer; gather it into a whole message.
        this.#incoming = { stream: null, chunks: [], size: 0 };
      }
    }
    const incoming = this.#incoming;
    if (incoming === null) return;
    const reader = incoming.reader;
    if (reader !== undefined && reader !== null) {
      // Copied when a small view of a large read, as for a message stream (below).
      if (!reader.cancelled && !reader.push(asBuffer(detached(data)), isText, fin)) owner[ownerDriver].pause(PauseReason.Stream);
      if (fin) {
        this.#incoming = null;
        owner[ownerDriver].resume(PauseReason.Stream);
      }
      return;
    }
    if (incoming.stream !== null) {
      const stream = incoming.stream;
      if (!stream.destroyed) {
        // A small piece of a large read would keep the whole read alive while the stream counts
        // only the piece (a peer could pin a read per byte): copied, as a queued message is.
        data = detached(data);
        if (data.length > 0 && !stream.push(asBuffer(data))) owner[ownerDriver].pause(PauseReason.Stream);
        if (fin) stream.push(null);
      }
      if (fin) {
        this.#incoming = null;
        owner[ownerDriver].resume(PauseReason.Stream);
      }
      return;
    }
    incoming.chunks!.push(data);
    incoming.size += data.length;
    const limit = owner[ownerOptions].maxMessageSize;
    if (incoming.size > limit) {
      this.#incoming = null;
      owner[failConnection](Failures.messageTooLarge.closeCode, `message of more than ${limit} bytes (maxMessageSize)`);
      return;
    }
    if (fin) {
      this.#incoming = null;
      this.deliver(Buffer.concat(incoming.chunks!, incoming.size), isText);
    }
  }

  /** receive() after its options were checked. */
  receive(as: 'text' | 'binary' | undefined): Promise<Message> {
    const queued = this.#take('receive');
    if (queued !== undefined) {
      try {
        return Promise.resolve(toMessage(queued.data, queued.isText, as));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.#owner[ownerFinal] !== null) return Promise.reject(this.#closedError());
    const waiting = new Promise<Message>((resolve, reject) => {
      (this.#waiters = own(this.#waiters)).push({ kind: 'receive', as, resolve: resolve as Waiter['resolve'], reject });
    });
    this.#cameBack();
    return waiting;
  }

  receiveStream(): Promise<MessageReadable> {
    const queued = this.#take('receive');
    if (queued !== undefined) return Promise.resolve(this.#wholeStream(queued.data, queued.isText));
    if (this.#owner[ownerFinal] !== null) return Promise.reject(this.#closedError());
    const waiting = new Promise<MessageReadable>((resolve, reject) => {
      (this.#waiters = own(this.#waiters)).push({ kind: 'stream', resolve: resolve as Waiter['resolve'], reject });
      this.#updateStreaming();
    });
    this.#cameBack();
    return waiting;
  }

  receiveFragments(): AsyncIterableIterator<Fragment> {
    let reader: FragmentReader;
    const queued = this.#take('receive');
    if (queued !== undefined) {
      reader = new FragmentReader(Number.POSITIVE_INFINITY, noop, noop);
      reader.push(asBuffer(queued.data), queued.isText, true);
      return reader;
    }
    const driver = this.#owner[ownerDriver];
    // Pulled from, or given up by its reader (the rest of its message is then discarded): either
    // way it no longer holds the socket.
    const release = (): void => {
      if (this.#incoming?.reader === reader) driver.resume(PauseReason.Stream);
    };
    reader = new FragmentReader(streamHighWaterMark(this.#owner[ownerOptions].receiveHighWaterMark), release, release);
    if (this.#owner[ownerFinal] !== null) {
      reader.fail(this.#closedError());
      return reader;
    }
    (this.#waiters = own(this.#waiters)).push({ kind: 'fragments', reader, resolve: noop, reject: (error) => reader.fail(error) });
    this.#updateStreaming();
    this.#cameBack();
    return reader;
  }

  /** The iterator of `for await (const message of ws)`. */
  iterate(): AsyncIterableIterator<Message> {
    let finished = false;
    this.#iterators++;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.#iterators--;
      // A loop that ended (break, return) will send no more replies to what it took.
      if (this.#pullTaken === 'iterate') this.#cameBack();
      this.scheduleFlush();
    };
    const iterator: AsyncIterableIterator<Message> = {
      next: (): Promise<IteratorResult<Message>> => {
        if (finished) return Promise.resolve({ done: true, value: undefined });
        const queued = this.#take('iterate');
        if (queued !== undefined) return Promise.resolve({ done: false, value: toMessage(queued.data, queued.isText) });
        if (this.#owner[ownerFinal] !== null) {
          finish();
          const error = this.#iterationError();
          return error === null ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(error);
        }
        const waiting = new Promise<IteratorResult<Message>>((resolve, reject) => {
          (this.#waiters = own(this.#waiters)).push({
            kind: 'iterate',
            resolve: (value) => {
              const result = value as IteratorResult<Message>;
              if (result.done === true) finish();
              resolve(result);
            },
            reject: (error) => {
              finish();
              reject(error);
            },
          });
        });
        // The loop came back for more: its body has sent whatever it sends for the last message.
        this.#cameBack();
        return waiting;
      },
      return: (): Promise<IteratorResult<Message>> => {
        finish();
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** A 'message' listener was added: queued messages go to the listeners, in order, unless a pull consumer is active. */
  scheduleFlush(): void {
    if (this.#flushScheduled || this.#inbox.length === 0) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      const owner = this.#owner;
      while (this.#inbox.length > 0 && this.#waiters.length === 0 && this.#iterators === 0 && owner[hasMessageListeners]()) {
        const queued = this.#inbox.shift()!;
        this.#consumed(queued);
        owner[emitMessage](queued.data, queued.isText);
      }
      // The listeners took the queue (their replies are sent or queued): a held close answer may go.
      if (this.#inbox.length === 0 && this.#pullTaken === null) this.#cameBack();
    });
  }

  /** The connection is gone (`final` is set): the streamed message and every waiting consumer end. */
  closed(error: () => Error): void {
    const incoming = this.#incoming;
    this.#incoming = null;
    if (incoming?.stream && !incoming.stream.destroyed && !incoming.stream.readableEnded) {
      incoming.stream.destroy(error());
    }
    incoming?.reader?.fail(error());
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) {
      if (waiter.kind === 'iterate') {
        const ending = this.#iterationError();
        if (ending === null) waiter.resolve({ done: true, value: undefined });
        else waiter.reject(ending);
      } else {
        waiter.reject(error());
      }
    }
  }

  /** The oldest queued message, taken by a pull consumer; undefined when none is queued. */
  #take(by: 'iterate' | 'receive'): QueuedMessage | undefined {
    const queued = this.#inbox.shift();
    if (queued === undefined) return undefined;
    this.#taken(by);
    this.#consumed(queued);
    return queued;
  }

  #consumed(message: QueuedMessage): void {
    this.#inboxBytes -= message.data.length;
    const driver = this.#owner[ownerDriver];
    if (driver.isPaused(PauseReason.Queue)) {
      const options = this.#owner[ownerOptions];
      // Resume at half the marks, so a consumer hovering at the mark does not flap the socket.
      if (this.#inboxBytes <= options.receiveHighWaterMark / 2 && this.#inbox.length <= options.receiveHighWaterMessages / 2) {
        driver.resume(PauseReason.Queue);
      }
    }
  }

  /** receiveFragments() iterators given up before their message came take none. */
  #dropCancelled(): void {
    for (let first = this.#waiters.peek(); first?.kind === 'fragments' && first.reader!.cancelled; first = this.#waiters.peek()) {
      this.#waiters.shift();
    }
  }

  /** Streaming mode is on exactly when the next message will go to a receiveStream() or receiveFragments() call. */
  #updateStreaming(): void {
    this.#dropCancelled();
    const first = this.#waiters.peek();
    const wanted = this.#inbox.length === 0 && first !== undefined && (first.kind === 'stream' || first.kind === 'fragments');
    if (wanted !== this.#streaming && this.#owner[ownerFinal] === null) {
      this.#streaming = wanted;
      this.#owner[ownerDriver].connection.setStreaming(wanted);
    }
  }

  #wholeStream(data: Uint8Array, isText: boolean): MessageReadable {
    const stream = new MessageStream(isText ? 'text' : 'binary', Math.max(1, this.#owner[ownerOptions].receiveHighWaterMark), noop, noop);
    if (data.length > 0) stream.push(asBuffer(data));
    stream.push(null);
    return stream;
  }

  #iterationError(): Error | null {
    const owner = this.#owner;
    const final = owner[ownerFinal]!;
    if (!owner[ownerOptions].propagateErrors || owner[ownerTerminated] || (final.wasClean && isNormalClose(final.code))) return null;
    return this.#closedError();
  }

  #closedError(): ConnectionClosedError {
    const final = this.#owner[ownerFinal]!;
    return new ConnectionClosedError(final.code, final.reason, final.wasClean);
  }

  // The answer to the peer's close (RFC 6455 section 5.5.1: an endpoint may send its remaining
  // data before answering). A pull consumer takes messages after the read that held them was
  // parsed, so a close in the same read would otherwise be answered, and the connection closed
  // to sends, before its replies: they would be lost. The answer is held while messages read
  // before the close are queued or a consumer that took one has not come back for the next; it
  // then goes behind the sends queued meanwhile. The driver bounds the wait with closeTimeout.

  /** The peer's close frame is arriving: hold the answer? */
  holdCloseReply(): boolean {
    const hold = this.#inbox.length > 0 || this.#pullTaken !== null;
    if (hold && this.#pullTaken === 'receive') this.#graceForTake();
    return hold;
  }

  /** A pull consumer took a message (it may send a reply before it comes back). */
  #taken(by: 'iterate' | 'receive'): void {
    this.#pullTaken = by;
    if (by === 'receive' && this.#owner[ownerDriver].connection.closeReplyPending) this.#graceForTake();
  }

  /**
   * A receive() caller may never call again: its reply is expected within the continuations of
   * the take (microtasks), so the take counts until the next macrotask.
   */
  #graceForTake(): void {
    const take = ++this.#takes;
    setImmediate(() => {
      if (take === this.#takes && this.#pullTaken === 'receive') this.#cameBack();
    });
  }

  /** The consumer came back (or will not): answer the peer's close if nothing else is pending. */
  #cameBack(): void {
    this.#pullTaken = null;
    if (!this.#owner[ownerDriver].connection.closeReplyPending || this.#inbox.length > 0) return;
    this.#owner[replyToClose]();
  }
}
