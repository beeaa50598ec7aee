/**
 * Route matching for WebSocketServer, all of it: the Router (routes in the order they were added,
 * each a path pattern, the subprotocols and hooks of its path, and its handler), what a pattern
 * means, and how the request target becomes a path. Kept apart from the server so that the rules
 * are testable without sockets.
 *
 * Matching runs on the raw (still percent-encoded) path, so that `%2F` can never be mistaken for a
 * segment separator; parameter values are decoded afterwards. Everything here is a bounded loop
 * over input that Node's head-size limit has already bounded.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { HttpRefusal } from '../core/handshake.js';
import { refusal } from '../node/upgrade.js';
import type { ConnectionHandler, MessageHandler } from './handler-lifecycle.js';
import type { AcceptHook } from './upgrade-pipeline.js';
import { optionsObject, resolveRouteOptions, type ResolvedRouteOptions } from './options.js';

/**
 * What a matched route tells the handler about the request target. `Params` is the type of
 * `params`: `route()` derives it from a string pattern (RouteParams), so that `'/r/:room'` gives
 * `params.room: string` and a name the pattern does not have is a compile error.
 */
export interface RouteMatch<Params extends Readonly<Record<string, string>> = Readonly<Record<string, string>>> {
  /** The path of the request target, without the query, still percent-encoded. */
  readonly path: string;
  /** The query string's parameters (empty when there is none). */
  readonly query: URLSearchParams;
  /**
   * Named parts: `:name` segments of a string pattern (percent-decoded), or the named groups of a
   * RegExp pattern.
   */
  readonly params: Params;
}

/** The segments of a path pattern, as a union ('/r/:room' gives '' | 'r' | ':room'). */
type PatternSegments<P extends string> = P extends `${infer Head}/${infer Tail}` ? Head | PatternSegments<Tail> : P;

/** The parameter names of a string pattern: its segments that start with ':', without it. */
export type RouteParamNames<P extends string> = PatternSegments<P> extends infer S ? (S extends `:${infer Name}` ? Name : never) : never;

/**
 * The `params` of a route with pattern `P`, as compilePattern fills them: one string per `:name`
 * segment of a literal string pattern (no other keys); for a RegExp, or a pattern whose text the
 * compiler does not know, any named group or parameter may be there.
 */
export type RouteParams<P extends RoutePattern> = P extends string
  ? string extends P
    ? Readonly<Record<string, string>>
    : { readonly [K in RouteParamNames<P>]: string }
  : Readonly<Record<string, string>>;

/** A route pattern: an exact path such as '/chat', a path with `:name` segments, or a RegExp. */
export type RoutePattern = string | RegExp;

/** A compiled pattern: returns the match for a path, or null. */
type PathMatcher = (path: string, query: URLSearchParams) => RouteMatch | null;

/**
 * The path and query of a request target (RFC 7230 section 5.3): origin-form ('/a?b') or
 * absolute-form ('http://host/a?b', which proxies send). Returns null for anything else
 * (asterisk-form, authority-form, garbage), which the server answers with 400.
 */
export function splitTarget(target: string): { path: string; query: string } | null {
  if (target.length === 0) return null;
  let rest = target;
  if (target.charCodeAt(0) !== 0x2f /* '/' */) {
    // Absolute-form: take what follows the authority. URL parsing is linear and bounded by the
    // head size limit, and it also rejects what is not a URL at all.
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return null;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'ws:' && url.protocol !== 'wss:') return null;
    rest = url.pathname + url.search;
  }
  const q = rest.indexOf('?');
  let path = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q + 1);
  // A fragment never belongs on the wire, but cut it off rather than let it reach a pattern.
  const hash = path.indexOf('#');
  if (hash !== -1) path = path.slice(0, hash);
  return { path, query };
}

function decodeSegment(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    // Invalid percent-encoding: hand the raw text to the handler rather than refuse the path.
    return raw;
  }
}

/**
 * Compiles a pattern once, at `route()` time, so that bad patterns fail there (InvalidArgumentError)
 * and not on a client's request.
 *
 * - `'/chat'` matches exactly '/chat' (not '/chat/' nor '/chat/x').
 * - `'/rooms/:id'` matches '/rooms/42' with `params.id === '42'`; a parameter is one non-empty
 *   segment.
 * - `'*'` matches every path.
 * - A RegExp is tested against the path (use `^...$` to anchor it); its named groups become
 *   `params`. The caller owns its cost: prefer patterns without nested quantifiers.
 */
