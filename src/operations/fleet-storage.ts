// The document files of the whole fleet for /api/system/status (docs/files.md): bytes and files
// summed over every company that has files (not deleted: archived ones keep theirs), as the file
// storage lists them, a few companies at a time. Read from the storage, not from each company's
// database: a status call never takes a company's pool or connections. A company whose storage
// cannot be listed is counted apart, not guessed. The sum is kept for a minute, so that a status
// page polled often does not list every company's files each time.
import { inArray } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { companies } from '../control-plane/schema.ts';
import { fileStorage } from '../data-plane/files/index.ts';

export interface FleetStorage {
  bytes: number;
  files: number;
  /** Companies counted. */
  companies: number;
  /** Companies whose storage could not be listed (not counted). */
  unreadable: number;
  measuredAt: string;
}

const KEEP_MS = 60_000;
const AT_ONCE = 8;
const kept = new WeakMap<SiloContext, { at: number; value: Promise<FleetStorage> }>();

export function fleetStorage(ctx: SiloContext): Promise<FleetStorage> {
  const last = kept.get(ctx);
  if (last && Date.now() - last.at < KEEP_MS) return last.value;
  const value = measure(ctx);
  kept.set(ctx, { at: Date.now(), value });
  // A failure is not kept: the next status asks again.
  value.catch(() => kept.delete(ctx));
  return value;
}

async function measure(ctx: SiloContext): Promise<FleetStorage> {
  const rows = await ctx.db
    .select()
    .from(companies)
    .where(inArray(companies.status, ['active', 'suspended', 'archived']));
  const total: FleetStorage = { bytes: 0, files: 0, companies: 0, unreadable: 0, measuredAt: new Date().toISOString() };
  for (let at = 0; at < rows.length; at += AT_ONCE) {
    const storage = fileStorage(ctx.config);
    const results = await Promise.allSettled(rows.slice(at, at + AT_ONCE).map((company) => storage.list(company.id)));
    for (const result of results) {
      if (result.status === 'rejected') {
        total.unreadable++;
        continue;
      }
      for (const file of result.value) total.bytes += file.size;
      total.files += result.value.length;
      total.companies++;
    }
  }
  return total;
}
