import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import fc from 'fast-check';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import {
  acceptDeflateOffer,
  checkDeflateResponse,
  DEFLATE_RSV,
  formatDeflateOffer,
  parseDeflateParams,
  PERMESSAGE_DEFLATE,
  validateDeflateOptions,
  type DeflateOptions,
  type DeflateParams,
} from '../../src/core/permessage-deflate.js';
import { parseExtensions, type ExtensionOffer } from '../../src/core/header-tokens.js';
import { buildClientRequest, buildUpgradeResponse, checkServerResponse, checkUpgradeRequest, generateKey } from '../../src/core/handshake.js';
import { HttpHeadParser } from '../../src/core/http-head.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

const DEFAULTS: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

/** Parses a header value that must hold exactly the given extensions. */
function offers(header: string): ExtensionOffer[] {
  const parsed = parseExtensions(header);
  assert.ok(parsed !== null, `unparsable: ${header}`);
  return parsed;
}

function one(header: string): ExtensionOffer {
  const [offer] = offers(header);
  assert.ok(offer);
  return offer;
}

function errorOf(result: DeflateParams | { error: string }): string {
  assert.ok('error' in result, `expected an error, got ${JSON.stringify(result)}`);
  return result.error;
}

describe('RFC 7692 section 6: constants', () => {
  it('names the extension and its RSV1 bit', () => {
    assert.equal(PERMESSAGE_DEFLATE, 'permessage-deflate');
    assert.equal(DEFLATE_RSV, 0x40);
  });
});

describe('RFC 7692 section 7: parameters', () => {
  it('reads all four parameters, with and without values', () => {
    assert.deepEqual(parseDeflateParams(one('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits')), {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: true,
    });
    assert.deepEqual(parseDeflateParams(one('permessage-deflate; client_max_window_bits="12"')), {
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: undefined,
      clientMaxWindowBits: 12,
    });
  });

  it('accepts every window from 8 to 15 and nothing else (section 7.1.2)', () => {
    for (let bits = 8; bits <= 15; bits++) {
      const r = parseDeflateParams(one(`permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}`));
      assert.ok(!('error' in r));
      assert.equal(r.serverMaxWindowBits, bits);
      assert.equal(r.clientMaxWindowBits, bits);
    }
    for (const bad of ['7', '16', '0', '08', '010', '1', '-9', '9.0', '0x9', '+9', 'a', '115', '1e1']) {
      assert.match((parseDeflateParams(one(`permessage-deflate; server_max_window_bits=${bad}`)) as { error: string }).error, /8 to 15/, bad);
      assert.match((parseDeflateParams(one(`permessage-deflate; client_max_window_bits=${bad}`)) as { error: string }).error, /8 to 15/, bad);
    }
  });

  it('refuses server_max_window_bits without a value (section 7.1.2.1)', () => {
    assert.match((parseDeflateParams(one('permessage-deflate; server_max_window_bits')) as { error: string }).error, /server_max_window_bits/);
  });

  it('refuses a value on the no-context-takeover parameters', () => {
    assert.match((parseDeflateParams(one('permessage-deflate; server_no_context_takeover=1')) as { error: string }).error, /must not have a value/);
    assert.match((parseDeflateParams(one('permessage-deflate; client_no_context_takeover=true')) as { error: string }).error, /must not have a value/);
  });

  it('refuses repeated and unknown parameters (section 7)', () => {
    assert.match((parseDeflateParams(one('permessage-deflate; server_no_context_takeover; server_no_context_takeover')) as { error: string }).error, /more than once/);
    assert.match((parseDeflateParams(one('permessage-deflate; client_max_window_bits; client_max_window_bits=10')) as { error: string }).error, /more than once/);
    assert.match((parseDeflateParams(one('permessage-deflate; foo')) as { error: string }).error, /unknown/);
    assert.match((parseDeflateParams(one('permessage-deflate; Server_No_Context_Takeover')) as { error: string }).error, /unknown/);
  });
});

