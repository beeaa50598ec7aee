/**
 * hybi's `node:diagnostics_channel` channels: the one place that owns them, their names (a
 * contract, listed in docs/observability.md) and the shape of what each publishes. Server,
 * connection and client code call the `publish*` functions below at the moment something happens.
 *
 * Free when nobody looks: each function first asks its channel's `hasSubscribers` and returns
 * before building any payload object or string, so the only cost without subscribers is a call and
 * a property read; nothing is allocated per connection for this.
 *
 * The payloads of the connection's open, close, ping and pong mirror undici's
 * `undici:websocket:*` channels (the same field names for the same things: `websocket`,
 * `address`, `protocol`, `extensions`, `code`, `reason`, `payload`), with hybi's additions, so a
 * tool written for Node's own WebSocket client adapts by changing the channel names.
 */
import { Buffer } from 'node:buffer';
import { channel, tracingChannel } from 'node:diagnostics_channel';
import type { Duplex } from 'node:stream';
import { systemTimers } from './timer-wheel.js';

/** Published when an HTTP upgrade request reaches the server, before any check. */
const upgradeChannel = channel('hybi:server:upgrade');
/** Published when the server answers an upgrade (or a connection before its request) with an HTTP error. */
const rejectChannel = channel('hybi:server:reject');
/** Published when a connection opens (server and client side), just before its 'open' event. */
const openChannel = channel('hybi:connection:open');
/** Published when a connection's transport is gone, just before its 'close' event. */
const closeChannel = channel('hybi:connection:close');
/** Published for an error that fails a connection: a protocol error, a bound, a transport error, a timeout. */
export const errorChannel = channel('hybi:connection:error');
/** Published when a ping frame arrives. */
const pingChannel = channel('hybi:connection:ping');
/** Published when a pong frame arrives, with the round trip when it answers our ping. */
const pongChannel = channel('hybi:connection:pong');
/** Published when the bytes waiting to be written cross the connection's maxBufferedAmount, either way. */
export const backpressureChannel = channel('hybi:connection:backpressure');
/** Published before the client waits to try a failed handshake again. */
const retryChannel = channel('hybi:client:retry');
/**
 * Around the client's `connect()`: `tracing:hybi:client:connect:start`, `:end`, `:asyncStart`,
 * `:asyncEnd` and `:error`, with the context `{ url, options }` (plus `result` or `error`).
 */
export const connectTracing = tracingChannel<unknown, ConnectContext>('hybi:client:connect');

/** Which side started a connection's end. */
export type ClosedBy = 'local' | 'remote' | 'none';

/** The context object of the `hybi:client:connect` tracing channel. */
export interface ConnectContext {
  url: string | URL;
  options: unknown;
  /** Set by the tracing channel: the open WebSocket once connect() resolved. */
  result?: unknown;
  /** Set by the tracing channel: why connect() rejected. */
  error?: unknown;
}

/** A peer's address as undici's open payload gives it, or null when the transport has none (an in-memory pair). */
export interface PeerAddress {
  address: string;
  family: string;
  port: number;
}

function peerAddress(stream: Duplex): PeerAddress | null {
  const socket = stream as Duplex & { remoteAddress?: string; remoteFamily?: string; remotePort?: number };
  if (typeof socket.remoteAddress !== 'string' || typeof socket.remotePort !== 'number') return null;
  return { address: socket.remoteAddress, family: socket.remoteFamily ?? '', port: socket.remotePort };
}

/** The first line of a refusal's body, without its full stop: a short, human reason. */
export function refusalReason(body: string): string {
  const line = body.split('\n', 1)[0]!.trim();
  return line.endsWith('.') ? line.slice(0, -1) : line;
}

/** `hybi:server:upgrade`: `{ request, socket }`. */
export function publishUpgrade(request: unknown, socket: Duplex): void {
  if (!upgradeChannel.hasSubscribers) return;
  upgradeChannel.publish({ request, socket });
}

/** `hybi:server:reject`: `{ request, socket, status, reason }`; `request` is null when refused before its request was read. */
export function publishReject(request: unknown, socket: Duplex, status: number, body: string): void {
  if (!rejectChannel.hasSubscribers) return;
  rejectChannel.publish({ request, socket, status, reason: refusalReason(body) });
}

