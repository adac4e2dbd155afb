// A table's figures in a backup (format 2): its row count and the SHA-256 of its COPY text, both
// taken from the bytes as they stream past, so that a backup reads each table once. A restore reads
// the loaded table back with COPY and compares: a table loaded by one COPY into an empty table
// reads back in the order it was written (no synchronized scans: table-copy.ts's COPY_SESSION), and
// the pinned session settings make the same rows print the same text on any server.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Sql } from 'postgres';
import { copyOutOf, type TableShape } from '../scale-out/table-copy.ts';
import { countRows } from './progress.ts';

export interface TableFigures {
  rows: number;
  /** SHA-256 of the table's COPY text, hex. */
  checksum: string;
}

/** Row count and SHA-256 of COPY text fed in chunks (a row ends with a newline; newlines in values are escaped). */
export class CopyDigest {
  private readonly hash = createHash('sha256');
  private rows = 0;

  /** Answers the rows that ended in `chunk`. */
  update(chunk: Buffer): number {
    this.hash.update(chunk);
    const rows = countRows(chunk);
    this.rows += rows;
    return rows;
  }

  figures(): TableFigures {
    return { rows: this.rows, checksum: this.hash.digest('hex') };
  }
}

/**
 * One table's rows as COPY text from `sql` (a one-connection client): postgres.js's own stream, a
 * chunk per row. The caller consumes it to its end (one COPY at a time on a connection).
 */
export async function copyOutStream(sql: Sql, table: TableShape): Promise<Readable> {
  const reader = await copyOutOf(sql, table);
  // postgres.js may leave the socket paused after a COPY TO (table-copy.ts says more); its read hook resumes it.
  reader.once('end', () => reader._read(0));
  return reader;
}

/** One table's rows as COPY text from `sql`, in chunks as postgres.js hands them over (one row each). */
export async function copyOut(sql: Sql, table: TableShape): Promise<AsyncIterable<Buffer>> {
  const reader = await copyOutStream(sql, table);
  return (async function* () {
    try {
      for await (const chunk of reader as AsyncIterable<Buffer>) yield chunk;
    } finally {
      // Also when the reader stops early (an error): the connection must answer its next query.
      reader._read(0);
    }
  })();
}

/** The figures of a table as `sql` holds it now: its COPY text read through. */
export async function digestTable(sql: Sql, table: TableShape): Promise<TableFigures> {
  const digest = new CopyDigest();
  for await (const chunk of await copyOut(sql, table)) digest.update(chunk);
  return digest.figures();
}
