// An application's heap for a measured process (`--app-heap=MB`): objects that stay alive for the
// whole run, as a real program's state does, so that every library is measured with the same
// old generation instead of whatever it loads and keeps itself.
//
// Why it matters (bench/README.md, "The 8 MB band, session 13"): V8 11.3 (Node 20) starts no
// incremental marking while the old generation is under 8 MB. Just above that, with the young
// generation grown to 16 MB, it marks again as soon as a mark-compact ends, until the old
// generation is large enough for the limit it sets to leave more room than the young
// generation's size. A bare benchmark process sits near 8 MB; one that holds a few hundred KB
// more (its library's code and state) can then run a mark-compact every 50 ms where the other
// runs none, and that alone moved a row by 15-25%.

/** What the objects cost, measured (`gc()`, then heapUsed): about 152 bytes each. */
const BYTES_PER_OBJECT = 152;

/** Kept here for the life of the process. */
let held = null;

/** Allocates and keeps about `mb` MB of small objects (none for 0). */
export function holdAppHeap(mb) {
  if (!(mb > 0)) return;
  const count = Math.round((mb * 1024 * 1024) / BYTES_PER_OBJECT);
  held = new Array(count);
  for (let i = 0; i < count; i++) held[i] = { i, name: `item ${i}`, pair: [i, i + 1] };
}
