// Silo's backup archive: one gzip stream holding, in order (format 2),
//   "SILO-BACKUP 2\n", the manifest (4-byte length + JSON), then each table of the manifest in its
//   order as COPY text split in frames (4-byte length + bytes, a zero length ends the data) followed
//   by the table's figures (4-byte length + JSON { rows, checksum }), then each document file of the
//   manifest's `files` (absent when the company had none, and in format 1) in frames likewise, and a
//   trailer "END\n" + the SHA-256 of every byte before it.
// Written and read in one pass, with no temporary file: a table's row count and checksum are taken
// from its COPY text as it streams (copy-digest.ts), so they follow its rows. Format 1 archives (the
// figures in the manifest, taken by a pass of their own before the rows) are still read; a format
// newer than this Silo knows is refused with 409. The trailer makes a truncated or altered archive
// fail its read (gzip's own CRC catches most of it first). The layout and the choices: docs/backups.md.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import { conflict, invalid } from '../../base/errors.ts';
import type { TableShape } from '../scale-out/table-copy.ts';
import { CopyDigest, type TableFigures } from './copy-digest.ts';
import { parallelGzip } from './parallel-gzip.ts';
import { countRows } from './progress.ts';

/** The format this Silo writes; it reads this one and every older one. */
export const FORMAT_VERSION = 2;
const magic = (version: number) => Buffer.from(`SILO-BACKUP ${version}\n`);
const MAGIC_PREFIX = Buffer.from('SILO-BACKUP ');
const TRAILER = Buffer.from('END\n');
/** A manifest larger than this is not one Silo wrote (a company's tables and sequences fit in a few kB). */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** Frames are what postgres.js hands over (64 kB or so); anything far larger is a damaged length. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const identifier = z.string().min(1).max(63);
const tableShape = z.object({ name: identifier, columns: z.array(identifier) });
const figuresSchema = z.object({
  rows: z.number().int().min(0),
  /** Format 2: the SHA-256 (hex) of the COPY text; format 1: table-copy.ts's fingerprint (a sum of md5 prefixes). */
  checksum: z.string().regex(/^(-?\d+|[0-9a-f]{64})$/),
});

