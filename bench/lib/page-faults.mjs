// Page faults of the calling process so far. Where glibc has given freed memory back to the
// kernel, every fresh page costs a fault, so for large messages the count tells the allocator's
// state apart from a library's own work (bench/README.md, "Large messages, session 9").

/** Minor and major page faults of this process so far (NaN where the runtime cannot say). */
export function pageFaults() {
  try {
    const usage = process.resourceUsage();
    return usage.minorPageFault + usage.majorPageFault;
  } catch {
    return NaN;
  }
}
