/**
 * The option names of permessage-deflate, shared by connect()'s `compress` and the server's: one
 * list, so that the client and the server refuse the same misspellings.
 */

/** The names of ClientDeflateOptions (and ServerDeflateOptions): the negotiated parameters and the codec's tuning. */
export const DEFLATE_NAMES: ReadonlySet<string> = new Set([
  'serverNoContextTakeover',
  'clientNoContextTakeover',
  'serverMaxWindowBits',
  'clientMaxWindowBits',
  'threshold',
  'level',
  'memLevel',
  'chunkSize',
  'limiter',
]);

/** What ws's perMessageDeflate names (and other libraries' near misses) are called here. */
export const DEFLATE_HINTS: Readonly<Record<string, string>> = {
  zlibDeflateOptions: 'set level, memLevel and chunkSize directly',
  zlibInflateOptions: 'set chunkSize directly',
  concurrencyLimit: 'pass limiter: new ZlibLimiter(n)',
};