const common = {
  format: z.literal('silo-backup'),
  company: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
  /** The tenant schema version (migration tag) the data is at; null: an unmigrated database. */
  schemaVersion: z.string().nullable(),
  siloVersion: z.string(),
  serverVersion: z.string(),
  createdAt: z.string(),
  sequences: z.array(
    z.object({
      name: identifier,
      lastValue: z
        .string()
        .regex(/^-?\d+$/)
        .nullable(),
    }),
  ),
  /** The document files whose rows are in the snapshot (docs/files.md); their bytes follow the tables. */
  files: z
    .array(
      z.object({
        id: z.uuid(),
        size: z.number().int().min(0),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .optional(),
};
/** Format 1: the figures in the manifest. */
const manifestV1 = z.object({ ...common, formatVersion: z.literal(1), tables: z.array(tableShape.merge(figuresSchema)) });
/** Format 2: the tables' shapes in the manifest, their figures after their data. */
const manifestV2 = z.object({ ...common, formatVersion: z.literal(2), tables: z.array(tableShape) });

/** The manifest at the head of a format 2 archive, as written. */
export type ManifestHead = z.infer<typeof manifestV2>;
/** A manifest with every table's figures, whatever the format it was read from. */
export type Manifest = Omit<ManifestHead, 'formatVersion' | 'tables'> & {
  formatVersion: 1 | 2;
  tables: (TableShape & TableFigures)[];
};
export type ManifestTable = Manifest['tables'][number];
export type ManifestFile = NonNullable<Manifest['files']>[number];
type Bytes = AsyncIterable<Buffer | Uint8Array>;

function lengthOf(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return length;
}

export interface ArchiveStream {
  /** The compressed archive; read it to its end (or destroy it). */
  archive: Readable;
  /** The manifest with every table's figures, once the archive has been read to its end. */
  manifest: Promise<Manifest>;
}

/**
 * The archive as a compressed stream. `tableData(table)` gives each table's COPY text in turn; it is
 * asked for the next table only once the previous one is done (one COPY at a time on a connection).
 * Gzip at its fastest level, on several threads (parallel-gzip.ts): a backup's time is then the
 * database's, not the compressor's (the figures are in docs/backups.md).
 */
export function writeArchive(
  head: ManifestHead,
  tableData: (table: TableShape) => Promise<AsyncIterable<Buffer>>,
  onRows?: (rows: number) => void,
  fileData: (file: ManifestFile) => Promise<Bytes> = async () => {
    throw new Error('the manifest names files and no reader of them was given');
  },
): ArchiveStream {
  let finished!: (manifest: Manifest) => void;
  const manifest = new Promise<Manifest>((resolve) => (finished = resolve));
  async function* bytes(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    const out = (chunk: Buffer) => {
      hash.update(chunk);
      return chunk;
    };
    const json = Buffer.from(JSON.stringify(head));
    yield out(Buffer.concat([magic(FORMAT_VERSION), lengthOf(json), json]));
    const tables: Manifest['tables'] = [];
    for (const table of head.tables) {
      const digest = new CopyDigest();
      for await (const chunk of await tableData(table)) {
        if (chunk.length === 0) continue;
        digest.update(chunk);
        onRows?.(countRows(chunk));
        yield out(lengthOf(chunk));
        yield out(chunk);
      }
      const figures = digest.figures();
      tables.push({ ...table, ...figures });
      const footer = Buffer.from(JSON.stringify(figures));
      yield out(Buffer.concat([lengthOf(Buffer.alloc(0)), lengthOf(footer), footer]));
    }
    for (const file of head.files ?? []) {
      for await (const data of await fileData(file)) {
        if (data.length === 0) continue;
        const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        yield out(lengthOf(chunk));
        yield out(chunk);
      }
      yield out(lengthOf(Buffer.alloc(0)));
    }
    yield Buffer.concat([TRAILER, hash.digest()]);
    finished({ ...head, tables });
  }
  return {
    archive: parallelGzip(bytes()),
    manifest,
  };
}

const damaged = (why: string) => invalid(`the archive is damaged or not a Silo backup (${why})`, [{ path: 'archive', message: why }]);

/** Reads exact byte counts from a stream of chunks, hashing what it hands out. */
class ByteReader {
  private chunks: Buffer[] = [];
  private size = 0;
  readonly hash = createHash('sha256');

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  async take(n: number, hashed = true): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    while (this.size < n) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.source.next();
      } catch (error) {
        throw damaged(`not a complete gzip stream: ${(error as Error).message}`);
      }
      if (next.done) throw damaged('it ends too early');
      this.chunks.push(next.value);
      this.size += next.value.length;
    }
    // Gunzip hands out 64 kB chunks: most takes are served from the first one, with no copy.
    const all = this.chunks[0]!.length >= n ? this.chunks.shift()! : Buffer.concat(this.chunks.splice(0), this.size);
    const restSize = this.size - all.length;
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    if (rest.length > 0) this.chunks.unshift(rest);
    this.size = restSize + rest.length;
    if (hashed) this.hash.update(taken);
    return taken;
  }

  async length(max: number): Promise<number> {
    const n = (await this.take(4)).readUInt32BE(0);
    if (n > max) throw damaged('a length is out of range');
    return n;
  }

  async atEnd(): Promise<boolean> {
    if (this.size > 0) return false;
    try {
      const next = await this.source.next();
      if (next.done) return true;
      this.chunks.push(next.value);
      this.size += next.value.length;
      return false;
    } catch (error) {
      throw damaged(`not a complete gzip stream: ${(error as Error).message}`);
    }
  }
}

