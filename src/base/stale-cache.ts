// Cached answers that may stand in while the management database cannot be read. The caches that
// use this keep their stale entries (`noDeleteOnStaleGet`), and read them only when a fresh read
// failed, for at most `staleMs` past their TTL (docs/faults.md).
import type { LRUCache } from 'lru-cache';

/** The entry for `key` if it is no more than `staleMs` past its TTL (0: never), else undefined. */
export function staleEntry<K extends {}, V extends {}>(cache: LRUCache<K, V>, key: K, staleMs: number): V | undefined {
  if (staleMs <= 0) return undefined;
  // info().ttl is the time left, negative once the entry is past its TTL.
  const entry = cache.info(key);
  return entry?.ttl !== undefined && entry.ttl >= -staleMs ? entry.value : undefined;
}
