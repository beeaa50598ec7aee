/**
 * The stream plumbing of WebSocket over HTTP/2 (RFC 8441) on Node's `node:http2`: turning on
 * SETTINGS_ENABLE_CONNECT_PROTOCOL, answering an extended CONNECT on its stream (200, or a
 * refusal with a body), and resetting a stream the way `terminate()` means it. The checks and the
 * header blocks are the core's (core/handshake-h2.ts).
 */
// Types only: loading node:http2 has a cost (and, under a terminal with both NO_COLOR and
// FORCE_COLOR set, prints a warning), which programs that never speak HTTP/2 should not pay.
import type * as http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { buildH2Refusal, type H2Headers } from '../core/handshake-h2.js';
import type { HttpRefusal } from '../core/handshake.js';

/** An HTTP/2 server of `node:http2`, cleartext (h2c) or TLS. */
export type Http2AnyServer = http2.Http2Server | http2.Http2SecureServer;

/**
 * True for servers of `http2.createServer()` and `http2.createSecureServer()`. Told by what only
 * they have (updateSettings and the 'stream' event's session machinery), since Node exports no
 * class to test with instanceof.
 */
export function isHttp2Server(server: unknown): server is Http2AnyServer {
  return (
    typeof server === 'object' &&
    server !== null &&
    typeof (server as { updateSettings?: unknown }).updateSettings === 'function' &&
    typeof (server as { on?: unknown }).on === 'function'
  );
}

/**
 * Advertises SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 section 3) on every session the server
 * opens from now on, and on those already open, so that clients may send extended CONNECT.
 */
export function enableConnectProtocol(server: Http2AnyServer, sessions: Iterable<http2.ServerHttp2Session>): void {
  server.updateSettings({ enableConnectProtocol: true });
  for (const session of sessions) {
    if (!session.destroyed && !session.closed) session.settings({ enableConnectProtocol: true });
  }
}

/** Answers an extended CONNECT with its accepting header block; false when the stream is already gone. */
export function respondAccepted(stream: http2.ServerHttp2Stream, headers: H2Headers): boolean {
  if (stream.destroyed || stream.closed || stream.headersSent) return false;
  stream.respond(headers as http2.OutgoingHttpHeaders);
  return true;
}

/**
 * Answers a refused extended CONNECT: the status, headers and body, then END_STREAM. A stream
 * that is gone, or already answered, is left alone. Errors on a stream we give up on (a peer
 * reset) are swallowed.
 */
export function respondRefusal(stream: http2.ServerHttp2Stream, answer: HttpRefusal): void {
  stream.on('error', swallow);
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const { headers, body } = buildH2Refusal(answer);
  try {
    stream.respond(headers as http2.OutgoingHttpHeaders);
    stream.end(body);
  } catch {
    // The session went away between the check and the write.
    stream.destroy();
  }
}

/** RST_STREAM error code CANCEL (RFC 9113 section 7), Node's NGHTTP2_CANCEL. */
const CANCEL = 0x8;

/**
 * Resets an HTTP/2 stream with RST_STREAM CANCEL (RFC 9113 section 7: "the stream is no longer
 * needed"), which is what `terminate()` means; a destroy alone would send NO_ERROR. Does nothing
 * for other streams, which `terminate()` destroys.
 */
export function cancelStream(stream: Duplex): void {
  const h2 = stream as Duplex & { close?: (code: number) => void };
  if (!isHttp2Stream(stream) || typeof h2.close !== 'function' || stream.destroyed) return;
  try {
    h2.close(CANCEL);
  } catch {
    // Already closing: the destroy that follows ends it.
  }
}

/**
 * True for an HTTP/2 stream that its session has closed (both ends sent END_STREAM, or a reset
 * came) and that Node has not destroyed yet. Nothing more can be written on it, and a write still
 * pending there may never be called back: with Node 20, a stream's last write (sent with
 * END_STREAM) stayed pending for good when the peer closed the stream right after receiving it
 * (conformance/server-role-h2.test.ts, cases 7.1.1 and 7.1.6, with wide flow-control windows).
 * Probed there without this check (2026-12-06): when the peer's END_STREAM arrived, the server's
 * stream was closed, not destroyed, and ended, its last write (the close frame) still in progress;
 * half a second later that write's callback had not run, 'finish' had not come, and the stream
 * was still not destroyed. (In a plain exchange where Node destroys such a stream itself, the
 * callbacks do run; 'finish' never does once both ends have ended.) Whoever waits for the
 * stream's writes to finish waits for nothing.
 */
export function isClosedHttp2Stream(stream: Duplex): boolean {
  return isHttp2Stream(stream) && (stream as Duplex & { closed?: boolean }).closed === true && !stream.destroyed;
}

/** True for a stream of `node:http2` (told by its session, since Node exports no class to test with instanceof). */
export function isHttp2Stream(stream: Duplex): boolean {
  return (stream as Duplex & { session?: unknown }).session !== undefined;
}

function swallow(): void {
  // A peer that resets a stream we are refusing is not an error worth crashing for.
}
