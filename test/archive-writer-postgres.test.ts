// The archive writer on postgres.js's real COPY stream: rows of a block or more each arrive with the
// stream's end buffered behind them while the writer has it paused, the case where a table's end
// once overtook the blocks still being handed on (blocks out of order, a table's checksum wrong).
// Every archive must read back, and the next table be read on the same connection afterwards.
import { Readable } from 'node:stream';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readArchive } from '../src/operations/backups/archive-format.ts';
import { writeArchive } from '../src/operations/backups/archive-writer.ts';
import { copyOutStream } from '../src/operations/backups/copy-digest.ts';
import { copyTable } from '../src/operations/scale-out/table-copy.ts';
import { manifestHeadOf } from './support/archive-bytes.ts';
import { serverUrl } from './support/test-silo.ts';

let sql: postgres.Sql;
beforeAll(async () => {
  sql = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });
  // Rows of 1.6 MB and one of 6.4 MB, then small ones.
  await sql`create temp table wide_rows (id int, data text)`;
  await sql`
    insert into wide_rows
    select i, (select string_agg(md5(random()::text || i || j), '') from generate_series(1, case when i = 8 then 200000 else 50000 end) j)
    from generate_series(1, 8) i`;
  await sql`create temp table small_rows (id int, data text)`;
  await sql`insert into small_rows select i, 'row ' || i from generate_series(1, 100) i`;
});
afterAll(() => sql.end({ timeout: 2 }));

const head = manifestHeadOf(['wide_rows', 'small_rows', 'wide_rows']);

it('writes archives of rows over a block each that read back (10 tries)', async () => {
  for (let i = 0; i < 10; i++) {
    const written = writeArchive(head, (table) => copyOutStream(sql, table));
    const chunks: Buffer[] = [];
    for await (const chunk of written.archive) chunks.push(chunk as Buffer);
    const manifest = await readArchive(Readable.from([Buffer.concat(chunks)]));
    expect(
      manifest.tables.map((t) => t.rows),
      `try ${i}`,
    ).toEqual([8, 100, 8]);
  }
}, 120_000);

it('fails the archive, and a table copy, with the error of a COPY that fails on its first row', async () => {
  // The error comes in the same read as the stream itself: its 'error' is emitted before copyOutStream's
  // await returns (it once ended the process, or the archive waited for ever).
  const latin1 = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });
  try {
    await latin1.unsafe("set client_encoding = 'LATIN1'");
    await latin1`create temp table snowmen (id int, data text)`;
    await latin1.unsafe("insert into snowmen values (1, convert_from('\\x736e6f7720e29883'::bytea, 'UTF8'))");
    for (let i = 0; i < 3; i++) {
      const written = writeArchive(manifestHeadOf(['snowmen']), (table) => copyOutStream(latin1, table));
      await expect(
        (async () => {
          for await (const _chunk of written.archive);
        })(),
      ).rejects.toThrow('has no equivalent in encoding "LATIN1"');
    }
    // A move's table copy takes the same stream: it fails with the error too, and nothing is lost.
    const target = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });
    try {
      await target`create temp table snowmen (id int, data text)`;
      await expect(copyTable(latin1, target, { name: 'snowmen', columns: ['id', 'data'] })).rejects.toThrow(
        'has no equivalent in encoding "LATIN1"',
      );
    } finally {
      await target.end({ timeout: 1 });
    }
    expect((await latin1`select 1 as one`)[0]!.one).toBe(1);
  } finally {
    await latin1.end({ timeout: 1 });
  }
}, 30_000);