/** `hybi:connection:open`: `{ websocket, role, address, protocol, extensions, transport, url }`. */
export function publishOpen(websocket: unknown, role: string, stream: Duplex, protocol: string, extensions: string, url: string): void {
  if (!openChannel.hasSubscribers) return;
  openChannel.publish({ websocket, role, address: peerAddress(stream), protocol, extensions, transport: 'http1', url });
}

/**
 * `hybi:connection:close`: `{ websocket, role, code, reason, wasClean, closedBy, duration }`;
 * `closedBy` is the driver's 0/1/2, `openedAt` its start in ms of the timer service's clock.
 */
export function publishClose(websocket: unknown, role: string, code: number, reason: string, wasClean: boolean, closedBy: number, openedAt: number): void {
  if (!closeChannel.hasSubscribers) return;
  const duration = Math.max(0, Math.floor(systemTimers.now()) - openedAt);
  closeChannel.publish({ websocket, role, code, reason, wasClean, closedBy: closedByName(closedBy), duration });
}

/** The driver's 0/1/2 as the name the channel and the metrics use. */
export function closedByName(closedBy: number): ClosedBy {
  return closedBy === 1 ? 'local' : closedBy === 2 ? 'remote' : 'none';
}

/** `hybi:connection:error`: `{ websocket, role, error }`. */
export function publishError(websocket: unknown, role: string, error: Error): void {
  if (!errorChannel.hasSubscribers) return;
  errorChannel.publish({ websocket, role, error });
}

/** `hybi:connection:ping`: `{ websocket, role, payload }` (a copy of the ping's payload). */
export function publishPing(websocket: unknown, role: string, payload: Uint8Array): void {
  if (!pingChannel.hasSubscribers) return;
  pingChannel.publish({ websocket, role, payload: Buffer.from(payload) });
}

/**
 * `hybi:connection:pong`: `{ websocket, role, payload, roundTrip }`; `roundTrip` is the ms since
 * the ping it answers was sent, or null for a pong that answers none of ours (a heartbeat).
 */
export function publishPong(websocket: unknown, role: string, payload: Uint8Array, roundTrip: number | null): void {
  if (!pongChannel.hasSubscribers) return;
  pongChannel.publish({ websocket, role, payload: Buffer.from(payload), roundTrip });
}

/** `hybi:client:retry`: `{ url, attempt, delay, cause }`: `attempt` failed with `cause`; the next try follows in `delay` ms. */
export function publishRetry(url: string, attempt: number, delay: number, cause: unknown): void {
  if (!retryChannel.hasSubscribers) return;
  retryChannel.publish({ url, attempt, delay, cause });
}

/** What backpressure tracking needs of a connection. */
interface Buffering {
  readonly bufferedAmount: number;
}

/** Connections whose buffered bytes are above their mark, and their stream; only filled while someone listens. */
const above = new WeakMap<Buffering, { stream: Duplex; mark: number; role: string }>();

/**
 * `hybi:connection:backpressure`: `{ websocket, role, state: 'above' | 'below', bufferedAmount, mark }`.
 * Call it where a send finds `bufferedAmount` above `mark`: the crossing up is published once,
 * and the crossing down when the stream drains (or a later send finds it at or below the mark,
 * see `noteBuffered`).
 */
export function noteAboveMark(websocket: Buffering, role: string, stream: Duplex, mark: number): void {
  if (!backpressureChannel.hasSubscribers || above.has(websocket)) return;
  above.set(websocket, { stream, mark, role });
  backpressureChannel.publish({ websocket, role, state: 'above', bufferedAmount: websocket.bufferedAmount, mark });
  const onDrain = (): void => {
    if (!noteBuffered(websocket) && !stream.destroyed) stream.once('drain', onDrain);
  };
  stream.once('drain', onDrain);
}

/**
 * Publishes the crossing down if `websocket` was above its mark and no longer is; true then (or
 * when it was not above at all). A send below the mark calls it, guarded by `hasSubscribers`.
 */
export function noteBuffered(websocket: Buffering): boolean {
  const entry = above.get(websocket);
  if (entry === undefined) return true;
  const bufferedAmount = websocket.bufferedAmount;
  if (bufferedAmount > entry.mark) return false;
  above.delete(websocket);
  if (backpressureChannel.hasSubscribers) backpressureChannel.publish({ websocket, role: entry.role, state: 'below', bufferedAmount, mark: entry.mark });
  return true;
}
