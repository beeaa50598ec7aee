/**
 * The HTTP/1.1 listener of `WebSocketServer.listen()`: a TCP server whose connections are bounded
 * from their first byte (maxConnections, the handshake timer), whose upgrade request heads are
 * read with the core's parser and handed straight to the WebSocket server, and whose other
 * requests go to an http.Server of its own (`onRequest`, else 426 Upgrade Required).
 *
 * It knows the WebSocket server only through ListenerHost, so that it stays in the node layer.
 */
import { Buffer } from 'node:buffer';
import { createServer, IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpRefusal } from '../core/handshake.js';
import { listHasToken } from '../core/header-tokens.js';
import { HttpHeadParser, type HttpHead } from '../core/http-head.js';
import { clientErrorRefusal, guardHandshake, refuseUpgrade, timeoutRefusal, upgradeRequiredRefusal, type HandshakeGuard } from './upgrade.js';

/** What the listener needs of the WebSocket server it serves. */
interface ListenerHost {
  /** True once the server is closing: new connections are dropped unread. */
  readonly closing: boolean;
  /** Open connections plus upgrades being decided (not the sockets this listener still reads heads from). */
  readonly connectionCount: number;
  /** A request head asking for an upgrade was read: the server decides it. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Uint8Array): void;
  /** A connection was refused before its request reached the server (full, timed out, unparsable): for the metrics. */
  refused(socket: Duplex, answer: HttpRefusal): void;
  /** The refusal for a connection over `maxConnections`. */
  tooManyConnections(): HttpRefusal;
  /** An error of the TCP server after it started listening. */
  error(error: Error): void;
}

/** The listener's bounds and its answer to plain requests. */
interface ListenerSettings {
  readonly maxConnections: number;
  readonly handshakeTimeout: number;
  readonly maxHeadSize: number;
  readonly maxHeaderCount: number;
  /** Answers plain HTTP requests; undefined: 426 Upgrade Required. */
  readonly onRequest: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
}

/** One `listen()`: its TCP server, its http.Server and the sockets whose request head is still arriving. */
export class HttpListener {
  readonly #host: ListenerHost;
  readonly #settings: ListenerSettings;
  readonly #http: HttpServer;
  readonly #tcp: NetServer;
  /** Sockets whose request head has not arrived: the handshake timer covers them. */
  readonly #early = new Map<Duplex, HandshakeGuard>();
  /** Sockets refused at accept (over maxConnections): their requests are ignored. */
  readonly #overCapacity = new WeakSet<Duplex>();
  /**
   * The 'close' listener that forgets an early socket: one function per listener, called with the
   * socket as `this`, rather than a closure per connection.
   */
  readonly #onEarlyClose: (this: Duplex) => void;
  #stopped: Promise<void> | null = null;

