/**
 * Legacy peers (issue 22): what the api layer adds for hybi-00 (draft-hixie-76) connections. The
 * type of the server's `legacy` option (checked in options.ts), the driver options of a hybi-00
 * connection, the refusal of sends the draft cannot carry, and the capability answers
 * `ws.supportsFragmentation`, `ws.supportsPayloadType()` and `ws.signalsStatusOnClose` give. See docs/legacy.md.
 */
import { InvalidArgumentError, NotSupportedByVersionError } from '../core/errors.js';
import { HYBI00_VERSION } from '../core/hybi00/handshake.js';
import type { DriverOptions } from '../node/driver.js';

/** The protocol versions a connection may speak: RFC 6455's, or the hybi-00 draft's (opt-in). */
export type ProtocolVersion = 'hybi-13' | 'hybi-00';

/** The server's `legacy` option: the pre-RFC 6455 protocols to accept as well. */
export interface LegacyOptions {
  /**
   * Accept hybi-00 (draft-hixie-76) handshakes, from the old browsers, set-top boxes and kiosks
   * that still speak it. Default false: hybi-00 frames are not masked, which is what let the 2010
   * proxy cache-poisoning attacks work, so the server answers such requests 426 unless asked.
   */
  hybi00?: boolean;
}

/**
 * Checks connect()'s `version` option; 'hybi-13' by default. hybi-00 with an `agent` is refused:
 * an agent carries Node's own HTTP request, which cannot send key3 after the head or read the
 * answer after the 101 (a `proxy` works, it only provides the tunnel).
 */
export function resolveVersion(value: unknown, agent?: unknown): ProtocolVersion {
  if (value === undefined || value === 'hybi-13') return 'hybi-13';
  if (value === HYBI00_VERSION) {
    if (agent !== undefined) throw new InvalidArgumentError("version 'hybi-00' cannot go through an agent; use the proxy option for a proxy");
    return HYBI00_VERSION;
  }
  throw new InvalidArgumentError(`version must be 'hybi-13' (RFC 6455, the default) or 'hybi-00' (draft-hixie-76), got ${JSON.stringify(value)}`);
}

/**
 * The driver options of a connection speaking `version`: those given for RFC 6455, or for
 * hybi-00 a copy with keep-alive pings off (the draft has no ping frame; idleTimeout still
 * applies) and no extension codecs.
 */
export function versionDriverOptions(options: DriverOptions, version: ProtocolVersion | undefined): DriverOptions {
  if (version !== HYBI00_VERSION) return options;
  return { ...options, version: HYBI00_VERSION, pingInterval: 0, codecs: undefined };
}

/**
 * Why a send cannot go out on a hybi-00 connection, or null when it can: only whole text
 * messages exist there (no binary, no fragments, so no streamed sources and no fragmentSize).
 */
export function hybi00SendRefusal(data: unknown, options: { binary?: boolean; fragmentSize?: unknown } | undefined): NotSupportedByVersionError | null {
  const text = typeof data === 'string' ? options?.binary !== true : options?.binary === false;
  const bytes = typeof data === 'string' || data instanceof Uint8Array || data instanceof ArrayBuffer || ArrayBuffer.isView(data);
  if (!bytes || options?.fragmentSize !== undefined) {
    return new NotSupportedByVersionError(HYBI00_VERSION, 'fragments', 'a message sent in fragments (a stream, or fragmentSize): a hybi-00 connection cannot carry it');
  }
  if (!text) {
    return new NotSupportedByVersionError(HYBI00_VERSION, 'binary', 'a binary message: a hybi-00 connection carries text only (send a string, or bytes with { binary: false })');
  }
  return null;
}

/** The error of ping(), pong() and beginMessage() on a hybi-00 connection. */
export function hybi00Unsupported(feature: 'ping' | 'pong' | 'fragments' | 'topics'): NotSupportedByVersionError {
  const what = feature === 'fragments' ? 'a message sent in fragments (beginMessage)' : feature === 'topics' ? 'a subscription to a topic' : `a ${feature}`;
  return new NotSupportedByVersionError(HYBI00_VERSION, feature, `${what}: a hybi-00 connection cannot carry it`);
}

/** `ws.supportsPayloadType(type)` for a connection speaking `version`. */
export function supportsPayloadType(version: ProtocolVersion, type: string): boolean {
  if (type === 'text') return true;
  return type === 'binary' && version !== HYBI00_VERSION;
}

/**
 * A broadcast's text to one hybi-00 client, which cannot take the RFC 6455 frame built for the
 * others: sent through its own framing. False when it could not be sent (then nothing was).
 */
export function sendLegacyText(ws: { send(data: Uint8Array, options: { binary: false }): Promise<void> }, bytes: Uint8Array): boolean {
  try {
    ws.send(bytes, { binary: false }).catch(() => {
      // A client that closed meanwhile is removed by its 'close', as for the others.
    });
    return true;
  } catch {
    return false;
  }
}
