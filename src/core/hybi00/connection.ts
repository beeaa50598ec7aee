/**
 * The sans-I/O hybi-00 (draft-hixie-76) connection: a sibling of the RFC 6455 `Connection` with
 * the same public surface, so that the Node driver and the api `WebSocket` drive either one
 * unchanged. Bytes in (`receive`), callbacks out (the same `ConnectionHandler`), bytes out.
 *
 * What hybi-00 cannot carry fails with NotSupportedByVersionError when asked for (binary
 * messages, fragments, pings and pongs); a close code and reason are accepted and not sent (the
 * closing frame has no room for them), and the peer's close is reported with 1005, "no status".
 * Bad input (invalid UTF-8, a frame over maxMessageSize) fails the connection as the RFC 6455
 * core does, with the closing frame instead of a close code on the wire.
 */
import { encodeClosePayload } from '../close.js';
import type { CloseResult, CloseState } from '../close-state.js';
import type { Connection, ConnectionHandler, ConnectionOptions, ReadyState, Role } from '../connection.js';
import type { PreparedFrame } from '../prepared-frame.js';
import { type ConnectionFailure, ConnectionNotOpenError, InvalidArgumentError, NotSupportedByVersionError, ProtocolError } from '../errors.js';
import { resolveCoreLimits } from '../limits.js';
import { encodeCloseFrame, encodeTextFrame, Hybi00Parser, SENTINEL } from './framing.js';
import { HYBI00_VERSION } from './handshake.js';
import { CloseCode } from '../close-code.js';

/**
 * Every public member of the RFC 6455 Connection but its frame parser's callbacks (onHeader,
 * onPayload, onError, takesWholeFrame, onWholeFrame, which only its own FrameParser calls): what a
 * driver may use of either.
 */
export type CoreConnection = Omit<{ [K in keyof Connection]: Connection[K] }, 'onHeader' | 'onPayload' | 'onError' | 'takesWholeFrame' | 'onWholeFrame'>;

/** The code reported for a close that carried none (RFC 6455 section 7.1.5's 1005). */
const NO_STATUS = CloseCode.NoStatusReceived;

function unsupported(feature: string, what: string): NotSupportedByVersionError {
  return new NotSupportedByVersionError(HYBI00_VERSION, feature, `${what}: a hybi-00 (draft-hixie-76) connection cannot carry it`);
}

/** The hybi-00 connection state machine; see the file comment. */
export class Hybi00Connection implements CoreConnection {
  readonly role: Role;
  private readonly handler: ConnectionHandler;
  private readonly parser: Hybi00Parser;
  private readonly allocate: (size: number, output: boolean) => Uint8Array;
  private state: ReadyState = 'open';
  private closeSent = false;
  private replyHeld = false;
  private failed = false;
  private streaming = false;
  /** The pieces of the text message being gathered (message mode); null outside one. */
  private pieces: Uint8Array[] | null = null;
  private gathered = 0;
  /** Whether the message being received is streamed (decided at its first piece). */
  private msgStreamed = false;
  /** Input kept while held (holdInput), in order; null while not held or empty. */
  private held: Uint8Array[] | null = null;
  private heldBytes = 0;
  private inputHeld = false;
  /** The peer's closing frame arrived. */
  private peerClosed = false;
  /** The transport ended (transportClosed). */
  private ended = false;
  /** What we failed the connection with, or what ended the transport; for closeResult. */
  private failure: ConnectionFailure | null = null;
  private transportError: Error | null = null;

  constructor(options: ConnectionOptions, handler: ConnectionHandler) {
    if (options.role !== 'client' && options.role !== 'server') {
      throw new InvalidArgumentError(`role must be 'client' or 'server', got ${String(options.role)}`);
    }
    if (options.extensions !== undefined && options.extensions.length > 0) throw unsupported('extensions', 'extensions');
    this.role = options.role;
    this.handler = handler;
    this.allocate = options.allocate ?? ((size) => new Uint8Array(size));
    const limits = resolveCoreLimits(options);
    this.parser = new Hybi00Parser(
      {
        onText: (data, first, fin) => this.onText(data, first, fin),
        onClose: () => this.onPeerClose(),
        onError: (error) => this.fail(error),
      },
      { maxMessageSize: limits.maxMessageSize },
    );
  }

  get readyState(): ReadyState {
    return this.state;
  }

