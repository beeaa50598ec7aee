/**
 * `ws.beginMessage()`: one message sent part by part, where the caller decides which part is the
 * last (as Racket's `ws-send! #:final-fragment?` does). Each part is one
 * frame; the part given to `end()` carries FIN, so no empty trailing frame is needed when the
 * caller knows its last part. The WebSocket queues the writer like any send: its frames go out
 * once the sends before it are done, and the sends after it wait until it ends.
 */
import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from '../core/errors.js';
import { Utf8Validator } from '../core/utf8.js';

/** Options of `beginMessage()`. */
export interface BeginMessageOptions {
  /** A binary message (true) or a text one (false, the default). Text parts must make valid UTF-8 together. */
  binary?: boolean;
}

/** What a writer may be given as a part: text (sent as its UTF-8 bytes) or bytes. */
export type MessagePart = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** How a writer reaches its connection (the WebSocket gives one when the writer's turn comes). */
export interface MessageWriterSink {
  /** Sends one frame of this message; throws when the connection can no longer send data. */
  frame(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void;
  /** Resolves once the operating system took everything sent so far. */
  written(): Promise<void>;
  /** Part of the message is on the wire and it cannot be finished: fail the connection (1011). */
  failConnection(): void;
}

interface Part {
  data: Uint8Array;
  fin: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

const EMPTY = new Uint8Array(0);
const noop = (): void => {};

function toBytes(part: MessagePart): Uint8Array {
  if (typeof part === 'string') return Buffer.from(part, 'utf8');
  if (part instanceof Uint8Array) return part;
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  if ((part as unknown) instanceof ArrayBuffer || (part as unknown) instanceof SharedArrayBuffer) return new Uint8Array(part);
  throw new InvalidArgumentError('a message part is a string or bytes');
}

/**
 * One message being sent part by part (see `WebSocket.beginMessage`). `write()` and `end()` may be
 * called without waiting for the previous call: parts go out in call order, one frame each. Their
 * promises resolve once the operating system took the part's bytes; a part's buffer is read
 * until then (it is never copied), so do not change it before.
 */
export class MessageWriter {
  /** 'text' or 'binary', as given to beginMessage(). */
  readonly type: 'text' | 'binary';
  readonly #validator: Utf8Validator | null;
  readonly #queued: (delta: number) => void;
  readonly #finished: { resolve(): void; reject(error: unknown): void };
  /** Settles when the message ended (or failed): the connection's next send may go. */
  readonly #done: Promise<void>;
  #parts: Part[] = [];
  #sink: MessageWriterSink | null = null;
  #running = false;
  #first = true;
  /** end() was called: no more parts are taken. */
  #ending = false;
  /** The message is over: ended, aborted or failed. */
  #over = false;
  #error: unknown = null;
  /** The frame with FIN was handed to the connection: the message is whole on the wire. */
  #finalSent = false;
  /** The promise of start() has settled. */
  #settled = false;

  /** @internal made by WebSocket.beginMessage; `queued` keeps bufferedAmount counting parts not yet sent. */
  constructor(isText: boolean, queued: (delta: number) => void) {
    this.type = isText ? 'text' : 'binary';
    this.#validator = isText ? new Utf8Validator() : null;
    this.#queued = queued;
    let finished!: { resolve(): void; reject(error: unknown): void };
    this.#done = new Promise<void>((resolve, reject) => (finished = { resolve, reject }));
    this.#done.catch(noop);
    this.#finished = finished;
  }

  /**
   * Sends `part` as the next frame of the message (not the last). Rejects with
   * InvalidArgumentError after end() or abort(), or for a text part that makes the message
   * invalid UTF-8 (a code point may be split between parts; the message is then abandoned, see
   * abort()); with ConnectionClosedError when the connection ended first.
   */
  write(part: MessagePart): Promise<void> {
    return this.#add(part, false);
  }

  /**
   * Ends the message: `lastPart`, if given, is its final frame (carrying FIN); otherwise an empty
   * final frame ends it. Resolves once the last frame was taken by the operating system. A text
   * message that ends inside a code point is invalid: it is abandoned as abort() does.
   */
  end(lastPart?: MessagePart): Promise<void> {
    return this.#add(lastPart ?? EMPTY, true);
  }

  /**
   * Abandons the message. If none of it was sent, it never existed and the next send goes;
   * otherwise half a message is on the wire, and since it cannot be taken back the connection is
   * failed with 1011 (as when a streamed send's source fails), so the peer never takes a truncated
   * message for a whole one. Parts not yet sent reject with `reason` (an InvalidArgumentError by
   * default). Does nothing once the message is over.
   */
  abort(reason?: unknown): void {
    if (this.#finalSent) return;
    this.#fail(reason ?? new InvalidArgumentError('the message was aborted'), true);
  }

  /** True once the message ended or was abandoned. */
  get finished(): boolean {
    return this.#over;
  }

  /** @internal The writer's turn in the send queue: sends its parts; settles when the message is over. */
  start(sink: MessageWriterSink): Promise<void> {
    this.#sink = sink;
    if (!this.#over && this.#parts.length > 0) void this.#run();
    return this.#done;
  }

  /** @internal The connection ended: parts not yet sent reject with `error`. */
  close(error: unknown): void {
    this.#fail(error, false);
  }

  #add(part: MessagePart, fin: boolean): Promise<void> {
    let promise: Promise<void>;
    try {
      if (this.#over || this.#ending) {
        throw this.#error ?? new InvalidArgumentError('the message was already ended');
      }
      const data = toBytes(part);
      if (fin) this.#ending = true;
      promise = new Promise<void>((resolve, reject) => this.#parts.push({ data, fin, resolve, reject }));
      this.#queued(data.length);
      if (this.#sink !== null && !this.#running) void this.#run();
    } catch (error) {
      promise = Promise.reject(error);
    }
    // Fire-and-forget is safe, as with send(): a rejection nobody awaits is not an unhandled one.
    promise.catch(noop);
    return promise;
  }

  async #run(): Promise<void> {
    const sink = this.#sink!;
    this.#running = true;
    try {
      for (let part = this.#parts.shift(); part !== undefined && !this.#over; part = this.#parts.shift()) {
        this.#queued(-part.data.length);
        try {
          const validator = this.#validator;
          // RFC 6455 section 5.6: a text message's payload is UTF-8 as a whole. Checked before the
          // part is sent, so invalid bytes never reach the peer (who would fail with 1007).
          if (validator !== null && (!validator.feed(part.data) || (part.fin && !validator.end()))) {
            throw new InvalidArgumentError(
              part.fin && validator.errorOffset < 0 ? 'the text message ends inside a UTF-8 sequence' : 'a text part is not valid UTF-8',
            );
          }
          sink.frame(part.data, this.type === 'text', this.#first, part.fin);
          this.#first = false;
          if (part.fin) {
            this.#over = true;
            this.#finalSent = true;
          }
          await sink.written();
          part.resolve();
        } catch (error) {
          part.reject(error);
          this.#fail(error, true);
          return;
        }
        if (this.#finalSent) this.#settle(null);
      }
    } finally {
      this.#running = false;
    }
  }

  #fail(error: unknown, failConnection: boolean): void {
    if (this.#settled) return;
    this.#over = true;
    this.#error ??= error;
    for (const part of this.#parts.splice(0)) {
      this.#queued(-part.data.length);
      part.reject(error);
    }
    // Frames of this message went out and its end did not: the only honest end is to fail the
    // connection, so the peer never takes a truncated message for a whole one.
    if (failConnection && !this.#first && !this.#finalSent) this.#sink?.failConnection();
    this.#settle(error);
  }

  #settle(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (error === null) this.#finished.resolve();
    else this.#finished.reject(error);
  }
}
