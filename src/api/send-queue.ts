/**
 * The send queue of one connection: the sends that cannot go straight to the driver (compressed
 * messages, streamed ones, beginMessage() writers, sends behind those, a close or the answer to
 * the peer's close queued behind them), run one at a time so that messages stay whole and in
 * call order. A connection makes its queue the first time a send has to wait; most never do.
 */
import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from '../core/errors.js';
import { CloseCode } from '../core/close-code.js';
import type { PreparedFrame } from '../core/prepared-frame.js';
import type { SocketDriver } from '../node/driver.js';
import { PauseReason } from './holds.js';
import type { MessageCodec } from '../node/message-codec.js';
import { byteView, EMPTY, isByteSource } from './bytes.js';
import { Fifo } from '../node/fifo.js';
import { assertSendable, failConnection, ownerCodecs, ownerDriver, startClose } from './owner-keys.js';
import { fragmentEnds, type FragmentSizer } from './fragment-size.js';
import type { MessageWriter, MessageWriterSink } from './message-writer.js';

/** How a queued send's promise is settled. */
interface Settle {
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Builds a queued send around its promise's settle functions. Makers write `resolve` and `reject`
 * into the job's one object literal: spreading a Settle object into it (`{ ...settle, kind }`)
 * cost about a tenth of a compressed echo's CPU per message in V8 (issue 24).
 */
export type JobMaker = (resolve: () => void, reject: (error: unknown) => void) => SendJob;

/** One queued send; `size` is what it adds to bufferedAmount while it waits. */
export type SendJob =
  | (Settle & { kind: 'message'; data: Uint8Array; isText: boolean; fragmentSize: number | FragmentSizer; compress: boolean; size: number })
  | (Settle & { kind: 'stream'; source: AsyncIterable<unknown>; isText: boolean | undefined; fragmentSize: number | FragmentSizer; size: 0 })
  | (Settle & { kind: 'writer'; writer: MessageWriter; size: 0 })
  | (Settle & { kind: 'close'; code: number | undefined; reason: string; timeout: number | undefined; size: 0 })
  | (Settle & { kind: 'reply'; size: 0 })
  | (Settle & { kind: 'encoded'; frame: PreparedFrame; size: number }); // topics hook (issue 20): a prepared frame

/** What a send queue needs of its connection (the WebSocket itself; keys in owner-keys.ts). */
export interface SendQueueOwner {
  readonly [ownerDriver]: SocketDriver;
  /** The negotiated extension codecs, applied in order to a compressed message. */
  readonly [ownerCodecs]: readonly MessageCodec[];
  /** Throws ConnectionClosedError once no data frame may go. */
  [assertSendable](): void;
  /** Starts the closing handshake (a queued close() whose turn came). */
  [startClose](code: number | undefined, reason: string, timeout: number | undefined): void;
  /** Fails the connection: it is closing from now on, and the core sends a close frame with `code`. */
  [failConnection](code: number, reason: string): void;
}

/** A send that may never end (a streamed source, a message writer): nothing is held for it. */
function isOpenEnded(job: SendJob): boolean {
  return job.kind === 'stream' || job.kind === 'writer';
}

/**
 * Sends a whole message as frames cut where `size` says (a fragmentSize function); every size is
 * asked for (and checked) before the first frame goes, so a bad answer sends nothing.
 */
export function sendSplit(driver: SocketDriver, data: Uint8Array, isText: boolean, size: FragmentSizer, rsv: number): void {
  const ends = fragmentEnds(data, size);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!;
    driver.sendFrame(data.subarray(start, end), isText, i === 0, i === ends.length - 1, i === 0 ? rsv : 0);
    start = end;
  }
}

/** The queued sends of one connection, oldest first, and the one running. */
export class SendQueue extends Fifo<SendJob> {
  readonly #owner: SendQueueOwner;
  /** A job is running (the queue may be empty meanwhile). */
  busy = false;
  /** The bytes of the queued jobs, part of bufferedAmount. */
  queuedBytes = 0;
  /** Streamed sends queued or running; a reply queued behind one is not waited for (see enqueue). */
  #streamSends = 0;
  /** The last send queued from a 'message' listener while parsing is held for it (PauseReason.Reply). */
  #replyHold: SendJob | null = null;
  /** The beginMessage() writer whose turn it is, until its message is over. */
  #writer: MessageWriter | null = null;

  constructor(owner: SendQueueOwner) {
    super();
    this.#owner = owner;
  }

  /** Nothing runs and nothing waits: a send may go straight to the driver. */
  get idle(): boolean {
    return !this.busy && this.length === 0;
  }

