/**
 * The life of a route's handler on an open connection: a ConnectionHandler's promise is the
 * connection's life (resolved: close 1000; rejected or thrown: 1011), a MessageHandler is fed the
 * messages at most `concurrency` at a time, and no handler error leaves a socket open or goes
 * unreported. Independent of the transport: it starts once a WebSocket exists.
 */
import type { IncomingMessage } from 'node:http';
import { ConnectionClosedError } from '../core/errors.js';
import { CloseCode } from '../core/close-code.js';
import type { RouteMatch } from './route.js';
import type { Message, WebSocket } from './websocket.js';

/**
 * A connection handler: runs once per connection. If it returns a promise, that promise is the
 * connection's life: when it resolves the connection is closed with 1000, when it rejects (or the
 * function throws) with 1011, so that no error leaves a socket open. A handler that returns
 * nothing (event style, `ws.on('message', ...)`) leaves the connection open until someone closes it.
 */
export type ConnectionHandler<Params extends Readonly<Record<string, string>> = Readonly<Record<string, string>>, Data = unknown> = (
  ws: WebSocket<Data>,
  req: IncomingMessage,
  match: RouteMatch<Params>,
) => unknown;

/**
 * A message handler: the server reads the messages and calls `message` for each, at most
 * `concurrency` at a time (1: strictly in order, the next message is not read before the previous
 * call settled). When the peer closes, the server waits for the calls in flight; a call that
 * throws closes the connection with 1011.
 */
export interface MessageHandler<Params extends Readonly<Record<string, string>> = Readonly<Record<string, string>>, Data = unknown> {
  /** Called once before the first message; the connection may already be used (a greeting). */
  open?(ws: WebSocket<Data>, req: IncomingMessage, match: RouteMatch<Params>): unknown;
  message(message: Message, ws: WebSocket<Data>, req: IncomingMessage, match: RouteMatch<Params>): unknown;
}

/** Where handler errors go: the server's 'handlerError' event (or a process warning). */
export type ErrorReporter = (error: unknown, ws: WebSocket | undefined, req: IncomingMessage) => void;

/** Whether a value is a promise (or any thenable) to wait for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

/** Runs a route's handler on an open connection; its outcome decides the close code. */
export function runHandler(
  handler: ConnectionHandler | MessageHandler,
  concurrency: number,
  ws: WebSocket,
  req: IncomingMessage,
  match: RouteMatch,
  report: ErrorReporter,
): void {
  let outcome: unknown;
  try {
    outcome = typeof handler === 'function' ? handler(ws, req, match) : serveMessages(handler, concurrency, ws, req, match);
  } catch (error) {
    handlerFailed(error, ws, req, report);
    return;
  }
  if (isThenable(outcome)) {
    outcome.then(
      () => closeQuietly(ws, CloseCode.NormalClosure),
      (error: unknown) => handlerFailed(error, ws, req, report),
    );
  }
}

/** A handler, a 'connection' listener or a handleUpgrade callback threw: reported, and the connection closed with 1011. */
export function handlerFailed(error: unknown, ws: WebSocket, req: IncomingMessage, report: ErrorReporter): void {
  // A handler that was waiting on a connection the peer closed is not a bug worth reporting.
  const peerWentAway = error instanceof ConnectionClosedError && (ws.readyState === 'closed' || ws.readyState === 'closing');
  if (!peerWentAway) report(error, ws, req);
  // RFC 6455 section 7.4.1: 1011, the server met a condition that prevented it from fulfilling the request.
  closeQuietly(ws, CloseCode.InternalError);
}

async function serveMessages(handler: MessageHandler, concurrency: number, ws: WebSocket, req: IncomingMessage, match: RouteMatch): Promise<void> {
  if (handler.open !== undefined) await handler.open(ws, req, match);
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  try {
    for await (const message of ws) {
      const call: Promise<void> = (async () => {
        await handler.message(message, ws, req, match);
      })().then(
        () => {
          running.delete(call);
        },
        (error: unknown) => {
          running.delete(call);
          failure ??= { error };
        },
      );
      running.add(call);
      // Backpressure: the next message is not read while `concurrency` calls are in flight.
      if (running.size >= concurrency) await Promise.race(running);
      if (failure !== null) break;
    }
  } catch (error) {
    // The connection ended abnormally: let the calls in flight finish, then end quietly.
    if (!(error instanceof ConnectionClosedError)) failure ??= { error };
  }
  await Promise.all(running);
  if (failure !== null) throw (failure as { error: unknown }).error;
}

function closeQuietly(ws: WebSocket, code: number): void {
  if (ws.readyState === 'open') {
    ws.close(code).catch(() => {
      // Closing is best effort here: the connection is ending either way.
    });
  }
}
