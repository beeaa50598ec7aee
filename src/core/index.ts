/**
 * hybi/core: the sans-I/O RFC 6455 protocol layer. Pure and synchronous, it works on Uint8Array
 * and imports nothing, so it runs on any transport and any JavaScript runtime.
 *
 * Every name is listed: what is not here (buffer writers that fill memory at an offset, tuning
 * thresholds, the parts a Connection is built from) is internal and may change without notice.
 * The package's `hybi/core` entry (src/hybi-core.ts) adds the error classes the layers above raise.
 */
export { Opcode, isControlOpcode, isDataOpcode, isKnownOpcode } from './opcode.js';
export {
  ErrorCode,
  type ConnectionClosedCode,
  type ProtocolErrorCode,
  type LimitErrorCode,
  type ConnectionFailure,
  WebSocketError,
  ConnectionClosedError,
  ConnectionNotOpenError,
  ProtocolError,
  LimitError,
  MessageTooLargeError,
  InvalidArgumentError,
  NotSupportedByVersionError,
} from './errors.js';
export {
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_AUTO_PONG,
  MAX_CONTROL_PAYLOAD,
  MAX_CLOSE_REASON,
  type CoreLimitOptions,
  type CoreLimits,
  resolveCoreLimits,
} from './limits.js';
export { generateMaskKey, applyMask, maskInto, maskWord, maskWordInto } from './mask.js';
export { Utf8Validator, isValidUtf8, decodeUtf8, encodeUtf8 } from './utf8.js';
export { CloseCode, isValidCloseCode, encodeClosePayload, checkClosePayload, parseClosePayload } from './close.js';
export type { CloseState, CloseResult } from './close-state.js';
export { type Frame, type EncodeFrameOptions, type FrameHeaderOptions, frameHeaderSize, encodeFrameHeader, encodeFrame } from './frame.js';
export { type PreparedFrame, prepareFrame, checkPreparedFrame } from './prepared-frame.js'; // topics (issue 20)
export {
  type FrameParserRole,
  type FrameParserOptions,
  type FrameParserListener,
  type ViewMaker,
  type DecodeFrameOptions,
  FrameParser,
  decodeFrame,
} from './frame-parser.js';
export { type Role, type ReadyState, type ExtensionHook, type ConnectionOptions, type ConnectionHandler, Connection } from './connection.js';
export { type ExtensionOffer, isToken, parseTokenList, listHasToken, parseExtensions, formatExtensions } from './header-tokens.js';
export {
  WEBSOCKET_GUID,
  WEBSOCKET_VERSION,
  type HeaderMap,
  computeAcceptKey,
  generateKey,
  isValidKey,
  type ClientRequestInit,
  buildClientRequest,
  type ResponseExpectation,
  type ResponseCheck,
  checkServerResponse,
  type UpgradeRequest,
  type HttpRefusal,
  type RequestCheck,
  checkUpgradeRequest,
  type UpgradeResponseInit,
  buildUpgradeResponse,
  reasonPhrase,
  buildRefusalResponse,
} from './handshake.js';
export {
  H2_WEBSOCKET_PROTOCOL,
  type H2RequestFacts,
  type H2Headers,
  type H2ResponseInit,
  type H2RequestInit,
  type H2ResponseCheck,
  checkH2ConnectRequest,
  buildH2Response,
  buildH2Refusal,
  buildH2ConnectRequest,
  checkH2ConnectResponse,
} from './handshake-h2.js'; // http2 (issue 19): RFC 8441's extended CONNECT, beside the HTTP/1.1 handshake
export { type HostAndPort, parseHost, isValidHost, isIPv4, originMatchesHost } from './host.js';
export { DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADER_COUNT, type HttpHeadLimits, type HttpHead, type HttpHeadResult, HttpHeadParser } from './http-head.js';
export {
  PERMESSAGE_DEFLATE,
  DEFLATE_RSV,
  type DeflateOptions,
  type DeflateParams,
  type DeflateOptionsParsed,
  parseDeflateParams,
  validateDeflateOptions,
  formatDeflateOffer,
  acceptDeflateOffer,
  checkDeflateResponse,
} from './permessage-deflate.js';
// legacy (issue 22): hybi-00 (draft-hixie-76), opt-in; see docs/legacy.md. The framing helpers
// are renamed here so that they cannot be mistaken for RFC 6455's.
export { md5 } from './md5.js';
export { type CoreConnection, Hybi00Connection } from './hybi00/connection.js';
export {
  TEXT_FRAME as HYBI00_TEXT_FRAME,
  SENTINEL as HYBI00_SENTINEL,
  encodeCloseFrame as encodeHybi00CloseFrame,
  encodeTextFrame as encodeHybi00TextFrame,
  type Hybi00ParserListener,
  Hybi00Parser,
} from './hybi00/framing.js';
export {
  HYBI00_VERSION,
  KEY3_SIZE as HYBI00_KEY3_SIZE,
  ANSWER_SIZE as HYBI00_ANSWER_SIZE,
  isHybi00Request,
  parseKey as parseHybi00Key,
  challengeAnswer as hybi00ChallengeAnswer,
  type Hybi00RequestCheck,
  checkHybi00Request,
  type Hybi00ResponseInit,
  buildHybi00Response,
  type Hybi00Keys,
  generateHybi00Keys,
  type Hybi00ClientRequestInit,
  buildHybi00ClientRequest,
  type Hybi00Expectation,
  checkHybi00Response,
} from './hybi00/handshake.js';
