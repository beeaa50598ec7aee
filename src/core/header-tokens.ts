/**
 * CONTRACT (to be implemented): linear-time parsing of HTTP header values that WebSocket
 * handshakes carry (RFC 7230 token lists, RFC 6455 section 9.1 extension lists).
 */

/** One extension in a Sec-WebSocket-Extensions header: its name and parameters in order. */
export interface ExtensionOffer {
  name: string;
  /** Parameters in order; a parameter without a value is `true`. Quoted values are unquoted. */
  params: Array<[name: string, value: string | true]>;
}

/** Splits a comma-separated token list (Connection, Upgrade, Sec-WebSocket-Protocol); null if any element is not a token. */
export declare function parseTokenList(value: string): string[] | null;
/** True when `value` is an RFC 7230 token (tchar+). */
export declare function isToken(value: string): boolean;
/** Parses Sec-WebSocket-Extensions (section 9.1 grammar); null when malformed. */
export declare function parseExtensions(value: string): ExtensionOffer[] | null;
/** Formats extensions back into a header value (quoting values that are not tokens). */
export declare function formatExtensions(offers: readonly ExtensionOffer[]): string;
