import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import fc from 'fast-check';
import { ChunkedDecoder } from '../../src/node/chunked-decoder.js';
import { dial } from '../../src/node/dial.js';
import { readResponseBody } from '../../src/node/response-body.js';
import { readResponseHead } from '../../src/node/response-head.js';
import { ConnectError, HandshakeError } from '../../src/node/errors.js';
import { selfSignedCertificate } from '../fixtures/cert.js';
import { activeResources, leftover } from '../fixtures/resources.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A TCP server on 127.0.0.1 that hands each accepted socket to `onSocket`. */
async function tcpServer(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, sockets };
}

async function stop(s: { server: Server | TlsServer; sockets: Set<Socket> }): Promise<void> {
  for (const socket of s.sockets) socket.destroy();
  await new Promise<void>((resolve) => s.server.close(() => resolve()));
}

/** A port with nothing listening on it: bound, then released. */
async function closedPort(): Promise<number> {
  const s = await tcpServer(() => {});
  await stop(s);
  return s.port;
}

/** Connects with dial() and feeds `response` from a server; returns the client socket and the result. */
async function exchange(response: (socket: Socket) => void): Promise<{ socket: Socket; close: () => Promise<void>; s: Awaited<ReturnType<typeof tcpServer>> }> {
  const s = await tcpServer((socket) => {
    socket.once('data', () => response(socket));
  });
  const socket = await dial({ host: '127.0.0.1', port: s.port });
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  return { socket, s, close: async () => { socket.destroy(); await stop(s); } };
}

describe('dial: TCP', () => {
  it('resolves with a connected socket and adds no listeners of its own', async () => {
    const s = await tcpServer((socket) => socket.end());
    const socket = await dial({ host: '127.0.0.1', port: s.port });
    assert.equal(socket.remotePort, s.port);
    assert.equal(socket.listenerCount('error'), 0);
    assert.equal(socket.listenerCount('connect'), 0);
    socket.destroy();
    await stop(s);
  });

  it('turns a refused connection into a ConnectError with host, port and the cause', async () => {
    const port = await closedPort();
    const baseline = activeResources();
    await assert.rejects(dial({ host: '127.0.0.1', port }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, 'ERR_CONNECT');
      assert.equal(err.host, '127.0.0.1');
      assert.equal(err.port, port);
      assert.equal(err.timedOut, false);
      assert.equal((err.cause as { code?: string }).code, 'ECONNREFUSED');
      return true;
    });
    assert.deepEqual(await leftover(baseline), []);
  });

  it('rejects an already aborted signal without opening a socket', async () => {
    const baseline = activeResources();
    const reason = new Error('changed my mind');
    await assert.rejects(dial({ host: '127.0.0.1', port: 1, signal: AbortSignal.abort(reason) }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.cause, reason);
      assert.equal(err.timedOut, false);
      return true;
    });
    assert.deepEqual(activeResources(), baseline);
  });
});

