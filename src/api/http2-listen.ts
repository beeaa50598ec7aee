/**
 * `server.listen({ http2: true, tls })`: one TLS port that speaks HTTP/2 and HTTP/1.1 (ALPN `h2`,
 * `http/1.1`, Node's `allowHTTP1`), with the WebSocketServer attached to both: RFC 8441 streams
 * on HTTP/2 connections, Upgrade requests on HTTP/1.1 ones, so a browser that does not use
 * WebSocket over HTTP/2 still connects. Plain requests go to `onRequest`, or get 426.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { buildH2Refusal } from '../core/handshake-h2.js';
import { upgradeRequiredRefusal } from '../node/upgrade.js';

/** What listen() needs to start the HTTP/2 server. */
interface Http2ListenInput {
  port?: number;
  host?: string;
  tls?: http2.SecureServerOptions;
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** The HTTP/2 server of `listen`, and how to close it with its sessions. */
export interface Http2Listening {
  readonly server: http2.Http2SecureServer;
  readonly address: AddressInfo;
  /** Stops listening and closes every session (GOAWAY), once the WebSockets on them are closed. */
  close(): Promise<void>;
}

/** Starts the server, hands it to `attach` before it listens (so its first session has the setting), and resolves once listening. */
export async function listenHttp2(input: Http2ListenInput, attach: (server: http2.Http2SecureServer) => void): Promise<Http2Listening> {
  const onRequest =
    input.onRequest ??
    ((_req: IncomingMessage, res: ServerResponse): void => {
      // The same 426 as listen()'s HTTP/1.1 server, without the fields HTTP/2 forbids.
      const { headers, body } = buildH2Refusal(upgradeRequiredRefusal());
      const status = Number(headers[':status']);
      delete headers[':status'];
      if (res.req.httpVersionMajor === 1) headers['upgrade'] = 'websocket';
      res.writeHead(status, headers as Record<string, string>);
      res.end(body);
    });
  // Loaded on first use only (see node/http2-streams.ts).
  const server = process.getBuiltinModule('node:http2').createSecureServer({ ...input.tls, allowHTTP1: true }, onRequest as never);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  // HTTP/1.1 connections (allowHTTP1) are no sessions: tracked to end idle keep-alive ones on close.
  const http1 = new Set<import('node:tls').TLSSocket>();
  server.on('secureConnection', (socket) => {
    if (socket.alpnProtocol === 'h2') return;
    http1.add(socket);
    socket.once('close', () => http1.delete(socket));
  });
  attach(server);
  server.listen(input.port ?? 0, input.host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error;
    }),
  ]);
  return {
    server,
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.close();
        // Their WebSockets are closed by now; an idle keep-alive connection would hold close() open.
        for (const socket of http1) socket.destroy();
      }),
  };
}
