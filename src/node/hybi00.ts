/**
 * The Node side of hybi-00 (draft-hixie-76) handshakes: reading the bytes that follow a head
 * (the server's key3, the client's 16-byte answer) within a bound, and writing the server's
 * answer. The protocol logic is in src/core/hybi00; the decisions (routes, origins, hooks) are the
 * server's, as for RFC 6455.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpRefusal } from '../core/handshake.js';
import { buildHybi00Response, challengeAnswer, checkHybi00Request, KEY3_SIZE, type Hybi00RequestCheck } from '../core/hybi00/handshake.js';
import { checkRequestLimits, guardHandshake, timeoutRefusal, type HandshakeGuard, type UpgradeLimits } from './upgrade.js';

/**
 * Resolves with the first `size` bytes after a head (some may already be in `have`) and what
 * followed them, reading the stream in paused mode so that nothing past them is consumed; null
 * when the stream ends, fails or is destroyed first (the guard's timer, for instance).
 */
export function readAfterHead(stream: Duplex, have: Uint8Array, size: number): Promise<{ bytes: Uint8Array; rest: Uint8Array } | null> {
  if (have.length >= size) return Promise.resolve({ bytes: have.subarray(0, size), rest: have.subarray(size) });
  return new Promise((resolve) => {
    const parts: Uint8Array[] = [have];
    let got = have.length;
    const finish = (value: { bytes: Uint8Array; rest: Uint8Array } | null): void => {
      stream.off('readable', onReadable);
      stream.off('end', onGone);
      stream.off('close', onGone);
      stream.off('error', onGone);
      resolve(value);
    };
    const onGone = (): void => finish(null);
    const onReadable = (): void => {
      let chunk: Uint8Array | null;
      while (got < size && (chunk = stream.read() as Uint8Array | null) !== null) {
        parts.push(chunk);
        got += chunk.length;
      }
      if (got < size) return;
      const all = new Uint8Array(got);
      let at = 0;
      for (const part of parts) {
        all.set(part, at);
        at += part.length;
      }
      finish({ bytes: all.subarray(0, size), rest: all.subarray(size) });
    };
    stream.on('readable', onReadable);
    stream.on('end', onGone);
    stream.on('close', onGone);
    stream.on('error', onGone);
    if (stream.destroyed) finish(null);
    else onReadable();
  });
}

/** key3 of requests whose key3 has been read, until the server answers them. */
const key3s = new WeakMap<IncomingMessage, Uint8Array>();

/**
 * For the server's upgrade path: when `req` is a hybi-00 request whose key3 is not all in `head`,
 * waits for it (bounded by `guard` when the server already runs one for this socket, else by a
 * timer of `timeout` ms of its own, answering 408), then calls `go` with the bytes after key3.
 * When key3 is in `head` already it is taken at once. Keeps key3 for `takeKey3`.
 */
export function withKey3<T>(req: IncomingMessage, socket: Duplex, head: Uint8Array, guard: HandshakeGuard | null, timeout: number, go: (rest: Uint8Array) => T | Promise<T>): T | Promise<T | null> {
  if (head.length >= KEY3_SIZE) {
    key3s.set(req, head.slice(0, KEY3_SIZE));
    return go(head.subarray(KEY3_SIZE));
  }
  const own = guard === null ? guardHandshake(socket, timeout, timeoutRefusal) : null;
  return readAfterHead(socket, head, KEY3_SIZE).then((read) => {
    if (read === null || (guard ?? own)!.expired) return null;
    own?.cancel();
    key3s.set(req, read.bytes.slice());
    return go(read.rest);
  });
}

/** True once `req`'s key3 has been read (withKey3) and not yet used. */
export function hasKey3(req: IncomingMessage): boolean {
  return key3s.has(req);
}

/** The hybi-00 checks (limits first), in the shape of checkUpgrade's result. */
export function checkHybi00Upgrade(req: IncomingMessage, limits?: UpgradeLimits): Hybi00RequestCheck {
  const over: HttpRefusal | null = checkRequestLimits(req, limits);
  if (over !== null) return { ok: false, ...over };
  return checkHybi00Request({ method: req.method ?? '', httpVersion: req.httpVersion, headers: req.headers, rawHeaders: req.rawHeaders, target: req.url });
}

/** True when `check` came from checkHybi00Upgrade. */
export function isHybi00Check(check: object): check is Extract<Hybi00RequestCheck, { ok: true }> {
  return (check as { hybi00?: unknown }).hybi00 === true;
}

/**
 * Writes the hybi-00 101 and the 16-byte answer. False, writing nothing, when the socket is gone;
 * throws InvalidArgumentError for extra headers that cannot be sent, before writing.
 */
export function writeHybi00Response(
  socket: Duplex,
  req: IncomingMessage,
  check: Extract<Hybi00RequestCheck, { ok: true }>,
  protocol: string | undefined,
  headers?: Readonly<Record<string, string | readonly string[]>>,
): boolean {
  const key3 = key3s.get(req);
  if (key3 === undefined) throw new Error('hybi-00 key3 was not read');
  key3s.delete(req);
  if (socket.destroyed || !socket.writable) return false;
  const secure = (socket as Duplex & { encrypted?: boolean }).encrypted === true;
  const head = buildHybi00Response({
    origin: check.origin ?? 'null',
    location: `${secure ? 'wss' : 'ws'}://${check.host}${req.url ?? '/'}`,
    protocol,
    headers,
  });
  const answer = challengeAnswer(check.number1, check.number2, key3);
  const s = socket as Duplex & { setNoDelay?: (on: boolean) => void; setTimeout?: (ms: number) => void };
  s.setNoDelay?.(true);
  s.setTimeout?.(0);
  const bytes = Buffer.alloc(head.length + answer.length);
  bytes.write(head, 'latin1');
  bytes.set(answer, head.length);
  socket.write(bytes);
  return true;
}
