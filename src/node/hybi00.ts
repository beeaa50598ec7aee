/**
 * The Node side of hybi-00 (draft-hixie-76) handshakes: reading the bytes that follow a head
 * (the server's key3, the client's 16-byte answer) within a bound, and writing the server's
 * answer. The protocol logic is in src/core/hybi00; the decisions (routes, origins, hooks) are the
 * upgrade pipeline's, as for RFC 6455 (src/api/hybi00-upgrade.ts is the transport).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { buildHybi00Response, challengeAnswer, type Hybi00RequestCheck } from '../core/hybi00/handshake.js';

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

/**
 * Writes the hybi-00 101 and the 16-byte answer to `key3`. False, writing nothing, when the
 * socket is gone; throws InvalidArgumentError for extra headers that cannot be sent, before writing.
 */
export function writeHybi00Response(
  socket: Duplex,
  req: IncomingMessage,
  check: Extract<Hybi00RequestCheck, { ok: true }>,
  key3: Uint8Array,
  protocol: string | undefined,
  headers?: Readonly<Record<string, string | readonly string[]>>,
): boolean {
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
