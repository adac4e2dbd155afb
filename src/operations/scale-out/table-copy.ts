// Copying a tenant database's data to another server: the tables of the public schema in
// foreign-key order through COPY streams, its sequences, and a fingerprint per table (row count and
// checksum) that both sides compute to verify the copy. Table and column names come from the
// catalogs and reach SQL only as quoted identifiers (postgres.js `sql(name)`).
import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from 'postgres';

/**
 * Session settings both sides of a copy pin, so that every value is written and read back in one
 * format (the servers' own defaults, a time zone above all, may differ) and a row prints the same
 * text on both, which the checksum relies on.
 */
export const COPY_SESSION = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  extra_float_digits: '1',
  bytea_output: 'hex',
  // A table scan starts at the table's first page, never where another scan is: a backup restored
  // reads back in the order it was loaded (backups/copy-digest.ts).
  synchronize_seqscans: 'off',
} as const;

export interface TableShape {
  name: string;
  /** The columns a copy carries, in table order: generated columns are computed again on the target. */
  columns: string[];
}

export interface TableFingerprint {
  rows: number;
  /** The sum of the first 64 bits of each row's md5, as text: independent of row order. */
  checksum: string;
}

/** Tables of the public schema with their copied columns, parents before the tables that reference them. */
export async function readTables(sql: Sql): Promise<TableShape[]> {
  const tables = await sql<{ name: string; columns: string[] }[]>`
    select c.relname::text as name,
           array(select a.attname::text from pg_attribute a
                 where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
                 order by a.attnum) as columns
    from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and not c.relispartition
    order by c.relname`;
  const references = await sql<{ child: string; parent: string }[]>`
    select child.relname::text as child, parent.relname::text as parent
    from pg_constraint k
    join pg_class child on child.oid = k.conrelid
    join pg_class parent on parent.oid = k.confrelid
    where k.contype = 'f' and child.relnamespace = 'public'::regnamespace
      and parent.relnamespace = 'public'::regnamespace and child.oid <> parent.oid`;
  return inDependencyOrder(tables, references);
}

/** Kahn's algorithm over the foreign keys; a cycle cannot be copied table by table and is refused. */
export function inDependencyOrder(tables: TableShape[], references: { child: string; parent: string }[]): TableShape[] {
  const waitingOn = new Map(tables.map((t) => [t.name, new Set<string>()]));
  for (const { child, parent } of references) waitingOn.get(child)?.add(parent);
  const ordered: TableShape[] = [];
  const left = [...tables];
  while (left.length > 0) {
    const ready = left.filter((t) => [...waitingOn.get(t.name)!].every((p) => ordered.some((o) => o.name === p)));
    if (ready.length === 0) {
      throw new Error(`tables reference each other in a cycle (${left.map((t) => t.name).join(', ')}); they cannot be copied in order`);
    }
    for (const table of ready) left.splice(left.indexOf(table), 1);
    ordered.push(...ready);
  }
  return ordered;
}

/** Row count and checksum of a table over its copied columns. */
export async function fingerprint(sql: Sql, table: TableShape): Promise<TableFingerprint> {
  const [row] = await sql<{ rows: string; checksum: string }[]>`
    select count(*)::text as rows,
           coalesce(sum(('x' || left(md5(row(${sql(table.columns)})::text), 16))::bit(64)::bigint), 0)::text as checksum
    from ${sql(table.name)}`;
  return { rows: Number(row!.rows), checksum: row!.checksum };
}

/** The public schema's sequences and where each stands (null: never used). */
export async function readSequences(sql: Sql): Promise<{ name: string; lastValue: string | null }[]> {
  return sql<{ name: string; lastValue: string | null }[]>`
    select sequencename::text as name, last_value::text as "lastValue" from pg_sequences where schemaname = 'public'`;
}

export async function setSequences(sql: Sql, sequences: { name: string; lastValue: string | null }[]): Promise<void> {
  for (const { name, lastValue } of sequences) {
    if (lastValue === null) continue;
    await sql`select setval(${`"${name.replaceAll('"', '""')}"`}::text::regclass, ${lastValue}::bigint, true)`;
  }
}

/** Bytes gathered before one write to the target: COPY data may be cut anywhere, rows need not align. */
const BATCH_BYTES = 256 * 1024;

