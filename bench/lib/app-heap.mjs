// An application's heap for a measured process (`--app-heap=MB`): objects that stay alive for the
// whole run, as a real program's state does, so that every library is measured with the same
// old generation instead of whatever it loads and keeps itself.
//
// Why it matters (bench/README.md, "The 8 MB band, session 13"): V8 11.3 (Node 20) starts no
// incremental marking while the old generation holds at most 8 MB. Just above that, in the runs
// measured, it started marking again as soon as a mark-compact ended (the limit it set left less
// room than the young generation's 16 MB); with 12 MB or more held, it did not. A bare benchmark
// process sits near 8 MB, so one that holds a few hundred KB more (its library's code and state)
// could run a mark-compact every 50 ms where the other ran none: a quarter to a third more CPU per
// message, between two libraries whose work per message was the same.

/** What the objects cost, measured (`gc()`, then heapUsed): about 152 bytes each. */
const BYTES_PER_OBJECT = 152;

/** Kept here for the life of the process. */
let held = null;

/** The value of `--app-heap=MB`: a number of MB, 0 or more (default 0); anything else exits with a message. */
export function parseAppHeap(value) {
  const mb = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(mb) || mb < 0) {
    console.error(`--app-heap takes a number of MB, 0 or more (default 0), not ${JSON.stringify(value ?? '')}`);
    process.exit(2);
  }
  return mb;
}

/** Allocates and keeps about `mb` MB of small objects (none for 0). */
export function holdAppHeap(mb) {
  if (!(mb > 0)) return;
  const count = Math.round((mb * 1024 * 1024) / BYTES_PER_OBJECT);
  held = new Array(count);
  for (let i = 0; i < count; i++) held[i] = { i, name: `item ${i}`, pair: [i, i + 1] };
}
