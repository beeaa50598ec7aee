// The upgrade pipeline without sockets: a transport describes its request, the checks answer in
// the documented order, and a handshake check of another protocol (as HTTP/2's or hybi-00's will
// be) runs through the very same steps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { HttpRefusal } from '../../src/core/handshake.js';
import { resolveServerOptions, type ResolvedServerOptions } from '../../src/api/options.js';
import { Router } from '../../src/api/route.js';
import {
  ABANDONED,
  acceptUpgrade,
  askAcceptHooks,
  checkRfc6455Request,
  decideUpgrade,
  isRefusal,
  type HandshakeFacts,
  type UpgradeInput,
  type UpgradeServer,
} from '../../src/api/upgrade-pipeline.js';
import type { WebSocketServerOptions } from '../../src/api/server.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function server(options: WebSocketServerOptions = {}, setup?: (router: Router) => void, state: { closing?: boolean; count?: number } = {}): UpgradeServer {
  const router = new Router();
  setup?.(router);
  const resolved: ResolvedServerOptions = resolveServerOptions(options);
  return {
    options: resolved,
    router,
    closing: state.closing ?? false,
    connectionCount: state.count ?? 1,
    reportError: (error) => {
      throw error;
    },
  };
}

/** An HTTP/1.1 upgrade request as the transport describes it. */
function http1(url: string, extra: Record<string, string> = {}, method = 'GET'): UpgradeInput {
  const headers: Record<string, string> = {
    host: 'example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
    ...extra,
  };
  return {
    req: {} as IncomingMessage,
    method,
    url,
    httpVersion: '1.1',
    headers,
    rawHeaders: Object.entries(headers).flat(),
    handshake: checkRfc6455Request as UpgradeInput['handshake'],
  };
}

/** A transport with a handshake check of its own (shaped like RFC 8441's: CONNECT and :protocol). */
function extendedConnect(url: string, origin?: string): UpgradeInput {
  const headers: Record<string, string> = { ':protocol': 'websocket', 'sec-websocket-protocol': 'chat, echo' };
  if (origin !== undefined) headers['origin'] = origin;
  return {
    req: {} as IncomingMessage,
    method: 'CONNECT',
    url,
    httpVersion: '2.0',
    headers,
    rawHeaders: Object.entries(headers).flat(),
    handshake(input): HandshakeFacts | HttpRefusal {
      if (input.method !== 'CONNECT' || input.headers[':protocol'] !== 'websocket') return { status: 400, headers: {}, body: 'not extended CONNECT\n' };
      const offered = String(input.headers['sec-websocket-protocol'] ?? '');
      return { protocols: offered.split(/\s*,\s*/), extensions: [], origin: input.headers['origin'] as string | undefined, host: 'example.com' };
    },
  };
}

function status(result: object): number | 'go on' {
  return isRefusal(result) ? result.status : 'go on';
}

