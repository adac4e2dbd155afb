// The document files of the whole fleet for /api/system/status (docs/files.md): bytes and files
// summed over every company with a database, as its quota counts them (its `document_files` rows),
// read through the pool map a few companies at a time. A company whose database does not answer is
// counted apart, not guessed. The sum is kept for a minute, so that a status page polled often does
// not reach every company's database each time.
import { inArray } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { companies } from '../control-plane/schema.ts';
import { storedBytes } from '../data-plane/company-plane/file-quota.ts';

export interface FleetStorage {
  bytes: number;
  files: number;
  /** Companies counted. */
  companies: number;
  /** Companies whose database could not be read (not counted). */
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
    .where(inArray(companies.status, ['active', 'suspended']));
  const total: FleetStorage = { bytes: 0, files: 0, companies: 0, unreadable: 0, measuredAt: new Date().toISOString() };
  for (let at = 0; at < rows.length; at += AT_ONCE) {
    const results = await Promise.allSettled(rows.slice(at, at + AT_ONCE).map((company) => ctx.tenants.run(company, storedBytes)));
    for (const result of results) {
      if (result.status === 'rejected') {
        total.unreadable++;
        continue;
      }
      total.bytes += result.value.bytes;
      total.files += result.value.files;
      total.companies++;
    }
  }
  return total;
}
