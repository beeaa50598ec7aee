/**
 * Output batching, the writing half of the socket driver: what the core writes is held while a
 * batch is open (a read being processed, the tick of a send from outside a read, a cork) and
 * leaves in one write when it ends; `whenWritten` tells senders when the operating system has
 * taken their bytes (an empty write behind the rest calls back); and a peer that stops reading
 * while megabytes wait for it is watched for (`watchStall`) and failed.
 *
 * SocketDriver (driver.ts) is built on this class; a connection is still one object.
 */
import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { SendBufferFullError } from './errors.js';
import { type ConnectionClosedError, type ConnectionFailure } from '../core/errors.js';
import { dropChunks, writeChunk } from './core-memory.js';
import { isMaskMemory, releaseMaskMemory } from './mask-pool.js';
import { WheelTimer, type TimerService } from './timer-wheel.js';
import { FINISHED, Seldom, withBit, type StallWatch } from './driver-state.js'; // issue 24, idle memory
import { newWaiter, NOT_THE_BATCH, rejectWaiter, RESOLVED, UNWATCHED, WATCHED, type WriteWaiter } from './write-waiter.js'; // issue 24, small messages
import { endInOneTick, followsRun, isSharedRun, PREPARED_RUN, preparedChunk, preparedChunks, SHARED_JOIN_BYTES, sharedJoin } from './prepared-output.js'; // issue 24, publish

/** An empty write, used only for its callback (see whenWritten). */
const EMPTY_WRITE = Buffer.alloc(0);

/**
 * Output held in a batch is written at once when it reaches this many bytes, so that a sender
 * looping within one tick never holds more than this outside the stream (where `whenWritten`
 * sees it and holds the sender back).
 */
const BATCH_FLUSH_BYTES = 64 * 1024;

/** Held output of several runs up to this size is joined into one buffer before it is written (see flushHeld). */
const JOIN_BYTES = 16 * 1024;

/**
 * A held chunk up to this size that does not follow the run in memory is copied into a buffer of
 * the batch (see hold) rather than kept as a view of its own: a frame prepared once for many
 * connections, or a header and a small payload, then cost two small copies per connection and no
 * object, where a view per chunk was most of a publish's garbage.
 */
const COPY_BYTES = 512;

/**
 * Sizes of a batch's copy buffer: the first is small (a batch is often one message: one
 * publish, one reply), each next one doubles, up to under half of Node's 8 KiB Buffer pool, so
 * that each is a slice of the pool rather than an allocation of its own.
 */
const COPY_FIRST = 256;
const COPY_LARGEST = 4000;

/** The output side of one connection over one Duplex (see the file's comment). */
export abstract class OutputBatcher {
  // Shared by every connection (the timer passes its batcher as `this`).
  private static readonly stallCheck = function (this: OutputBatcher): void {
    this.checkStall();
  };

  readonly stream: Duplex;
  /** The timers of this connection: the process's shared wheels unless others were injected (read from the options). */
  abstract get timers(): TimerService;
  /** issue 24, idle memory: the driver's booleans, one bit each (driver-state.ts). */
  protected bits = 0;
  /** issue 24, idle memory: the driver's seldom-used state, made when first written (driver-state.ts). */
  protected seldom: Seldom | null = null;

  /** The transport is gone and `closed` was reported. */
  protected get finished(): boolean {
    return (this.bits & FINISHED) !== 0;
  }

  protected set finished(on: boolean) {
    this.bits = withBit(this.bits, FINISHED, on);
  }

  /** Bytes handed to stream.write so far (held output counts once it is written). */
  private written = 0;
  /** See writtenOut(). */
  private lastWrittenOut = 0;
  /**
   * Senders waiting for the operating system to take their bytes, oldest first; null while there
   * are none (no array per idle connection). One entry per batch, shared by its sends.
   */
  protected writeWaiters: WriteWaiter[] | null = null;
  /** The wait shared by the sends of the batch being held (see whenWritten); null outside one. */
  private batchWaiter: WriteWaiter | null = null;
  /** The write callback passed while senders wait; made when first needed. */
  private afterWrite: ((error?: Error | null) => void) | null = null;
  /** The watch on a peer that may not be reading; null until a send found too much waiting. */
  protected get stall(): StallWatch | null {
    return this.seldom?.stall ?? null;
  }

