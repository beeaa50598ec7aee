/**
 * The close codes by name, in a file of their own (no imports), so that the failure table
 * (failures.ts) and the error classes can name them without an import cycle through close.ts.
 */
/** Status codes of RFC 6455 section 7.4.1 and the IANA WebSocket Close Code Number Registry. */
export const CloseCode = {
  /** The purpose of the connection was fulfilled. */
  NormalClosure: 1000,
  /** The endpoint is going away (server shutting down, page navigated away). */
  GoingAway: 1001,
  /** The peer broke the protocol. */
  ProtocolError: 1002,
  /** A kind of data the endpoint cannot accept (e.g. binary to a text-only endpoint). */
  UnsupportedData: 1003,
  /** Reserved: reported locally when a close frame had no status code; never sent. */
  NoStatusReceived: 1005,
  /** Reserved: reported locally when the connection dropped without a close frame; never sent. */
  AbnormalClosure: 1006,
  /** A text message (or close reason) was not valid UTF-8. */
  InvalidPayload: 1007,
  /** A message broke the endpoint's policy (generic). */
  PolicyViolation: 1008,
  /** A message was too big to process. */
  MessageTooBig: 1009,
  /** (Client) the server did not negotiate an extension the client requires. */
  MandatoryExtension: 1010,
  /** (Server) an unexpected condition prevented fulfilling the request. */
  InternalError: 1011,
  /** The service is restarting (IANA registry). */
  ServiceRestart: 1012,
  /** Temporary overload; try again later (IANA registry). */
  TryAgainLater: 1013,
  /** A gateway received an invalid response from upstream (IANA registry). */
  BadGateway: 1014,
  /** Reserved: reported locally when the TLS handshake failed; never sent. */
  TLSHandshake: 1015,
} as const;

/** One of the named close codes. Any valid wire code (see isValidCloseCode) may still occur. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
