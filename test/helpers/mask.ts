// Oracles and generated payloads for the masking tests (core/mask and node/mask-pool).
import fc from 'fast-check';

/** The definition of section 5.3, one byte at a time: the oracle for the word-at-a-time code. */
export function referenceMask(data: Uint8Array, key: Uint8Array, offset = 0): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ key[(offset + i) & 3]!;
  return out;
}

export const key4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
// Payload sizes on both sides of the word threshold, placed at every alignment inside a larger
// buffer so that unaligned views are exercised.
export const placed = fc
  .record({ data: fc.uint8Array({ maxLength: 300 }), lead: fc.integer({ min: 0, max: 7 }) })
  .map(({ data, lead }) => {
    const backing = new Uint8Array(lead + data.length + 3).fill(0xee);
    backing.set(data, lead);
    return { view: backing.subarray(lead, lead + data.length), backing, lead };
  });

// Long payloads, for the WebAssembly SIMD path (from 1 KiB, in blocks of 64 KiB, 64-byte groups
// with a ragged end): lengths around and across the block size, at every alignment.
export const placedLong = fc
  .record({
    length: fc.oneof(fc.integer({ min: 1000, max: 5000 }), fc.integer({ min: 65_000, max: 140_000 })),
    lead: fc.integer({ min: 0, max: 7 }),
    seed: fc.nat(255),
  })
  .map(({ length, lead, seed }) => {
    const backing = new Uint8Array(lead + length + 3).fill(0xee);
    for (let i = 0; i < length; i++) backing[lead + i] = (i * 31 + seed) & 0xff;
    return { view: backing.subarray(lead, lead + length), backing, lead };
  });