  /** Who closed and how far the closing got, as the RFC 6455 core names it (CloseState). */
  get closeState(): CloseState {
    if (this.ended) return this.cleanlyClosed() ? 'closed' : 'terminated';
    if (this.failed) return 'failed';
    if (this.replyHeld) return 'closing-by-peer';
    if (this.state === 'closed') return 'closed';
    return this.closeSent ? 'closing-by-us' : 'open';
  }

  /** True while the transport is expected to end soon: a closing frame went either way, or we failed, and it has not ended. */
  closeExpected(): boolean {
    return !this.ended && (this.closeSent || this.peerClosed || this.failed);
  }

  /** How the connection ended; null while open or closing. The draft's close carries no status: a clean one reads 1005. */
  get closeResult(): CloseResult | null {
    if (this.failure !== null) return { code: this.failure.closeCode, reason: this.failure.message, wasClean: false, error: this.failure };
    if (this.cleanlyClosed()) return { code: NO_STATUS, reason: '', wasClean: true, error: null };
    if (this.ended) return { code: CloseCode.AbnormalClosure, reason: '', wasClean: false, error: this.transportError };
    return null;
  }

  private cleanlyClosed(): boolean {
    return !this.failed && this.closeSent && this.peerClosed;
  }

  get closed(): boolean {
    return this.state === 'closed' || this.failed;
  }

  get closeReplyPending(): boolean {
    return this.replyHeld;
  }

  get canSendData(): boolean {
    return !this.closeSent && !this.failed && this.state !== 'closed';
  }

  /** Always false: hybi-00 has no extensions, so nothing is ever transformed. */
  get awaitingTransform(): boolean {
    return false;
  }

  get streamingEnabled(): boolean {
    return this.streaming;
  }

  get bufferedInput(): number {
    return this.heldBytes;
  }

  /**
   * Always false. Held input is kept unparsed, and whether a 0xFF in it ends a text frame or
   * starts the closing frame depends on everything before it; a driver's read-ahead bound still
   * caps what is kept.
   */
  get closeHeld(): boolean {
    return false;
  }

  get receiving(): boolean {
    if (this.failed || this.state === 'closed') return false;
    return this.parser.midFrame;
  }

  holdInput(): void {
    this.inputHeld = true;
  }

  releaseInput(): void {
    if (!this.inputHeld) return;
    this.inputHeld = false;
    const held = this.held;
    this.held = null;
    this.heldBytes = 0;
    if (held === null) return;
    for (let i = 0; i < held.length; i++) {
      this.receive(held[i]!);
      // Held again by a callback: the rest waits, in order.
      if (this.inputHeld) {
        for (let j = i + 1; j < held.length; j++) this.keep(held[j]!);
        return;
      }
    }
  }

  /** Null: messages are small and gathered from views of the received chunks. */
  receiveTarget(_minimum: number): Uint8Array | null {
    return null;
  }

  failConnection(error: ConnectionFailure): void {
    this.fail(error);
  }

  receive(chunk: Uint8Array): void {
    if (this.inputHeld) {
      this.keep(chunk);
      return;
    }
    try {
      this.parser.push(chunk);
    } catch (cause) {
      const error = new ProtocolError(`internal error: ${cause instanceof Error ? cause.message : String(cause)}`, CloseCode.InternalError);
      (error as { cause?: unknown }).cause = cause;
      this.fail(error);
    }
  }

  private keep(chunk: Uint8Array): void {
    (this.held ??= []).push(chunk);
    this.heldBytes += chunk.length;
  }

  setStreaming(enabled: boolean): void {
    this.streaming = enabled;
  }

  /** Never called: hybi-00 has no extensions. */
  finishTransform(_data: Uint8Array): void {
    throw unsupported('extensions', 'extensions');
  }

  /** Never called: hybi-00 has no extensions. */
  failTransform(error: ConnectionFailure): void {
    this.fail(error);
  }

  private onText(data: Uint8Array, first: boolean, fin: boolean): void {
    if (this.failed || this.state === 'closed') return;
    if (first) this.msgStreamed = this.streaming && this.handler.fragment !== undefined;
    if (this.msgStreamed) {
      this.handler.fragment!(data, true, first, fin);
      return;
    }
    if (!fin) {
      (this.pieces ??= []).push(data);
      this.gathered += data.length;
      return;
    }
    const pieces = this.pieces;
    this.pieces = null;
    let message = data;
    if (pieces !== null) {
      message = this.allocate(this.gathered + data.length, false);
      let at = 0;
      for (const piece of pieces) {
        message.set(piece, at);
        at += piece.length;
      }
      message.set(data, at);
    }
    this.gathered = 0;
    this.handler.message(message, true);
  }

