/**
 * HTTP/2 flow-control windows sized for WebSockets (RFC 9113 section 6.9). Node opens every
 * session with the protocol's initial windows: 65,535 bytes per stream, and 65,535 for the whole
 * connection. They suit requests; a WebSocket is a long-lived byte stream in both directions, and
 * with them a peer may send one WebSocket 64 KiB per round trip, and all WebSockets of the
 * session 64 KiB between them. Over loopback that made a 64 KiB echo cost three times the CPU per
 * message of the same echo over HTTP/1.1 (bench/README.md, "HTTP/2 windows").
 *
 * So a session that carries WebSockets advertises wider receive windows. What a peer can make this
 * side hold stays bounded: Node acknowledges a stream's data only as it is read, so a WebSocket
 * that is not being read holds at most its stream window in Node, on top of the WebSocket's own
 * `receiveHighWaterMark`. The connection's window Node acknowledges on arrival: it bounds bytes in
 * flight, not bytes held, and is sized for many streams at once.
 */
import type * as http2 from 'node:http2';

/** The receive windows, in bytes. */
export interface WindowSizes {
  /** Per stream: SETTINGS_INITIAL_WINDOW_SIZE. */
  readonly stream: number;
  /** For the whole connection: the session's local window. */
  readonly session: number;
}

/**
 * The default: 1 MiB per stream (a TCP connection's receive buffer holds as much or more under
 * Linux's autotuning, and it is a quarter of the default receiveHighWaterMark), 16 MiB for the
 * connection (Chromium's HTTP/2 connections use 15 MB).
 */
export const WEBSOCKET_WINDOWS: WindowSizes = { stream: 1024 * 1024, session: 16 * 1024 * 1024 };

/** The largest window HTTP/2 allows: 2^31 - 1 bytes. */
export const MAX_WINDOW = 2 ** 31 - 1;

/** The protocol's initial window, the least a window can be set to here. */
export const MIN_WINDOW = 65_535;

/** Sessions already widened: the SETTINGS frame goes out once per session, not once per WebSocket. */
const widened = new WeakSet<http2.Http2Session>();

/**
 * Widens `session`'s receive windows to `windows`, never narrowing one that is already wider (an
 * application may have configured its server so). A session that is not connected yet is widened
 * once it is: the SETTINGS frame then still comes before the first stream's HEADERS, so the
 * first WebSocket has the wide window from its start. Quietly does nothing on a session that is
 * closing or gone.
 */
export function widenReceiveWindows(session: http2.Http2Session, windows: WindowSizes): void {
  if (widened.has(session)) return;
  widened.add(session);
  if (session.connecting) {
    session.once('connect', () => widen(session, windows));
    return;
  }
  widen(session, windows);
}

function widen(session: http2.Http2Session, windows: WindowSizes): void {
  if (session.closed || session.destroyed) return;
  try {
    if ((session.localSettings.initialWindowSize ?? MIN_WINDOW) < windows.stream) session.settings({ initialWindowSize: windows.stream });
    if ((session.state.localWindowSize ?? MIN_WINDOW) < windows.session) session.setLocalWindowSize(windows.session);
  } catch {
    // The session began to close between the check and the frame, or has too many unacknowledged
    // SETTINGS already: its streams carry on with the windows they have.
  }
}