describe('dial: TLS', () => {
  let server: TlsServer;
  let port = 0;
  const sockets = new Set<Socket>();
  let onServername: ((name: string | false | null) => void) | undefined;
  /** Resolves with the SNI name of the next connection the server completes. */
  const nextServername = (): Promise<string | false | null> => new Promise((resolve) => (onServername = resolve));
  const { cert, key } = selfSignedCertificate();

  before(async () => {
    server = createTlsServer({ cert, key }, (socket: TLSSocket) => {
      onServername?.(socket.servername);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    await stop({ server, sockets });
  });

  it('connects when the self-signed certificate is trusted through ca, without SNI for an IP', async () => {
    const seen = nextServername();
    const socket = (await dial({ host: '127.0.0.1', port, tls: { ca: cert } })) as TLSSocket;
    assert.equal(socket.authorized, true);
    assert.equal(socket.alpnProtocol, false);
    assert.equal(await seen, false);
    socket.destroy();
  });

  it('sends the host name in SNI for a name, and the servername option when given', async () => {
    const seenA = nextServername();
    const a = await dial({ host: 'localhost', port, tls: { ca: cert } }).catch((err: unknown) => err);
    // 'localhost' may resolve to ::1 only where the server is not; only check SNI when it connected.
    if (!(a instanceof Error)) {
      assert.equal(await seenA, 'localhost');
      (a as Socket).destroy();
    }
    const seenB = nextServername();
    const b = await dial({ host: '127.0.0.1', port, tls: { ca: cert, servername: 'localhost' } });
    assert.equal(await seenB, 'localhost');
    b.destroy();
  });

  it('rejects the untrusted certificate with a ConnectError and leaves nothing behind', async () => {
    const baseline = activeResources();
    await assert.rejects(dial({ host: '127.0.0.1', port, tls: {} }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.timedOut, false);
      assert.match(String((err.cause as { code?: string }).code), /SELF_SIGNED|UNABLE_TO_VERIFY/);
      return true;
    });
    assert.deepEqual(await leftover(baseline), []);
  });

  it('rejects a certificate for another name', async () => {
    await assert.rejects(dial({ host: '127.0.0.1', port, tls: { ca: cert, servername: 'example.com' } }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal((err.cause as { code?: string }).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
      return true;
    });
  });

  it('accepts anything with rejectUnauthorized: false', async () => {
    const socket = (await dial({ host: '127.0.0.1', port, tls: { rejectUnauthorized: false } })) as TLSSocket;
    assert.equal(socket.authorized, false);
    socket.destroy();
  });
});

describe('dial: timeout and abort', () => {
  // A TCP server that never speaks TLS: the TLS handshake waits forever.
  let silent: Awaited<ReturnType<typeof tcpServer>>;
  before(async () => {
    // It reads (so it sees the client leave and closes its side) but never answers.
    silent = await tcpServer((socket) => socket.resume());
  });
  after(async () => {
    await stop(silent);
  });

  it('gives up after timeout with timedOut set, and clears its timer and socket', async () => {
    const baseline = activeResources();
    const started = Date.now();
    await assert.rejects(dial({ host: '127.0.0.1', port: silent.port, tls: {}, timeout: 100 }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.timedOut, true);
      assert.equal(err.port, silent.port);
      return true;
    });
    assert.ok(Date.now() - started >= 90);
    assert.deepEqual(await leftover(baseline), []);
  });

  it('reports an abort with the reason as cause; a TimeoutError reason counts as a timeout', async () => {
    const baseline = activeResources();
    const controller = new AbortController();
    const pending = dial({ host: '127.0.0.1', port: silent.port, tls: {}, signal: controller.signal });
    setImmediate(() => controller.abort(new Error('stop')));
    await assert.rejects(pending, (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.timedOut, false);
      assert.equal((err.cause as Error).message, 'stop');
      return true;
    });
    const timed = new AbortController();
    const pending2 = dial({ host: '127.0.0.1', port: silent.port, tls: {}, signal: timed.signal });
    setImmediate(() => timed.abort(new DOMException('too slow', 'TimeoutError')));
    await assert.rejects(pending2, (err: unknown) => err instanceof ConnectError && err.timedOut);
    assert.deepEqual(await leftover(baseline), []);
  });
});

describe('readResponseHead: the server answer read off the socket', () => {
  it('returns the head and leaves the bytes after it to the caller, in order', async () => {
    const x = await exchange((socket) => {
      // Head, then frame bytes in the same write, then more in a later write.
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nfirst');
      setTimeout(() => socket.write('second'), 20);
    });
    const response = await readResponseHead(x.socket, { host: '127.0.0.1', port: x.s.port });
    assert.equal(response.status, 101);
    assert.equal(response.head.headers['upgrade'], 'websocket');
    assert.equal(x.socket.listenerCount('readable'), 0);
    assert.equal(x.socket.listenerCount('error'), 0);
    // Whoever takes the socket next gets everything after `rest`.
    const later = await new Promise<string>((resolve) => {
      let text = '';
      x.socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.endsWith('second')) resolve(text);
      });
    });
    assert.equal(dec.decode(response.rest) + later, 'firstsecond');
    await x.close();
  });

  it('reads a head split across many writes', async () => {
    const x = await exchange((socket) => {
      const text = 'HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno';
      let i = 0;
      const step = (): void => {
        if (i < text.length) {
          socket.write(text[i++]!);
          setImmediate(step);
        }
      };
      step();
    });
    const response = await readResponseHead(x.socket, { host: '127.0.0.1', port: x.s.port });
    assert.equal(response.status, 403);
    await x.close();
  });

  it('is a HandshakeError with status 0 when the server closes before finishing the head', async () => {
    const x = await exchange((socket) => socket.end('HTTP/1.1 101 Swi'));
    await assert.rejects(readResponseHead(x.socket, { host: '127.0.0.1', port: x.s.port }), (err: unknown) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 0);
      return true;
    });
    assert.equal(x.socket.destroyed, true);
    await x.close();
  });

  it('is a HandshakeError when the answer is not HTTP or is too large', async () => {
    const x = await exchange((socket) => socket.write('SSH-2.0-OpenSSH\r\n\r\n'));
    await assert.rejects(readResponseHead(x.socket, { host: '127.0.0.1', port: x.s.port }), HandshakeError);
    await x.close();
    const y = await exchange((socket) => socket.write('HTTP/1.1 101 OK\r\nX: ' + 'a'.repeat(40_000)));
    await assert.rejects(readResponseHead(y.socket, { host: '127.0.0.1', port: y.s.port, limits: { maxHeadSize: 16_384 } }), HandshakeError);
    await y.close();
  });

  it('is a ConnectError on abort, and destroys the socket', async () => {
    const x = await exchange(() => {});
    const controller = new AbortController();
    const pending = readResponseHead(x.socket, { host: '127.0.0.1', port: x.s.port, signal: controller.signal });
    setTimeout(() => controller.abort(new DOMException('late', 'TimeoutError')), 20);
    await assert.rejects(pending, (err: unknown) => err instanceof ConnectError && err.timedOut);
    assert.equal(x.socket.destroyed, true);
    await x.close();
  });
});