  protected set stall(watch: StallWatch | null) {
    (this.seldom ??= new Seldom()).stall = watch;
  }
  // Output batching. While a batch is open (a read being processed, or the tick of a send from
  // outside a read), the core's output is held rather than written, and written in one go when
  // the batch ends: one write per read instead of one per frame, which is most of the cost of
  // small messages (a write is a system call). Consecutive views of one buffer are merged on the
  // way in: the core cuts headers and small frames from one slab per connection, so the frames
  // of a batch are usually adjacent and leave as a single contiguous chunk, not a long writev.
  protected batchDepth = 0;
  /** The levels of batchDepth opened by cork() (see cork). */
  private corkDepth = 0;
  /** Closed runs of held output, in order (null while there are none: no array per idle connection). */
  private held: Uint8Array[] | null = null;
  /** The run being extended: bytes [runStart, runEnd) of runBuffer. */
  private runBuffer: ArrayBufferLike | null = null;
  private runStart = 0;
  private runEnd = 0;
  /** The chunk the run is, while it is exactly one chunk (then it is written or kept as it is: no view made). */
  private runChunk: Uint8Array | null = null;
  /** The batch's copy buffer (see COPY_BYTES) while the run is in it; the run may grow up to copyLimit. */
  private copyBuffer: Buffer | null = null;
  private copyLimit = 0;
  protected heldBytes = 0;

  constructor(stream: Duplex) {
    this.stream = stream;
  }

  /** Fails the connection for a bound of ours (here: a peer that does not read); see SocketDriver.fail. */
  abstract fail(error: ConnectionFailure, destroy?: boolean): void;

  /** The error for a send that did not make it before the transport ended. */
  protected abstract closedError(): ConnectionClosedError;

  /** Bytes sent that the stream has not yet written out (held in a batch, or buffered by the stream). */
  get bufferedAmount(): number {
    return this.stream.writableLength + this.heldBytes;
  }

  /** Bytes of output so far, frame headers included: handed to the stream or held in a batch (for metrics). */
  get bytesOut(): number {
    return this.written + this.heldBytes;
  }

  /**
   * Bytes of our output the stream has handed to the operating system (a socket's write
   * completed), as last seen while the stream was alive: a destroyed stream forgets the bytes it
   * held (writableLength drops to 0) without having written them.
   */
  protected writtenOut(): number {
    if (!this.stream.destroyed) this.lastWrittenOut = this.written - this.stream.writableLength;
    return this.lastWrittenOut;
  }

  /**
   * Resolves once everything sent so far has been taken by the operating system (for a socket:
   * its write completed, as the callback of Node's `write` says), so `await` on it never outruns
   * a slow peer. Rejects with ConnectionClosedError when the transport ends first: those bytes
   * may never have left the process. Until it settles the caller's payload may still be read: a
   * server frame's payload is the caller's buffer itself, never copied.
   */
  whenWritten(): Promise<void> {
    // Every send of a batch shares one wait, for the end of the batch: one promise per batch
    // (a read's replies, a tick's sends, a broadcast's send per client), not one per message.
    const batch = this.batchWaiter;
    if (batch !== null) return batch.promise;
    const held = this.heldBytes > 0;
    const upTo = this.written + this.heldBytes;
    if (upTo <= this.writtenOut()) return RESOLVED;
    if (this.finished) return Promise.reject(this.closedError());
    // Held output: the end of the batch is known when it is written (flushHeld sets upTo).
    const waiter = newWaiter(held ? Infinity : upTo);
    // One waiter is the usual case: an array of exactly one (push grows an empty one to 17).
    if (this.writeWaiters === null) this.writeWaiters = [waiter];
    else this.writeWaiters.push(waiter);
    if (held) this.batchWaiter = waiter;
    else this.callBackWhenWritten();
    return waiter.promise;
  }

  /**
   * @internal Whether `promise`, returned to a 'message' listener, is this batcher's and needs
   * watching for a rejection: NOT_THE_BATCH, WATCHED or UNWATCHED (see watchBatch).
   */
  batchWatch(promise: unknown): number {
    if (promise === RESOLVED) return WATCHED;
    const batch = this.batchWaiter;
    if (batch === null || batch.promise !== promise) return NOT_THE_BATCH;
    return batch.onRejected === null ? UNWATCHED : WATCHED;
  }

