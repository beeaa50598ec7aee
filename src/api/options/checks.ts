/**
 * The checkers every option resolver shares (options/connection.ts, server.ts, route.ts,
 * listen.ts, proxy.ts, and the reconnecting client's): one rule per kind of value, so that a
 * duration, a count or a flag is refused with the same words whichever option it is.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { isToken } from '../../core/header-tokens.js';
import type { AcceptHook } from '../upgrade-pipeline.js';

/**
 * The largest duration a timer option may have: 2^31 - 1 ms (about 24.8 days). Node's timers
 * cannot hold more; a longer `setTimeout` fires after 1 ms instead, which would turn a generous
 * timeout into an instant one. Use 0 to disable a timer.
 */
export const MAX_DURATION = 2 ** 31 - 1;

/** A value as an error message shows it: strings quoted, so that '5' and 5 read differently. */
export function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A duration option: a finite number of ms from 0 (disabled) to MAX_DURATION; fractions are fine. */
export function duration(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= MAX_DURATION)) {
    throw new InvalidArgumentError(`${name} must be a number of ms from 0 to ${MAX_DURATION}, got ${shown(value)}`);
  }
  return value;
}

/** A count or byte bound: an integer of at least `min`, or Infinity where `infinite` allows no bound. */
export function count(name: string, value: unknown, fallback: number, min: number, infinite: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min) || (value === Infinity ? !infinite : !Number.isInteger(value))) {
    throw new InvalidArgumentError(`${name} must be an integer of at least ${min}${infinite ? ' (or Infinity)' : ''}, got ${shown(value)}`);
  }
  return value;
}

/** A boolean option; anything else (1, 'yes') is refused rather than read as truthy. */
export function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${name} must be a boolean, got ${shown(value)}`);
  return value;
}

/** An optional function option (a hook, a callback). */
export function optionalFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') throw new InvalidArgumentError(`${name} must be a function, got ${shown(value)}`);
}

/** The options argument itself: absent, or a plain object (not a string of protocols, not null). */
export function optionsObject<T extends object>(where: string, value: T | undefined): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`the options of ${where} must be an object, got ${Array.isArray(value) ? 'an array' : shown(value)}`);
  }
  return value;
}

/**
 * Refuses option names `where` does not know, naming every one, so that a misspelt or foreign
 * option (JavaScript callers have no type checker to tell them) fails loudly instead of being
 * ignored. `hints` maps names other libraries use (ws's above all) to what hybi offers instead.
 */
export function checkOptionNames(where: string, options: object, known: ReadonlySet<string>, hints: Readonly<Record<string, string>> = {}): void {
  let unknown: string[] | null = null;
  // for-in rather than Object.keys: no array per call (send() options pass through here).
  for (const name in options) {
    if (!known.has(name) && Object.hasOwn(options, name)) (unknown ??= []).push(name);
  }
  if (unknown === null) return;
  const named = unknown.map((name) => (Object.hasOwn(hints, name) ? `'${name}' (${hints[name]})` : `'${name}'`));
  throw new InvalidArgumentError(`unknown option${unknown.length > 1 ? 's' : ''} for ${where}: ${named.join(', ')}`);
}

/** A list of subprotocols: tokens (RFC 6455 section 4.1), copied so that later changes to the caller's array do not count. */
export function subprotocols(name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string' || !isToken(p))) {
    throw new InvalidArgumentError(`${name} must be an array of subprotocol names (HTTP tokens), got ${String(value)}`);
  }
  return Object.freeze([...(value as string[])]);
}

/** An accept hook: a function, or absent. */
export function hook(name: string, value: unknown): AcceptHook | undefined {
  optionalFunction(name, value);
  return value as AcceptHook | undefined;
}