/**
 * One table's COPY ... TO STDOUT on `sql` as postgres.js's readable stream, listened to for errors
 * from the moment it exists. postgres.js destroys the stream with an error when its connection goes,
 * maybe after its reader has stopped listening; and a COPY that fails on its first rows (a damaged
 * page, a cancelled query) is destroyed in the very read that made it, its 'error' emitted before
 * `readable()`'s promise is answered. Either 'error' with no listener would end the process, so the
 * listener is attached as postgres.js hands the stream over (its query's `resolve`, an internal of
 * postgres.js 3.4, checked by test/archive-writer-postgres.test.ts). The caller still sees the error,
 * thrown here when it came first, or through its reads.
 */
export async function copyOutOf(sql: Sql, table: TableShape): Promise<Readable> {
  const query = sql`copy ${sql(table.name)} (${sql(table.columns)}) to stdout`;
  const handOver = query as unknown as { resolve?: (answer: unknown) => void };
  const resolve = handOver.resolve;
  if (typeof resolve === 'function') {
    handOver.resolve = (answer) => {
      if (answer instanceof Readable) answer.on('error', () => {});
      resolve.call(query, answer);
    };
  }
  const reader: Readable = await query.readable();
  reader.on('error', () => {});
  if (reader.errored) throw reader.errored;
  return reader;
}

/**
 * Streams one table from `source` into the same table on `target` (COPY ... TO STDOUT piped into
 * COPY ... FROM STDIN, text format) and answers the bytes carried. Both are one-connection clients
 * (`max: 1`): the function asks them further questions on the same connection to work around two
 * postgres.js 3.4 hangs, noted where they are handled.
 */
export async function copyTable(source: Sql, target: Sql, table: TableShape): Promise<number> {
  // Its errors reach this function through the iteration, the writes and `finished`.
  const reader = await copyOutOf(source, table);
  let started = false;
  async function* chunks(): AsyncGenerator<Buffer> {
    started = true;
    try {
      for await (const chunk of reader) yield chunk as Buffer;
    } finally {
      // A COPY TO whose last data filled the stream's buffer leaves the socket paused once the copy
      // is done, and the connection's next answer is never read (porsager/postgres#499, PR #1016).
      // The stream's read hook resumes it.
      reader._read(0);
    }
  }
  try {
    return await copyInto(target, table, chunks());
  } catch (error) {
    if (!started) reader.destroy();
    throw error;
  }
}

/**
 * Writes COPY text into a table of `target` (COPY ... FROM STDIN) and answers the bytes written:
 * the other half of copyTable, also fed from a backup archive. `target` is a one-connection client.
 */
export async function copyInto(target: Sql, table: TableShape, data: AsyncIterable<Buffer>): Promise<number> {
  const writer: Writable = await target`copy ${target(table.name)} (${target(table.columns)}) from stdin`.writable();
  writer.on('error', () => {});
  const finished = once(writer, 'finish');
  finished.catch(() => {});
  let bytes = 0;
  try {
    let batch: Buffer[] = [];
    let size = 0;
    const flush = async () => {
      if (size === 0) return;
      const chunk = Buffer.concat(batch, size);
      bytes += size;
      batch = [];
      size = 0;
      if (!writer.write(chunk)) await once(writer, 'drain');
    };
    for await (const chunk of data) {
      batch.push(chunk);
      size += chunk.length;
      if (size >= BATCH_BYTES) await flush();
    }
    await flush();
  } catch (error) {
    // Abandon the target's COPY (postgres.js sends CopyFail) before giving up.
    writer.destroy(error as Error);
    throw error;
  }
  writer.end();
  await copyInSettled(target, finished);
  return bytes;
}

/**
 * Waits until the target has answered the COPY FROM. postgres.js never settles a COPY FROM that
 * the server fails after the data has ended (an error or a dropped connection then: its 'finish'
 * never comes; porsager/postgres#1173). A question on the same connection is answered only after
 * the COPY's own answer, so a COPY that has not finished by then has failed.
 */
async function copyInSettled(target: Sql, finished: Promise<unknown>): Promise<void> {
  for (;;) {
    try {
      await target`select 1`;
      break;
    } catch (error) {
      // Asked before postgres.js has sent the end of the data: ask again in a moment.
      if ((error as { code?: string }).code !== 'COPY_IN_PROGRESS') throw error;
      await sleep(1);
    }
  }
  const outcome = await Promise.race([finished.then(() => 'done' as const), sleep(1000, 'lost' as const, { ref: false })]);
  if (outcome === 'lost') throw new Error('the target did not accept the copied rows (its server log has the reason)');
}
