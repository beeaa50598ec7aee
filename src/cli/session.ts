/**
 * One server-side connection as `hybi serve` sees it: who it is (address, path, subprotocol),
 * what went through it (messages and bytes each way) and how it ended, so that the server can log
 * one line when it opens and one when it closes.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from '../index.js';
import { describeClose, payloadOf } from './output.js';
import { formatDuration } from './units.js';

/** Bytes that may wait for a fan-out client to read them before it is dropped (1008). */
const SLOW_CLIENT_LIMIT = 4 * 1024 * 1024;

/** A received message, normalised: `text` for text messages, `bytes` for binary ones. */
export interface Incoming {
  text?: string;
  bytes?: Uint8Array;
}

/** What a connection carried and how it ended, for the closing log line. */
interface SessionSummary {
  code: number;
  reason: string;
  durationMs: number;
}

/** Where the connection came from: "127.0.0.1:51234", "[::1]:51234". */
export function remoteAddressOf(req: IncomingMessage): string {
  const { remoteAddress, remotePort } = req.socket;
  if (!remoteAddress) return 'unknown';
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}

/** The path of the request target, without the query (which may carry tokens not meant for logs). */
export function pathOf(req: IncomingMessage): string {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** A connection with its counters. Every send by the server goes through `send` so it is counted. */
export class Session {
  readonly opened = Date.now();
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  /** Resolves once, when the connection has closed, with the close code and reason. */
  readonly ended: Promise<SessionSummary>;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    readonly address: string,
    readonly path: string,
  ) {
    // An 'error' event without a listener would throw; the close that follows it is what we log.
    ws.on('error', () => {});
    this.ended = new Promise((resolve) => {
      ws.once('close', (code: number, reason: unknown) => {
        resolve({ code, reason: typeof reason === 'string' ? reason : String(reason ?? ''), durationMs: Date.now() - this.opened });
      });
    });
  }

  /** The subprotocol agreed on, or '-' for none (so log fields never go missing). */
  get protocol(): string {
    return this.ws.protocol || '-';
  }

  /**
   * Takes the messages as events (for modes that answer at once). Each message goes to one
   * consumer in hybi, so a session uses either this or `messages()`, and only once.
   */
  onMessage(handler: (message: Incoming) => void): void {
    this.ws.on('message', (data: unknown, isBinary: boolean) => handler(this.#count(payloadOf(data, isBinary))));
  }

  /**
   * Takes the messages by iteration (for modes that must wait before taking the next one): while
   * the loop body is busy, hybi stops reading the socket, so TCP slows the client down instead of
   * a queue growing. Ends when the connection closes, however it closes.
   */
  async *messages(): AsyncGenerator<Incoming> {
    try {
      for await (const m of this.ws) yield this.#count(m.type === 'text' ? { text: m.data } : { bytes: m.data });
    } catch {
      // An abnormal ending: the 'close' event has the code, and that is what gets logged.
    }
  }

  #count(message: Incoming): Incoming {
    this.messagesIn++;
    this.bytesIn += message.text !== undefined ? Buffer.byteLength(message.text) : message.bytes!.byteLength;
    return message;
  }

  /**
   * Sends and counts what was sent; a send that fails because the connection ended is not an
   * error here. Tried also while the connection is closing: a reply to a message read before the
   * client's close still goes out (hybi holds its answer to the close for it).
   */
  send(data: string | Uint8Array): Promise<void> {
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    return this.ws.send(data).then(
      () => {
        this.messagesOut++;
        this.bytesOut += size;
      },
      () => {},
    );
  }

  /**
   * Sends without waiting, for fan-out (broadcast, the chat room), where one slow reader must not
   * hold up the others: a client with more than SLOW_CLIENT_LIMIT bytes not yet taken off the
   * socket is closed with 1008 instead of being queued for without bound.
   */
  sendOrShed(data: string | Uint8Array): void {
    if (this.ws.readyState !== 'open') return;
    if (this.ws.bufferedAmount > SLOW_CLIENT_LIMIT) {
      this.ws.close(1008, 'too slow to keep up').catch(() => {});
      return;
    }
    void this.send(data);
  }

  /** "#3 open addr=127.0.0.1:51234 path=/chat protocol=chat" */
  openLine(): string {
    return `#${this.id} open addr=${this.address} path=${this.path} protocol=${this.protocol}`;
  }

  /** "#3 close addr=... code=1000 (normal closure) duration=1.2s in=2msg/10B out=2msg/10B" */
  closeLine(summary: SessionSummary): string {
    return (
      `#${this.id} close addr=${this.address} path=${this.path} protocol=${this.protocol} ` +
      `code=${describeClose(summary.code, summary.reason)} duration=${formatDuration(summary.durationMs)} ` +
      `in=${this.messagesIn}msg/${this.bytesIn}B out=${this.messagesOut}msg/${this.bytesOut}B`
    );
  }
}
