/**
 * What a WebSocket is that the other connections of its server (or of its connect() options) share
 * (issue 24, idle memory): the resolved options, the role, the protocol version, the transport, the
 * metrics that hear of ping round trips, and the selected subprotocol. Six fields of every
 * connection were these same six values; now a connection keeps one reference to an object that
 * holds them, made again only when they differ from the last one made (a server's connections
 * almost always match the previous connection's).
 */
import type { Role } from '../core/connection.js';
import type { ProtocolVersion } from './legacy.js';
import type { ResolvedOptions } from './options.js';

/** Who hears of measured round trips (the server's metrics). */
export interface PingObserver {
  pingRoundTrip(ms: number): void;
}

/** The shared facts of a connection; never written once made. */
export interface ConnectionFacts {
  readonly options: ResolvedOptions;
  readonly role: Role;
  readonly version: ProtocolVersion;
  readonly transport: 'http1' | 'http2';
  readonly observer: PingObserver | null;
  /** The subprotocol the server selected, '' if none. */
  readonly protocol: string;
}

let last: ConnectionFacts | null = null;

/** The facts for these values: the last object made if it holds the same ones, else a new one. */
export function connectionFacts(
  options: ResolvedOptions,
  role: Role,
  version: ProtocolVersion,
  transport: 'http1' | 'http2',
  observer: PingObserver | null,
  protocol: string,
): ConnectionFacts {
  const f = last;
  if (
    f !== null &&
    f.options === options &&
    f.role === role &&
    f.version === version &&
    f.transport === transport &&
    f.observer === observer &&
    f.protocol === protocol
  ) {
    return f;
  }
  last = { options, role, version, transport, observer, protocol };
  return last;
}
