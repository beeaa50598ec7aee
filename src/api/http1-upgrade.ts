/**
 * The HTTP/1.1 transport of the upgrade pipeline (see upgrade-pipeline.ts): an `Upgrade:
 * websocket` request on a socket becomes an UpgradeInput, the pipeline decides, and this file
 * writes the answer (101 with Sec-WebSocket-Accept, or the refusal) on the socket and wraps it in
 * a WebSocket. The handshake timer (408) bounds it from the 'upgrade' event, or from the
 * connection's first byte on a server from `listen`.
 */
import { acceptedWebSocket } from './accepted-websocket.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpRefusal } from '../core/handshake.js';
import { publishUpgrade } from '../node/diagnostics.js';
import { guardHandshake, internalErrorRefusal, writeUpgradeResponse, type HandshakeGuard } from '../node/upgrade.js';
import type { ServerMetrics } from './metrics.js';
import {
  ABANDONED,
  acceptUpgrade,
  askAcceptHooks,
  checkRfc6455Request,
  isRefusal,
  shuttingDown,
  type Rfc6455Facts,
  type UpgradeAcceptance,
  type UpgradeDecision,
  type UpgradeInput,
  type UpgradeServer,
} from './upgrade-pipeline.js';
import { decideOrRefuse, failedOpen, PendingUpgrade, socketUpgradeInput, writeRefusal } from './upgrade-transport.js';
import { isHybi00Request } from '../core/hybi00/handshake.js'; // legacy (issue 22)
import { upgradeHybi00 } from './hybi00-upgrade.js'; // legacy (issue 22)
import { WebSocket } from './websocket.js';

/** What the transport needs of the server beyond the pipeline's view of it. */
export interface Http1Host extends UpgradeServer {
  /** An upgrade starts: counted from here until it is open or refused (slow hooks cannot let more than maxConnections in). */
  begin(): void;
  /** An upgrade ended without a connection. */
  end(): void;
  /** Upgrades waiting on an accept hook, each with the function that refuses it at once (close()). */
  readonly inflight: Map<Duplex, () => void>;
  /** The handshake timer that started with the connection (a server from `listen`), or null. */
  takeGuard(socket: Duplex): HandshakeGuard | null;
  /** Counts the connection's traffic and close (the server's metrics). */
  readonly observer: ServerMetrics;
  /** The connection is open: tracked, counted as open rather than pending, announced and handed to its route. */
  opened(ws: WebSocket, req: IncomingMessage, accepted: UpgradeAcceptance): void;
  /** A refusal is about to be written: counted and told to 'refused' listeners. */
  refused(req: IncomingMessage, answer: HttpRefusal): void;
}

/**
 * Runs the upgrade pipeline on an HTTP/1.1 upgrade request and answers it, synchronously unless
 * an accept hook is to be asked: listen() and attach() call it directly, so that an upgrade
 * without hooks costs no promise, no closure and no timer of its own (measured on the
 * connection-rate benchmark). Resolves with the connection, or null when the request was refused.
 */
export function upgradeHttp1(host: Http1Host, req: IncomingMessage, socket: Duplex, head: Uint8Array): WebSocket | null | Promise<WebSocket | null> {
  // legacy (issue 22): a hybi-00 request, which checkRfc6455Request would answer 426, has its own transport when the server serves it.
  if (host.options.hybi00 && isHybi00Request(req.headers)) return upgradeHybi00(host, req, socket, head);
  publishUpgrade(req, socket);
  // On our own server the handshake timer started with the connection; it goes on bounding the
  // rest of the handshake, one timer per connection rather than two.
  const early = host.takeGuard(socket);
  // Counted from here until the connection is open or refused, so that slow accept hooks
  // cannot let more than maxConnections sockets in.
  host.begin();
  const input = socketUpgradeInput<Rfc6455Facts>(req, checkRfc6455Request);
  const decision = decideOrRefuse(input, host);
  if (!isRefusal(decision) && decision.info !== null) return afterHooks(host, input, socket, head, early, decision);
  // No await since the guard was found, so it cannot have fired: this call answers.
  if (early !== null && !early.cancel()) {
    host.end();
    return null;
  }
  if (!isRefusal(decision)) return open(host, input, socket, head, decision);
  host.end();
  writeRefusal(host, req, socket, decision);
  return null;
}

/**
 * The rest of an upgrade that has accept hooks to ask: they may be async, so the handshake
 * timer keeps bounding it, close() can refuse it while it waits, and a client that goes away
 * meanwhile is noticed before anything is written.
 */
async function afterHooks(
  host: Http1Host,
  input: UpgradeInput<Rfc6455Facts>,
  socket: Duplex,
  head: Uint8Array,
  early: HandshakeGuard | null,
  decision: UpgradeDecision<Rfc6455Facts>,
): Promise<WebSocket | null> {
  const req = input.req;
  const count = new PendingUpgrade(host, req);
  const onExpire = (): HttpRefusal => count.expired();
  let guard: HandshakeGuard;
  if (early !== null) {
    guard = early;
    guard.onExpire = onExpire;
  } else {
    guard = guardHandshake(socket, host.options.handshakeTimeout, onExpire);
  }
  const refuse = (answer: HttpRefusal): null => {
    count.end();
    if (guard.cancel()) writeRefusal(host, req, socket, answer);
    return null;
  };
  host.inflight.set(socket, () => refuse(shuttingDown()));
  let data: { value: unknown } | undefined;
  try {
    const outcome = await askAcceptHooks(input, decision, host, {
      get abandoned(): boolean {
        return guard.expired || guard.gone;
      },
    });
    if (outcome === ABANDONED) {
      count.end();
      if (!guard.expired) {
        guard.cancel();
        socket.destroy();
      }
      return null;
    }
    if (isRefusal(outcome)) return refuse(outcome);
    data = outcome.data;
    if (!guard.cancel()) {
      count.end();
      return null;
    }
  } catch (error) {
    // A bug of ours: never leave the client hanging or the count wrong.
    host.reportError(error, req);
    return refuse(internalErrorRefusal());
  } finally {
    host.inflight.delete(socket);
  }
  // Still counted: every way out above that uncounts also returns.
  return open(host, input, socket, head, decision, data);
}

/**
 * Writes the 101 and opens the connection. The handshake timer has been stopped and the
 * upgrade is still counted in #pending, which this ends on every way out.
 */
function open(host: Http1Host, input: UpgradeInput<Rfc6455Facts>, socket: Duplex, head: Uint8Array, decision: UpgradeDecision<Rfc6455Facts>, data?: { value: unknown }): WebSocket | null {
  const req = input.req;
  let counted = true;
  let written = false;
  try {
    const accepted = acceptUpgrade(input, decision, host, data);
    // Throws for extra headers the core will not send (CR/LF, names of the handshake's own).
    written = writeUpgradeResponse(socket, {
      key: decision.facts.key,
      protocol: accepted.protocol,
      extensions: accepted.extensions,
      headers: accepted.headers,
    });
    if (!written) {
      // The client went away while an accept hook ran.
      counted = false;
      host.end();
      socket.destroy();
      return null;
    }
    const ws = acceptedWebSocket(host, socket, req, accepted, { head: head.length > 0 ? head : undefined });
    counted = false;
    host.opened(ws, req, accepted);
    return ws;
  } catch (error) {
    return failedOpen(host, req, socket, error, counted, written);
  }
}
