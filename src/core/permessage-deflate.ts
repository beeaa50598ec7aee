/**
 * permessage-deflate negotiation (RFC 7692 sections 5 and 7): the client's offer, the server's
 * choice among offers, and the client's check of the server's answer. The zlib codec itself
 * lives in src/node; this module only decides the parameters both ends will use.
 *
 * The four parameters (section 7.1):
 * - `server_no_context_takeover` (no value): the server resets its compressor after each message.
 * - `client_no_context_takeover` (no value): the client does.
 * - `server_max_window_bits` (8..15, value required): the server's LZ77 window is at most 2^N.
 * - `client_max_window_bits` (8..15; valueless allowed in an offer only): the client's window.
 *
 * Window bits 8. zlib cannot compress with a 256-byte window: asked for 8 bits, it (and Node,
 * for raw deflate) uses 9. That output still fits a 256-byte window: zlib's matcher never reaches
 * further back than the window size minus MIN_LOOKAHEAD (258 + 3 + 1 = 262 bytes, zlib's
 * deflate.h MAX_DIST, enforced in longest_match and deflate_fast/slow), that is 250 bytes with a
 * 512-byte window, so every distance it writes is valid for a peer that inflates with 8 bits. So
 * hybi negotiates 8 like any other value, in both roles and in both directions: the codec
 * (src/node/deflate-codec.ts) compresses with 9 when 8 is agreed and inflates with what was
 * agreed. The same reasoning is what the ws package relies on.
 */
import { InvalidArgumentError } from './errors.js';
import { formatExtensions, type ExtensionOffer } from './header-tokens.js';

/** The extension's registered name (section 7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** RSV1 in first-byte position: the "Per-Message Compressed" bit (section 6). */
export const DEFLATE_RSV = 0x40;

/**
 * What one side wants of permessage-deflate. The same shape serves both roles; each field's
 * meaning for a client (in `formatDeflateOffer` / `checkDeflateResponse`) and for a server (in
 * `acceptDeflateOffer`) is given below. Defaults: all off, windows 15.
 */
export interface DeflateOptions {
  /**
   * Client: ask the server to reset its compressor after each message (saves the client's
   * inflate memory between messages). Server: always reset its compressor, whatever the offer.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Client: promise to reset its own compressor after each message. Server: require the client
   * to (the server may then free its inflate state between messages).
   */
  clientNoContextTakeover?: boolean;
  /**
   * Client: ask the server to use a window of at most 2^N bytes (8..15). Server: the largest
   * window it compresses with (8..15; an offer asking for less gets less).
   */
  serverMaxWindowBits?: number;
  /**
   * Client: `undefined` or `true` offers `client_max_window_bits` without a value, telling the
   * server it may limit the client's window; a number (8..15) also promises that limit; `false`
   * leaves the parameter out, so the server may not limit the client's window. Server: a number
   * (8..15) limits the client's window when the offer allows it (an offer without the
   * parameter is still accepted, with the client on a 15-bit window); booleans mean no limit.
   */
  clientMaxWindowBits?: number | boolean;
}

/** The agreed parameters, fully resolved: what each side's compressor and decompressor use. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** 8..15 (8 is compressed with 9 bits; see the module comment). */
  serverMaxWindowBits: number;
  /** 8..15 (8 is compressed with 9 bits; see the module comment). */
  clientMaxWindowBits: number;
}

/**
 * The parameters of one offer or response, as written: `undefined` where absent, and `true`
 * for a `client_max_window_bits` without a value.
 */
export interface DeflateOptionsParsed {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | true | undefined;
}

/** Reads a window-bits value: a decimal integer 8..15 without leading zeros (section 7.1.2). */
function parseWindowBits(value: string): number | null {
  if (value.length === 1) return value === '8' ? 8 : value === '9' ? 9 : null;
  if (value.length === 2 && value.charCodeAt(0) === 0x31) {
    const d = value.charCodeAt(1) - 0x30;
    if (d >= 0 && d <= 5) return 10 + d;
  }
  return null;
}

/**
 * Reads the parameters of one permessage-deflate element (offer or response; the name is not
 * checked). Section 7: an unknown parameter, a parameter given twice, or an invalid value makes
 * the element unacceptable, reported as `{ error }`. `client_max_window_bits` may lack a value
 * here (it may in an offer); `checkDeflateResponse` refuses that in a response.
 */
