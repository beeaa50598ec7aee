/**
 * The frame-sequence rules of RFC 6455, and the close state they drive: which frame may follow
 * which (continuations only inside a fragmented message, no new message inside one, control
 * frames anywhere between fragments, nothing after the peer's close), pings and their pongs, the
 * closing handshake, failing the connection, and the pause around an extension's transform.
 *
 * `FrameParser` has checked what a header alone can tell (opcodes, RSV bits, masking, control
 * frame rules) before a frame reaches these rules; the message a data frame belongs to is the
 * `MessageAssembler`'s, the frames we write are the `FrameWriter`'s. What the connection holds (its
 * parts, close state and bits, and the views of them) is the layer below, `SequenceState`;
 * `Connection` builds on this class and adds the calls of its owner (sending, closing, streaming,
 * receive targets).
 */
import { checkClosePayload, encodeClosePayload, isValidCloseCode } from './close.js';
import { CLOSED, CLOSED_ENDED, CLOSING_BY_PEER, CLOSING_BY_US, FAILED, OPEN, TERMINATED } from './close-state.js';
import type { ConnectionHandler } from './connection.js';
import { type ConnectionFailure, InvalidArgumentError, ProtocolError } from './errors.js';
import { violation } from './failure-errors.js';
import { failureReason, Failures } from './failures.js';
import type { FrameParserListener } from './frame-parser.js';
import { controlFrameSize } from './frame-writer.js';
import { MAX_CLOSE_REASON } from './limits.js';
import { SequenceState } from './sequence-state.js';
import { BUFFER, frameTooLarge, messageTooLarge, NO_MESSAGE, STREAM, TRANSFORM } from './message-assembler.js';
import { Opcode } from './opcode.js';

const EMPTY = new Uint8Array(0);

/**
 * Bytes of pong frames one `receive` call (a read) may write one ping at a time; pings past it in
 * the same read are answered by one pong for the latest, at the end of the read (RFC 6455 section
 * 5.5.3 allows answering only the most recent ping). 1 KiB answers a burst of pings one by one, as
 * peers and conformance suites expect (Autobahn case 2.10 sends ten pings in one write and wants
 * ten pongs), while a read full of a flood's pings (64 KiB: some 500 pings of 125 bytes) still
 * costs at most 1 KiB of pongs plus one (nine pongs there), so the write buffer of a peer that
 * pings without reading grows at most about 1/50 as fast as it sends.
 */
export const AUTO_PONG_BUDGET = 1024;

/** A close reason from an error message (ASCII): cut to the 123 bytes a close frame allows (section 5.5.1). */
function closeReason(message: string): string {
  return message.length <= MAX_CLOSE_REASON ? message : message.slice(0, MAX_CLOSE_REASON);
}

function invalidUtf8(): ProtocolError {
  // Section 8.1: text that is not valid UTF-8 MUST fail the connection; section 7.4.1: 1007.
  return violation(Failures.invalidUtf8, 'text message is not valid UTF-8');
}


/**
 * The receive-side rules and the close state of one connection (see the file's header). It is its
 * parser's listener itself: no forwarding object between the two.
 */
export abstract class FrameSequence extends SequenceState implements FrameParserListener {
  /** The answer to the peer's close frame, while it is held (see ConnectionHandler.holdCloseReply). */
  private closeReply: Uint8Array | null = null;
  /** The opcode of the frame being received. */
  private frameOpcode = 0;

  // Pong coalescing (section 5.5.3). A turn is one `receive` (or `finishTransform`) call.
  /** Nesting depth of turns: `finishTransform` may be called from inside `receive`. */
  protected turnDepth = 0;
  /** Bytes of pongs written one by one during the current turn (at most AUTO_PONG_BUDGET). */
  private pongBytes = 0;
  /** The latest ping of the current turn that is still unanswered. */
  private pendingPong: Uint8Array | null = null;

  constructor(handler: ConnectionHandler) {
    super(handler);
  }