describe('readResponseBody: the page of a refused upgrade, bounded', () => {
  async function body(raw: string | ((socket: Socket) => void), options = {}): Promise<{ status: number; body: string; ms: number }> {
    const x = await exchange(typeof raw === 'string' ? (socket) => socket.write(raw) : raw);
    const response = await readResponseHead(x.socket, { host: '127.0.0.1', port: x.s.port });
    const started = Date.now();
    const bytes = await readResponseBody(x.socket, response, options);
    const ms = Date.now() - started;
    assert.equal(x.socket.destroyed, true);
    await x.close();
    return { status: response.status, body: dec.decode(bytes), ms };
  }

  it('reads exactly Content-Length bytes without waiting for the close', async () => {
    const r = await body('HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden', { timeout: 5000 });
    assert.equal(r.status, 403);
    assert.equal(r.body, 'forbidden');
    assert.ok(r.ms < 4000);
  });

  it('decodes a chunked body', async () => {
    const r = await body('HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nlog \r\n3;x=y\r\nin!\r\n0\r\n\r\n', { timeout: 5000 });
    assert.equal(r.body, 'log in!');
    assert.ok(r.ms < 4000);
  });

  it('reads until close when there is no length', async () => {
    const r = await body((socket) => {
      socket.write('HTTP/1.0 500 Oops\r\n\r\npart one,');
      setTimeout(() => socket.end(' part two'), 20);
    });
    assert.equal(r.status, 500);
    assert.equal(r.body, 'part one, part two');
  });

  it('stops at maxBytes', async () => {
    const r = await body((socket) => socket.write('HTTP/1.1 403 F\r\n\r\n' + 'x'.repeat(200_000)), { maxBytes: 1000 });
    assert.equal(r.body.length, 1000);
  });

  it('stops after the timeout with what it has when the body never ends', async () => {
    const baseline = activeResources();
    const r = await body('HTTP/1.1 403 F\r\nContent-Length: 100\r\n\r\nhalf', { timeout: 100 });
    assert.equal(r.body, 'half');
    assert.ok(r.ms >= 90);
    assert.deepEqual(await leftover(baseline), []);
  });

  it('reads nothing for 204 and 304', async () => {
    const r = await body('HTTP/1.1 304 Not Modified\r\n\r\n', { timeout: 5000 });
    assert.equal(r.body, '');
    assert.ok(r.ms < 4000);
  });
});

describe('ChunkedDecoder: RFC 9112 section 7.1 at any chunk boundary', () => {
  const encoded = '5\r\nhello\r\n1;ext="q"\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\n';

  it('decodes the same body however the input is split', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: encoded.length }), { maxLength: 12 }), (cuts) => {
        const bytes = enc.encode(encoded);
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const decoder = new ChunkedDecoder();
        let out = '';
        for (let i = 1; i < points.length; i++) out += dec.decode(decoder.push(bytes.subarray(points[i - 1], points[i])));
        return out === 'hello world!' && decoder.done;
      }),
    );
  });

  it('ends on malformed input instead of waiting', () => {
    const decoder = new ChunkedDecoder();
    assert.equal(dec.decode(decoder.push(enc.encode('3\r\nabcXYZ'))), 'abc');
    assert.equal(decoder.done, true);
    const bad = new ChunkedDecoder();
    bad.push(enc.encode('zz\r\n'));
    assert.equal(bad.done, true);
  });

  it('bounds the size line', () => {
    const decoder = new ChunkedDecoder();
    decoder.push(enc.encode('f'.repeat(100)));
    assert.equal(decoder.done, true);
  });
});
