/**
 * Frame opcodes (RFC 6455 section 5.2) and the predicates the parser and the sender share.
 */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** One of the six opcodes RFC 6455 defines. */
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Control frames (close, ping, pong) have the high bit of the 4-bit opcode set (section 5.5). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** Text, binary and continuation: the frames that carry message data (section 5.6). */
export function isDataOpcode(opcode: number): boolean {
  return opcode === Opcode.Continuation || opcode === Opcode.Text || opcode === Opcode.Binary;
}

/** Opcodes 0x3-0x7 and 0xB-0xF are reserved; receiving one fails the connection (section 5.2). */
export function isKnownOpcode(opcode: number): boolean {
  return isDataOpcode(opcode) || opcode === Opcode.Close || opcode === Opcode.Ping || opcode === Opcode.Pong;
}
