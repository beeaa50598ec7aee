/**
 * A fault-injecting TCP proxy on 127.0.0.1 in front of a target port, for the failures real
 * networks have: `stall` (bytes stop flowing both ways but both sockets stay open: a half-open
 * link behind a NAT), `reset` (every open connection is reset, RST), `drip` (bytes pass one small
 * chunk per tick: a slow link), `refuse` (new connections are closed at once), `http503` (new
 * connections get an HTTP 503 with a Retry-After, as an overloaded server answers).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export type FaultMode = 'pass' | 'stall' | 'drip' | 'refuse' | 'http503';

export class FaultProxy {
  readonly server: Server;
  mode: FaultMode = 'pass';
  /** The Retry-After of the http503 answer: seconds, or an HTTP date (a string). */
  retryAfter: number | string = 7;
  /** Connections accepted so far. */
  accepted = 0;
  /** Bytes forwarded from the target to clients (what a client could have read so far). */
  toClient = 0;
  readonly #pairs = new Set<[Socket, Socket]>();
  readonly #targetPort: () => number;

  private constructor(server: Server, targetPort: () => number) {
    this.server = server;
    this.#targetPort = targetPort;
  }

  /** Starts a proxy to `targetPort` (a function when the target moves, as a restarted server does). */
  static async start(targetPort: number | (() => number)): Promise<FaultProxy> {
    const server = createServer();
    const proxy = new FaultProxy(server, typeof targetPort === 'number' ? () => targetPort : targetPort);
    server.on('connection', (socket) => proxy.#accept(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Resets every open connection (both sides get an RST). */
  reset(): void {
    for (const [a, b] of this.#pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.accepted++;
    client.on('error', () => {});
    if (this.mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    if (this.mode === 'http503') {
      client.once('data', () => {
        client.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${this.retryAfter}\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy`);
      });
      return;
    }
    const upstream = connect(this.#targetPort(), '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const forget = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', forget);
    upstream.on('close', forget);
    this.#pipe(client, upstream, false);
    this.#pipe(upstream, client, true);
  }

  /** Forwards `from` to `to` as the mode says, looked up per chunk so a mode change applies at once. */
  #pipe(from: Socket, to: Socket, toClient: boolean): void {
    from.on('data', (chunk: Buffer) => {
      if (this.mode === 'stall') return; // swallowed: the link is dead but nobody knows
      if (this.mode === 'drip') {
        from.pause();
        let offset = 0;
        const tick = (): void => {
          if (to.destroyed) return;
          to.write(chunk.subarray(offset, offset + 16));
          offset += 16;
          if (offset < chunk.length) setTimeout(tick, 5);
          else from.resume();
        };
        tick();
        return;
      }
      if (toClient) this.toClient += chunk.length;
      // Backpressure passes through: a receiver that stops reading stops the sender, as on a direct link.
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', () => to.end());
  }
}