  /**
   * @internal Calls `onRejected` if the held batch's wait rejects (its transport ended first),
   * as a rejection handler would, which is given only then (rejectWaiters): a 'message' listener
   * that returns send()'s promise, as `(data) => ws.send(data)` does, made one more promise, a
   * reaction and a microtask per batch (issue 24, small messages).
   */
  watchBatch(onRejected: (error: unknown) => void): void {
    if (this.batchWaiter !== null) this.batchWaiter.onRejected = onRejected;
  }

  /**
   * Output is waited for and not all written yet: an empty write behind it calls back once
   * everything before it is written. Writes themselves carry no callback: most complete at once
   * (writtenOut sees that right after them), and a callback per write costs a tick each.
   */
  private callBackWhenWritten(): void {
    if (this.stream.writableEnded || this.stream.destroyed) return;
    this.afterWrite ??= (error?: Error | null) => this.onWritten(error);
    this.stream.write(EMPTY_WRITE, this.afterWrite);
  }

  /** After writing: settle the senders whose bytes are out, and be called back for the rest. */
  protected afterWriting(): void {
    if (this.writeWaiters === null) return;
    this.settleWritten();
    if (this.writeWaiters !== null && this.batchWaiter === null) this.callBackWhenWritten();
  }

  /** A write the stream was given while senders waited is done (or failed): settle what is out. */
  private onWritten(_error?: Error | null): void {
    this.settleWritten();
  }

  /** Resolves the senders whose bytes the operating system has taken, oldest first. */
  protected settleWritten(): void {
    const waiters = this.writeWaiters;
    if (waiters === null) return;
    const out = this.writtenOut();
    let done = 0;
    while (done < waiters.length && waiters[done]!.upTo <= out) waiters[done++]!.resolve();
    if (done === waiters.length) this.writeWaiters = null;
    else if (done > 0) waiters.splice(0, done);
  }

  /**
   * A send found more than `limit` bytes waiting: from now on, `timeout` ms in which bytes wait
   * and none of them is written mean a peer that does not read, and the connection is failed
   * (1008) and destroyed. A peer that takes anything off its socket in that time is watched for
   * another period while bytes still wait. 0 disables.
   */
  watchStall(limit: number, timeout: number): void {
    if (timeout <= 0 || this.finished) return;
    let stall = this.stall;
    if (stall === null) stall = this.stall = { timer: new WheelTimer(OutputBatcher.stallCheck, { target: this, timers: this.timers }), mark: 0, limit, timeout };
    else if (stall.timer.pending) return;
    stall.mark = this.writtenOut();
    stall.limit = limit;
    stall.timeout = timeout;
    stall.timer.schedule(timeout);
  }

  private checkStall(): void {
    const stall = this.stall;
    if (stall === null || this.finished || this.bufferedAmount === 0) return;
    const out = this.writtenOut();
    if (out === stall.mark) {
      this.fail(new SendBufferFullError(stall.limit, stall.timeout), true);
      return;
    }
    // Progress, but bytes still wait: keep watching.
    stall.mark = out;
    stall.timer.schedule(stall.timeout);
  }

  // Sending. Inside a read, output joins the read's batch. Outside one, the first send opens a
  // batch that ends on process.nextTick: sends made in one tick (a broadcast, a loop, replies
  // from promise continuations) reach the socket as one write per connection. The bytes are
  // handed over in order either way; only the system call waits for the end of the tick.

  protected openTickBatch(): void {
    if (this.batchDepth !== 0) return;
    this.batchDepth = 1;
    endInOneTick(this);
  }

  /**
   * Holds output until the matching uncork(), as one more level of batch: frames sent in between
   * leave in one write (up to BATCH_FLUSH_BYTES held; past that they are written anyway, so a
   * corked sender never holds more than that outside the stream). Calls nest.
   */
  cork(): void {
    this.corkDepth++;
    this.batchDepth++;
  }

  /** Ends one cork() level; the last one writes what was held (unless a read's batch is open). */
  uncork(): void {
    if (this.corkDepth === 0) return;
    this.corkDepth--;
    this.endBatch();
  }

  /** Ends every cork() level at once (a close must not wait behind a forgotten cork). */
  uncorkAll(): void {
    while (this.corkDepth > 0) this.uncork();
  }