export function parseDeflateParams(offer: ExtensionOffer): DeflateOptionsParsed | { error: string } {
  const parsed: DeflateOptionsParsed = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of offer.params) {
    // Section 7: multiple parameters with the same name make the element invalid.
    if (seen.has(name)) return { error: `permessage-deflate parameter ${name} is given more than once` };
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        // Sections 7.1.1.1 and 7.1.1.2: these parameters have no value.
        if (value !== true) return { error: `permessage-deflate parameter ${name} must not have a value` };
        if (name === 'server_no_context_takeover') parsed.serverNoContextTakeover = true;
        else parsed.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        // Section 7.1.2.1: the value is required, an integer 8..15 without leading zeros.
        const bits = value === true ? null : parseWindowBits(value);
        if (bits === null) return { error: `permessage-deflate parameter server_max_window_bits must be 8 to 15, not ${value === true ? 'empty' : value}` };
        parsed.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        // Section 7.1.2.2: no value, or an integer 8..15 without leading zeros.
        if (value === true) {
          parsed.clientMaxWindowBits = true;
          break;
        }
        const bits = parseWindowBits(value);
        if (bits === null) return { error: `permessage-deflate parameter client_max_window_bits must be 8 to 15, not ${value}` };
        parsed.clientMaxWindowBits = bits;
        break;
      }
      default:
        return { error: `unknown permessage-deflate parameter ${name}` };
    }
  }
  return parsed;
}

function checkBits(name: string, value: number | undefined): void {
  if (value === undefined) return;
  // Section 7.1.2: window bits are 8..15.
  if (!Number.isInteger(value) || value < 8 || value > 15) {
    throw new InvalidArgumentError(`${name} must be an integer from 8 to 15, not ${value}`);
  }
}

/**
 * Checks options for a role and throws InvalidArgumentError for values out of range. Call it when
 * options are given, so a mistake shows at configuration rather than at the first connection.
 * (`role` is kept for symmetry with the callers; both roles accept the same ranges.)
 */
export function validateDeflateOptions(options: DeflateOptions, _role: 'client' | 'server'): void {
  const client = options.clientMaxWindowBits;
  checkBits('serverMaxWindowBits', options.serverMaxWindowBits);
  if (typeof client === 'number') checkBits('clientMaxWindowBits', client);
  if (client !== undefined && typeof client !== 'number' && typeof client !== 'boolean') {
    throw new InvalidArgumentError('clientMaxWindowBits must be a number or a boolean');
  }
}

/**
 * The client's offer, a Sec-WebSocket-Extensions element (section 5): `permessage-deflate`
 * with the parameters `options` ask for; `client_max_window_bits` is included unless
 * `clientMaxWindowBits` is false. Throws InvalidArgumentError for options out of range.
 */
export function formatDeflateOffer(options: DeflateOptions): string {
  validateDeflateOptions(options, 'client');
  const params: Array<[string, string | true]> = [];
  if (options.serverNoContextTakeover) params.push(['server_no_context_takeover', true]);
  if (options.clientNoContextTakeover) params.push(['client_no_context_takeover', true]);
  if (options.serverMaxWindowBits !== undefined) params.push(['server_max_window_bits', String(options.serverMaxWindowBits)]);
  const client = options.clientMaxWindowBits;
  if (typeof client === 'number') params.push(['client_max_window_bits', String(client)]);
  else if (client !== false) params.push(['client_max_window_bits', true]);
  return formatExtensions([{ name: PERMESSAGE_DEFLATE, params }]);
}

/**
 * The server's choice (section 5): walks the offers in the client's order of preference and
 * accepts the first permessage-deflate offer it can honour, returning the resolved parameters
 * and the response element to put in Sec-WebSocket-Extensions; null declines them all (the
 * connection then goes on uncompressed). Offers with unknown, repeated or invalid parameters
 * are declined (section 7). Throws InvalidArgumentError for options out of range.
 */
