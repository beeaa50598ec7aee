/**
 * Who may reach `hybi serve`: the Host names it answers to (against DNS rebinding) and the line
 * that tells the user, at startup, which pages and names may connect.
 */
import { isIPv4, parseHost } from '../core/index.js';
import type { ServeSettings } from './serve-args.js';
import { UsageError } from './units.js';

/**
 * The host names requests may name (see ServeSettings.allowedHosts). DNS rebinding: a page of
 * rebind.example:PORT whose name is made to resolve to 127.0.0.1 reaches a server bound there, as
 * its own origin; only the Host header it sends (rebind.example:PORT) gives it away. So a server
 * bound to a loopback address answers only loopback names and the ones given with --allow-host.
 */
export function hostList(bind: string, extra: readonly string[]): string[] | null {
  const names: string[] = [];
  for (const name of extra) {
    const parsed = parseHost(name);
    if (parsed === null || parsed.port !== null || name.endsWith(':')) {
      throw new UsageError(`--allow-host: '${name}' is not a host name (no port, IPv6 in brackets)`);
    }
    names.push(parsed.hostname.toLowerCase());
  }
  return names.length > 0 || isLoopbackAddress(bind) ? names : null;
}

/** An address to listen on that only this machine can reach: 127.0.0.0/8, ::1 or localhost. */
function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return a === 'localhost' || a === '::1' || a === '[::1]' || a === '0:0:0:0:0:0:0:1' || (isIPv4(v4) && v4.startsWith('127.'));
}

/** True when the Host header names this machine's loopback (localhost, 127.x.x.x, [::1]) or an allowed name. */
export function hostAllowed(host: string | undefined, allowed: readonly string[] | null): boolean {
  if (allowed === null) return true;
  const parsed = parseHost(host ?? '');
  if (parsed === null) return false;
  const name = parsed.hostname.toLowerCase();
  if (name === 'localhost' || name === '[::1]' || (isIPv4(name) && name.startsWith('127.'))) return true;
  return allowed.includes(name);
}

/** The answer to a request naming a Host this server does not answer to. */
export function hostRefusal(): { status: number; body: string } {
  return { status: 403, body: 'This server does not answer to that Host name (hybi serve --allow-host NAME adds one).\n' };
}

/** What the startup line says about who may connect: browser pages, and Host names. */
export function accessLine(s: ServeSettings): string {
  const origins = s.server.allowedOrigins;
  const pages =
    origins === undefined ? 'browser pages: its own only' : origins.length === 0 ? 'browser pages: none (--origin to allow one)' : `browser pages: ${[...origins].join(', ')}`;
  const hosts =
    s.allowedHosts === null
      ? 'Host: any'
      : `Host: localhost, 127.x.x.x, [::1]${s.allowedHosts.length > 0 ? `, ${s.allowedHosts.join(', ')}` : ' (--allow-host to add one)'}`;
  return `${pages}; ${hosts}`;
}
