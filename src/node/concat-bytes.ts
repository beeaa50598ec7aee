/** Joining byte pieces read off a socket. */

/** The pieces joined into one array of `size` bytes; a lone piece is returned as it is, not copied. */
export function concatBytes(parts: readonly Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
