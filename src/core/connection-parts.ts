/**
 * What a Connection makes its MessageAssembler and FrameWriter from, on first use, and the
 * settings it shares with the other connections of its server (perf-mem, issue 24).
 *
 * An idle connection receives no message and may send none: it needs neither part, and the two
 * were about 264 bytes of heap per connection. Made lazily, each would need its settings kept
 * per connection instead (six fields); but the connections of one server are all built with the
 * same settings, so one recipe serves them all: `connectionParts` hands back the recipe it made
 * last when the settings match, and a connection keeps a single reference to it.
 */
import type { ViewMaker } from './frame-parser.js';
import type { Allocate, MaskInto } from './frame-writer.js';
import { FrameWriter } from './frame-writer.js';
import type { CoreLimits } from './limits.js';
import { MessageAssembler } from './message-assembler.js';

/** The settings of a connection's assembler and writer; never written once made (shared). */
export interface ConnectionParts {
  readonly limits: Readonly<CoreLimits>;
  readonly allocate: Allocate;
  readonly isUtf8: ((bytes: Uint8Array) => boolean) | undefined;
  /** Masks what it sends (the client role). */
  readonly client: boolean;
  readonly maskOutput: MaskInto;
  readonly maskKey: (() => Uint8Array) | undefined;
  /** The RSV bits the negotiated extensions claim (Connection.sendPrepared checks frames against them). */
  readonly rsvBits: number;
  /** The maker of the parser's views of received chunks (ConnectionOptions.view). */
  readonly view: ViewMaker | undefined;
}

/** The recipe made last: the next connection of the same server almost always matches it. */
let last: ConnectionParts | null = null;

/** The recipe for these settings: the last one made if they match it, else a new one. */
export function connectionParts(
  limits: CoreLimits,
  allocate: Allocate,
  isUtf8: ((bytes: Uint8Array) => boolean) | undefined,
  client: boolean,
  maskOutput: MaskInto,
  maskKey: (() => Uint8Array) | undefined,
  rsvBits: number,
  view: ViewMaker | undefined,
): ConnectionParts {
  const r = last;
  if (
    r !== null &&
    r.client === client &&
    r.allocate === allocate &&
    r.isUtf8 === isUtf8 &&
    r.maskOutput === maskOutput &&
    r.maskKey === maskKey &&
    r.rsvBits === rsvBits &&
    r.view === view &&
    r.limits.maxFrameSize === limits.maxFrameSize &&
    r.limits.maxMessageSize === limits.maxMessageSize &&
    r.limits.maxFragments === limits.maxFragments &&
    r.limits.autoPong === limits.autoPong
  ) {
    return r;
  }
  last = { limits: { ...limits }, allocate, isUtf8, client, maskOutput, maskKey, rsvBits, view };
  return last;
}

/** A connection's message assembler, made from its recipe. */
export function makeAssembler(parts: ConnectionParts): MessageAssembler {
  return new MessageAssembler(parts.limits, parts.allocate, parts.isUtf8);
}

/** A connection's frame writer, made from its recipe. */
export function makeWriter(parts: ConnectionParts): FrameWriter {
  return new FrameWriter(parts.client, parts.allocate, parts.maskOutput, parts.maskKey);
}
