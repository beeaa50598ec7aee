/**
 * WebSocketServer: turns HTTP upgrade requests into WebSocket connections, standalone
 * (`listen`), inside an application's own http/https server (`attach`), or for a framework that
 * hands over upgrades itself (`handleUpgrade`). It routes by path, picks subprotocols by the
 * server's preference, asks accept hooks before upgrading, adds response headers, and bounds
 * everything a hostile client could hold.
 *
 * This file is the facade and the HTTP/1.1 transport; the parts live apart:
 *   options/server.ts     WebSocketServerOptions and resolveServerOptions: every option checked,
 *                         each default defined once (options/listen.ts for listen())
 *   route.ts              Router: every route and all matching of a request target
 *   upgrade-pipeline.ts   the checks on an upgrade request, in order, with the HTTP status of each
 *                         refusal, independent of the transport (the seam for HTTP/2 and hybi-00)
 *   handler-lifecycle.ts  a route's handler on an open connection: concurrency, close on failure
 *   server-shutdown.ts    close(): every client closed with 1001, each bounded by a deadline
 *   node/http-listener.ts listen()'s own TCP and HTTP server, reading request heads itself
 * The handshake timeout (408) is this transport's: it starts with the connection on a server
 * from `listen`, with the 'upgrade' event otherwise.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from '../core/errors.js';
import { ServerStateError } from './errors.js';
import type { HttpRefusal } from '../core/handshake.js';
import { HttpListener } from '../node/http-listener.js';
import { handlerFailed, runHandler, type ConnectionHandler, type ErrorReporter, type MessageHandler } from './handler-lifecycle.js';
import { upgradeHttp1, type Http1Host } from './http1-upgrade.js';
import { attachHttp2, type Http2AttachOptions } from './http2-upgrade.js'; // http2 hook
import { listenHttp2, type Http2Listening } from './http2-listen.js'; // http2 hook
import { isHttp2Server, type Http2AnyServer } from '../node/http2-streams.js'; // http2 hook
import { ServerMetrics, type MetricsSnapshot } from './metrics.js';
import {
  checkListenOptions,
  checkOptionNames,
  optionalFunction,
  optionsObject,
  resolveServerOptions,
  type ListenOptions,
  type ResolvedServerOptions,
  type WebSocketServerOptions,
} from './options.js';
import { closeClients } from './server-shutdown.js';
import { Router, type RouteMatch, type RouteOptions, type RouteParams, type RoutePattern } from './route.js';
import { tooManyConnections, type UpgradeAcceptance } from './upgrade-pipeline.js';
import { WebSocket } from './websocket.js';
// Topics hooks (issue 20): the logic is in api/topics/.
import type { TopicHub } from './topics/hub.js';
import { serverTopics } from './topics/server-topics.js';
import type { HistoryOptions, HistoryResult, PublishOptions, PublishResult, TopicDrop, TopicMetrics } from './topics/types.js';

export type { RouteMatch, RouteOptions, RouteParamNames, RouteParams, RoutePattern } from './route.js';
export type { ConnectionHandler, MessageHandler } from './handler-lifecycle.js';
export type {
  AcceptHook,
  AcceptRefusal,
  AcceptResult,
  AcceptWithData,
  HeadersOption,
  HeadersWithData,
  ResponseHeaders,
  UpgradeInfo,
} from './upgrade-pipeline.js';
export { DEFAULT_MAX_CONNECTIONS } from './options.js';
export type { ServerDeflateOptions, WebSocketServerOptions } from './options/server.js';
export type { ListenOptions } from './options/listen.js';

/** Options of `broadcast`. */
export interface BroadcastOptions {
  /** A client (or clients) not to send to, typically the sender; or a predicate that returns true to skip. */
  except?: WebSocket | Iterable<WebSocket> | ((ws: WebSocket) => boolean);
  /** Send a string as a binary message (bytes are always binary); default false. */
  binary?: boolean;
}