  /**
   * Feed bytes read from the transport. The chunk becomes the connection's: it is unmasked in
   * place and parts of it may be delivered as views. Never throws: bad input becomes
   * `handler.protocolError`, and so, as a last resort, does an exception thrown by a handler
   * callback (close code 1011, the exception as `cause`).
   */
  receive(chunk: Uint8Array): void {
    this.turnDepth++;
    try {
      this.parser.push(chunk);
    } catch (cause) {
      this.internalFailure(cause);
    }
    if (--this.turnDepth === 0) this.endTurn();
  }

  /**
   * Stop parsing input after the current callback returns, until `releaseInput`: later input is
   * kept (by reference) and nothing is emitted from it. For a driver whose owner must finish
   * something a delivered message started before the next frame is read, e.g. a reply still being
   * compressed: were the next frame a protocol error or a close, the core would answer it (close
   * frame, state 'closing') before that reply could be sent. Independent of the pause around a
   * transform: parsing resumes only when neither is outstanding. May be called from inside a
   * handler callback. Never throws.
   */
  holdInput(): void {
    if (this.inputHeld) return;
    this.inputHeld = true;
    this.parser.pause();
  }

  /**
   * Lift `holdInput` and parse the input kept meanwhile, now (a turn of its own, as a `receive`
   * call; or right after the current callback, when called from inside one). Never throws: bad
   * input becomes `handler.protocolError`.
   */
  releaseInput(): void {
    if (!this.inputHeld) return;
    this.inputHeld = false;
    if (this.transforming) return;
    this.turnDepth++;
    try {
      this.parser.resume();
    } catch (cause) {
      this.internalFailure(cause);
    }
    if (--this.turnDepth === 0) this.endTurn();
  }

  /**
   * Fail the connection (section 7.1.7) for a reason found outside the core: a bound of the
   * driver's that the peer made it reach (a message that took too long, a peer that does not
   * read what we send). Exactly as for a protocol error: a close frame with `error.closeCode`
   * (unless one was sent), input ignored from now on, memory of a partial message freed, and
   * `handler.protocolError(error)`. Does nothing once failed or closed. Never throws.
   */
  failConnection(error: ConnectionFailure): void {
    try {
      this.fail(error);
    } catch (cause) {
      this.internalFailure(cause);
    }
  }

  /**
   * The end of a turn: answer the latest ping still unanswered (see onControl). Never throws,
   * like the receive path it ends.
   */
  private endTurn(): void {
    this.pongBytes = 0;
    const pending = this.pendingPong;
    if (pending === null) return;
    this.pendingPong = null;
    // Pings read before a close whose answer is held are still answered (only our close ends that duty).
    if (this.state >= CLOSING_BY_US) return;
    try {
      this.writeControl(Opcode.Pong, pending);
    } catch (cause) {
      this.internalFailure(cause);
    }
  }

  /** FrameParserListener.onHeader, for the connection's own parser only: the rules on what may follow what. */
  onHeader(fin: boolean, rsv: number, opcode: number, length: number): void {
    this.frameOpcode = opcode;
    // The field first: the lazy getter is a call V8 does not inline this deep in the parse loop.
    const assembler = this.assemblerPart ?? this.assembler;
    // Control frames may come between the fragments of a message (section 5.4); the parser has
    // already checked their length, FIN and RSV bits.
    if (opcode >= 0x8) {
      if (length > assembler.maxFrameSize) this.fail(frameTooLarge(assembler.maxFrameSize));
      return;
    }
    if (opcode === Opcode.Continuation) {
      // Section 5.4: a continuation frame only continues a fragmented message; without one to
      // continue the endpoint MUST fail the connection (1002, section 7.4.1).
      if (assembler.mode === NO_MESSAGE) return this.fail(violation(Failures.unexpectedContinuation, 'continuation frame without a message to continue'));
    } else {
      // Section 5.4: the fragments of one message MUST NOT be interleaved with another message's,
      // so a text or binary frame inside a fragmented message fails the connection (1002).
      if (assembler.mode !== NO_MESSAGE) return this.fail(violation(Failures.expectedContinuation, 'new data frame inside a fragmented message'));
      assembler.begin(opcode === Opcode.Text, rsv, this.streaming);
    }
    const error = assembler.frameHeader(fin, length);
    if (error !== null) return this.fail(error);
    if (assembler.keepsMasked) this.parserPart!.keepMasked(); // the parser calling this one
  }

