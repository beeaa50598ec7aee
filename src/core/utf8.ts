/**
 * UTF-8 validation and conversion for the core. RFC 6455 section 8.1: text frames carry UTF-8,
 * and an endpoint that receives invalid UTF-8 MUST fail the connection (close code 1007).
 * Section 5.6 lets a code point be split between fragments, so validation is incremental, and
 * Autobahn-style peers expect the failure at the first byte that makes the input invalid, not at
 * the end of the message: validity is defined by a deterministic automaton over bytes (with
 * shortcuts for ASCII and whole sequences that never change its verdict).
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

/** Index of the offending byte after `run` returned REJECT (a module variable: no result object per call). */
let failIndex = -1;

/** Inputs at least this long get a word view for the ASCII scan; below it the view costs more than it saves. */
const WORD_SCAN_MIN = 256;

/**
 * Validates bytes[from, n) starting in automaton state `state`; returns the final state, or
 * REJECT with the offending index in `failIndex`.
 *
 * The automaton is the definition; the rest is speed (measured with bench/micro.mjs): ASCII is
 * skipped a word (4 bytes) at a time, and a complete, valid 2-, 3- or 4-byte sequence is checked
 * in one step. Whenever that shortcut does not apply (an invalid byte, or a sequence cut by the
 * end of the chunk) the automaton takes over byte by byte, so failures are still reported at the
 * exact byte and a code point split across chunks leaves its state pending.
 */
function run(bytes: Uint8Array, from: number, state: number): number {
  const n = bytes.length;
  let i = from;
  let s = state;
  // Finish a code point begun in an earlier chunk.
  while (s !== ACCEPT && i < n) {
    s = transition[s + byteClass[bytes[i]!]!]!;
    if (s === REJECT) {
      failIndex = i;
      return REJECT;
    }
    i++;
  }
  // Word view over the 4-aligned part of the input; byte index = base + 4 * word index.
  let words: Int32Array | null = null;
  let base = 0;
  if (n - i >= WORD_SCAN_MIN) {
    base = (4 - (bytes.byteOffset & 3)) & 3;
    words = new Int32Array(bytes.buffer, bytes.byteOffset + base, (n - base) >>> 2);
  }
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      if (words !== null) {
        while (((i - base) & 3) !== 0 && i < n && bytes[i]! < 0x80) i++;
        if (i < n && bytes[i]! < 0x80) {
          // Aligned: a word is ASCII when none of its four bytes has the top bit set.
          let w = (i - base) >> 2;
          const count = words.length;
          while (w + 4 <= count && ((words[w]! | words[w + 1]! | words[w + 2]! | words[w + 3]!) & 0x80808080) === 0) w += 4;
          while (w < count && (words[w]! & 0x80808080) === 0) w++;
          i = base + (w << 2);
        }
      } else {
        for (const stop = n - 3; i < stop; i += 4) {
          if (((bytes[i]! | bytes[i + 1]! | bytes[i + 2]! | bytes[i + 3]!) & 0x80) !== 0) break;
        }
      }
      while (i < n && bytes[i]! < 0x80) i++;
      continue;
    }
    // Whole sequences, with the same ranges as the automaton (RFC 3629 section 4).
    if (b < 0xe0) {
      if (b >= 0xc2 && i + 1 < n && (bytes[i + 1]! & 0xc0) === 0x80) {
        i += 2;
        continue;
      }
    } else if (b < 0xf0) {
      if (i + 2 < n) {
        const b1 = bytes[i + 1]!;
        if (b1 >= (b === 0xe0 ? 0xa0 : 0x80) && b1 <= (b === 0xed ? 0x9f : 0xbf) && (bytes[i + 2]! & 0xc0) === 0x80) {
          i += 3;
          continue;
        }
      }
    } else if (b < 0xf5 && i + 3 < n) {
      const b1 = bytes[i + 1]!;
      if (
        b1 >= (b === 0xf0 ? 0x90 : 0x80) &&
        b1 <= (b === 0xf4 ? 0x8f : 0xbf) &&
        (bytes[i + 2]! & 0xc0) === 0x80 &&
        (bytes[i + 3]! & 0xc0) === 0x80
      ) {
        i += 4;
        continue;
      }
    }
    // Invalid, or cut off by the end of the input: the automaton finds the exact byte or leaves
    // the state pending.
    s = ACCEPT;
    do {
      s = transition[s + byteClass[bytes[i]!]!]!;
      if (s === REJECT) {
        failIndex = i;
        return REJECT;
      }
      i++;
    } while (s !== ACCEPT && i < n);
  }
  return s;
}

/**
 * Incremental, fail-fast UTF-8 validator. Feed a message's fragments in order; a code point may
 * be split anywhere between them.
 */
export class Utf8Validator {
  private state = ACCEPT;
  private offending = -1;

  /**
   * Index, within the chunk given to the `feed` call that returned false, of the first byte that
   * made the input invalid; -1 while the input is valid.
   */
  get errorOffset(): number {
    return this.offending;
  }

  /**
   * Validates the next piece of input. Returns false as soon as a byte makes the input invalid
   * whatever follows (and from then on until `reset`); true if it can still be valid.
   */
  feed(bytes: Uint8Array): boolean {
    if (this.state === REJECT) return false;
    const s = run(bytes, 0, this.state);
    this.state = s;
    if (s === REJECT) {
      this.offending = failIndex;
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
    this.offending = -1;
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
