/**
 * `hybi serve`: a WebSocket server from the command line, to test clients against (echo), to
 * connect people (broadcast), to put a program on the network (exec, as websocat does), or to
 * show hybi in a browser (the demo chat room). The command line is parsed in serve-args.ts; who
 * may connect is decided in serve-access.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { WebSocketServer, type WebSocket } from '../index.js';
import { ChatRoom } from './chat-room.js';
import { TerminalPeers } from './listen.js';
import { paletteFor } from './output.js';
import { DEMO_PAGE_CSP, renderDemoPage } from './demo-page.js';
import { accessLine, hostAllowed, hostRefusal } from './serve-access.js';
import { parseServeArgs, SERVE_HELP, type ServeSettings } from './serve-args.js';
import { pathOf, remoteAddressOf, Session } from './session.js';
import { commandLine } from './units.js';

/** How long a command may outlive its connection once its stdin is closed, before SIGTERM. */
const EXEC_GRACE_MS = 2000;
/**
 * Bound on a graceful shutdown: after this, exit even if some peer never answered the 1001. A bit
 * longer than the server's own wait for closing handshakes (5 s), which normally ends it first.
 */
const SHUTDOWN_MS = 6000;

/** Runs `hybi serve` until SIGINT/SIGTERM and resolves to its exit status. */
export async function runServe(argv: string[]): Promise<number> {
  const s = commandLine('serve', argv, parseServeArgs, SERVE_HELP);
  if (typeof s === 'number') return s;
  const interactive = process.stdin.isTTY === true;
  // Ctrl-C and Ctrl-D reach the prompt, not the process: they stop the server as SIGINT does.
  const terminal =
    s.mode === 'interactive' ? new TerminalPeers(interactive, paletteFor(process.stdout, !interactive), 'hex', () => process.emit('SIGINT', 'SIGINT')) : undefined;
  const log = (line: string): void => {
    if (s.quiet) return;
    if (terminal) terminal.log(`${new Date().toISOString()} ${line}`);
    else process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };

  let wss: WebSocketServer;
  try {
    wss = new WebSocketServer(s.server);
  } catch (err) {
    process.stderr.write(`hybi serve: ${(err as Error).message}\n`);
    return 2;
  }
  const room = s.mode === 'demo' ? new ChatRoom() : undefined;
  const sessions = new Set<Session>();
  const children = new Set<ChildProcess>();
  let nextId = 0;

  const handler = (ws: WebSocket, req: IncomingMessage): Promise<unknown> => {
    const session = new Session(++nextId, ws, remoteAddressOf(req), pathOf(req));
    sessions.add(session);
    log(session.openLine());
    void session.ended.then((summary) => {
      sessions.delete(session);
      log(session.closeLine(summary));
    });
    switch (s.mode) {
      case 'echo':
        // Each reply is awaited before the next message is taken, so a client that sends without
        // reading is slowed by TCP instead of piling its replies up in our memory.
        void (async () => {
          for await (const m of session.messages()) await session.send(m.text ?? m.bytes!);
        })();
        break;
      case 'broadcast':
        void (async () => {
          for await (const m of session.messages()) {
            const data = m.text ?? m.bytes!;
            // Nobody waits for the slowest listener; one that falls too far behind is dropped.
            for (const other of sessions) if (other !== session) void other.sendOrShed(data);
            // The sender waits for its own copy: a flood is slowed down to its own reading pace.
            await session.send(data);
          }
        })();
        break;
      case 'exec':
        children.add(runCommand(session, s.command!, log, children));
        break;
      case 'demo':
        room!.join(session, new URLSearchParams((req.url ?? '').split('?')[1] ?? ''));
        break;
      case 'interactive':
        terminal!.attach(session);
        break;
    }
    // A route handler's promise is the connection's life: settle it when the connection ends.
    return session.ended;
  };

  if (s.path !== undefined) wss.route(s.path, {}, handler);
  else wss.on('connection', handler);

  const page = s.mode === 'demo' ? renderDemoPage(s.path!) : '';
  const metricsText = (): string => wss.metrics().toPrometheus();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => answerHttp(req, res, s, page, metricsText);
  // Without listeners these would be process warnings or (for 'error') a crash; here they are log lines.
  wss.on('error', (err: Error) => process.stderr.write(`hybi serve: ${err.message}\n`));
  wss.on('handlerError', (err: unknown) => log(`handler error: ${err instanceof Error ? err.message : String(err)}`));
  wss.on('refused', (req: IncomingMessage, answer: { status: number }) => {
    log(`refused addr=${remoteAddressOf(req)} path=${pathOf(req)} status=${answer.status}`);
  });
  // Without TLS the WebSocketServer runs its own http.Server (which also bounds how long a client
  // may take to send its request head); with TLS it is attached to an https.Server of ours.
  let tlsServer: HttpsServer | undefined;
  let port: number;
  try {
    if (s.tls) {
      const server = createHttpsServer({ cert: s.tls.cert, key: s.tls.key });
      tlsServer = server;
      server.on('request', onRequest);
      wss.attach(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: s.port, host: s.host }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err: Error) => process.stderr.write(`hybi serve: ${err.message}\n`));
      port = (server.address() as AddressInfo).port;
    } else {
      port = (await wss.listen({ port: s.port, host: s.host, onRequest })).port;
    }
  } catch (err) {
    process.stderr.write(`hybi serve: cannot listen on ${s.host}:${s.port}: ${(err as Error).message}\n`);
    return 1;
  }
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  const ws = `${s.tls ? 'wss' : 'ws'}://${host}:${port}${s.path ?? '/'}`;
  if (s.mode === 'demo') {
    process.stderr.write(`hybi serve: chat demo at ${s.tls ? 'https' : 'http'}://${host}:${port}/ (WebSocket ${ws}); ${accessLine(s)}; Ctrl-C stops\n`);
  } else {
    const what = s.mode === 'exec' ? `exec ${JSON.stringify(s.command)}` : s.mode;
    process.stderr.write(`hybi serve: ${what} server listening on ${ws}${s.path === undefined ? ' (any path)' : ''}; ${accessLine(s)}\n`);
  }
  terminal?.start();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // A second signal means "now": do not wait for slow peers.
        process.stderr.write(`hybi serve: ${signal} again, exiting at once\n`);
        resolve(1);
        return;
      }
      stopping = true;
      log(`${signal}: closing ${sessions.size} connection(s) with 1001 (going away)`);
      const force = setTimeout(() => {
        // Peers that never answered the close: cut them off, and let their log lines out first.
        process.stderr.write(`hybi serve: ${sessions.size} connection(s) did not close within ${SHUTDOWN_MS} ms\n`);
        const left = [...sessions];
        for (const session of left) session.ws.terminate();
        const logged = Promise.all(left.map((session) => session.ended));
        void Promise.race([logged, new Promise((r) => setTimeout(r, 500))]).then(() => resolve(0));
      }, SHUTDOWN_MS);
      tlsServer?.close(() => {});
      room?.close();
      terminal?.close();
      wss
        .close()
        .catch(() => {})
        .then(() => {
          for (const child of children) child.kill('SIGTERM');
          clearTimeout(force);
          resolve(0);
        });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Plain HTTP requests: the demo page, the metrics (--metrics), or a hint that this is a WebSocket endpoint. */
