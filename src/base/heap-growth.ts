// How far V8 lets the JavaScript heap grow past what survived its last full collection before it
// collects again. On a machine with much memory V8 allows up to 4x the live heap (its growing
// factor scales with the heap limit, about 4 GB here), which suits short scripts but not a
// server that opens and evicts tenant pools all day: each cold open leaves some hundred kilobytes
// that outlive the young generation (the pool's postgres.js client, its connection, the driver's
// per-connection type tables), so the old generation fills with dead pools until a full
// collection, and the process's RSS followed: 40 MB live, up to 200 MB of heap, over 300 MB of RSS
// with 1,000 companies served through 50 pools. With the factor fixed at 1.5 the same load peaks
// at about 120 MB of heap and 210 MB of RSS, for more (and smaller) full collections: about 5-10%
// more CPU on a cold request (docs/pool-map.md, "Memory").
import v8 from 'node:v8';

/** Growth allowed past the live heap before the next full collection, in percent. */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Sets V8's heap growing factor for this process, unless its command line sets one already
 * (node --heap-growing-percent=N wins). V8 reads the flag each time it computes the next
 * collection's limit, so setting it after start takes effect from the next full collection.
 * Answers whether it set it.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