/** The format version named at the head of the archive ("SILO-BACKUP <n>\n"). */
async function readFormatVersion(reader: ByteReader): Promise<number> {
  if (!(await reader.take(MAGIC_PREFIX.length)).equals(MAGIC_PREFIX)) throw damaged('it does not start as one');
  let digits = '';
  for (let byte = (await reader.take(1))[0]; byte !== 0x0a; byte = (await reader.take(1))[0]) {
    if (byte === undefined || byte < 0x30 || byte > 0x39 || digits.length >= 6) throw damaged('it does not start as one');
    digits += String.fromCharCode(byte);
  }
  const version = Number(digits);
  if (digits === '' || version < 1) throw damaged('it does not start as one');
  if (version > FORMAT_VERSION) {
    throw conflict(
      `the archive is in backup format ${version}, newer than this Silo reads (up to ${FORMAT_VERSION}); upgrade Silo to restore it`,
      { formatVersion: version, readable: FORMAT_VERSION },
    );
  }
  return version;
}

async function readJson<T>(reader: ByteReader, schema: z.ZodType<T>, what: string): Promise<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse((await reader.take(await reader.length(MAX_MANIFEST_BYTES))).toString('utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw damaged(`its ${what} is not JSON`);
    throw error;
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw damaged(`its ${what} is invalid at ${result.error.issues[0]?.path.join('.')}`);
  return result.data;
}

/**
 * Reads an archive: checks its manifest, hands each table's COPY text to `onTable` (which must
 * consume it), then checks the trailer, and answers the manifest with every table's figures.
 * Throws 400 validation_failed on anything that is not an intact archive (409 for a format newer
 * than this Silo's); `onTable` may then have seen part of the data, so callers that must not act on
 * a damaged archive read it once with `verifyArchive` first.
 */
export async function readArchive(
  input: Readable,
  onTable: (table: TableShape, data: AsyncIterable<Buffer>) => Promise<void> = drain,
  onFile: (file: ManifestFile, data: AsyncIterable<Buffer>) => Promise<void> = drain,
): Promise<Manifest> {
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  input.on('error', (error) => gunzip.destroy(error));
  const reader = new ByteReader(input.pipe(gunzip)[Symbol.asyncIterator]());
  try {
    const version = await readFormatVersion(reader);
    const head = await readJson<z.infer<typeof manifestV1> | ManifestHead>(reader, version === 1 ? manifestV1 : manifestV2, 'manifest');
    if (head.formatVersion !== version) throw damaged('its manifest is of another format');
    // One section's frames, up to the zero length that ends it; the reader must take them all.
    const section = async (what: string, read: (data: AsyncIterable<Buffer>) => Promise<void>) => {
      let ended = false;
      async function* frames(): AsyncGenerator<Buffer> {
        for (;;) {
          const n = await reader.length(MAX_FRAME_BYTES);
          if (n === 0) break;
          yield await reader.take(n);
        }
        ended = true;
      }
      await read(frames());
      if (!ended) throw new Error(`the data of ${what} was not read to its end`);
    };
    const tables: Manifest['tables'] = [];
    for (const table of head.tables) {
      const shape = { name: table.name, columns: table.columns };
      await section(`table ${table.name}`, (data) => onTable(shape, data));
      tables.push('rows' in table ? table : { ...shape, ...(await readJson(reader, figuresSchema, `figures of ${table.name}`)) });
    }
    for (const file of head.files ?? []) await section(`file ${file.id}`, (data) => onFile(file, data));
    const expected = reader.hash.digest();
    if (!(await reader.take(TRAILER.length, false)).equals(TRAILER)) throw damaged('its trailer is missing');
    if (!(await reader.take(32, false)).equals(expected)) throw damaged('its checksum does not match its content');
    if (!(await reader.atEnd())) throw damaged('there are bytes after its end');
    return { ...head, tables };
  } finally {
    input.unpipe(gunzip);
    gunzip.destroy();
    if (!input.readableEnded) input.destroy();
  }
}

/** Reads the whole archive and answers its manifest, or throws 400 when it is not intact. */
export function verifyArchive(input: Readable): Promise<Manifest> {
  return readArchive(input);
}

async function drain(_: unknown, data: AsyncIterable<Buffer>): Promise<void> {
  for await (const _chunk of data);
}
