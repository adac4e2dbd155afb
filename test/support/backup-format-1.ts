// A company's archive in backup format 1, as Silo wrote them before format 2, built here apart from
// Silo's writer: the manifest carries each table's row count and table-copy.ts fingerprint (taken in
// the snapshot before the rows), then each table's COPY text in frames, and the SHA-256 trailer.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { readMigrationState } from '../../src/base/db/migration-runner.ts';
import { findCompany } from '../../src/control-plane/company-records.ts';
import { openAsCompany } from '../../src/data-plane/company-database.ts';
import { copyOut } from '../../src/operations/backups/copy-digest.ts';
import { COPY_SESSION, fingerprint, readSequences, readTables } from '../../src/operations/scale-out/table-copy.ts';
import type { TestSilo } from './test-silo.ts';

function framed(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** Format 1 with `version` written in its head (a later format, to see it refused). */
export async function formatOneArchive(on: TestSilo, slug: string, version = 1): Promise<Buffer> {
  const company = (await findCompany(on.ctx, slug))!;
  const sql = await openAsCompany(on.ctx, company, { max: 1, connection: { ...COPY_SESSION } });
  try {
    await sql.unsafe('begin isolation level repeatable read, read only');
    const shapes = await readTables(sql);
    const tables = [];
    for (const shape of shapes) tables.push({ ...shape, ...(await fingerprint(sql, shape)) });
    const manifest = {
      format: 'silo-backup',
      formatVersion: version,
      company: { id: company.id, slug: company.slug, name: company.name },
      schemaVersion: (await readMigrationState(sql, on.ctx.tenantMigrations)).version,
      siloVersion: '0.1.0',
      serverVersion: '18',
      createdAt: new Date().toISOString(),
      tables,
      sequences: await readSequences(sql),
    };
    const parts = [Buffer.from(`SILO-BACKUP ${version}\n`), framed(Buffer.from(JSON.stringify(manifest)))];
    for (const table of shapes) {
      for await (const chunk of await copyOut(sql, table)) parts.push(framed(chunk));
      parts.push(framed(Buffer.alloc(0)));
    }
    await sql.unsafe('commit');
    const body = Buffer.concat(parts);
    return gzipSync(Buffer.concat([body, Buffer.from('END\n'), createHash('sha256').update(body).digest()]));
  } finally {
    await sql.end({ timeout: 2 });
  }
}