export function acceptDeflateOffer(offers: readonly ExtensionOffer[], options: DeflateOptions): { params: DeflateParams; response: string } | null {
  validateDeflateOptions(options, 'server');
  const ownBits = options.serverMaxWindowBits ?? 15;
  const clientLimit = typeof options.clientMaxWindowBits === 'number' ? options.clientMaxWindowBits : undefined;
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const asked = parseDeflateParams(offer);
    // Section 7: the server MUST decline an offer with an unknown, repeated or invalid parameter.
    if ('error' in asked) continue;

    // Section 7.1.2.1: accepting server_max_window_bits means answering with the same or a
    // smaller value. The server can always shrink its window, to 8 too (see the module comment).
    const serverBits = asked.serverMaxWindowBits === undefined ? ownBits : Math.min(ownBits, asked.serverMaxWindowBits);

    // Section 7.1.2.2: client_max_window_bits may be in the response only if it was in the
    // offer, and then at most the offered value. A value in the offer is only a hint: a response
    // without the parameter lets the client compress with a window of up to 32,768 bytes. So the
    // window the server inflates with is always the one it answers (or 15 when it answers none).
    let clientBits = 15;
    let answerClientBits: number | undefined;
    if (asked.clientMaxWindowBits !== undefined) {
      const offered = asked.clientMaxWindowBits === true ? 15 : asked.clientMaxWindowBits;
      clientBits = clientLimit !== undefined && clientLimit < offered ? clientLimit : offered;
      // Answering the hinted value binds the client to it, and the server inflates with less memory.
      if (clientBits < 15) answerClientBits = clientBits;
    }

    // Section 7.1.1.1: accepting server_no_context_takeover means echoing it; the server may
    // also add it unasked. Section 7.1.1.2: the server may add client_no_context_takeover, and
    // echoes the client's own hint so that it may free its inflate state between messages.
    const serverNoContextTakeover = asked.serverNoContextTakeover || options.serverNoContextTakeover === true;
    const clientNoContextTakeover = asked.clientNoContextTakeover || options.clientNoContextTakeover === true;

    const params: Array<[string, string | true]> = [];
    if (serverNoContextTakeover) params.push(['server_no_context_takeover', true]);
    if (clientNoContextTakeover) params.push(['client_no_context_takeover', true]);
    if (asked.serverMaxWindowBits !== undefined || serverBits < 15) params.push(['server_max_window_bits', String(serverBits)]);
    if (answerClientBits !== undefined) params.push(['client_max_window_bits', String(answerClientBits)]);
    return {
      params: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits: serverBits, clientMaxWindowBits: clientBits },
      response: formatExtensions([{ name: PERMESSAGE_DEFLATE, params }]),
    };
  }
  return null;
}

/**
 * The client's check of the server's permessage-deflate response against what it offered
 * (`offered` is the options given to `formatDeflateOffer`). Section 7: the client MUST fail
 * the connection when the response has an unknown, repeated or invalid parameter, or one the
 * client cannot honour: a `client_max_window_bits` it did not offer or without a value; a
 * `server_max_window_bits` above the one it asked for, or none
 * when it asked; no `server_no_context_takeover` when it asked for it. Returns the resolved
 * parameters, or `{ error }` with a sentence for a HandshakeError.
 */
export function checkDeflateResponse(response: ExtensionOffer, offered: DeflateOptions): DeflateParams | { error: string } {
  validateDeflateOptions(offered, 'client');
  if (response.name !== PERMESSAGE_DEFLATE) return { error: `expected a ${PERMESSAGE_DEFLATE} response, got ${response.name}` };
  const got = parseDeflateParams(response);
  if ('error' in got) return got;

  // Section 7.1.1.1: the server accepts server_no_context_takeover by including it.
  if (offered.serverNoContextTakeover === true && !got.serverNoContextTakeover) {
    return { error: 'the server did not agree to server_no_context_takeover, which was requested' };
  }

  // Section 7.1.2.1: accepted with the same or a smaller value; unasked, any value 8..15 is
  // fine, since a smaller server window costs the client nothing.
  const askedServerBits = offered.serverMaxWindowBits;
  if (askedServerBits !== undefined) {
    if (got.serverMaxWindowBits === undefined) return { error: `the server did not agree to server_max_window_bits=${askedServerBits}, which was requested` };
    if (got.serverMaxWindowBits > askedServerBits) {
      return { error: `the server answered server_max_window_bits=${got.serverMaxWindowBits}, more than the ${askedServerBits} requested` };
    }
  }

  // Section 7.1.2.2: the response MUST NOT include client_max_window_bits unless the offer did,
  // and in a response it has a value.
  const offeredClient = offered.clientMaxWindowBits;
  const promisedClientBits = typeof offeredClient === 'number' ? offeredClient : 15;
  let clientBits = promisedClientBits;
  if (got.clientMaxWindowBits !== undefined) {
    if (offeredClient === false) return { error: 'the server answered client_max_window_bits, which was not offered' };
    if (got.clientMaxWindowBits === true) return { error: 'the server answered client_max_window_bits without a value' };
    // A value above the one promised in the offer changes nothing: the promise still holds.
    clientBits = Math.min(promisedClientBits, got.clientMaxWindowBits);
  }

  return {
    serverNoContextTakeover: got.serverNoContextTakeover,
    // Section 7.1.1.2: the client's own offer of client_no_context_takeover is a promise it keeps.
    clientNoContextTakeover: got.clientNoContextTakeover || offered.clientNoContextTakeover === true,
    serverMaxWindowBits: got.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: clientBits,
  };
}