describe('RFC 7692 section 5: the client offer', () => {
  it('offers client_max_window_bits without a value by default', () => {
    assert.equal(formatDeflateOffer({}), 'permessage-deflate; client_max_window_bits');
    assert.equal(formatDeflateOffer({ clientMaxWindowBits: true }), 'permessage-deflate; client_max_window_bits');
    assert.equal(formatDeflateOffer({ clientMaxWindowBits: false }), 'permessage-deflate');
  });

  it('writes every parameter asked for', () => {
    assert.equal(
      formatDeflateOffer({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 11 }),
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=11',
    );
  });

  it('refuses options out of range, and accepts a promise to compress with window 8', () => {
    for (const options of [{ serverMaxWindowBits: 7 }, { serverMaxWindowBits: 16 }, { serverMaxWindowBits: 10.5 }, { clientMaxWindowBits: 7 }, { clientMaxWindowBits: 16 }, { clientMaxWindowBits: 'x' as unknown as number }]) {
      assert.throws(() => formatDeflateOffer(options), InvalidArgumentError, JSON.stringify(options));
    }
    // zlib compresses with 9 bits when 8 is agreed, and its output fits a 256-byte window.
    assert.equal(formatDeflateOffer({ clientMaxWindowBits: 8 }), 'permessage-deflate; client_max_window_bits=8');
  });

  it('produces offers that the server side reads back', () => {
    const options = fc.record(
      {
        serverNoContextTakeover: fc.boolean(),
        clientNoContextTakeover: fc.boolean(),
        serverMaxWindowBits: fc.integer({ min: 8, max: 15 }),
        clientMaxWindowBits: fc.oneof(fc.boolean(), fc.integer({ min: 8, max: 15 })),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(options, (o: DeflateOptions) => {
        const parsed = parseDeflateParams(one(formatDeflateOffer(o)));
        assert.ok(!('error' in parsed));
        assert.equal(parsed.serverNoContextTakeover, o.serverNoContextTakeover === true);
        assert.equal(parsed.clientNoContextTakeover, o.clientNoContextTakeover === true);
        assert.equal(parsed.serverMaxWindowBits, o.serverMaxWindowBits);
        assert.equal(parsed.clientMaxWindowBits, o.clientMaxWindowBits === false ? undefined : typeof o.clientMaxWindowBits === 'number' ? o.clientMaxWindowBits : true);
      }),
    );
  });
});

describe('RFC 7692 section 5 and 7: the server accepts the first acceptable offer', () => {
  it('accepts a plain offer with the defaults and an empty response', () => {
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate'), {}), { params: DEFAULTS, response: 'permessage-deflate' });
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate; client_max_window_bits'), {}), { params: DEFAULTS, response: 'permessage-deflate' });
  });

  it('skips other extensions and declines when there is no offer', () => {
    assert.equal(acceptDeflateOffer([], {}), null);
    assert.equal(acceptDeflateOffer(offers('x-webkit-deflate-frame, foo'), {}), null);
    assert.deepEqual(acceptDeflateOffer(offers('foo, permessage-deflate'), {})?.response, 'permessage-deflate');
  });

  it('walks several offers in order and takes the first it can accept', () => {
    const r = acceptDeflateOffer(offers('permessage-deflate; foo, permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=10, permessage-deflate'), {});
    assert.deepEqual(r, { params: { ...DEFAULTS, serverMaxWindowBits: 10 }, response: 'permessage-deflate; server_max_window_bits=10' });
  });

  it('declines malformed and duplicated parameters (section 7)', () => {
    for (const header of ['permessage-deflate; server_max_window_bits', 'permessage-deflate; server_max_window_bits=16', 'permessage-deflate; client_max_window_bits=7', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover=1', 'permessage-deflate; mystery']) {
      assert.equal(acceptDeflateOffer(offers(header), {}), null, header);
    }
  });

  it('accepts an offer that limits its window to 8 (Autobahn 13.3, 13.5, 13.7: zlib compresses with 9 within 256 bytes)', () => {
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate; server_max_window_bits=8'), {}), {
      params: { ...DEFAULTS, serverMaxWindowBits: 8 },
      response: 'permessage-deflate; server_max_window_bits=8',
    });
    assert.equal(acceptDeflateOffer(offers('permessage-deflate; server_max_window_bits=8'), { serverMaxWindowBits: 9 })?.response, 'permessage-deflate; server_max_window_bits=8');
    // Autobahn 13.7's header: the first offer, asking for 8, is the one taken.
    const hints = 'permessage-deflate; client_no_context_takeover; client_max_window_bits';
    assert.deepEqual(acceptDeflateOffer(offers(`${hints}; server_no_context_takeover; server_max_window_bits=8, ${hints}; server_no_context_takeover, ${hints}`), {}), {
      params: { ...DEFAULTS, serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8 },
      response: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8',
    });
    // Configured to 8 itself, the server announces it unasked.
    assert.equal(acceptDeflateOffer(offers('permessage-deflate'), { serverMaxWindowBits: 8 })?.response, 'permessage-deflate; server_max_window_bits=8');
  });

  it('echoes server_no_context_takeover when offered, and adds it when configured (section 7.1.1.1)', () => {
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate; server_no_context_takeover'), {}), {
      params: { ...DEFAULTS, serverNoContextTakeover: true },
      response: 'permessage-deflate; server_no_context_takeover',
    });
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate'), { serverNoContextTakeover: true })?.response, 'permessage-deflate; server_no_context_takeover');
  });

  it('adds client_no_context_takeover when configured, and echoes the client hint (section 7.1.1.2)', () => {
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate'), { clientNoContextTakeover: true }), {
      params: { ...DEFAULTS, clientNoContextTakeover: true },
      response: 'permessage-deflate; client_no_context_takeover',
    });
    assert.equal(acceptDeflateOffer(offers('permessage-deflate; client_no_context_takeover'), {})?.params.clientNoContextTakeover, true);
  });

  it('answers server_max_window_bits with the same or a smaller value (section 7.1.2.1)', () => {
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate; server_max_window_bits=12'), {}), {
      params: { ...DEFAULTS, serverMaxWindowBits: 12 },
      response: 'permessage-deflate; server_max_window_bits=12',
    });
    assert.equal(acceptDeflateOffer(offers('permessage-deflate; server_max_window_bits=12'), { serverMaxWindowBits: 10 })?.response, 'permessage-deflate; server_max_window_bits=10');
    // Unasked, a smaller configured window is announced.
    assert.equal(acceptDeflateOffer(offers('permessage-deflate'), { serverMaxWindowBits: 11 })?.response, 'permessage-deflate; server_max_window_bits=11');
    assert.equal(acceptDeflateOffer(offers('permessage-deflate'), { serverMaxWindowBits: 15 })?.response, 'permessage-deflate');
  });

  it('limits the client window only when the offer allows it (section 7.1.2.2)', () => {
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate; client_max_window_bits'), { clientMaxWindowBits: 10 }), {
      params: { ...DEFAULTS, clientMaxWindowBits: 10 },
      response: 'permessage-deflate; client_max_window_bits=10',
    });
    // A value in the offer is a hint (section 7.1.2.2): without client_max_window_bits in the
    // response the client may use 15 bits, so the server answers the value it will inflate with.
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate; client_max_window_bits=9'), { clientMaxWindowBits: 12 }), {
      params: { ...DEFAULTS, clientMaxWindowBits: 9 },
      response: 'permessage-deflate; client_max_window_bits=9',
    });
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate; client_max_window_bits=11'), {}), {
      params: { ...DEFAULTS, clientMaxWindowBits: 11 },
      response: 'permessage-deflate; client_max_window_bits=11',
    });
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate; client_max_window_bits=15'), {}), { params: DEFAULTS, response: 'permessage-deflate' });
    assert.equal(acceptDeflateOffer(offers('permessage-deflate; client_max_window_bits=12'), { clientMaxWindowBits: 8 })?.response, 'permessage-deflate; client_max_window_bits=8');
    // MUST NOT include client_max_window_bits when the offer did not: accepted, client at 15.
    assert.deepEqual(acceptDeflateOffer(offers('permessage-deflate'), { clientMaxWindowBits: 10 }), { params: DEFAULTS, response: 'permessage-deflate' });
  });

  it('refuses its own options out of range', () => {
    for (const options of [{ serverMaxWindowBits: 7 }, { serverMaxWindowBits: 16 }, { clientMaxWindowBits: 7 }]) {
      assert.throws(() => acceptDeflateOffer([], options), InvalidArgumentError, JSON.stringify(options));
      assert.throws(() => validateDeflateOptions(options, 'server'), InvalidArgumentError);
    }
    validateDeflateOptions({ serverMaxWindowBits: 8, clientMaxWindowBits: 8 }, 'server');
    validateDeflateOptions({ serverMaxWindowBits: 8, clientMaxWindowBits: 8 }, 'client');
  });

  it('always answers with a response the client side accepts and parameters both sides agree on', () => {
    const clientOptions = fc.record(
      {
        serverNoContextTakeover: fc.boolean(),
        clientNoContextTakeover: fc.boolean(),
        serverMaxWindowBits: fc.integer({ min: 8, max: 15 }),
        clientMaxWindowBits: fc.oneof(fc.boolean(), fc.integer({ min: 8, max: 15 })),
      },
      { requiredKeys: [] },
    );
    const serverOptions = fc.record(
      {
        serverNoContextTakeover: fc.boolean(),
        clientNoContextTakeover: fc.boolean(),
        serverMaxWindowBits: fc.integer({ min: 8, max: 15 }),
        clientMaxWindowBits: fc.oneof(fc.boolean(), fc.integer({ min: 8, max: 15 })),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(clientOptions, serverOptions, (c: DeflateOptions, s: DeflateOptions) => {
        const accepted = acceptDeflateOffer(offers(formatDeflateOffer(c)), s);
        assert.ok(accepted !== null, 'a hybi server accepts every offer a hybi client makes');
        const checked = checkDeflateResponse(one(accepted.response), c);
        assert.ok(!('error' in checked), 'error' in checked ? checked.error : '');
        assert.deepEqual(checked, accepted.params);
        if (c.serverNoContextTakeover || s.serverNoContextTakeover) assert.equal(checked.serverNoContextTakeover, true);
        if (typeof c.serverMaxWindowBits === 'number') assert.ok(checked.serverMaxWindowBits <= c.serverMaxWindowBits);
      }),
      { numRuns: 500 },
    );
  });
});

