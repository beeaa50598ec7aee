/**
 * What a connection holds, below the rules that change it: its frame parser, message assembler and
 * frame writer, each made when first needed and let go of when the connection goes quiet (issue
 * 24, idle memory); its close state and how it ended; its booleans as bits of one field; and the
 * read-only views of all these that the owner asks for (readyState, closeResult, receiving, ...).
 * `FrameSequence` builds the frame-sequence rules on this layer, `Connection` the owner's calls.
 */
import { CLOSED_ENDED, CLOSING_BY_PEER, CLOSING_BY_US, closeResultOf, closeStateName, FAILED, OPEN, readyStateOf, type CloseResult, type CloseState, type Ending } from './close-state.js';
import type { ConnectionHandler, ReadyState, Role } from './connection.js';
import type { FrameParser } from './frame-parser.js';
import type { FrameWriter } from './frame-writer.js';
import { BUFFER, type MessageAssembler, NO_MESSAGE, TRANSFORM } from './message-assembler.js';

/** The bits of SequenceState.bits (FrameSequence's and Connection's), issue 24, idle memory. */
export const SequenceBit = {
  /** A transform is outstanding. */
  Transforming: 1,
  /** Parsing is held by holdInput. */
  InputHeld: 2,
  /** The next message starts in streaming mode. */
  Streaming: 4,
  /** Connection: a message sent piece by piece with sendFrame is open. */
  SendingFragmented: 8,
} as const;

/** The state of one connection and its parts, made on demand (see the file's header). */
export abstract class SequenceState {
  protected readonly handler: ConnectionHandler;
  // issue 24, idle memory: the parser is made when the first byte arrives (makeParser), and let go
  // of again at a keep-alive ping while it rests between frames (releaseSendMemory): a quiet
  // connection holds none (184 bytes).
  protected parserPart: FrameParser | null = null;
  // perf-mem (issue 24): the assembler and the writer are made on first use (makeAssembler,
  // makeWriter): an idle connection needs neither, and the two were 264 bytes of heap.
  protected assemblerPart: MessageAssembler | null = null;
  private writerPart: FrameWriter | null = null;

  /**
   * issue 24, idle memory: the connection's booleans, one bit each (the SequenceBit constants):
   * one field instead of four. The accessors below keep their names.
   */
  protected bits = 0;
  /** The close state: one of the constants of close-state.ts. */
  protected state = OPEN;
  /** What ended the connection (see Ending): one field, set when the state leaves the open ones. */
  protected ending: Ending | null = null;

  protected get transforming(): boolean {
    return (this.bits & SequenceBit.Transforming) !== 0;
  }

  protected set transforming(on: boolean) {
    this.bits = on ? this.bits | SequenceBit.Transforming : this.bits & ~SequenceBit.Transforming;
  }

  /** Parsing held by `holdInput` (independent of a transform's pause). */
  protected get inputHeld(): boolean {
    return (this.bits & SequenceBit.InputHeld) !== 0;
  }

  protected set inputHeld(on: boolean) {
    this.bits = on ? this.bits | SequenceBit.InputHeld : this.bits & ~SequenceBit.InputHeld;
  }

  /** Mode for the next message to start (setStreaming). */
  protected get streaming(): boolean {
    return (this.bits & SequenceBit.Streaming) !== 0;
  }

  protected set streaming(on: boolean) {
    this.bits = on ? this.bits | SequenceBit.Streaming : this.bits & ~SequenceBit.Streaming;
  }

  constructor(handler: ConnectionHandler) {
    this.handler = handler;
  }

  /** The connection's frame parser, made on first use (see parserPart). */
  protected get parser(): FrameParser {
    return (this.parserPart ??= this.makeParser());
  }

  // perf-mem (issue 24): the lazy parts (see assemblerPart).
  protected get assembler(): MessageAssembler {
    return (this.assemblerPart ??= this.makeAssembler());
  }

  protected get writer(): FrameWriter {
    return (this.writerPart ??= this.makeWriter());
  }