function answerHttp(req: IncomingMessage, res: ServerResponse, s: ServeSettings, page: string, metricsText: () => string): void {
  const path = pathOf(req);
  // A rebound name gets nothing: not the demo's page (whose script would then connect as our
  // own origin), not even the hint.
  if (!hostAllowed(req.headers.host, s.allowedHosts)) {
    const answer = hostRefusal();
    res.writeHead(answer.status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end(answer.body);
    return;
  }
  if (s.metrics !== undefined && path === s.metrics) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    const text = metricsText();
    res.writeHead(200, {
      // The exposition format's content type (Prometheus text format 0.0.4).
      'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
    return;
  }
  if (s.mode === 'demo' && (path === '/' || path === '/index.html')) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(page),
      'Content-Security-Policy': DEMO_PAGE_CSP,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : page);
    return;
  }
  if (s.mode === 'demo' && path !== s.path) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  // RFC 9110 section 15.5.22: 426 tells the client which protocol to upgrade to.
  res
    .writeHead(426, { Upgrade: 'websocket', Connection: 'Upgrade', 'Content-Type': 'text/plain; charset=utf-8' })
    .end(`This is a WebSocket endpoint. Try: hybi connect ${s.tls ? 'wss' : 'ws'}://${req.headers.host ?? 'HOST'}${path}\n`);
}

/**
 * --exec: one process per connection (as websocat's cmd: does). Text messages reach its stdin with
 * a newline, binary ones as they are; each line of its stdout is sent as a text message. Both
 * directions wait: a program that does not read its stdin stops the reading of the client's
 * socket, and a chatty program is slowed to the client's pace. When it exits the connection
 * closes (1000, or 1011 with its status); when the connection closes its stdin ends, and it gets
 * SIGTERM if it is still running a little later.
 */
function runCommand(session: Session, command: string, log: (line: string) => void, children: Set<ChildProcess>): ChildProcess {
  const child = spawn(command, {
    shell: true,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: {
      ...process.env,
      // Python block-buffers stdout in a pipe, which would hold every answer back.
      PYTHONUNBUFFERED: '1',
      HYBI_REMOTE_ADDR: session.address,
      HYBI_PATH: session.path,
      HYBI_PROTOCOL: session.ws.protocol,
    },
  });
  const close = (code: number, reason: string): void => {
    if (session.ws.readyState === 'open') session.ws.close(code, reason).catch(() => {});
  };
  child.on('error', (err) => {
    log(`#${session.id} exec failed: ${err.message}`);
    close(1011, 'command failed to start');
  });
  // The program may exit without reading everything: that is its business, not a crash of ours.
  child.stdin!.on('error', () => {});
  const feed = (async () => {
    const stdin = child.stdin!;
    for await (const m of session.messages()) {
      if (!stdin.writable) continue;
      // Waiting for 'drain' pauses the loop, and with it the reading of the client's socket.
      const ok = stdin.write(m.text !== undefined ? m.text + '\n' : m.bytes!);
      if (!ok) await Promise.race([once(stdin, 'drain'), once(stdin, 'close')]);
    }
  })();
  void feed.catch(() => {});
  const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  const pump = (async () => {
    for await (const line of lines) {
      // Once the connection is gone, stop reading: the program gets EOF and, later, SIGTERM.
      if (session.ws.readyState !== 'open') break;
      await session.send(line);
    }
  })().catch(() => {});
  child.on('close', (code, signal) => {
    children.delete(child);
    void pump.then(() => {
      if (code === 0) close(1000, '');
      else close(1011, `command exited with ${code ?? signal}`);
    });
  });
  void session.ended.then(() => {
    child.stdin!.end();
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGTERM'), EXEC_GRACE_MS);
    timer.unref();
    child.once('exit', () => clearTimeout(timer));
  });
  return child;
}
