/**
 * CONTRACT (to be implemented): an incremental, bounded parser for an HTTP/1.1 message head
 * (the client reads the server's 101 with it; a raw-socket server may read requests with it).
 */

/** Limits that keep a hostile peer from making the parser hold unbounded memory. */
export interface HttpHeadLimits {
  /** Bytes in the whole head, request/status line included; default 16 KiB (Node's default). */
  maxHeadSize?: number;
  /** Header fields; default 100. */
  maxHeaderCount?: number;
}

/** A parsed head. `rawHeaders` alternates names (as sent) and values; `headers` lower-cases names and joins repeats with ', ' (arrays for set-cookie). */
export interface HttpHead {
  /** For a response: 'HTTP/1.1' etc.; for a request: the method. */
  startLine: [string, string, string];
  headers: Record<string, string | string[]>;
  rawHeaders: string[];
}

/** The outcome of feeding bytes: more needed, a complete head (with the bytes after it), or an error with the HTTP status that fits (400 or 431). */
export type HttpHeadResult =
  | { state: 'incomplete' }
  | { state: 'complete'; head: HttpHead; rest: Uint8Array }
  | { state: 'error'; status: 400 | 431; reason: string };

/** Feed chunks until the empty line; bytes after it are returned untouched in `rest`. */
export declare class HttpHeadParser {
  constructor(kind: 'request' | 'response', limits?: HttpHeadLimits);
  push(chunk: Uint8Array): HttpHeadResult;
}
