/**
 * The options of one route (`server.route(pattern, options, handler)`): checked and copied once
 * when the route is added; what a route leaves out stays undefined, so the server's applies.
 */
import type { RouteOptions } from '../route.js';
import type { AcceptHook } from '../upgrade-pipeline.js';
import { checkOptionNames, count, flag, hook, subprotocols } from './checks.js';
import { DEFAULT_CONCURRENCY } from './server.js';

/** RouteOptions checked and copied; what a route leaves out stays undefined (the server's applies). */
export interface ResolvedRouteOptions {
  readonly protocols: readonly string[] | undefined;
  readonly requireProtocol: boolean | undefined;
  readonly accept: AcceptHook | undefined;
  readonly concurrency: number | undefined;
}

/** The names `route()` takes in its options. */
const ROUTE_NAMES: ReadonlySet<string> = new Set(['protocols', 'requireProtocol', 'accept', 'concurrency']);

/** Checks a route's options (an object from `optionsObject`) and copies them, once: upgrades read them as they are. */
export function resolveRouteOptions(given: RouteOptions): ResolvedRouteOptions {
  checkOptionNames('route()', given, ROUTE_NAMES);
  return Object.freeze({
    protocols: subprotocols('protocols', given.protocols),
    requireProtocol: given.requireProtocol === undefined ? undefined : flag('requireProtocol', given.requireProtocol, false),
    accept: hook('accept', given.accept),
    concurrency: given.concurrency === undefined ? undefined : count('concurrency', given.concurrency, DEFAULT_CONCURRENCY, 1, true),
  });
}
