/**
 * What the server, the topics hub, its metrics and the browser-compatible class use of a
 * connection beyond its public API, as one object of functions: WebSocket's static block fills it
 * in (it alone sees the class's private members). Not exported from the package.
 */
import type { PreparedFrame } from '../core/prepared-frame.js';
import type { CloseResult, SocketDriver } from '../node/driver.js';
import type { WebSocket } from './websocket.js';
import type { CloseInfo } from './websocket-types.js';

/** See the file's comment. */
export interface ConnectionInternals {
  /**
   * Sends a frame prepared once for many connections (core/prepared-frame.ts; server role only:
   * unmasked), in order with the other sends, through the core's checks (Connection.sendPrepared).
   * For WebSocketServer.publish and broadcast (topics hook, issue 20). Same bounds as send().
   * Returns undefined when the frame went straight to the driver (no promise per delivery: a
   * fan-out that needs to wait asks `pendingWrite` then), else the promise of the queued send (or
   * a rejected one, already handled, when it may not be sent).
   */
  sendPrepared(ws: WebSocket, frame: PreparedFrame): Promise<void> | undefined;
  /**
   * Settles once everything handed to the driver so far is written (rejects when the transport
   * ends first); null when nothing is waiting there (topics hook, issue 24).
   */
  pendingWrite(ws: WebSocket): Promise<void> | null;
  /** The browser's close() with no code: a close frame without a status code. */
  closeWithoutCode(ws: WebSocket): Promise<CloseInfo>;
  /** How the connection ended (with wasClean); null before. */
  closeResult(ws: WebSocket): CloseResult | null;
  /**
   * The peer's close arrived and our answer is held while the messages received before it are
   * delivered, with no close asked for here (the browser class's readyState is still OPEN).
   */
  answerHeld(ws: WebSocket): boolean;
  /** The connection's driver, whose counters the server's metrics sum. */
  driver(ws: WebSocket): SocketDriver;
}

export const connectionInternals = {} as ConnectionInternals;
