// The write hold of a company being moved (or restored, src/operations/backups): while
// `writes_held_until` is in the future, requests that would write to its database answer 503
// `unavailable` with Retry-After, and reads are served from the old database as usual. Every
// instance sees the hold through its registry cache (NOTIFY, or the cache TTL at worst); the copy
// itself is protected on the database server too (src/operations/scale-out/move-copy.ts).
import { SiloError } from '../base/errors.ts';
import type { CompanyRow } from '../control-plane/schema.ts';

/** How long a client is told to wait before it tries a write again, in seconds. */
const RETRY_AFTER_SECONDS = 5;

export function writesHeld(company: Pick<CompanyRow, 'writesHeldUntil'>, now = Date.now()): boolean {
  return company.writesHeldUntil !== null && company.writesHeldUntil.getTime() > now;
}

/** Throws 503 unavailable (with details.retryAfterSeconds) while the company's writes are held. */
export function assertWritesAllowed(company: Pick<CompanyRow, 'writesHeldUntil'>): void {
  const now = Date.now();
  if (!writesHeld(company, now)) return;
  const left = Math.ceil((company.writesHeldUntil!.getTime() - now) / 1000);
  throw new SiloError('unavailable', "the company's database is being moved or restored; writes resume shortly", {
    retryAfterSeconds: Math.max(1, Math.min(RETRY_AFTER_SECONDS, left)),
  });
}