describe('RFC 7692 section 7: the client checks the response', () => {
  it('resolves a plain response to the defaults', () => {
    assert.deepEqual(checkDeflateResponse(one('permessage-deflate'), {}), DEFAULTS);
  });

  it('accepts what the server may add unasked', () => {
    assert.deepEqual(checkDeflateResponse(one('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10'), {}), {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 9,
      clientMaxWindowBits: 10,
    });
    assert.equal((checkDeflateResponse(one('permessage-deflate; server_max_window_bits=8'), {}) as DeflateParams).serverMaxWindowBits, 8);
  });

  it('accepts client_max_window_bits=8 (Autobahn 13.3, 13.5: it compresses with 9 bits, which fit 256 bytes)', () => {
    assert.deepEqual(checkDeflateResponse(one('permessage-deflate; client_max_window_bits=8'), {}), { ...DEFAULTS, clientMaxWindowBits: 8 });
    assert.deepEqual(checkDeflateResponse(one('permessage-deflate; server_max_window_bits=8; client_max_window_bits=8'), { serverMaxWindowBits: 8, clientMaxWindowBits: 8 }), {
      ...DEFAULTS,
      serverMaxWindowBits: 8,
      clientMaxWindowBits: 8,
    });
  });

  it('keeps its own promises when the response is silent', () => {
    assert.deepEqual(checkDeflateResponse(one('permessage-deflate'), { clientNoContextTakeover: true, clientMaxWindowBits: 11 }), { ...DEFAULTS, clientNoContextTakeover: true, clientMaxWindowBits: 11 });
    assert.equal((checkDeflateResponse(one('permessage-deflate; client_max_window_bits=13'), { clientMaxWindowBits: 11 }) as DeflateParams).clientMaxWindowBits, 11);
    assert.equal((checkDeflateResponse(one('permessage-deflate; client_max_window_bits=9'), { clientMaxWindowBits: 11 }) as DeflateParams).clientMaxWindowBits, 9);
  });

  it('fails on parameters it did not offer or cannot honour', () => {
    assert.match(errorOf(checkDeflateResponse(one('permessage-deflate; client_max_window_bits=10'), { clientMaxWindowBits: false })), /not offered/);
    assert.match(errorOf(checkDeflateResponse(one('permessage-deflate; client_max_window_bits'), {})), /without a value/);
    assert.match(errorOf(checkDeflateResponse(one('permessage-deflate'), { serverNoContextTakeover: true })), /server_no_context_takeover/);
    assert.match(errorOf(checkDeflateResponse(one('permessage-deflate'), { serverMaxWindowBits: 10 })), /server_max_window_bits=10/);
    assert.match(errorOf(checkDeflateResponse(one('permessage-deflate; server_max_window_bits=11'), { serverMaxWindowBits: 10 })), /more than the 10/);
    assert.equal((checkDeflateResponse(one('permessage-deflate; server_max_window_bits=9'), { serverMaxWindowBits: 10 }) as DeflateParams).serverMaxWindowBits, 9);
  });

  it('fails on malformed, repeated or unknown parameters, and on another extension', () => {
    assert.match(errorOf(checkDeflateResponse(one('permessage-deflate; server_max_window_bits'), {})), /server_max_window_bits/);
    assert.match(errorOf(checkDeflateResponse(one('permessage-deflate; server_max_window_bits=9; server_max_window_bits=9'), {})), /more than once/);
    assert.match(errorOf(checkDeflateResponse(one('permessage-deflate; x'), {})), /unknown/);
    assert.match(errorOf(checkDeflateResponse(one('x-deflate'), {})), /expected a permessage-deflate response/);
  });

  it('never throws on random parameter lists', () => {
    const name = fc.constantFrom('server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits', 'x');
    const value = fc.oneof(fc.constant(true as const), fc.constantFrom('8', '9', '10', '15', '16', '08', ''), fc.string({ maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 6 }), (params) => {
        const offer: ExtensionOffer = { name: PERMESSAGE_DEFLATE, params };
        parseDeflateParams(offer);
        checkDeflateResponse(offer, {});
        acceptDeflateOffer([offer, offer], { clientMaxWindowBits: 10 });
      }),
    );
  });
});