  /**
   * Makes the connection's frame parser, when the first byte arrives (again after a release). The
   * frame limit depends on how the frame's message is received (see onHeader), which the parser
   * does not know: it checks only the lengths no frame may have.
   */
  protected abstract makeParser(): FrameParser;
  /** Whether pings are answered (the shared settings' autoPong). */
  protected abstract get autoPong(): boolean;
  /** Makes the connection's message assembler, once, when a data frame first arrives. */
  protected abstract makeAssembler(): MessageAssembler;
  /** Makes the connection's frame writer, once, when a data frame is first sent. */
  protected abstract makeWriter(): FrameWriter;
  /** perf-mem2 (issue 24): one control frame in an array of its own (see frame-writer.ts, controlFrame). */
  protected abstract makeControlFrame(opcode: number, payload: Uint8Array): Uint8Array;
  /** Which end of the connection this is. */
  abstract get role(): Role;

  /**
   * perf-mem2 (issue 24): lets go of what only sending data needs, the frame writer and its output
   * slab (1 KiB and up, kept for the life of the connection otherwise); the next data frame makes
   * them again. idle memory: also the frame parser, if it rests between frames; the next byte read
   * makes it again. For an owner whose connection has gone quiet (the Node driver: at each keep-alive
   * ping). Safe at any time: the writer keeps no state between frames, and the chunks it handed
   * out stay valid, because a region of the slab is never written again once handed out and the
   * memory lives as long as a pending write still references it.
   */
  releaseSendMemory(): void {
    this.writerPart = null;
    // issue 24, idle memory: the parser too, when it rests between frames with nothing kept
    // (neither paused nor stopped): a new one is in the same state.
    if (this.parserPart?.atRest === true) this.parserPart = null;
  }

  /** 'open' from creation; 'closing' once a close frame was sent (or the peer failed, or the peer's close awaits our held answer); 'closed' once both sides closed or the transport ended. */
  get readyState(): ReadyState {
    return readyStateOf(this.state);
  }

  /** Who closed and how far the closing got (see CloseState). */
  get closeState(): CloseState {
    return closeStateName(this.state);
  }

  /**
   * True while the transport is expected to end soon: a close frame was sent or received, or the
   * connection failed, and the transport has not ended yet. A driver that sees it bounds how long
   * it waits for the peer to end the transport (its close timeout) before ending it itself.
   */
  closeExpected(): boolean {
    const state = this.state;
    return state !== OPEN && state < CLOSED_ENDED;
  }

  /** How the connection ended (see CloseResult); null while it is open or closing. */
  get closeResult(): CloseResult | null {
    const state = this.state;
    if (state < FAILED) return null;
    return closeResultOf(state, this.ending);
  }

  /**
   * True once the core will produce no more output of its own and the transport may be ended:
   * the closing handshake is done, the transport ended, or the connection was failed (section
   * 7.1.7: after failing, the endpoint closes the transport rather than waiting for the peer).
   */
  get closed(): boolean {
    return this.state >= FAILED;
  }

  /**
   * True while the peer's close frame has arrived and our answer is held (holdCloseReply): data
   * may still be sent until `replyToClose` or `close` sends it.
   */
  get closeReplyPending(): boolean {
    return this.state === CLOSING_BY_PEER;
  }

  /** True while data frames may be sent: the state is 'open', or the answer to the peer's close is held. */
  get canSendData(): boolean {
    return this.state < CLOSING_BY_US;
  }

  /** True while a transform is outstanding: the driver may stop reading the socket meanwhile. */
  get awaitingTransform(): boolean {
    return this.transforming;
  }

  /** Bytes received but not parsed yet because a transform is outstanding or input is held. */
  get bufferedInput(): number {
    return this.parserPart?.bufferedAmount ?? 0;
  }

  /**
   * True while parsing is held (holdInput, or a transform) and the input kept meanwhile holds a
   * close frame from the peer (not parsed yet: nothing before it has been processed). A driver that
   * holds input for a consumer that may never come back bounds the wait with it.
   */
  get closeHeld(): boolean {
    return this.state < FAILED && this.parserPart !== null && this.parserPart.closeQueued;
  }

  /**
   * True while the peer is in the middle of something the core holds memory for: a message
   * gathered whole (message or transform mode) has started and not ended, or a frame is partly
   * read (outside a streamed message, whose memory its consumer bounds). A driver bounds how
   * long this may last (a peer that dribbles a message a byte at a time).
   */
  get receiving(): boolean {
    if (this.state >= FAILED) return false;
    const mode = this.assemblerPart?.mode ?? NO_MESSAGE; // perf-mem: no assembler yet, no message
    if (mode === BUFFER || mode === TRANSFORM) return true;
    return mode === NO_MESSAGE && this.parserPart !== null && this.parserPart.midFrame;
  }
}
