/**
 * Two connected hybi WebSockets (client and server role) without a handshake, over an in-memory
 * duplex pair or a real loopback TCP socket pair, plus a raw frame-level peer for tests that
 * must send what a well-behaved endpoint never would.
 */
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { RawPeer } from './raw-peer.js';
import type { ConnectionInit } from '../../src/api/connection-init.js';
import { WebSocket } from '../../src/api/websocket.js';
import type { WebSocketOptions } from '../../src/api/options.js';
import { duplexPair } from './duplex-pair.js';
import { tcpPair } from './tcp-pair.js';

export { RawPeer };

export type Transport = 'memory' | 'tcp';

/** Both transports, for suites that run every test over each. */
export const transports: readonly Transport[] = ['memory', 'tcp'];

/** `[client, server]` raw streams over the chosen transport. */
export async function streamPair(transport: Transport): Promise<[Duplex, Duplex]> {
  if (transport === 'tcp') return tcpPair();
  return duplexPair();
}

export interface WsPairOptions {
  client?: WebSocketOptions & Partial<ConnectionInit>;
  server?: WebSocketOptions & Partial<ConnectionInit>;
}

/** No timers unless a test asks: keep-alive and idle defaults would only add noise. */
const quiet: WebSocketOptions = { pingInterval: 0, idleTimeout: 0 };

/** A connected `[client, server]` pair of WebSockets and their streams. */
export async function wsPair(
  transport: Transport,
  options: WsPairOptions = {},
): Promise<{ client: WebSocket; server: WebSocket; clientStream: Duplex; serverStream: Duplex }> {
  const [clientStream, serverStream] = await streamPair(transport);
  const client = new WebSocket(clientStream, { ...quiet, url: 'ws://test/', ...options.client, role: 'client' });
  const server = new WebSocket(serverStream, { ...quiet, url: '/', ...options.server, role: 'server' });
  return { client, server, clientStream, serverStream };
}

/** Ends a pair whatever state it is in, and waits for both 'close' events. */
export async function closePair(...sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(async (ws) => {
      if (ws.readyState === 'closed') return;
      const closed = once(ws, 'close');
      ws.terminate();
      await closed;
    }),
  );
}

/** A WebSocket facing a RawPeer over the chosen transport. */
export async function rawPair(
  transport: Transport,
  role: 'client' | 'server',
  options: WebSocketOptions & Partial<ConnectionInit> = {},
): Promise<{ ws: WebSocket; peer: RawPeer; wsStream: Duplex; peerStream: Duplex }> {
  const [clientStream, serverStream] = await streamPair(transport);
  const wsStream = role === 'client' ? clientStream : serverStream;
  const peerStream = role === 'client' ? serverStream : clientStream;
  const ws = new WebSocket(wsStream, { ...quiet, ...options, role });
  const peer = new RawPeer(peerStream, role === 'client' ? 'server' : 'client');
  return { ws, peer, wsStream, peerStream };
}

/** Is the stream a TCP socket (for assertions that only hold there)? */
export function isSocket(stream: Duplex): stream is Socket {
  return typeof (stream as Socket).remotePort === 'number';
}

/** The remaining real waits of the api tests: wait.ts `quietFor` (scaled by HYBI_TEST_TIME_SCALE); wait for events instead where one exists. */
export { quietFor as sleep } from './wait.js';

/** Rejects if `promise` does not settle within `ms` (keeps a hung test from hanging the run). */
export async function within<T>(promise: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