  constructor(host: ListenerHost, settings: ListenerSettings) {
    this.#host = host;
    this.#settings = settings;
    const early = this.#early;
    this.#onEarlyClose = function (this: Duplex): void {
      early.delete(this);
    };
    const server = createServer({ maxHeaderSize: settings.maxHeadSize });
    // Node drops header fields beyond maxHeadersCount without telling anyone; keep one more than
    // our bound so that the server's head limits see the excess and answer 431.
    server.maxHeadersCount = settings.maxHeaderCount + 1;
    // The http.Server never listens itself: it gets the connections #accept hands over. This
    // starts its bookkeeping of them (closeIdleConnections, request and headers timeouts), which
    // Node otherwise starts on 'listening'.
    server.emit('listening');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#request(req, res));
    server.on('clientError', (error: Error, socket: Duplex) => this.#clientError(error, socket));
    // A later request on a kept-alive connection that node:http parsed itself.
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Already answered 503 at accept; the request arrived while the answer lingered.
      if (this.#overCapacity.has(socket)) return;
      host.upgrade(req, socket, head);
    });
    this.#http = server;
    this.#tcp = createNetServer({ noDelay: true }, (socket) => this.#accept(socket));
  }

  /** Starts listening; resolves with the address, or rejects (and releases everything) when the port cannot be had. */
  listen(port: number, hostname: string | undefined): Promise<AddressInfo> {
    const tcp = this.#tcp;
    return new Promise<AddressInfo>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.#http.close();
        reject(error);
      };
      tcp.once('error', onError);
      tcp.listen(port, hostname, () => {
        tcp.off('error', onError);
        tcp.on('error', (error) => this.#host.error(error));
        resolve(tcp.address() as AddressInfo);
      });
    });
  }

  /** The address listened on. */
  address(): AddressInfo | string | null {
    return this.#tcp.address();
  }

  /**
   * The handshake timer that started with this socket's connection, handed over with its upgrade
   * request so that it goes on bounding the rest of the handshake (one timer per connection
   * rather than two); null for a socket this listener is not timing.
   */
  takeGuard(socket: Duplex): HandshakeGuard | null {
    const guard = this.#early.get(socket);
    if (guard === undefined) return null;
    this.#early.delete(socket);
    socket.off('close', this.#onEarlyClose);
    return guard;
  }

  /** Stops accepting, closes idle keep-alive connections, and drops the sockets whose head has not arrived. */
  stopAccepting(): void {
    const tcp = this.#tcp;
    this.#stopped ??= new Promise<void>((resolve) => {
      tcp.close(() => resolve());
    });
    // It never listened, so this only stops its timers and closes its idle keep-alive connections.
    this.#http.close(() => {});
    this.#http.closeIdleConnections();
    for (const guard of this.#early.values()) guard.cancel();
    for (const socket of this.#early.keys()) socket.destroy();
    this.#early.clear();
  }

  /** Closes what is left (plain requests in progress) and resolves once the TCP server is closed. */
  async closeAll(): Promise<void> {
    this.stopAccepting();
    this.#http.closeAllConnections();
    await this.#stopped;
  }

  /**
   * A new connection. The request head is read here with the core's parser rather than by
   * node:http: an upgrade request then goes straight to the server, which skips Node's parser,
   * its IncomingMessage plumbing and its 'upgrade' dispatch (measured: about 1.6 times the new
   * connections per second). Every other head, a plain request or one our parser refuses, is
   * handed to the http.Server with the bytes read so far, so node:http answers it exactly as if
   * it had read it itself (onRequest, 426, 400, 431).
   */
  #accept(socket: Socket): void {
    const host = this.#host;
    const settings = this.#settings;
    if (host.closing) {
      socket.destroy();
      return;
    }
    if (host.connectionCount + this.#early.size >= settings.maxConnections) {
      // Over the bound: answered before its request is even read, with no handshake timer or
      // bookkeeping of ours, so a flood of connections (slow ones included) costs nothing more.
      this.#overCapacity.add(socket);
      const answer = host.tooManyConnections();
      host.refused(socket, answer);
      refuseUpgrade(socket, answer);
      return;
    }
    const http = this.#http;
    // Both let go once the head is read: the closures of this function live as long as the
    // guard's, and the parser holds the head's strings.
    // The settings carry both limits: no object of its own per connection.
    let parser: HttpHeadParser | null = new HttpHeadParser('request', settings);
    let chunks: Buffer[] | null = null;
    // The head is read with 'readable' rather than 'data': the socket is reading from its
    // creation, so listening costs no tick, where 'data' schedules a resume for the next one
    // (each tick with work makes Node allocate for its promise-rejection bookkeeping; a server
    // opening thousands of connections a second pays that in collections).
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (parser !== null && (chunk = socket.read() as Buffer | null) !== null) {
        const result = parser.push(chunk);
        if (result.state === 'incomplete') {
          (chunks ??= []).push(chunk);
          continue;
        }
        socket.off('readable', onReadable);
        // Nothing more is taken from the socket until the upgrade (or node:http) starts it again;
        // meanwhile it buffers up to its high-water mark and then stops reading.
        socket.pause();
        parser = null;
        if (result.state === 'complete' && isUpgradeHead(result.head)) {
          chunks = null;
          host.upgrade(upgradeRequest(socket, result.head), socket, result.rest);
          return;
        }
        const bytes = chunks === null ? chunk : Buffer.concat([...chunks, chunk]);
        chunks = null;
        http.emit('connection', socket);
        // node:http reads the socket's handle directly from now on; what we already read goes to
        // its parser through the 'data' listener it has just added.
        socket.emit('data', bytes);
        return;
      }
    };
    // The handshake timer starts with the connection, so a client that dribbles its request
    // head byte by byte is answered 408 and dropped.
    const guard = guardHandshake(socket, settings.handshakeTimeout, () => {
      socket.off('readable', onReadable);
      const answer = timeoutRefusal();
      host.refused(socket, answer);
      return answer;
    });
    this.#trackEarly(socket, guard);
    socket.on('readable', onReadable);
  }

  /**
   * Lists a connection whose head has not arrived yet, until it closes or its head is read. A
   * method of its own so that the 'close' listener, which lives as long as the socket, does not
   * keep #accept's closures (and whatever they hold) alive with it.
   */
  #trackEarly(socket: Socket, guard: HandshakeGuard): void {
    this.#early.set(socket, guard);
    socket.on('close', this.#onEarlyClose);
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    if (this.#overCapacity.has(req.socket)) return;
    this.#early.get(req.socket)?.cancel();
    this.#early.delete(req.socket);
    const onRequest = this.#settings.onRequest;
    if (onRequest !== undefined) {
      onRequest(req, res);
      return;
    }
    const answer = upgradeRequiredRefusal();
    res.writeHead(answer.status, { ...answer.headers, Connection: 'close' });
    res.end(answer.body);
  }

  #clientError(error: Error, socket: Duplex): void {
    if (this.#overCapacity.has(socket)) {
      socket.destroy();
      return;
    }
    this.#early.get(socket)?.cancel();
    this.#early.delete(socket);
    const answer = clientErrorRefusal(error);
    this.#host.refused(socket, answer);
    refuseUpgrade(socket, answer);
  }
}

