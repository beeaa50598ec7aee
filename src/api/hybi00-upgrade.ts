/**
 * The hybi-00 (draft-hixie-76) transport of the upgrade pipeline (issue 22), beside the HTTP/1.1
 * one (http1-upgrade.ts): a request with Sec-WebSocket-Key1 and Key2 and no version, which the
 * RFC 6455 check would answer 426, comes here when the server was given `legacy: { hybi00: true }`.
 * The same checks decide (capacity, limits, routes, origins, subprotocols, accept hooks); only
 * the handshake check, the eight key3 bytes that follow the head, and the answer (the draft's
 * 101 and its 16-byte MD5 answer) are this transport's. One handshake timer (408) bounds all of
 * it, key3 included: a client that never sends key3 cannot hold a connection slot.
 */
import { acceptedWebSocket } from './accepted-websocket.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpRefusal } from '../core/handshake.js';
import { checkHybi00Request, HYBI00_VERSION, KEY3_SIZE, type Hybi00RequestCheck } from '../core/hybi00/handshake.js';
import { publishUpgrade } from '../node/diagnostics.js';
import { readAfterHead, writeHybi00Response } from '../node/hybi00.js';
import { guardHandshake, internalErrorRefusal } from '../node/upgrade.js';
import type { Http1Host } from './http1-upgrade.js';
import { ABANDONED, acceptUpgrade, askAcceptHooks, isRefusal, shuttingDown, type UpgradeDecision, type UpgradeInput } from './upgrade-pipeline.js';
import { decideOrRefuse, failedOpen, PendingUpgrade, socketUpgradeInput, writeRefusal } from './upgrade-transport.js';
import { WebSocket } from './websocket.js';

/** The hybi-00 handshake's facts: the common ones plus the keys' numbers for the answer. */
type Hybi00Facts = Extract<Hybi00RequestCheck, { ok: true }>;

/** Step 3 for hybi-00: the draft's request rules (the shared ones as RFC 6455's, then both keys); 400 otherwise. */
function checkHybi00Handshake(input: UpgradeInput<Hybi00Facts>): Hybi00Facts | HttpRefusal {
  const check = checkHybi00Request({
    method: input.method,
    httpVersion: input.httpVersion,
    headers: input.headers,
    rawHeaders: input.rawHeaders,
    target: input.url,
  });
  if (check.ok) return check;
  return { status: check.status, headers: check.headers, body: check.body };
}

/**
 * Runs the pipeline on a hybi-00 request and answers it. Always asynchronous: key3 may arrive
 * after the head. Resolves with the connection, or null when the request was refused, timed out
 * or the client left.
 */
export async function upgradeHybi00(host: Http1Host, req: IncomingMessage, socket: Duplex, head: Uint8Array): Promise<WebSocket | null> {
  publishUpgrade(req, socket);
  const early = host.takeGuard(socket);
  host.begin();
  // Counted from here until the connection is open or answered: not counted once someone answered.
  const count = new PendingUpgrade(host, req);
  const onExpire = (): HttpRefusal => count.expired();
  const guard = early ?? guardHandshake(socket, host.options.handshakeTimeout, onExpire);
  guard.onExpire = onExpire;
  const refuse = (answer: HttpRefusal): null => {
    count.end();
    if (guard.cancel()) writeRefusal(host, req, socket, answer);
    return null;
  };
  /** The client left (or the timer answered it) while we waited: nothing more to write. */
  const gone = (): null => {
    if (count.counted) {
      count.end();
      if (guard.cancel()) socket.destroy();
    }
    return null;
  };

  const input = socketUpgradeInput<Hybi00Facts>(req, checkHybi00Handshake);
  const decision = decideOrRefuse(input, host);
  if (isRefusal(decision)) return refuse(decision);

  host.inflight.set(socket, () => refuse(shuttingDown()));
  let read: { bytes: Uint8Array; rest: Uint8Array } | null;
  let data: { value: unknown } | undefined;
  try {
    // Key3 follows the head, usually in the same packet; bounded by the handshake timer.
    read = await readAfterHead(socket, head, KEY3_SIZE);
    if (read === null || !count.counted || guard.expired) return gone();
    if (decision.info !== null) {
      const outcome = await askAcceptHooks(input, decision, host, {
        get abandoned(): boolean {
          return guard.expired || guard.gone || !count.counted;
        },
      });
      if (outcome === ABANDONED) return gone();
      if (isRefusal(outcome)) return refuse(outcome);
      data = outcome.data;
    }
    if (!guard.cancel()) return gone();
  } catch (error) {
    host.reportError(error, req);
    return refuse(internalErrorRefusal());
  } finally {
    host.inflight.delete(socket);
  }
  return open(host, input, socket, decision, read.bytes.slice(), read.rest, data);
}

/** Writes the draft's 101 and answer and opens the connection; the upgrade is still counted, and ends here on every way out. */
function open(
  host: Http1Host,
  input: UpgradeInput<Hybi00Facts>,
  socket: Duplex,
  decision: UpgradeDecision<Hybi00Facts>,
  key3: Uint8Array,
  rest: Uint8Array,
  data: { value: unknown } | undefined,
): WebSocket | null {
  const req = input.req;
  let counted = true;
  let written = false;
  try {
    // No extensions exist in hybi-00 (the facts offer none), so the acceptance agrees none.
    const accepted = acceptUpgrade(input, decision, host, data);
    written = writeHybi00Response(socket, req, decision.facts, key3, accepted.protocol, accepted.headers);
    if (!written) {
      counted = false;
      host.end();
      socket.destroy();
      return null;
    }
    const ws = acceptedWebSocket(host, socket, req, accepted, { head: rest.length > 0 ? rest : undefined, version: HYBI00_VERSION });
    counted = false;
    host.opened(ws, req, accepted);
    return ws;
  } catch (error) {
    return failedOpen(host, req, socket, error, counted, written);
  }
}