describe('RFC 7692 negotiation with ws (loopback)', () => {
  it('a ws server answers hybi offers in a way checkDeflateResponse accepts', async () => {
    const configs: Array<[Record<string, unknown>, DeflateOptions, Partial<DeflateParams>]> = [
      [{}, {}, {}],
      [{ serverNoContextTakeover: true }, {}, { serverNoContextTakeover: true }],
      [{ clientMaxWindowBits: 10 }, {}, { clientMaxWindowBits: 10 }],
      [{ serverMaxWindowBits: 11 }, { serverMaxWindowBits: 12 }, { serverMaxWindowBits: 11 }],
      [{}, { serverNoContextTakeover: true, clientNoContextTakeover: true }, { serverNoContextTakeover: true, clientNoContextTakeover: true }],
    ];
    for (const [wsOptions, ours, expected] of configs) {
      const wss = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: wsOptions });
      await new Promise<void>((resolve) => wss.once('listening', resolve));
      const { port } = wss.address() as AddressInfo;
      const socket = netConnect(port, '127.0.0.1');
      try {
        const key = generateKey();
        socket.write(buildClientRequest({ host: `127.0.0.1:${port}`, path: '/', key, extensions: formatDeflateOffer(ours) }));
        const parser = new HttpHeadParser('response');
        const result = await new Promise<ReturnType<HttpHeadParser['push']>>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
          socket.on('data', (chunk: Buffer) => {
            const r = parser.push(chunk);
            if (r.state !== 'incomplete') {
              clearTimeout(timer);
              resolve(r);
            }
          });
          socket.on('error', reject);
        });
        assert.ok(result.state === 'complete');
        const check = checkServerResponse(101, result.head.headers, { key, protocols: [], extensionNames: [PERMESSAGE_DEFLATE] });
        assert.ok(check.ok, check.ok ? '' : check.reason);
        const params = checkDeflateResponse(check.extensions[0]!, ours);
        assert.deepEqual(params, { ...DEFAULTS, ...expected }, JSON.stringify(wsOptions));
      } finally {
        socket.destroy();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      }
    }
  });

  it('a ws client accepts the response acceptDeflateOffer gives to its offers', async () => {
    const server = createServer();
    const sockets: Socket[] = [];
    let serverOptions: DeflateOptions = {};
    const responses: string[] = [];
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      sockets.push(socket);
      socket.resume();
      const check = checkUpgradeRequest({ method: req.method ?? '', httpVersion: req.httpVersion, headers: req.headers, rawHeaders: req.rawHeaders });
      assert.ok(check.ok);
      const accepted = acceptDeflateOffer(check.extensions, serverOptions);
      responses.push(accepted?.response ?? '');
      socket.write(buildUpgradeResponse({ key: check.key, extensions: accepted?.response ?? '' }));
      socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const cases: Array<[Record<string, unknown>, DeflateOptions, string]> = [
      [{}, {}, 'permessage-deflate'],
      [{ serverNoContextTakeover: true, clientNoContextTakeover: true }, {}, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
      [{ serverMaxWindowBits: 10 }, { serverMaxWindowBits: 12 }, 'permessage-deflate; server_max_window_bits=10'],
      [{}, { clientMaxWindowBits: 9, serverMaxWindowBits: 13 }, 'permessage-deflate; server_max_window_bits=13; client_max_window_bits=9'],
      [{ clientMaxWindowBits: 12 }, { clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=10'],
    ];
    try {
      for (const [wsOptions, ours, expected] of cases) {
        serverOptions = ours;
        const client = new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: wsOptions });
        const [code, extensions] = await new Promise<[number, string]>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no close within 5 s')), 5000);
          client.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
          client.on('close', (c: number) => {
            clearTimeout(timer);
            resolve([c, client.extensions]);
          });
        });
        assert.equal(code, 1000, JSON.stringify(wsOptions));
        assert.equal(responses.at(-1), expected);
        assert.equal(extensions, PERMESSAGE_DEFLATE, 'ws agreed to the extension');
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