interface UpgradeSource {
  readonly server: HttpServer | HttpsServer;
  readonly listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

const BROADCAST_NAMES: ReadonlySet<string> = new Set(['except', 'binary']);

/** The events of a WebSocketServer and their arguments. */
export interface WebSocketServerEvents<Data = unknown> {
  /** Every accepted connection, after the 101 and before its route's handler runs. */
  connection: [ws: WebSocket<Data>, req: IncomingMessage, match: RouteMatch];
  /** Every upgrade answered with an HTTP error instead (for logs and metrics). */
  refused: [req: IncomingMessage, refusal: HttpRefusal];
  /**
   * A handler, hook or 'connection' listener threw; `ws` is undefined before the upgrade.
   * Without a listener the error becomes a process warning, so that bugs are not silent.
   */
  handlerError: [error: unknown, ws: WebSocket | undefined, req: IncomingMessage];
  /** An error of the http.Server that `listen` created, after it started listening; or of the broker. */
  error: [error: Error];
  /** Topics hook (issue 20): a message dropped for a slow subscriber (see SlowSubscriberPolicy). */
  topicDrop: [drop: TopicDrop];
}

/** A WebSocket server; see upgrade-pipeline.ts for the order of checks and docs/server.md for a guide. */
export class WebSocketServer<Data = unknown> extends EventEmitter<WebSocketServerEvents<Data>> {
  /** Every option checked, with defaults applied; the connection options are resolved once and shared. */
  readonly #options: ResolvedServerOptions;
  readonly #router = new Router();
  readonly #clients = new Set<WebSocket>();
  readonly #sources: UpgradeSource[] = [];
  /** http2 hook: attached HTTP/2 servers and the function that detaches each. */
  readonly #h2Sources = new Map<Http2AnyServer, () => void>();
  /** http2 hook: the server of listen({ http2: true }). */
  #h2Listening: Http2Listening | null = null;
  /** Handshakes past the 'upgrade' event, waiting on an accept hook: close() refuses them at once. */
  readonly #inflight = new Map<Duplex, () => void>();
  /** What the upgrade pipeline and its HTTP/1.1 transport use of this server (one object, made once). */
  readonly #host: Http1Host;
  readonly #report: ErrorReporter;
  #pending = 0;
  /** The listener of `listen`. */
  #listener: HttpListener | null = null;
  #closing: Promise<void> | null = null;
  /**
   * The 'close' listener that forgets a client: one function per server, called with the
   * WebSocket as `this`, rather than a `once` wrapper and a closure per connection (about 200
   * bytes each, for the life of the connection).
   */
  readonly #onClientClose: (this: WebSocket) => void;
  /** Counts refusals, accepted connections, closes and ping round trips (see metrics()). */
  readonly #metrics = new ServerMetrics();
  /** Topics hook (issue 20): subscriptions, publish and the broker. */
  readonly #topics: TopicHub;

