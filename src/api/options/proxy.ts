/**
 * connect()'s proxy options (proxy, proxyHeaders, proxyTls and agent): checked with the rest, so
 * that a bad proxy URL fails at the call, before any network.
 */
import { Agent } from 'node:http';
import { InvalidArgumentError } from '../../core/errors.js';
import { isToken } from '../../core/header-tokens.js';
import type { TlsDialOptions } from '../../node/dial.js';
import { snapshotProxyEnv } from '../../node/proxy/env.js';
import { parseProxyURL } from '../../node/proxy/proxy-url.js';
import type { ProxyRoute } from '../../node/proxy/route.js';
import { checkOptionNames, optionsObject, shown } from './checks.js';

/** How connect() reaches a server through a proxy. Every field defaults to off: a direct connection. */
export interface ProxyOptions {
  /**
   * A proxy to tunnel through: `http://` or `https://` (CONNECT; TLS to the proxy for https:),
   * `socks5://` (the name resolved here), `socks5h://` (resolved by the proxy), `socks4://` or
   * `socks4a://`, with `user:password@` for Basic or RFC 1929 credentials (percent-decoded).
   * `'env'` takes it from wss_proxy/ws_proxy, https_proxy/http_proxy, all_proxy and no_proxy.
   * Default none: the environment is read only when asked, so nothing changes silently.
   */
  proxy?: string | URL | 'env';
  /** Extra headers of the CONNECT request (a Proxy-Authorization here wins over the URL's credentials). Default none. */
  proxyHeaders?: Readonly<Record<string, string>>;
  /** TLS settings for an https: proxy itself (its CA, for one). Default: Node's CAs, verified, SNI the proxy's name. */
  proxyTls?: TlsDialOptions;
  /**
   * An `http.Agent` that carries the upgrade request instead (https-proxy-agent and the like, as
   * ws takes them); not with `proxy`. Default none.
   */
  agent?: Agent;
}

/** The names ProxyOptions adds to connect()'s. */
export const PROXY_OPTION_NAMES: readonly (keyof ProxyOptions)[] = ['proxy', 'proxyHeaders', 'proxyTls', 'agent'];

/** The names of TlsDialOptions, for `proxyTls`. */
const PROXY_TLS_NAMES: ReadonlySet<string> = new Set(['ca', 'cert', 'key', 'passphrase', 'rejectUnauthorized', 'servername']);

/** ProxyOptions resolved: the route the dialer takes, or the agent; both undefined for a direct connection. */
export interface ResolvedProxy {
  route: ProxyRoute | undefined;
  agent: Agent | undefined;
}

/**
 * Checks the proxy options and resolves them: the proxy URL is parsed (credentials decoded), the
 * CONNECT headers checked against injection, and for `'env'` the environment's variables are
 * read now, once, so one connect() sees one environment. Throws InvalidArgumentError.
 */
export function resolveProxyOptions(options: ProxyOptions, env: NodeJS.ProcessEnv = process.env): ResolvedProxy {
  const { proxy, proxyHeaders, proxyTls, agent } = options;
  if (agent !== undefined && !(agent instanceof Agent)) throw new InvalidArgumentError(`agent must be an http.Agent, got ${shown(agent)}`);
  if (agent !== undefined && proxy !== undefined) throw new InvalidArgumentError('give either proxy or agent, not both: the agent decides the way to the server');
  if (proxyTls !== undefined) checkOptionNames('proxyTls', optionsObject('proxyTls', proxyTls), PROXY_TLS_NAMES);
  const headers: Record<string, string> = {};
  if (proxyHeaders !== undefined) {
    for (const [name, value] of Object.entries(optionsObject('proxyHeaders', proxyHeaders))) {
      if (!isToken(name)) throw new InvalidArgumentError(`proxyHeaders: ${JSON.stringify(name)} is not a header name`);
      if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
        throw new InvalidArgumentError(`proxyHeaders: the value of ${name} must be a string without CR, LF or NUL`);
      }
      headers[name] = value;
    }
  }
  if (proxy === undefined) return { route: undefined, agent };
  if (typeof proxy !== 'string' && !(proxy instanceof URL)) {
    throw new InvalidArgumentError(`proxy must be a URL string, a URL or 'env', got ${shown(proxy)}`);
  }
  const target = proxy === 'env' ? { env: snapshotProxyEnv(env) } : parseProxyURL(proxy, 'proxy');
  return { route: { proxy: target, headers, tls: proxyTls ?? {} }, agent };
}