  /** FrameParserListener.onPayload, for the connection's own parser only: where a payload piece goes. */
  onPayload(data: Uint8Array, end: boolean, mask: number): void {
    const opcode = this.frameOpcode;
    if (opcode >= 0x8) return this.onControl(opcode, data);
    const assembler = this.assemblerPart!; // made by onHeader
    const mode = assembler.mode;
    const text = assembler.text;
    const last = end && assembler.frameFin;
    if (mode === STREAM) {
      if (text && (!assembler.feedText(data) || (last && !assembler.textComplete()))) return this.fail(invalidUtf8());
      const first = !assembler.started;
      assembler.started = true;
      if (last) assembler.mode = NO_MESSAGE;
      this.handler.fragment!(data, text, first, last);
      return;
    }
    if (last && assembler.isWhole(data, mask)) {
      assembler.mode = NO_MESSAGE;
      if (mode === TRANSFORM) return this.startTransform(data);
      if (text && !assembler.validText(data)) return this.fail(invalidUtf8());
      this.handler.message(data, text);
      return;
    }
    // Section 5.6 / 8.1: text is checked piece by piece as it arrives, so that invalid UTF-8 fails
    // the connection at the first bad fragment rather than at the end of the message.
    if (text && mode === BUFFER && !assembler.feedText(data)) return this.fail(invalidUtf8());
    assembler.append(data, mask, last);
    if (!last) return;
    const message = assembler.take();
    assembler.mode = NO_MESSAGE;
    if (mode === TRANSFORM) return this.startTransform(message);
    if (text && !assembler.textComplete()) return this.fail(invalidUtf8());
    this.handler.message(message, text);
  }

  /**
   * FrameParserListener.takesWholeFrame, for the connection's own parser only: a short whole data
   * frame is a message by itself when no message is in progress, messages are not streamed, and
   * it is within every bound (MessageAssembler.takesWhole). The assembler exists from the first
   * data frame on; before that, frames take the usual path.
   */
  takesWholeFrame(length: number): boolean {
    const assembler = this.assemblerPart;
    return assembler !== null && !this.streaming && assembler.takesWhole(length);
  }

  /** FrameParserListener.onWholeFrame: what onHeader and onPayload would do with such a frame, in one call. */
  onWholeFrame(opcode: number, payload: Uint8Array): void {
    this.frameOpcode = opcode;
    const text = opcode === Opcode.Text;
    if (text && !this.assemblerPart!.validText(payload)) return this.fail(invalidUtf8());
    this.handler.message(payload, text);
  }

  /** FrameParserListener.onError, for the connection's own parser only: the header broke a rule. */
  onError(error: ConnectionFailure): void {
    this.fail(error);
  }

