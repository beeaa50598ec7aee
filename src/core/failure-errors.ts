/**
 * Building and recognising the errors a connection is failed with, for the layers that raise or
 * route them. Kept apart from errors.ts, whose every name is public: these helpers are not.
 */
import { type ConnectionFailure, LimitError, ProtocolError, type ProtocolErrorCode } from './errors.js';
import type { FailureKind } from './failures.js';

/**
 * The ProtocolError of one kind of violation in the failure table (`Failures.invalidOpcode`, ...):
 * its code and close code come from there, the message says what exactly was seen.
 */
export function violation<K extends FailureKind & { readonly code: ProtocolErrorCode; readonly closeCode: number }>(kind: K, message: string): ProtocolError<K['code']> {
  return new ProtocolError(message, kind.closeCode, kind.code);
}

/** True for an error a connection is failed with (a ProtocolError or a LimitError). */
export function isConnectionFailure(error: unknown): error is ConnectionFailure {
  return error instanceof ProtocolError || error instanceof LimitError;
}