  private onPeerClose(): void {
    if (this.failed || this.state === 'closed') return;
    this.peerClosed = true;
    this.pieces = null;
    if (this.closeSent) {
      this.state = 'closed';
    } else if (this.handler.holdCloseReply?.() === true) {
      this.state = 'closing';
      this.replyHeld = true;
    } else {
      this.closeSent = true;
      this.state = 'closed';
      this.handler.output([encodeCloseFrame()]);
    }
    this.handler.close(NO_STATUS, '');
  }

  private fail(error: ConnectionFailure): void {
    if (this.failed || this.state === 'closed') return;
    this.failed = true;
    this.failure = error;
    this.parser.stop();
    this.pieces = null;
    this.held = null;
    this.heldBytes = 0;
    this.replyHeld = false;
    this.state = 'closing';
    try {
      // The draft has no way to say why: the closing frame is all the peer gets.
      if (!this.closeSent) {
        this.closeSent = true;
        this.handler.output([encodeCloseFrame()]);
      }
    } finally {
      this.handler.protocolError(error);
    }
  }

  private checkOpen(): void {
    if (!this.canSendData) throw new ConnectionNotOpenError(this.state);
  }

  /**
   * Sends one text message (UTF-8 bytes). Binary, an extension's RSV bits, or a fragmentSize
   * smaller than the message throw NotSupportedByVersionError; ConnectionNotOpenError unless open.
   */
  sendMessage(data: Uint8Array, isText: boolean, options?: { rsv?: number; fragmentSize?: number }): void {
    if (!isText) throw unsupported('binary', 'a binary message');
    if ((options?.rsv ?? 0) !== 0) throw unsupported('extensions', 'an extension-transformed message');
    if (options?.fragmentSize !== undefined && data.length > options.fragmentSize) throw unsupported('fragments', 'a message sent in fragments');
    this.checkOpen();
    // 0xFF would end the frame early; valid UTF-8 never holds it.
    if (data.indexOf(SENTINEL) >= 0) throw new InvalidArgumentError('text sent on a hybi-00 connection must be valid UTF-8');
    this.handler.output([encodeTextFrame(data, (size) => this.allocate(size, false))]);
  }

  /**
   * Throws NotSupportedByVersionError: a prepared frame (topics, broadcast) is RFC 6455 framing;
   * broadcast sends hybi-00 clients their text through sendMessage instead.
   */
  sendPrepared(_frame: PreparedFrame): void {
    throw unsupported('topics', 'a frame prepared once for many RFC 6455 connections (publish)');
  }

  /** Throws NotSupportedByVersionError: hybi-00 messages are never fragmented. */
  sendFrame(_data: Uint8Array, _isText: boolean, _first: boolean, _fin: boolean, _rsv = 0): void {
    throw unsupported('fragments', 'a message sent in fragments');
  }

  /** Throws NotSupportedByVersionError: hybi-00 has no ping frame. */
  ping(_payload?: Uint8Array): void {
    throw unsupported('ping', 'a ping');
  }

  /** Throws NotSupportedByVersionError: hybi-00 has no pong frame. */
  pong(_payload?: Uint8Array): void {
    throw unsupported('pong', 'a pong');
  }

  /** perf-mem2 (issue 24): nothing to let go of (see Connection.releaseSendMemory); hybi-00 frames keep no slab. */
  releaseSendMemory(): void {}

  /**
   * Starts the closing handshake with the closing frame. The code and reason are validated as
   * RFC 6455's (so code that works on either version is checked the same way) and not sent.
   */
  close(code?: number, reason?: string): void {
    encodeClosePayload(code, reason);
    if (this.closeSent || this.state === 'closed') return;
    this.closeSent = true;
    this.state = this.replyHeld ? 'closed' : 'closing';
    this.replyHeld = false;
    this.handler.output([encodeCloseFrame()]);
  }

  replyToClose(): void {
    if (!this.replyHeld || this.closeSent) return;
    this.replyHeld = false;
    this.closeSent = true;
    this.state = 'closed';
    this.handler.output([encodeCloseFrame()]);
  }

  transportClosed(error: Error | null = null): void {
    if (!this.ended) this.transportError = error;
    this.ended = true;
    this.state = 'closed';
    this.replyHeld = false;
    this.pieces = null;
    this.held = null;
    this.heldBytes = 0;
    this.parser.stop();
  }
}
