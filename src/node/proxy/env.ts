/**
 * `proxy: 'env'`: the proxy a connection would take according to the environment variables
 * curl, Go and most HTTP clients read, and the `no_proxy` exceptions. Pure functions of an
 * environment record, so that every rule is tested without touching `process.env`.
 */
import { isIP } from 'node:net';

/** The environment variables `proxy: 'env'` reads. */
const PROXY_ENV_NAMES = [
  'wss_proxy',
  'ws_proxy',
  'https_proxy',
  'http_proxy',
  'all_proxy',
  'no_proxy',
] as const;

/** The part of an environment the resolver reads: variable names to values. */
export type ProxyEnv = Readonly<Record<string, string | undefined>>;

/** Where the connection goes, as far as the environment's proxy rules care. */
interface ProxyTarget {
  /** True for wss:. */
  secure: boolean;
  /** A DNS name or an IP literal (IPv6 without brackets). */
  hostname: string;
  port: number;
}

/** The proxy the environment chose, and which variable said so (for messages). */
interface EnvProxy {
  url: string;
  variable: string;
}

/**
 * Copies the variables `proxy: 'env'` reads, in both cases, out of `env` (default `process.env`),
 * so that a connection's route is decided on the environment at the time connect() was called.
 */
export function snapshotProxyEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [...PROXY_ENV_NAMES, 'REQUEST_METHOD']) {
    for (const variant of [name, name.toUpperCase()]) {
      const value = env[variant];
      if (value !== undefined) out[variant] = value;
    }
  }
  return out;
}

/**
 * Reads a variable, the lower-case name first (the one curl and wget honour), then the upper-case
 * one. An empty value counts as unset. Under CGI (REQUEST_METHOD set) the upper-case HTTP_PROXY is
 * ignored: a CGI server sets HTTP_PROXY from a request's `Proxy:` header ("httpoxy", CVE-2016-5385),
 * so a client could otherwise pick the proxy.
 */
function read(env: ProxyEnv, name: string): EnvProxy | undefined {
  const lower = env[name];
  if (lower !== undefined && lower.trim() !== '') return { url: lower.trim(), variable: name };
  const upperName = name.toUpperCase();
  if (upperName === 'HTTP_PROXY' && (env['REQUEST_METHOD'] ?? '') !== '') return undefined;
  const upper = env[upperName];
  if (upper !== undefined && upper.trim() !== '') return { url: upper.trim(), variable: upperName };
  return undefined;
}

/**
 * The proxy for `target` by the environment, or undefined to connect directly. wss: reads
 * wss_proxy, then https_proxy; ws: reads ws_proxy, then http_proxy; both fall back to all_proxy.
 * no_proxy (see `bypassesProxy`) wins over all of them.
 */
export function proxyFromEnv(target: ProxyTarget, env: ProxyEnv): EnvProxy | undefined {
  const names = target.secure ? ['wss_proxy', 'https_proxy', 'all_proxy'] : ['ws_proxy', 'http_proxy', 'all_proxy'];
  let found: EnvProxy | undefined;
  for (const name of names) {
    found = read(env, name);
    if (found !== undefined) break;
  }
  if (found === undefined) return undefined;
  const noProxy = read(env, 'no_proxy');
  if (noProxy !== undefined && bypassesProxy(target.hostname, target.port, noProxy.url)) return undefined;
  return found;
}

/**
 * Whether a no_proxy list exempts `hostname:port`. The list is separated by commas or white
 * space; each entry is one of:
 * - `*`: every host;
 * - a domain name, `example.com`: that name and every name under it; with a leading dot or
 *   `*.` (`.example.com`, `*.example.com`), only the names under it;
 * - an IP literal (`10.1.2.3`, `::1`, `[::1]`): that address, written in any form;
 * - a CIDR block (`10.0.0.0/8`, `fd00::/8`): every address literal in it (host names are not
 *   resolved to check them, as in curl and Go);
 * - any of the above with `:port`: only connections to that port.
 * Names compare without case and without a trailing dot.
 */
export function bypassesProxy(hostname: string, port: number, noProxy: string): boolean {
  const host = normaliseName(hostname);
  const hostIP = parseIP(host);
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const { name, entryPort } = splitPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    if (name === '') continue;
    const slash = name.indexOf('/');
    if (slash >= 0) {
      if (hostIP !== undefined && inCIDR(hostIP, name.slice(0, slash), name.slice(slash + 1))) return true;
      continue;
    }
    const entryIP = parseIP(name);
    if (entryIP !== undefined) {
      if (hostIP !== undefined && sameBytes(entryIP, hostIP)) return true;
      continue;
    }
    if (hostIP !== undefined) continue;
    const domain = normaliseName(name);
    if (domain.startsWith('*.') || domain.startsWith('.')) {
      const suffix = domain.startsWith('*.') ? domain.slice(1) : domain;
      if (host.endsWith(suffix) && host.length > suffix.length) return true;
    } else if (host === domain || host.endsWith(`.${domain}`)) {
      return true;
    }
  }
  return false;
}

function normaliseName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Splits `host:port`, `[v6]:port`, `[v6]` and a bare IPv6 literal (whose colons are no port). */
function splitPort(entry: string): { name: string; entryPort: number | undefined } {
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0) return { name: entry, entryPort: undefined };
    const rest = entry.slice(close + 1);
    const name = entry.slice(1, close) + (rest.startsWith('/') ? rest : '');
    return { name, entryPort: rest.startsWith(':') ? portNumber(rest.slice(1)) : undefined };
  }
  const colon = entry.lastIndexOf(':');
  // More than one colon without brackets is an IPv6 literal or block, never host:port.
  if (colon < 0 || entry.indexOf(':') !== colon) return { name: entry, entryPort: undefined };
  return { name: entry.slice(0, colon), entryPort: portNumber(entry.slice(colon + 1)) };
}

/** A port, or -1 for a malformed one (which then matches no connection). */
function portNumber(text: string): number {
  return /^\d{1,5}$/.test(text) ? Number(text) : -1;
}

/** An address literal as 4 or 16 bytes (an IPv4-mapped IPv6 address as its IPv4 bytes), or undefined. */
function parseIP(text: string): Uint8Array | undefined {
  const kind = isIP(text);
  if (kind === 4) return Uint8Array.from(text.split('.').map(Number));
  if (kind !== 6) return undefined;
  let head = text;
  let tailV4: number[] = [];
  // A dotted IPv4 tail (::ffff:10.0.0.1) is two 16-bit groups.
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tailV4 = text.slice(lastColon + 1).split('.').map(Number);
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  const left = halves[0] === '' ? [] : halves[0]!.split(':');
  const right = halves.length > 1 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const groups = [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  if (tailV4.length === 4) bytes.set(tailV4, 12);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Whether `ip` lies in `base/bits`; a malformed block matches nothing. */
function inCIDR(ip: Uint8Array, baseText: string, bitsText: string): boolean {
  const base = parseIP(baseText);
  if (base === undefined || !/^\d{1,3}$/.test(bitsText)) return false;
  const bits = Number(bitsText);
  if (base.length !== ip.length || bits > base.length * 8) return false;
  for (let i = 0; i < base.length; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    const mask = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
    if ((base[i]! & mask) !== (ip[i]! & mask)) return false;
  }
  return true;
}