export function compilePattern(pattern: RoutePattern): PathMatcher {
  if (pattern instanceof RegExp) {
    // A global or sticky RegExp keeps lastIndex between calls, which would make matching depend on
    // the previous request: use a copy without those flags.
    const re = pattern.global || pattern.sticky ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')) : pattern;
    return (path, query) => {
      const m = re.exec(path);
      if (m === null) return null;
      const params: Record<string, string> = {};
      if (m.groups) for (const [k, v] of Object.entries(m.groups)) if (v !== undefined) params[k] = v;
      return { path, query, params };
    };
  }
  if (typeof pattern !== 'string') throw new InvalidArgumentError('a route pattern is a string or a RegExp');
  if (pattern === '*') return (path, query) => ({ path, query, params: {} });
  if (pattern.charCodeAt(0) !== 0x2f) throw new InvalidArgumentError(`a route path starts with '/': ${JSON.stringify(pattern)}`);
  const segments = pattern.split('/');
  const names = new Set<string>();
  let hasParams = false;
  for (const s of segments) {
    if (s.charCodeAt(0) === 0x3a /* ':' */) {
      const name = s.slice(1);
      if (name.length === 0) throw new InvalidArgumentError(`a route parameter needs a name: ${JSON.stringify(pattern)}`);
      if (names.has(name)) throw new InvalidArgumentError(`route parameter ':${name}' appears twice in ${JSON.stringify(pattern)}`);
      names.add(name);
      hasParams = true;
    }
  }
  if (!hasParams) {
    return (path, query) => (path === pattern ? { path, query, params: {} } : null);
  }
  return (path, query) => {
    // Same number of segments first (one linear pass), then compare them pairwise.
    if (countSlashes(path) !== segments.length - 1) return null;
    const parts = path.split('/');
    const params: Record<string, string> = {};
    for (let i = 0; i < segments.length; i++) {
      const want = segments[i]!;
      const raw = parts[i]!;
      if (want.charCodeAt(0) === 0x3a) {
        if (raw.length === 0) return null;
        params[want.slice(1)] = decodeSegment(raw);
      } else if (raw !== want) {
        return null;
      }
    }
    return { path, query, params };
  };
}

function countSlashes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 0x2f) n++;
  return n;
}

/**
 * The subprotocol to answer with (RFC 6455 section 4.2.2, /subprotocol/): the first of the
 * server's protocols, in the server's order of preference, that the client offered. Comparison is
 * exact: subprotocol names are case-sensitive tokens (section 11.3.4). Returns undefined when none
 * is shared; the caller decides whether that means "proceed without one" or a refusal.
 */
export function selectProtocol(serverPreference: readonly string[], offered: readonly string[]): string | undefined {
  if (offered.length === 0) return undefined;
  for (const p of serverPreference) if (offered.includes(p)) return p;
  return undefined;
}

/** What a route may set; anything it leaves out comes from the server's options. */
export interface RouteOptions<Data = unknown> {
  /** Subprotocols this path speaks, most preferred first; default: the server's `protocols`. */
  protocols?: readonly string[];
  /**
   * Refuse (400) a client that offers none of `protocols`; default: the server's
   * `requireProtocol` (false: accept it without a subprotocol, as RFC 6455 section 4.2.2 allows).
   */
  requireProtocol?: boolean;
  /** A second accept hook for this path only, asked after the server's (its `{ data }` wins). */
  accept?: AcceptHook<Data>;
  /** For a MessageHandler: messages handled at once; default: the server's `concurrency`. */
  concurrency?: number;
}

/** One route: its compiled pattern, its own options (checked) and its handler. */
export interface Route {
  readonly matcher: PathMatcher;
  readonly options: ResolvedRouteOptions;
  readonly handler: ConnectionHandler | MessageHandler;
}

/** The route a request target found, or none (a server without routes accepts every path). */
interface RouteLookup {
  readonly route: Route | undefined;
  readonly match: RouteMatch;
}

/** The routes of one server, matched in the order they were added. */
export class Router {
  readonly #routes: Route[] = [];

  /** Adds a route; throws InvalidArgumentError for a bad pattern, options or handler, before any request. */
  add(pattern: RoutePattern, given: RouteOptions | undefined, handler: ConnectionHandler | MessageHandler): void {
    const object = optionsObject('route()', given);
    if (typeof handler !== 'function' && (handler === null || typeof handler !== 'object' || typeof handler.message !== 'function')) {
      throw new InvalidArgumentError('a route handler is a function (ws, req, match) or an object with a message(msg, ws, req, match) method');
    }
    const options = resolveRouteOptions(object);
    this.#routes.push({ matcher: compilePattern(pattern), options, handler });
  }

  /**
   * The first route whose pattern matches the target's path, or a refusal: 400 for a target that
   * is not origin-form or absolute-form, 404 for a path no route matches. Without routes every
   * path is accepted, with no route.
   */
  find(target: string): RouteLookup | HttpRefusal {
    const parts = splitTarget(target);
    if (parts === null) return refusal(400, 'Unusable request target.\n');
    const query = new URLSearchParams(parts.query);
    if (this.#routes.length === 0) return { route: undefined, match: { path: parts.path, query, params: {} } };
    for (const route of this.#routes) {
      const match = route.matcher(parts.path, query);
      if (match !== null) return { route, match };
    }
    return refusal(404, 'No WebSocket endpoint at this path.\n');
  }
}