  constructor(options: WebSocketServerOptions<Data> = {}) {
    super();
    const clients = this.#clients;
    const metrics = this.#metrics;
    this.#onClientClose = function (this: WebSocket): void {
      clients.delete(this);
      metrics.closed(this);
    };
    // ws's constructor takes a callback for 'listening'; here listen() returns a promise, and a
    // callback passed anyway would never be called.
    if (arguments.length > 1) throw new InvalidArgumentError('new WebSocketServer() takes no callback: await server.listen() instead');
    this.#options = resolveServerOptions(options);
    this.#topics = serverTopics(this, this.#options.topics, this.#options.deflate); // topics hook (issue 20)
    this.#report = (error, ws, req) => this.#reportError(error, ws, req);
    const self = this;
    this.#host = {
      options: this.#options,
      router: this.#router,
      get closing(): boolean {
        return self.#closing !== null;
      },
      get connectionCount(): number {
        return self.connectionCount;
      },
      reportError: (error, req) => this.#reportError(error, undefined, req),
      begin: () => {
        this.#pending++;
      },
      end: () => {
        this.#pending--;
      },
      inflight: this.#inflight,
      takeGuard: (socket) => this.#listener?.takeGuard(socket) ?? null,
      observer: this.#metrics,
      opened: (ws, req, accepted) => this.#opened(ws, req, accepted),
      refused: (req, answer) => this.#refused(req, answer),
    };
  }

  /** The open connections (a live view; it shrinks as they close). */
  get clients(): ReadonlySet<WebSocket> {
    return this.#clients;
  }

  /**
   * A snapshot of the server's figures: connections open and closed (by outcome, side and close
   * code), refused handshakes by status and reason, messages and bytes both ways, bytes waiting
   * for slow peers, the ping round-trip histogram and the permessage-deflate ratio.
   * `toPrometheus()` renders it for a Prometheus scrape. See docs/observability.md.
   */
  metrics(): MetricsSnapshot {
    return this.#metrics.snapshot(this.#clients);
  }

  /** Open connections plus handshakes in progress: what `maxConnections` bounds. Refused requests never count. */
  get connectionCount(): number {
    return this.#clients.size + this.#pending;
  }

  /**
   * Adds a route, matched in the order routes were added: `pattern` is an exact path ('/chat'),
   * a path with `:name` segments ('/rooms/:id'), '*' for every path, or a RegExp tested against
   * the path. Once any route exists, a path no route matches is refused with 404 before any
   * upgrade. Without routes every path is accepted and only 'connection' listeners see it.
   */
  route<P extends RoutePattern>(pattern: P, handler: ConnectionHandler<RouteParams<P>, Data> | MessageHandler<RouteParams<P>, Data>): this;
  route<P extends RoutePattern>(
    pattern: P,
    options: RouteOptions<Data>,
    handler: ConnectionHandler<RouteParams<P>, Data> | MessageHandler<RouteParams<P>, Data>,
  ): this;
  route(pattern: RoutePattern, a: unknown, b?: unknown): this {
    // The handler types above only narrow what a caller sees (params from the pattern, ws.data
    // from the hooks); at run time every route is the untyped Route.
    this.#router.add(pattern, b === undefined ? undefined : (a as RouteOptions), (b ?? a) as ConnectionHandler | MessageHandler);
    return this;
  }

  /**
   * Starts an http.Server of its own that upgrades WebSocket requests and answers every other
   * request with 426 (or hands it to `onRequest`). Resolves with the address once listening.
   */
  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    try {
      // A callback would never be called: the address comes back through the promise.
      if (arguments.length > 1) throw new InvalidArgumentError('listen() takes no callback: it returns a promise of the address');
      checkListenOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing !== null) return Promise.reject(new ServerStateError('closed', 'this WebSocketServer is closed'));
    if (this.#listener !== null || this.#h2Listening !== null) return Promise.reject(new ServerStateError('listening', 'this WebSocketServer is already listening'));
    // http2 hook: one TLS port for HTTP/2 and HTTP/1.1 (http2-listen.ts).
    if (options.http2 === true) return listenHttp2(options, (s) => this.attach(s)).then((l) => ((this.#h2Listening = l), l.address));
    const resolved = this.#options;
    const self = this;
    const listener = new HttpListener(
      {
        get closing(): boolean {
          return self.#closing !== null;
        },
        get connectionCount(): number {
          return self.connectionCount;
        },
        upgrade: (req, socket, head) => void upgradeHttp1(this.#host, req, socket, head),
        refused: (socket, answer) => this.#metrics.refused(null, socket, answer),
        tooManyConnections,
        error: (error) => this.emit('error', error),
      },
      {
        maxConnections: resolved.maxConnections,
        handshakeTimeout: resolved.handshakeTimeout,
        maxHeadSize: resolved.maxHeadSize,
        maxHeaderCount: resolved.maxHeaderCount,
        onRequest: options.onRequest,
      },
    );
    this.#listener = listener;
    return listener.listen(options.port ?? 0, options.host).catch((error: unknown) => {
      this.#listener = null;
      throw error;
    });
  }

  /** The address `listen` bound, or the first attached server's; null when neither is listening. */
  address(): AddressInfo | string | null {
    if (this.#listener !== null) return this.#listener.address();
    return this.#sources[0]?.server.address() ?? null;
  }

  /**
   * Serves WebSocket upgrades on an existing http or https server (Express's, Fastify's, ...):
   * every 'upgrade' request is handled here (including 404 for unknown paths); ordinary requests
   * are left to the application. `close()` detaches again and leaves that server running.
   *
   * An `http2.createSecureServer()` or `http2.createServer()` (h2c) is served too: attaching
   * advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and every extended CONNECT with `:protocol
   * websocket` (RFC 8441) goes through the same checks and routes (see docs/http2.md);
   * `options` apply to those servers only.
   */
  attach(server: HttpServer | HttpsServer | Http2AnyServer, options?: Http2AttachOptions): this {
    if (this.#closing !== null) throw new ServerStateError('closed', 'this WebSocketServer is closed');
    // http2 hook: an HTTP/2 server's streams are served by their own transport (http2-upgrade.ts);
    // its HTTP/1.1 side (allowHTTP1) emits 'upgrade' like an http.Server, handled below.
    if (isHttp2Server(server) && !this.#h2Sources.has(server)) this.#h2Sources.set(server, attachHttp2(this.#host, server, options));
    if (this.#sources.some((s) => s.server === server)) return this;
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      void upgradeHttp1(this.#host, req, socket, head);
    };
    server.on('upgrade', listener);
    this.#sources.push({ server: server as HttpServer, listener }); // http2 hook: the cast
    return this;
  }

  /**
   * Handles one upgrade request, for frameworks that own the http server and its 'upgrade'
   * event. Resolves with the connection, or with null when the request was refused (the socket
   * has then been answered and closed). Never rejects.
   *
   * `callback`, as ws's: called with `(ws, req)` once the connection is open, after the
   * 'connection' event and the route's handler have started; not called for a refused request.
   * (Unlike with ws, do not emit 'connection' yourself: the server already did.) A callback that
   * throws is reported like a throwing 'connection' listener ('handlerError', then 1011). A
   * `callback` that is not a function throws InvalidArgumentError at once, socket untouched.
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer | Uint8Array = new Uint8Array(0),
    callback?: (ws: WebSocket, req: IncomingMessage) => void,
  ): Promise<WebSocket | null> {
    optionalFunction('the handleUpgrade() callback', callback);
    let outcome: Promise<WebSocket | null>;
    try {
      const upgraded = upgradeHttp1(this.#host, req, socket, head);
      outcome = upgraded instanceof Promise ? upgraded : Promise.resolve(upgraded);
    } catch (error) {
      // Only an exotic socket whose own methods throw gets here; the promise still never rejects.
      this.#reportError(error, undefined, req);
      socket.destroy();
      return Promise.resolve(null);
    }
    if (callback !== undefined) {
      void outcome.then((ws) => {
        if (ws === null) return;
        try {
          callback(ws, req);
        } catch (error) {
          handlerFailed(error, ws, req, this.#report);
        }
      });
    }
    return outcome;
  }

  /**
   * An upgrade became a connection: it is listed until it closes, counted as open rather than
   * pending, announced to 'connection' listeners and handed to its route's handler.
   */
  #opened(ws: WebSocket, req: IncomingMessage, accepted: UpgradeAcceptance): void {
    this.#track(ws);
    this.#pending--;
    const { route, match } = accepted;
    try {
      this.emit('connection', ws as WebSocket<Data>, req, match);
    } catch (error) {
      // A 'connection' listener threw: the upgrade is done, so the answer is a close code.
      handlerFailed(error, ws, req, this.#report);
      return;
    }
    if (route !== undefined) runHandler(route.handler, route.options.concurrency ?? this.#options.concurrency, ws, req, match, this.#report);
  }

  /**
   * Lists an open connection until it closes. A method of its own, not an arrow inside the
   * upgrade: a closure there would keep the upgrade's whole scope alive for the life of the
   * connection (the request and its headers, the handshake guard and its timer), about 2 KiB
   * of heap per idle connection.
   */
  #track(ws: WebSocket): void {
    this.#clients.add(ws);
    this.#topics.attach(ws); // topics hook (issue 20)
    ws.on('close', this.#onClientClose);
    this.#metrics.track(ws);
  }

  #refused(req: IncomingMessage, answer: HttpRefusal): void {
    this.#metrics.refused(req, req.socket, answer);
    if (this.listenerCount('refused') === 0) return;
    try {
      this.emit('refused', req, answer);
    } catch (error) {
      // The refusal is still written; a listener's bug is reported like a hook's.
      this.#reportError(error, undefined, req);
    }
  }

  #reportError(error: unknown, ws: WebSocket | undefined, req: IncomingMessage): void {
    if (this.listenerCount('handlerError') > 0) {
      this.emit('handlerError', error, ws, req);
    } else {
      process.emitWarning(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Sends one message to every open client except `options.except`, and returns how many clients
   * it was sent to: publishing to everyone on this server (no broker, no history). The message is
   * framed once and the same bytes are handed to every connection; extensions are not applied (an
   * uncompressed frame is valid on a connection that negotiated permessage-deflate). Clients with
   * subscriptions get it in order with their topics' messages, under the slowSubscriber policy.
   */
  broadcast(data: string | Uint8Array | ArrayBuffer, options: BroadcastOptions = {}): number {
    checkOptionNames('broadcast()', optionsObject('broadcast()', options), BROADCAST_NAMES);
    return this.#topics.broadcast(this.#clients, data, options.binary === true, options.except); // topics hook (issue 20)
  }

  // Topics hooks (issue 20): each delegates to api/topics/hub.ts; see docs/topics.md.

  /**
   * Publishes `data` to `topic`: stored in the topic's history with the next offset and sent, by
   * the broker, to the topic's subscribers on every server that shares it, in publish order.
   * Resolves with the message's `{ topic, epoch, offset }`; rejects when the broker could not
   * store it (then nobody got it). See PublishOptions.
   */
  publish(topic: string, data: string | Uint8Array | ArrayBuffer, options?: PublishOptions): Promise<PublishResult> {
    return this.#topics.publish(topic, data, options);
  }

  /** How many connections of this server are subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this.#topics.subscriberCount(topic);
  }

  /**
   * How many connections subscribe to `topic` on every server that shares this server's broker
   * (this one included): asks the broker, so it is asynchronous. See docs/topics.md for how fresh
   * each broker's answer is.
   */
  totalSubscriberCount(topic: string): Promise<number> {
    return this.#topics.totalSubscriberCount(topic);
  }

  /**
   * The messages of `topic` after `options.since` that the broker's bounded history still holds,
   * the topic's current position, and whether that fills the gap (`complete`).
   */
  history(topic: string, options: HistoryOptions = {}): Promise<HistoryResult> {
    return this.#topics.history(topic, optionsObject('history()', options).since);
  }

  /** Counters of published messages, deliveries, drops and queued bytes (see TopicMetrics). */
  topicMetrics(): TopicMetrics {
    return this.#topics.metrics();
  }

  /**
   * Shuts down gracefully: stops accepting (new upgrades get 503), closes every client with 1001
   * (going away), waits for their closing handshakes up to the close timeout (then destroys what
   * is left), and stops listening. A server from `listen` is closed; attached servers are only
   * detached. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    for (const { server, listener } of this.#sources.splice(0)) server.off('upgrade', listener);
    for (const detach of this.#h2Sources.values()) detach(); // http2 hook
    this.#h2Sources.clear(); // http2 hook
    const own = this.#listener;
    own?.stopAccepting();
    for (const abort of [...this.#inflight.values()]) abort();

    // Each client gets its closeTimeout (0 = no bound) to finish its closing handshake.
    await closeClients(this.#clients, this.#options.connection.closeTimeout);
    await own?.closeAll();
    await this.#topics.close(); // topics hook (issue 20)
    await this.#h2Listening?.close(); // http2 hook
  }
}