/**
 * Whether node:http would have emitted 'upgrade' for this head: an Upgrade header field and the
 * `upgrade` token in Connection (RFC 7230 section 6.7), or the CONNECT method; then the server
 * judges it (a non-WebSocket upgrade is refused there, as node:http's would be).
 */
function isUpgradeHead(head: HttpHead): boolean {
  if (head.startLine[0] === 'CONNECT') return true;
  const headers = head.headers;
  if (headers['upgrade'] === undefined) return false;
  const connection = headers['connection'];
  if (connection === undefined) return false;
  return listHasToken(Array.isArray(connection) ? connection.join(', ') : connection, 'upgrade') === true;
}

/** The IncomingMessage that the server, its hooks and its handlers see, filled from a parsed head. */
function upgradeRequest(socket: Socket, head: HttpHead): IncomingMessage {
  const req = new IncomingMessage(socket);
  const [method, target, version] = head.startLine;
  req.method = method;
  req.url = target;
  const major = version.charCodeAt(5) - 48;
  const minor = version.charCodeAt(7) - 48;
  req.httpVersionMajor = major;
  req.httpVersionMinor = minor;
  req.httpVersion = `${major}.${minor}`;
  req.headers = head.headers as IncomingMessage['headers'];
  req.rawHeaders = head.rawHeaders;
  // Set by Node's parser on the requests it emits with 'upgrade' (not in @types/node).
  (req as IncomingMessage & { upgrade: boolean }).upgrade = true;
  req.complete = true;
  // No body is read for an upgrade request: the stream ends as Node's does, but at its first
  // read rather than here. Nearly no one reads it, and an end pushed now costs every connection
  // a tick of the stream's 'readable' bookkeeping (measured: 0.4-0.5 us of CPU).
  req._read = endAtFirstRead;
  return req;
}

/** The `_read` of an upgrade request: it has no body, so the first read ends it. */
function endAtFirstRead(this: IncomingMessage): void {
  this.push(null);
}
