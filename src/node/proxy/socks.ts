/**
 * SOCKS tunnels: SOCKS5 (RFC 1928) with the user name and password method (RFC 1929), and
 * SOCKS4 with its 4a extension (the proxy resolves the name). `socks5:` and `socks4:` resolve
 * the server's name here and send an address; `socks5h:` and `socks4a:` send the name, so DNS
 * happens on the proxy's side (as it must when only the proxy can resolve internal names).
 */
import { Buffer } from 'node:buffer';
import { isIP, type Socket } from 'node:net';
import { ConnectError, ProxyAuthError, ProxyError } from '../errors.js';
import { abortedError } from '../dial.js';
import { readPaused } from '../paused-read.js';
import type { ProxyURL } from './proxy-url.js';

/** What to ask the proxy for. */
interface SocksTunnelOptions {
  proxy: ProxyURL;
  /** The server's host (a name or an IP literal, IPv6 without brackets) and port. */
  host: string;
  port: number;
  signal?: AbortSignal;
}

/** RFC 1928 section 6's reply codes, for messages. */
const SOCKS5_REPLIES: Readonly<Record<number, string>> = {
  1: 'general SOCKS server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

/** SOCKS4's reply codes (90 is success). */
const SOCKS4_REPLIES: Readonly<Record<number, string>> = {
  91: 'request rejected or failed',
  92: 'rejected: the proxy cannot reach identd on the client',
  93: 'rejected: identd reported a different user id',
};

/**
 * Reads exactly `n` bytes off a socket in paused mode; bytes beyond them are put back. Rejects
 * with a ProxyError when the proxy closes first, a ConnectError on a socket error or an abort.
 */
function readExactly(socket: Socket, n: number, options: SocksTunnelOptions): Promise<Buffer> {
  const { proxy } = options;
  const parts: Buffer[] = [];
  let size = 0;
  return readPaused<Buffer>(socket, {
    signal: options.signal,
    take(chunk) {
      parts.push(chunk);
      size += chunk.length;
      if (size < n) return undefined;
      const all = Buffer.concat(parts, size);
      if (size > n) socket.unshift(all.subarray(n));
      return all.subarray(0, n);
    },
    ended: () => new ProxyError(`proxy ${proxy.href} closed the connection during the SOCKS handshake`, proxy.href),
    errored: (err) => new ConnectError(`connection to proxy ${proxy.href} failed: ${err.message}`, proxy.hostname, proxy.port, { cause: err }),
    aborted: (signal) => abortedError(proxy.hostname, proxy.port, signal),
  });
}

/** The server's address for socks5: and socks4:, resolved here (IPv4 only for SOCKS4). */
async function resolveLocally(options: SocksTunnelOptions, family: 0 | 4): Promise<string> {
  const { host, port, signal } = options;
  if (isIP(host) !== 0) return host;
  try {
    // node:dns/promises is loaded on first use: most processes never dial through SOCKS.
    const { address } = await process.getBuiltinModule('node:dns/promises').lookup(host, { family });
    if (signal?.aborted) throw abortedError(host, port, signal);
    return address;
  } catch (error) {
    if (error instanceof ConnectError) throw error;
    throw new ConnectError(`cannot resolve ${host}: ${(error as Error).message}`, host, port, { cause: error });
  }
}

function portBytes(port: number): Buffer {
  return Buffer.from([port >> 8, port & 0xff]);
}

/** RFC 1928's address field: ATYP and the address (a name prefixed by its length). */
function socks5Address(host: string, proxy: ProxyURL): Buffer {
  const kind = isIP(host);
  if (kind === 4) return Buffer.from([1, ...host.split('.').map(Number)]);
  if (kind === 6) return Buffer.concat([Buffer.from([4]), ipv6Bytes(host)]);
  const name = Buffer.from(host, 'utf8');
  if (name.length > 255) throw new ProxyError(`host name too long for SOCKS5 (${name.length} bytes, 255 at most)`, proxy.href);
  return Buffer.concat([Buffer.from([3, name.length]), name]);
}

function ipv6Bytes(text: string): Buffer {
  const halves = text.split('::');
  const left = halves[0] === '' ? [] : halves[0]!.split(':');
  const right = halves.length > 1 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const out = Buffer.alloc(16);
  const tail = right.length > 0 ? right : left;
  // A dotted IPv4 tail stands for the last two groups.
  const last = tail[tail.length - 1];
  if (last !== undefined && last.includes('.')) {
    const v4 = last.split('.').map(Number);
    tail.splice(tail.length - 1, 1, ((v4[0]! << 8) | v4[1]!).toString(16), ((v4[2]! << 8) | v4[3]!).toString(16));
  }
  const groups = [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Opens a SOCKS5 tunnel on `socket` to the server. On rejection the socket is destroyed. */
export async function socks5Tunnel(socket: Socket, options: SocksTunnelOptions): Promise<void> {
  const { proxy } = options;
  const credentials = proxy.username !== '' || proxy.password !== '';
  const fail = (error: Error): never => {
    socket.destroy();
    throw error;
  };
  // Method negotiation (section 3): no authentication, and user/password when we have them.
  socket.write(Buffer.from(credentials ? [5, 2, 0, 2] : [5, 1, 0]));
  const choice = await readExactly(socket, 2, options);
  if (choice[0] !== 5) fail(new ProxyError(`proxy ${proxy.href} does not speak SOCKS5 (version byte ${choice[0]})`, proxy.href));
  if (choice[1] === 0xff) {
    fail(new ProxyAuthError(
      `proxy ${proxy.href} accepts none of the offered SOCKS5 methods${credentials ? '' : ' (it probably wants a user name and password)'}`,
      proxy.href,
      0,
      '',
    ));
  }
  if (choice[1] === 2 && credentials) {
    // RFC 1929: version 1, then the user name and password, each prefixed by its length.
    const user = Buffer.from(proxy.username, 'utf8');
    const pass = Buffer.from(proxy.password, 'utf8');
    socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
    const status = await readExactly(socket, 2, options);
    if (status[1] !== 0) fail(new ProxyAuthError(`proxy ${proxy.href} refused the SOCKS5 user name and password`, proxy.href, 0, ''));
  } else if (choice[1] !== 0) {
    fail(new ProxyError(`proxy ${proxy.href} chose SOCKS5 method ${choice[1]}, which was not offered`, proxy.href));
  }
  const host = proxy.protocol === 'socks5h' ? options.host : await resolveLocally(options, 0);
  socket.write(Buffer.concat([Buffer.from([5, 1, 0]), socks5Address(host, proxy), portBytes(options.port)]));
  const reply = await readExactly(socket, 4, options);
  if (reply[0] !== 5) fail(new ProxyError(`proxy ${proxy.href} sent a malformed SOCKS5 reply`, proxy.href));
  if (reply[1] !== 0) {
    const code = reply[1]!;
    fail(new ProxyError(
      `proxy ${proxy.href} refused the tunnel to ${options.host}:${options.port}: ${SOCKS5_REPLIES[code] ?? `reply ${code}`}`,
      proxy.href,
      0,
      code,
    ));
  }
  // The bound address, which a client has no use for, still has to be read off the stream.
  const atyp = reply[3];
  const length = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? (await readExactly(socket, 1, options))[0]! : -1;
  if (length < 0) fail(new ProxyError(`proxy ${proxy.href} sent a SOCKS5 reply with address type ${atyp}`, proxy.href));
  await readExactly(socket, length + 2, options);
}

/** Opens a SOCKS4 (socks4:) or SOCKS4a (socks4a:) tunnel on `socket`. On rejection the socket is destroyed. */
export async function socks4Tunnel(socket: Socket, options: SocksTunnelOptions): Promise<void> {
  const { proxy } = options;
  const userId = Buffer.from(proxy.username, 'utf8');
  let request: Buffer;
  if (proxy.protocol === 'socks4a' && isIP(options.host) === 0) {
    // 4a: the address 0.0.0.x (x non-zero) says "the name follows the user id".
    request = Buffer.concat([Buffer.from([4, 1]), portBytes(options.port), Buffer.from([0, 0, 0, 1]), userId, Buffer.from([0]), Buffer.from(options.host, 'utf8'), Buffer.from([0])]);
  } else {
    const address = await resolveLocally(options, 4);
    if (isIP(address) !== 4) {
      socket.destroy();
      throw new ProxyError(`SOCKS4 carries IPv4 addresses only, and ${options.host} is ${address}`, proxy.href);
    }
    request = Buffer.concat([Buffer.from([4, 1]), portBytes(options.port), Buffer.from(address.split('.').map(Number)), userId, Buffer.from([0])]);
  }
  socket.write(request);
  const reply = await readExactly(socket, 8, options);
  if (reply[1] !== 90) {
    const code = reply[1]!;
    socket.destroy();
    throw new ProxyError(
      `proxy ${proxy.href} refused the tunnel to ${options.host}:${options.port}: ${SOCKS4_REPLIES[code] ?? `reply ${code}`}`,
      proxy.href,
      0,
      code,
    );
  }
}