  private onControl(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.Ping) {
      // Section 5.5.2: on a ping an endpoint MUST send a pong with the same application data
      // (section 5.5.3), unless it already sent a close; the option lets an application decline.
      // Section 5.5.3: an endpoint that has not yet answered earlier pings MAY answer only the
      // most recent one. Pings are answered at once while the turn's pongs fit AUTO_PONG_BUDGET;
      // past it, the rest of the turn's pings get one pong, for the latest, at the end of the
      // turn (a later ping never overtakes a pending one, so pongs stay in order). A flood costs
      // a bounded number of pongs per read however many pings the read held.
      if (this.autoPong && this.state === OPEN) {
        const size = controlFrameSize(payload.length, this.role === 'client'); // perf-mem2: no writer made for a pong
        if (this.turnDepth === 0 || (this.pendingPong === null && this.pongBytes + size <= AUTO_PONG_BUDGET)) {
          if (this.turnDepth !== 0) this.pongBytes += size;
          this.writeControl(Opcode.Pong, payload);
        } else {
          this.pendingPong = payload;
        }
      }
      this.handler.ping(payload);
      return;
    }
    if (opcode === Opcode.Pong) {
      this.handler.pong(payload);
      return;
    }
    // Close. Section 5.5.1 / 7.1.5: an optional 2-byte code then UTF-8; a 1-byte body or a code
    // that may not be sent fails with 1002, a reason that is not UTF-8 with 1007.
    const result = checkClosePayload(payload);
    if (result instanceof ProtocolError) return this.fail(result);
    // Section 5.5.1: the peer sends nothing after its close; whatever follows is ignored.
    this.parser.stop();
    this.dropMessage();
    this.ending = { code: result.code, reason: result.reason, error: null };
    if (this.state === OPEN) {
      // Section 5.5.1: an endpoint that receives a close and has not sent one MUST send one in
      // response, typically echoing the status code received (none if there was none). It may
      // first finish sending its data ("after sending all its data"): the owner says whether to.
      const reply = result.code === 1005 ? EMPTY : payload.slice(0, 2);
      if (this.handler.holdCloseReply?.() === true) {
        this.closeReply = reply;
        this.state = CLOSING_BY_PEER;
        this.handler.close(result.code, result.reason);
        return;
      }
      this.state = CLOSED;
      this.writeControl(Opcode.Close, reply);
    } else {
      this.state = CLOSED;
    }
    this.handler.close(result.code, result.reason);
  }

  private startTransform(data: Uint8Array): void {
    this.transforming = true;
    // Stop reading frames until the result is back, so that event order is kept.
    this.parser.pause();
    const assembler = this.assembler;
    this.handler.transformMessage!(data, assembler.text, assembler.rsv);
  }

  /**
   * Hand back the result of `transformMessage`; validates (size: 1009, UTF-8: 1007) and delivers
   * it (as `message`, or as one `fragment` with first and fin true if the message started in
   * streaming mode), then resumes parsing the input received meanwhile. Ignored once the
   * connection failed or closed; InvalidArgumentError if no transform is outstanding.
   */
  finishTransform(data: Uint8Array): void {
    if (!this.transforming) {
      if (this.state >= FAILED) return;
      throw new InvalidArgumentError('finishTransform without an outstanding transform');
    }
    this.transforming = false;
    // Resuming parses the input queued meanwhile: a turn of its own, for pong coalescing.
    this.turnDepth++;
    try {
      this.deliverTransformed(data);
    } finally {
      if (--this.turnDepth === 0) this.endTurn();
    }
  }

  private deliverTransformed(data: Uint8Array): void {
    try {
      const assembler = this.assembler;
      // The limit applies to the transformed message: a small compressed message must not
      // become a large one in memory (section 10.4; RFC 7692 section 8.1 makes the same point).
      if (data.length > assembler.maxMessageSize) return this.fail(messageTooLarge(assembler.maxMessageSize));
      // The assembler's message fields still describe the transformed message: the parser has
      // been paused since it ended, so no other message has begun.
      const isText = assembler.text;
      if (isText && !assembler.validText(data)) return this.fail(invalidUtf8());
      if (assembler.streamed) this.handler.fragment!(data, isText, true, true);
      else this.handler.message(data, isText);
      // Unless the driver held input meanwhile (holdInput, e.g. from the message's listener).
      if (!this.inputHeld) this.parser.resume();
    } catch (cause) {
      this.internalFailure(cause);
    }
  }

  /** The transform failed (e.g. inflation exceeded maxMessageSize): fail the connection with this error. */
  failTransform(error: ConnectionFailure): void {
    if (!this.transforming) {
      if (this.state >= FAILED) return;
      throw new InvalidArgumentError('failTransform without an outstanding transform');
    }
    this.transforming = false;
    this.failConnection(error);
  }

  private dropMessage(): void {
    this.assemblerPart?.drop(); // perf-mem: no assembler yet, nothing to drop
    this.transforming = false;
  }

  /**
   * Fail the WebSocket connection (section 7.1.7): send a close with the error's code unless one
   * was sent, stop reading, report once. Codes that may not go on the wire become 1011.
   */
  protected fail(error: ConnectionFailure): void {
    const state = this.state;
    if (state >= FAILED) return;
    this.state = FAILED;
    this.ending = { code: error.closeCode, reason: error.message, error };
    this.parser.stop();
    this.dropMessage();
    // A held answer to the peer's close is replaced by the close frame of the failure.
    this.closeReply = null;
    try {
      if (state !== CLOSING_BY_US) {
        const code = isValidCloseCode(error.closeCode) ? error.closeCode : Failures.internal.closeCode;
        // The reason is the failure table's: none where the code says it all, the figures where the
        // peer needs them (a peer told only 1009 cannot tell which limit it met).
        const reason = closeReason(failureReason(error.code, code, error.message));
        this.writeControl(Opcode.Close, encodeClosePayload(code, reason));
      }
    } finally {
      // Reported even if the output callback threw: the error is what the driver must act on.
      this.handler.protocolError(error);
    }
  }

  private internalFailure(cause: unknown): void {
    const error = new ProtocolError(`internal error: ${cause instanceof Error ? cause.message : String(cause)}`, Failures.internal.closeCode);
    (error as { cause?: unknown }).cause = cause;
    try {
      this.fail(error);
    } catch {
      // The handler itself keeps throwing: at least make sure no more input is processed.
      if (this.state < FAILED) this.state = FAILED;
      this.parser.stop();
    }
  }

  /**
   * Our close frame goes out (close): the closing handshake starts, or, while the answer to the
   * peer's close is held, it is that answer and the handshake is done. False when a close was
   * sent already or the connection is closed.
   */
  protected sendClose(payload: Uint8Array): boolean {
    const state = this.state;
    if (state >= CLOSING_BY_US) return false;
    this.state = state === CLOSING_BY_PEER ? CLOSED : CLOSING_BY_US;
    this.closeReply = null;
    this.writeControl(Opcode.Close, payload);
    return true;
  }

  /**
   * Send the answer to the peer's close frame held by `holdCloseReply` (echoing its code) and move
   * to 'closed'. Does nothing unless an answer is held.
   */
  replyToClose(): void {
    const reply = this.closeReply;
    if (reply === null || this.state !== CLOSING_BY_PEER) return;
    this.closeReply = null;
    this.state = CLOSED;
    this.writeControl(Opcode.Close, reply);
  }

  /**
   * The transport ended or failed without completing the closing handshake: move to
   * 'terminated' (or stay 'closed' after a clean handshake). `error` is what ended it, if
   * anything did (a transport error, a timeout of the driver's); closeResult reports it.
   */
  transportClosed(error: Error | null = null): void {
    this.state = this.state === CLOSED || this.state === CLOSED_ENDED ? CLOSED_ENDED : TERMINATED;
    this.ending ??= { code: 1006, reason: '', error };
    this.closeReply = null;
    this.pendingPong = null;
    this.parser.stop();
    this.dropMessage();
  }

  protected writeControl(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.Close && this.pendingPong !== null) {
      // Every ping received before our close is answered before it.
      const pending = this.pendingPong;
      this.pendingPong = null;
      this.writeControl(Opcode.Pong, pending);
    }
    // perf-mem2 (issue 24): not through the writer, so an idle connection's pings and pongs make no slab.
    this.handler.output([this.makeControlFrame(opcode, payload)]);
  }
}
