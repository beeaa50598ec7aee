/**
 * The WebSocket every transport (HTTP/1.1, HTTP/2, hybi-00) makes once the upgrade pipeline has
 * accepted a request and the transport's answer is on the wire: one place that turns an
 * acceptance into a connection, so the transports differ only in how they answer.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { DeflateCodec } from '../node/deflate-codec.js';
import type { ConnectionInit } from './connection-init.js';
import type { ServerMetrics } from './metrics.js';
import type { ResolvedServerOptions } from './options.js';
import type { UpgradeAcceptance } from './upgrade-pipeline.js';
import { WebSocket, type MessageCodec } from './websocket.js';

/** What only the transport knows about the new connection. */
type TransportFacts = Pick<ConnectionInit, 'head' | 'version' | 'transport'>;

/** The server-role WebSocket over `stream` for an accepted request, with the hook's data set. */
export function acceptedWebSocket(
  host: { readonly options: ResolvedServerOptions; readonly observer: ServerMetrics },
  stream: Duplex,
  req: IncomingMessage,
  accepted: UpgradeAcceptance,
  facts: TransportFacts,
): WebSocket {
  const codecs: MessageCodec[] =
    accepted.deflate === null ? [] : [new DeflateCodec('server', accepted.deflate, accepted.extensions!, host.options.deflate!)];
  const init: ConnectionInit = {
    options: host.options.connection,
    role: 'server',
    url: req.url ?? '/',
    protocol: accepted.protocol ?? '',
    codecs,
    observer: host.observer,
    // The server emits 'connection' and runs the route's handler as soon as this returns.
    startThisTurn: true,
    ...facts,
  };
  const ws = new WebSocket(stream, init);
  if (accepted.data !== undefined) ws.data = accepted.data.value;
  return ws;
}
