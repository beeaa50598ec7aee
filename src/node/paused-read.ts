/**
 * Reading a client handshake's answer (an HTTP head, a SOCKS reply) straight off a socket in
 * paused mode (`read()`), so that nothing past the answer is consumed: whoever reads next (the
 * TLS handshake, the WebSocket) finds the rest still buffered. The response-head reader and the
 * SOCKS tunnel share this one loop, with its listeners, abort and cleanup; each says only what
 * its bytes mean and which error each way of failing is.
 */
import type { Socket } from 'node:net';

/** What one paused read makes of the socket's bytes and of each way it can fail. */
export interface PausedRead<T> {
  signal?: AbortSignal;
  /**
   * Called with each chunk read, in order: returns the result once it is complete, undefined
   * to read on. A take that throws fails the read with what it threw.
   */
  take(chunk: Buffer): T | undefined;
  /** The error for a peer that ended or closed before the result was complete. */
  ended(): Error;
  /** The error for a socket error. */
  errored(err: Error): Error;
  /** The error for an aborted `signal` (called before the read starts too). */
  aborted(signal: AbortSignal): Error;
  /** When given, a socket already destroyed fails with this error at once (else the read waits on `signal`). */
  destroyed?(): Error;
}

/** A no-op 'error' listener left on sockets we destroyed, so a late error cannot crash the process. */
export function ignoreError(): void {}

/** Destroys a socket that failed us, leaving the no-op 'error' listener so a late error cannot crash the process. */
export function destroyQuietly(socket: Socket): void {
  socket.on('error', ignoreError);
  socket.destroy();
}

/**
 * Reads `socket` in paused mode until `read.take` returns a result. Every listener it added is
 * removed when it settles; on failure the socket is destroyed.
 */
export function readPaused<T>(socket: Socket, read: PausedRead<T>): Promise<T> {
  const { signal } = read;
  return new Promise<T>((resolve, reject) => {
    let settled = false;

    const cleanup = (): void => {
      settled = true;
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      cleanup();
      destroyQuietly(socket);
      reject(error);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!settled && (chunk = socket.read() as Buffer | null) !== null) {
        let result: T | undefined;
        try {
          result = read.take(chunk);
        } catch (error) {
          fail(error as Error);
          return;
        }
        if (result !== undefined) {
          cleanup();
          resolve(result);
          return;
        }
      }
    };
    const onEnd = (): void => fail(read.ended());
    const onError = (err: Error): void => fail(read.errored(err));
    const onAbort = (): void => fail(read.aborted(signal!));

    if (signal?.aborted) {
      fail(read.aborted(signal));
      return;
    }
    if (read.destroyed !== undefined && socket.destroyed) {
      fail(read.destroyed());
      return;
    }
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    signal?.addEventListener('abort', onAbort, { once: true });
    // Adding the listener emits 'readable' again if data is already buffered.
    socket.on('readable', onReadable);
  });
}
