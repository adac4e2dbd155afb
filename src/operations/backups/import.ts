// The two ways to a company holding a backup's data: from another company's backup, and from an
// archive file uploaded (`silo companies import`, POST /api/companies/import). An uploaded archive
// is stored and read through once before anything is created: a damaged one answers 400 and leaves
// nothing; an intact one is kept as the new company's first backup.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { SiloContext } from '../../context.ts';
import { conflict, SiloError } from '../../base/errors.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { verifyArchive } from './archive-format.ts';
import { backupStorage, getBackup } from './backups.ts';
import { createCompanyFromArchive, type NewCompanySettings, recordImportedBackup } from './new-company.ts';
import type { OnProgress } from './progress.ts';
import { backupKey } from './storage.ts';

export interface NewCompanyNames extends NewCompanySettings {
  slug: string;
  /** Default: the name in the archive. */
  name?: string;
  serverId?: string;
}

/** POST /api/companies with `fromBackup`: a new company from a completed backup of another. */
export async function createCompanyFromBackup(
  ctx: SiloContext,
  input: NewCompanyNames,
  from: { company: string; backupId: string },
  actor: string,
): Promise<CompanyRow> {
  const { company, backup } = await getBackup(ctx, from.company, from.backupId);
  if (backup.status !== 'completed') throw conflict(`the backup is ${backup.status}; only a completed one can be restored`);
  const storage = backupStorage(ctx);
  const manifest = await verifyArchive(await storage.read(backup.storageKey));
  return createCompanyFromArchive(
    ctx,
    { ...input, name: input.name ?? manifest.company.name },
    { manifest, open: () => storage.read(backup.storageKey), details: { backupId: backup.id, fromCompany: company.id } },
    actor,
  );
}

/**
 * The upload, refused (413) once it is over `maxBytes`. A generator rather than a Transform piped in
 * at once: nothing is read before the storage consumes it, so an error cannot be raised while no
 * one listens yet (an unhandled stream error would end the process), and an upload that fails
 * mid-way (a client gone) fails the iteration and with it the write.
 */
async function* limited(upload: Readable, maxBytes: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of upload as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen > maxBytes) throw new SiloError('payload_too_large', `the archive is over the limit of ${maxBytes} bytes`);
    yield chunk;
  }
}

/** A new company from an uploaded archive. */
export async function importCompany(
  ctx: SiloContext,
  input: NewCompanyNames,
  upload: Readable,
  actor: string,
  onProgress?: OnProgress,
): Promise<CompanyRow> {
  const storage = backupStorage(ctx);
  const id = randomUUID();
  const backupId = randomUUID();
  const key = backupKey(id, backupId);
  const sizeBytes = await storage.write(key, Readable.from(limited(upload, ctx.config.backups.importMaxBytes)));
  try {
    const manifest = await verifyArchive(await storage.read(key));
    const company = await createCompanyFromArchive(
      ctx,
      { ...input, id, name: input.name ?? manifest.company.name },
      { manifest, open: () => storage.read(key), details: { import: true, exportedFrom: manifest.company.slug } },
      actor,
      { onProgress },
    );
    await recordImportedBackup(ctx, company, backupId, key, manifest, sizeBytes, actor);
    return company;
  } catch (error) {
    await storage.remove(key);
    throw error;
  }
}