  /** How many cork() calls are not yet matched by uncork(). */
  get corked(): number {
    return this.corkDepth;
  }

  /** @internal Closes one level of batch; the outermost writes what was held. */
  endBatch(): void {
    if (--this.batchDepth === 0) this.flushHeld();
  }

  /** Writes the held output now: one chunk as a plain write, several corked into one writev. */
  protected flushHeld(): void {
    if (this.runBuffer === null) return;
    // A Buffer, not a Uint8Array: Node's Writable would wrap the latter in a Buffer of its own, through three getters V8 does not inline (see isSharedRun).
    const last = this.runChunk ?? Buffer.from(this.runBuffer, this.runStart, this.runEnd - this.runStart);
    const held = this.held;
    const total = this.heldBytes;
    this.held = null;
    this.runBuffer = null;
    this.runChunk = null;
    // The stream may keep what it is given until written: the copy buffer is never written into again.
    this.copyBuffer = null;
    this.heldBytes = 0;
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) {
      if (held !== null) dropChunks(held);
      releaseMaskMemory(last);
      // Its senders stay waiting, and are told at the end that their bytes never left.
      this.batchWaiter = null;
    } else {
      this.written += total;
      if (this.batchWaiter !== null) {
        this.batchWaiter.upTo = this.written;
        this.batchWaiter = null;
      }
      if (held === null) {
        writeChunk(stream, last);
      } else if (total <= JOIN_BYTES) {
        // Several small runs (frames prepared once for many connections, a header and a small
        // payload): one copy into one buffer costs less than a writev of many small chunks, each
        // wrapped and tracked by the stream. Every byte of the buffer is written below.
        const joined = Buffer.allocUnsafe(total);
        let at = 0;
        for (const chunk of held) {
          joined.set(chunk, at);
          at += chunk.length;
        }
        joined.set(last, at);
        stream.write(joined);
        // Copied: blocks of masking memory among them are free again.
        dropChunks(held);
        releaseMaskMemory(last);
      } else {
        stream.cork();
        for (const chunk of held) writeChunk(stream, chunk);
        writeChunk(stream, last);
        stream.uncork();
      }
      this.afterWriting();
    }
  }

  /** Ends the stream after writing whatever a batch still holds (a close reply must precede the FIN). */
  protected endStream(): void {
    this.flushHeld();
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
  }

  /** @internal The core's output (ConnectionHandler.output): held in the open batch, or written now. */
  output(chunks: Uint8Array[]): void {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return dropChunks(chunks);
    if (this.batchDepth !== 0) {
      if (chunks === preparedChunks && preparedChunk !== null) this.hold(preparedChunk); // issue 24: a publish's one chunk, read once per publish
      else for (let i = 0; i < chunks.length; i++) this.hold(chunks[i]!);
      if (this.heldBytes >= BATCH_FLUSH_BYTES) this.flushHeld();
      return;
    }
    if (chunks.length === 1) {
      this.written += chunks[0]!.length;
      writeChunk(stream, chunks[0]!);
    } else {
      stream.cork();
      for (const chunk of chunks) {
        this.written += chunk.length;
        writeChunk(stream, chunk);
      }
      stream.uncork();
    }
    this.afterWriting();
  }

  /**
   * @internal The core's small frames (ConnectionHandler.outputRange): bytes of its slab. The next
   * frame of a batch, cut right after the one before, extends the run with no view made (issue 24:
   * a view per reply was most of what the send path allocated); anything else is held as a chunk.
   */
  outputRange(buffer: ArrayBufferLike, start: number, end: number): void {
    if (this.batchDepth !== 0 && (this.runBuffer === null || (this.runBuffer === buffer && this.runEnd === start)) && !this.stream.destroyed && !this.stream.writableEnded) {
      if (this.runBuffer === null) {
        // The batch's first output (nothing is held without a run): the run starts as these
        // bytes, and flushHeld makes the one Buffer written. A view and an array per batch less,
        // and no `buffer`/`byteOffset` getter (see isSharedRun): a reply per read (latency) paid them all.
        this.runBuffer = buffer;
        this.runStart = start;
        this.copyBuffer = null;
      }
      this.heldBytes += end - start;
      this.runEnd = end;
      this.runChunk = null;
      if (this.heldBytes >= BATCH_FLUSH_BYTES) this.flushHeld();
      return;
    }
    this.output([new Uint8Array(buffer, start, end - start)]);
  }

  /**
   * Appends a chunk to the held output: it extends the current run when it follows it in memory;
   * a small one is copied into the batch's copy buffer (see COPY_BYTES), with the run before it
   * when that is one small chunk too; anything else closes the run and starts the next one.
   */
  private hold(chunk: Uint8Array): void {
    // `length`, not `byteLength` (the same for a Uint8Array): V8 inlines only the first (see isSharedRun).
    const length = chunk.length;
    if (length === 0) return;
    this.heldBytes += length;
    if (followsRun(chunk, this.runBuffer, this.runEnd)) {
      this.runEnd += length;
      this.runChunk = null;
      return;
    }
    const lone = this.runChunk;
    if (chunk === preparedChunk && lone !== null && lone.length + length <= SHARED_JOIN_BYTES && !isMaskMemory(lone)) {
      // issue 24: a publish after a publish, one joined Buffer shared by the subscribers (see SHARED_JOIN_BYTES).
      this.startRun(sharedJoin(lone, chunk)); // replaces the run `lone`, which it holds
      return;
    }
    // Masking memory is not copied: its blocks go back to their pool once written (writeChunk).
    if (length <= COPY_BYTES && !isMaskMemory(chunk)) {
      const copy = this.copyBuffer;
      if (copy !== null && this.runBuffer === copy.buffer && this.runEnd <= this.copyLimit) {
        const used = this.runEnd - copy.byteOffset;
        if (this.runEnd + length <= this.copyLimit) {
          copy.set(chunk, used);
          this.runEnd += length;
          return;
        }
        if (copy.length < COPY_LARGEST) {
          // Full: the run moves to a buffer twice the size (copied bytes at most double).
          const grown = Buffer.allocUnsafe(Math.min(copy.length * 2, COPY_LARGEST));
          copy.copy(grown, 0, 0, used);
          grown.set(chunk, used);
          this.startCopyRun(grown, used + length);
          return;
        }
      }
      // The first chunk of a batch starts a run as it is: what follows may be next to it in memory
      // (a connection's frames cut one after another from its slab), and then nothing is copied.
      if (lone !== null && lone.length <= COPY_BYTES && !isMaskMemory(lone)) {
        const at = lone.length;
        const fresh = Buffer.allocUnsafe(at + length <= COPY_FIRST ? COPY_FIRST : COPY_LARGEST);
        fresh.set(lone, 0);
        fresh.set(chunk, at);
        this.startCopyRun(fresh, at + length);
        return;
      }
    }
    if (this.runBuffer !== null) (this.held ??= []).push(this.runChunk ?? new Uint8Array(this.runBuffer, this.runStart, this.runEnd - this.runStart));
    this.startRun(chunk);
  }

  /** The current run becomes `chunk` as it is (later chunks that follow it in memory extend it). */
  private startRun(chunk: Uint8Array): void {
    this.copyBuffer = null;
    this.runChunk = chunk;
    if (isSharedRun(chunk)) {
      // issue 24, publish: not the chunk's own ArrayBuffer, and no offsets (see PREPARED_RUN).
      this.runBuffer = PREPARED_RUN;
      this.runStart = this.runEnd = 0;
      return;
    }
    this.runBuffer = chunk.buffer;
    this.runStart = chunk.byteOffset;
    this.runEnd = this.runStart + chunk.length;
  }

  /** The current run becomes the first `used` bytes of `copy`, the batch's copy buffer from now on. */
  private startCopyRun(copy: Buffer, used: number): void {
    this.copyBuffer = copy;
    this.copyLimit = copy.byteOffset + copy.length;
    this.runBuffer = copy.buffer;
    this.runStart = copy.byteOffset;
    this.runEnd = copy.byteOffset + used;
    this.runChunk = null;
  }

  /** The transport ended: senders whose bytes the operating system took are done, the others' may never have left. */
  protected rejectWaiters(): void {
    this.settleWritten();
    const waiters = this.writeWaiters;
    this.writeWaiters = null;
    for (const waiter of waiters ?? []) rejectWaiter(waiter, this.closedError());
  }
}