describe('upgrade pipeline: the checks in their documented order', () => {
  it('refuses a closing server (503) before reading anything else of the request', () => {
    assert.equal(status(decideUpgrade(http1('*', {}, 'POST'), server({}, undefined, { closing: true }))), 503);
  });

  it('refuses over maxConnections (503 with Retry-After) before the head limits', () => {
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-${i}`, 'v']));
    const answer = decideUpgrade(http1('/', many), server({ maxConnections: 1, maxHeaderCount: 10 }, undefined, { count: 2 }));
    assert.equal(status(answer), 503);
    assert.equal((answer as HttpRefusal).headers['Retry-After'], '5');
  });

  it('answers 431 for the head limits before the handshake check', () => {
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-${i}`, 'v']));
    assert.equal(status(decideUpgrade(http1('/', many, 'POST'), server({ maxHeaderCount: 10 }))), 431);
  });

  it('answers the handshake check (405, 426) before the route', () => {
    const s = server({}, (r) => r.add('/chat', undefined, () => {}));
    assert.equal(status(decideUpgrade(http1('/nowhere', {}, 'POST'), s)), 405);
    assert.equal(status(decideUpgrade(http1('/nowhere', { 'sec-websocket-version': '8' }), s)), 426);
  });

  it('answers 400 for an unusable target and 404 for a path no route matches, before the origin', () => {
    const s = server({}, (r) => r.add('/chat', undefined, () => {}));
    assert.equal(status(decideUpgrade(http1('ftp://example.com/chat', { origin: 'https://evil.test' }), s)), 400);
    assert.equal(status(decideUpgrade(http1('/other', { origin: 'https://evil.test' }), s)), 404);
    assert.equal(status(decideUpgrade(http1('/chat', { origin: 'https://evil.test' }), s)), 403);
  });

  it('answers 403 for a foreign origin before a required subprotocol is missing (400)', () => {
    const s = server({ protocols: ['chat'], requireProtocol: true });
    assert.equal(status(decideUpgrade(http1('/', { origin: 'https://evil.test' }), s)), 403);
    assert.equal(status(decideUpgrade(http1('/', { origin: 'http://example.com' }), s)), 400);
    assert.equal(status(decideUpgrade(http1('/', { 'sec-websocket-protocol': 'chat' }), s)), 'go on');
  });

  it('goes on with the route, its match and the chosen subprotocol, and info only when a hook is to be asked', () => {
    const handler = (): void => {};
    const s = server({ protocols: ['b', 'a'] }, (r) => r.add('/rooms/:id', undefined, handler));
    const decision = decideUpgrade(http1('/rooms/7?x=1', { 'sec-websocket-protocol': 'a, b' }), s);
    assert.ok(!isRefusal(decision));
    assert.equal(decision.route?.handler, handler);
    assert.deepEqual(decision.match.params, { id: '7' });
    assert.equal(decision.match.query.get('x'), '1');
    assert.equal(decision.protocol, 'b');
    assert.equal(decision.info, null);
    const hooked = decideUpgrade(http1('/rooms/7'), server({ accept: () => true }, (r) => r.add('/rooms/:id', undefined, handler)));
    assert.ok(!isRefusal(hooked));
    assert.equal(hooked.info?.crossOrigin, false);
  });
});

describe('upgrade pipeline: another transport runs the same checks', () => {
  it('routes, checks the origin and picks the subprotocol for a request its own handshake check accepted', () => {
    const s = server({ protocols: ['echo'] }, (r) => r.add('/ws', undefined, () => {}));
    const decision = decideUpgrade(extendedConnect('/ws'), s);
    assert.ok(!isRefusal(decision));
    assert.equal(decision.protocol, 'echo');
    assert.equal(status(decideUpgrade(extendedConnect('/other'), s)), 404);
    assert.equal(status(decideUpgrade(extendedConnect('/ws', 'https://evil.test'), s)), 403);
  });

  it('asks the accept hooks and returns the acceptance with their data and the extra headers', async () => {
    const s = server(
      { accept: () => ({ data: 'server' }), headers: { 'X-Hello': 'yes' } },
      (r) => r.add('/ws', { accept: async () => ({ data: 'route' }) }, () => {}),
    );
    const input = extendedConnect('/ws');
    const decision = decideUpgrade(input, s);
    assert.ok(!isRefusal(decision));
    const outcome = await askAcceptHooks(input, decision, s, { abandoned: false });
    assert.ok(outcome !== ABANDONED && !isRefusal(outcome));
    const accepted = acceptUpgrade(input, decision, s, outcome.data);
    assert.deepEqual(accepted.data, { value: 'route' });
    assert.deepEqual(accepted.headers, { 'X-Hello': 'yes' });
    assert.equal(accepted.extensions, undefined);
    assert.equal(accepted.deflate, null);
  });

  it('refuses with 403 for a hook that says no, and gives up when the transport says the client left', async () => {
    const input = extendedConnect('/ws');
    const no = server({ accept: () => false });
    const decision = decideUpgrade(input, no);
    assert.ok(!isRefusal(decision));
    assert.equal(status(await askAcceptHooks(input, decision, no, { abandoned: false }) as object), 403);
    const yes = server({ accept: () => true });
    assert.equal(await askAcceptHooks(input, decideUpgrade(input, yes) as never, yes, { abandoned: true }), ABANDONED);
  });

  it('agrees on permessage-deflate when the server compresses and the client offers it', () => {
    const s = server({ compress: true });
    const input = http1('/', { 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' });
    const decision = decideUpgrade(input, s);
    assert.ok(!isRefusal(decision));
    const accepted = acceptUpgrade(input, decision, s, undefined);
    assert.match(accepted.extensions ?? '', /^permessage-deflate/);
    assert.equal(accepted.deflate?.serverMaxWindowBits, 15);
  });
});