  /**
   * Queues the job `make` builds from its promise's resolve and reject; the promise settles when
   * the job ran. `fromListener`: a 'message' listener is running (the job may be a reply to hold
   * parsing for).
   */
  enqueue(make: JobMaker, fromListener: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const job = make(resolve, reject);
      this.push(job);
      this.queuedBytes += job.size;
      if (isOpenEnded(job)) {
        this.#streamSends++;
      } else if (fromListener && this.#streamSends === 0) {
        // A reply from a 'message' listener that cannot go out at once (it is compressed, or
        // waits behind other sends). The core would otherwise go on parsing what followed the
        // message in the same read, and a protocol error or close frame there would be answered
        // (and the connection closed to sends) before this reply: Autobahn's rule is that every
        // message that arrived before the error is answered first. So parsing is held until the
        // reply is handed to the driver (#handedOver). That is bounded: only sends queued during
        // the delivery, none behind a streamed send (which may never end), encoding takes finite
        // time, and waiting for 'drain' comes after the release. The fast path never gets here.
        this.#replyHold = job;
        this.#owner[ownerDriver].pause(PauseReason.Reply);
      }
      if (!this.busy) void this.#pump();
    });
  }

  /** The connection is gone: every queued send (and the running writer) fails with `error()`. */
  closed(error: () => Error): void {
    this.#writer?.close(error());
    for (let job = this.shift(); job !== undefined; job = this.shift()) {
      if (isOpenEnded(job)) this.#streamSends--;
      if (job.kind === 'writer') job.writer.close(error());
      job.reject(error());
    }
    this.queuedBytes = 0;
    this.#replyHold = null;
  }

  /** The job's frames are with the driver (or it failed): lift the parsing hold if it was the one held for. */
  #handedOver(job: SendJob): void {
    if (job !== this.#replyHold) return;
    this.#replyHold = null;
    this.#owner[ownerDriver].resume(PauseReason.Reply);
  }

  /** Runs queued sends one at a time: the queue is what keeps messages whole and ordered. */
  async #pump(): Promise<void> {
    this.busy = true;
    try {
      while (this.length > 0) {
        const job = this.shift()!;
        this.queuedBytes -= job.size;
        try {
          await this.#run(job);
          job.resolve();
        } catch (error) {
          job.reject(error);
        } finally {
          if (isOpenEnded(job)) this.#streamSends--;
          this.#handedOver(job);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  async #run(job: SendJob): Promise<void> {
    const owner = this.#owner;
    const driver = owner[ownerDriver];
    if (job.kind === 'close') {
      if (driver.connection.canSendData) owner[startClose](job.code, job.reason, job.timeout);
      return;
    }
    if (job.kind === 'writer') {
      this.#writer = job.writer;
      try {
        await job.writer.start(this.#writerSink());
      } finally {
        this.#writer = null;
      }
      return;
    }
    if (job.kind === 'reply') {
      // Behind every send queued before it: the replies to the messages read before the close.
      driver.replyToClose();
      return;
    }
    if (job.kind === 'encoded') {
      owner[assertSendable]();
      driver.sendPrepared(job.frame); // topics hook (issue 20)
      this.#handedOver(job);
      await driver.whenWritten();
      return;
    }
    if (job.kind === 'message') {
      let data = job.data;
      let rsv = 0;
      if (job.compress) {
        for (const codec of owner[ownerCodecs]) {
          const result = await codec.encode(data, job.isText);
          if (result !== null) {
            data = result.data;
            rsv |= result.rsv;
          }
        }
      }
      owner[assertSendable]();
      const fragmentSize = job.fragmentSize;
      if (typeof fragmentSize === 'function') sendSplit(driver, data, job.isText, fragmentSize, rsv);
      else driver.sendMessage(data, job.isText, fragmentSize > 0 || rsv !== 0 ? { rsv, fragmentSize: fragmentSize || undefined } : undefined);
      // Parsing may go on now (which may deliver the next message and queue its reply).
      this.#handedOver(job);
      await driver.whenWritten();
      return;
    }
    await this.#runStream(job.source, job.isText, job.fragmentSize);
  }

  async #runStream(source: AsyncIterable<unknown>, binaryHint: boolean | undefined, fragmentSize: number | FragmentSizer): Promise<void> {
    const owner = this.#owner;
    const driver = owner[ownerDriver];
    const iterator = source[Symbol.asyncIterator]();
    let isText = binaryHint;
    let first = true;
    let done = false;
    try {
      for (;;) {
        const step = await iterator.next();
        if (step.done === true) {
          done = true;
          break;
        }
        const chunk = step.value;
        let bytes: Uint8Array;
        if (typeof chunk === 'string') bytes = Buffer.from(chunk, 'utf8');
        else if (isByteSource(chunk)) bytes = byteView(chunk);
        else throw new InvalidArgumentError('a streamed message yields strings or bytes');
        isText ??= typeof chunk === 'string';
        if (bytes.length === 0) continue;
        // The chunk's frame sizes are all asked for before its first frame goes (see sendSplit).
        const ends = fragmentEnds(bytes, fragmentSize);
        owner[assertSendable]();
        let offset = 0;
        for (const end of ends) {
          driver.sendFrame(bytes.subarray(offset, end), isText, first, false);
          offset = end;
          first = false;
        }
        // Backpressure: read the source no faster than the socket drains.
        await driver.whenWritten();
      }
      owner[assertSendable]();
      // The message ends with an empty final frame: a chunk is sent as soon as it is read, before
      // anyone knows whether it was the last.
      driver.sendFrame(EMPTY, isText ?? false, first, true);
      await driver.whenWritten();
    } catch (error) {
      if (!done) {
        try {
          await iterator.return?.();
        } catch {
          // The source's own cleanup failure is secondary to the error being reported.
        }
      }
      // Half a message is on the wire and cannot be taken back: the only honest end is to fail
      // the connection (1011), so the peer never mistakes a truncated message for a whole one.
      if (!first && driver.connection.canSendData) owner[failConnection](CloseCode.InternalError, 'message stream failed');
      throw error;
    }
  }

  /** How the writer whose turn it is reaches the socket. */
  #writerSink(): MessageWriterSink {
    const owner = this.#owner;
    const driver = owner[ownerDriver];
    return {
      frame: (data, isText, first, fin) => {
        owner[assertSendable]();
        driver.sendFrame(data, isText, first, fin);
      },
      written: () => driver.whenWritten(),
      failConnection: () => {
        if (driver.connection.canSendData) owner[failConnection](CloseCode.InternalError, 'message writer failed');
      },
    };
  }
}
