/**
 * UTF-8 validation and conversion for the core. RFC 6455 section 8.1: text frames carry UTF-8,
 * and an endpoint that receives invalid UTF-8 MUST fail the connection (close code 1007).
 * Section 5.6 lets a code point be split between fragments, so validation is incremental, and
 * Autobahn-style peers expect the failure at the first byte that makes the input invalid, not at
 * the end of the message: the validator is a deterministic automaton fed byte by byte.
 *
 * Valid means RFC 3629: no overlong forms, no surrogates (U+D800-U+DFFF), nothing above U+10FFFF.
 */

// Byte classes. Every byte falls into exactly one; the automaton only looks at the class.
const ASCII = 0; // 00-7F
const CONT_LO = 1; // 80-8F continuation
const CONT_MID = 2; // 90-9F continuation
const CONT_HI = 3; // A0-BF continuation
const NEVER = 4; // C0, C1 (always overlong) and F5-FF (beyond U+10FFFF or not UTF-8 at all)
const LEAD2 = 5; // C2-DF: one continuation follows
const LEAD_E0 = 6; // E0: next must be A0-BF, else the 3-byte form is overlong
const LEAD3 = 7; // E1-EC, EE-EF: two continuations follow
const LEAD_ED = 8; // ED: next must be 80-9F, else it encodes a surrogate
const LEAD_F0 = 9; // F0: next must be 90-BF, else the 4-byte form is overlong
const LEAD4 = 10; // F1-F3: three continuations follow
const LEAD_F4 = 11; // F4: next must be 80-8F, else it is above U+10FFFF
const CLASSES = 12;

const byteClass = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  byteClass[b] =
    b < 0x80 ? ASCII
    : b < 0x90 ? CONT_LO
    : b < 0xa0 ? CONT_MID
    : b < 0xc0 ? CONT_HI
    : b < 0xc2 ? NEVER
    : b < 0xe0 ? LEAD2
    : b === 0xe0 ? LEAD_E0
    : b === 0xed ? LEAD_ED
    : b < 0xf0 ? LEAD3
    : b === 0xf0 ? LEAD_F0
    : b < 0xf4 ? LEAD4
    : b === 0xf4 ? LEAD_F4
    : NEVER;
}

// States, stored pre-multiplied by CLASSES so that `state + class` indexes the table directly.
const ACCEPT = 0; // between code points
const REJECT = 1 * CLASSES; // invalid; stays invalid
const NEED1 = 2 * CLASSES; // one continuation byte (80-BF) left
const NEED2 = 3 * CLASSES; // two left
const NEED3 = 4 * CLASSES; // three left
const AFTER_E0 = 5 * CLASSES; // A0-BF then one more
const AFTER_ED = 6 * CLASSES; // 80-9F then one more
const AFTER_F0 = 7 * CLASSES; // 90-BF then two more
const AFTER_F4 = 8 * CLASSES; // 80-8F then two more
const STATES = 9;

const transition = new Uint8Array(STATES * CLASSES).fill(REJECT);
{
  const set = (state: number, classes: number[], next: number): void => {
    for (const c of classes) transition[state + c] = next;
  };
  const anyCont = [CONT_LO, CONT_MID, CONT_HI];
  set(ACCEPT, [ASCII], ACCEPT);
  set(ACCEPT, [LEAD2], NEED1);
  set(ACCEPT, [LEAD_E0], AFTER_E0);
  set(ACCEPT, [LEAD3], NEED2);
  set(ACCEPT, [LEAD_ED], AFTER_ED);
  set(ACCEPT, [LEAD_F0], AFTER_F0);
  set(ACCEPT, [LEAD4], NEED3);
  set(ACCEPT, [LEAD_F4], AFTER_F4);
  set(NEED1, anyCont, ACCEPT);
  set(NEED2, anyCont, NEED1);
  set(NEED3, anyCont, NEED2);
  set(AFTER_E0, [CONT_HI], NEED1);
  set(AFTER_ED, [CONT_LO, CONT_MID], NEED1);
  set(AFTER_F0, [CONT_MID, CONT_HI], NEED2);
  set(AFTER_F4, [CONT_LO], NEED2);
}

/**
 * Runs the automaton over bytes[from, n) starting in `state`. Returns the final state, or
 * REJECT with the offending index stored in `failIndex`.
 */
let failIndex = -1;
function run(bytes: Uint8Array, from: number, state: number): number {
  const n = bytes.length;
  let i = from;
  let s = state;
  while (i < n) {
    if (s === ACCEPT) {
      // ASCII fast path: between code points, skip plain bytes four at a time.
      for (const stop = n - 3; i < stop; i += 4) {
        if (((bytes[i]! | bytes[i + 1]! | bytes[i + 2]! | bytes[i + 3]!) & 0x80) !== 0) break;
      }
      while (i < n && bytes[i]! < 0x80) i++;
      if (i === n) break;
    }
    s = transition[s + byteClass[bytes[i]!]!]!;
    if (s === REJECT) {
      failIndex = i;
      return REJECT;
    }
    i++;
  }
  return s;
}

/**
 * Incremental, fail-fast UTF-8 validator. Feed a message's fragments in order; a code point may
 * be split anywhere between them.
 */
export class Utf8Validator {
  private state = ACCEPT;
  /**
   * Index, within the chunk given to the `feed` call that returned false, of the first byte that
   * made the input invalid; -1 while the input is valid.
   */
  errorOffset = -1;

  /**
   * Validates the next piece of input. Returns false as soon as a byte makes the input invalid
   * whatever follows (and from then on until `reset`); true if it can still be valid.
   */
  feed(bytes: Uint8Array): boolean {
    if (this.state === REJECT) return false;
    const s = run(bytes, 0, this.state);
    this.state = s;
    if (s === REJECT) {
      this.errorOffset = failIndex;
      return false;
    }
    return true;
  }

  /** True when everything fed so far is valid and no code point is left incomplete. */
  end(): boolean {
    return this.state === ACCEPT;
  }

  /** Forgets all input, ready for the next message. */
  reset(): void {
    this.state = ACCEPT;
    this.errorOffset = -1;
  }
}

/** True when the whole of `bytes` is valid UTF-8 (RFC 3629). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return run(bytes, 0, ACCEPT) === ACCEPT;
}

interface TextCodecs {
  TextDecoder: new (label: string, options: { fatal: boolean; ignoreBOM: boolean }) => { decode(input: Uint8Array): string };
  TextEncoder: new () => { encode(input: string): Uint8Array };
}

const codecs = globalThis as unknown as TextCodecs;
// ignoreBOM keeps a leading U+FEFF as a character: it is part of the peer's text, not a marker.
const decoder = new codecs.TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const encoder = new codecs.TextEncoder();

/**
 * Decodes UTF-8 to a string. Invalid sequences become U+FFFD, so validate first where invalid
 * input must be refused (e.g. close reasons). Meant for short strings the core needs itself.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Encodes a string as UTF-8; lone surrogates become U+FFFD (EF BF BD), as in every WebSocket API. */
export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}
