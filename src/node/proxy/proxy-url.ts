/**
 * Proxy URLs: `http://`, `https://`, `socks5://`, `socks5h://`, `socks4://` and `socks4a://`,
 * with optional `user:password@` (percent-decoded), read once when the options are resolved so
 * that a bad proxy URL fails before any network.
 */
import { Buffer } from 'node:buffer';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../core/errors.js';

/** The kinds of proxy hybi speaks to. */
type ProxyProtocol = 'http' | 'https' | 'socks5' | 'socks5h' | 'socks4' | 'socks4a';

/** A parsed proxy URL. */
export interface ProxyURL {
  readonly protocol: ProxyProtocol;
  /** A DNS name (lower-cased) or an IP literal (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
  /** Percent-decoded user name; '' when the URL has none. */
  readonly username: string;
  /** Percent-decoded password; '' when the URL has none. */
  readonly password: string;
  /** The URL without credentials, for messages and errors (credentials never appear in them). */
  readonly href: string;
}

/**
 * Default ports: a URL's scheme default for http and https (as curl and Node's URL read them),
 * and 1080, the port IANA assigned to SOCKS.
 */
const DEFAULT_PORTS: Readonly<Record<ProxyProtocol, number>> = {
  http: 80,
  https: 443,
  socks5: 1080,
  socks5h: 1080,
  socks4: 1080,
  socks4a: 1080,
};

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    // A stray '%' in a password is kept as typed rather than failing the whole URL.
    return value;
  }
}

/**
 * Parses a proxy URL. `where` names the option or variable it came from, for the error. A URL
 * without a scheme (`proxy.local:3128`, as some environments set https_proxy) is read as http.
 * Throws InvalidArgumentError for anything else: another scheme, no host, a path or query.
 */
export function parseProxyURL(input: string | URL, where = 'proxy'): ProxyURL {
  let text = typeof input === 'string' ? input.trim() : input.href;
  if (typeof input === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(`${where} is not a valid URL: ${JSON.stringify(redact(text).slice(0, 200))}`);
  }
  const protocol = url.protocol.slice(0, -1).toLowerCase();
  if (!Object.hasOwn(DEFAULT_PORTS, protocol)) {
    throw new InvalidArgumentError(
      `${where}: unsupported proxy scheme '${protocol}': use http:, https:, socks5:, socks5h:, socks4: or socks4a:`,
    );
  }
  const kind = protocol as ProxyProtocol;
  let hostname = url.hostname.toLowerCase();
  if (hostname.startsWith('[') && hostname.endsWith(']')) hostname = hostname.slice(1, -1);
  if (hostname === '') throw new InvalidArgumentError(`${where}: a proxy URL needs a host`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw new InvalidArgumentError(`${where}: a proxy URL is scheme://[user:password@]host[:port], without a path or query`);
  }
  const username = decode(url.username);
  const password = decode(url.password);
  // RFC 1929 sends each as a length byte and the bytes; SOCKS4 ends its user id with a NUL.
  if ((kind === 'socks5' || kind === 'socks5h') && (Buffer.byteLength(username) > 255 || Buffer.byteLength(password) > 255)) {
    throw new InvalidArgumentError(`${where}: a SOCKS5 user name and password are 255 bytes each at most`);
  }
  if ((kind === 'socks4' || kind === 'socks4a') && (username.includes('\0') || password !== '')) {
    throw new InvalidArgumentError(`${where}: SOCKS4 takes a user id (socks4://id@host) and no password`);
  }
  const port = url.port === '' ? DEFAULT_PORTS[kind] : Number(url.port);
  const shownHost = isIP(hostname) === 6 ? `[${hostname}]` : hostname;
  return {
    protocol: kind,
    hostname,
    port,
    username,
    password,
    href: `${kind}://${shownHost}:${port}`,
  };
}

/** The text with any `user:password@` removed, so that an error never prints a password. */
function redact(text: string): string {
  return text.replace(/\/\/[^/@]*@/, '//');
}
