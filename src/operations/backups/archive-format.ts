// Silo's backup archive: one gzip stream holding, in order,
//   "SILO-BACKUP 1\n", the manifest (4-byte length + JSON), then each table of the manifest in its
//   order as COPY text split in frames (4-byte length + bytes, a zero length ends the table), then
//   each document file of the manifest's `files` (absent in archives from before files) in frames
//   likewise, and a trailer "END\n" + the SHA-256 of every byte before it.
// Written and read in one pass, with no temporary file: the manifest comes first because its row
// counts and checksums are taken from the same snapshot before the rows are streamed. The trailer
// makes a truncated or altered archive fail its read (gzip's own CRC catches most of it first).
// The layout and the choices: docs/backups.md.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip, createGzip, constants as zlib } from 'node:zlib';
import { z } from 'zod';
import { invalid } from '../../base/errors.ts';

const MAGIC = Buffer.from('SILO-BACKUP 1\n');
const TRAILER = Buffer.from('END\n');
/** A manifest larger than this is not one Silo wrote (a company's tables and sequences fit in a few kB). */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** Frames are what postgres.js hands over (64 kB or so); anything far larger is a damaged length. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const identifier = z.string().min(1).max(63);

export const manifestSchema = z.object({
  format: z.literal('silo-backup'),
  formatVersion: z.literal(1),
  company: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
  /** The tenant schema version (migration tag) the data is at; null: an unmigrated database. */
  schemaVersion: z.string().nullable(),
  siloVersion: z.string(),
  serverVersion: z.string(),
  createdAt: z.string(),
  tables: z.array(
    z.object({
      name: identifier,
      columns: z.array(identifier),
      rows: z.number().int().min(0),
      /** table-copy.ts's fingerprint: the sum of each row's md5 prefix, independent of row order. */
      checksum: z.string().regex(/^-?\d+$/),
    }),
  ),
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
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestTable = Manifest['tables'][number];
export type ManifestFile = NonNullable<Manifest['files']>[number];
type Bytes = AsyncIterable<Buffer | Uint8Array>;

function frame(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/**
 * The archive as a compressed stream. `tableData(table)` gives each table's COPY text in turn; it is
 * asked for the next table only once the previous one is done (one COPY at a time on a connection).
 * Gzip at its fastest level: a backup's time is then the database's, not the compressor's (the
 * figures are in docs/backups.md).
 */
export function writeArchive(
  manifest: Manifest,
  tableData: (table: ManifestTable) => Promise<AsyncIterable<Buffer>>,
  fileData: (file: ManifestFile) => Promise<Bytes> = async () => {
    throw new Error('the manifest names files and no reader of them was given');
  },
): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    const out = (chunk: Buffer) => {
      hash.update(chunk);
      return chunk;
    };
    yield out(MAGIC);
    yield out(frame(Buffer.from(JSON.stringify(manifest))));
    const section = async function* (data: Bytes) {
      for await (const chunk of data) {
        if (chunk.length > 0) yield out(frame(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
      }
      yield out(frame(Buffer.alloc(0)));
    };
    for (const table of manifest.tables) yield* section(await tableData(table));
    for (const file of manifest.files ?? []) yield* section(await fileData(file));
    yield Buffer.concat([TRAILER, hash.digest()]);
  }
  return Readable.from(bytes(), { objectMode: false }).pipe(createGzip({ level: zlib.Z_BEST_SPEED }));
}

const damaged = (why: string) => invalid(`the archive is damaged or not a Silo backup (${why})`, [{ path: 'archive', message: why }]);

/** Reads exact byte counts from a stream of chunks, hashing what it hands out. */
class ByteReader {
  private chunks: Buffer[] = [];
  private size = 0;
  readonly hash = createHash('sha256');

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  async take(n: number, hashed = true): Promise<Buffer> {
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
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
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

/**
 * Reads an archive: checks its manifest, hands each table's COPY text to `onTable` (which must
 * consume it), then checks the trailer. Throws 400 validation_failed on anything that is not an
 * intact archive; `onTable` may then have seen part of the data, so callers that must not act on a
 * damaged archive read it once with `verifyArchive` first.
 */
export async function readArchive(
  input: Readable,
  onTable: (table: ManifestTable, data: AsyncIterable<Buffer>) => Promise<void> = drain,
  onFile: (file: ManifestFile, data: AsyncIterable<Buffer>) => Promise<void> = drain,
): Promise<Manifest> {
  const gunzip = createGunzip();
  input.on('error', (error) => gunzip.destroy(error));
  const reader = new ByteReader(input.pipe(gunzip)[Symbol.asyncIterator]());
  try {
    if (!(await reader.take(MAGIC.length)).equals(MAGIC)) throw damaged('it does not start as one');
    let parsed: unknown;
    try {
      parsed = JSON.parse((await reader.take(await reader.length(MAX_MANIFEST_BYTES))).toString('utf8'));
    } catch (error) {
      if (error instanceof SyntaxError) throw damaged('its manifest is not JSON');
      throw error;
    }
    const result = manifestSchema.safeParse(parsed);
    if (!result.success) throw damaged(`its manifest is invalid at ${result.error.issues[0]?.path.join('.')}`);
    const manifest = result.data;
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
    for (const table of manifest.tables) await section(`table ${table.name}`, (data) => onTable(table, data));
    for (const file of manifest.files ?? []) await section(`file ${file.id}`, (data) => onFile(file, data));
    const expected = reader.hash.digest();
    if (!(await reader.take(TRAILER.length, false)).equals(TRAILER)) throw damaged('its trailer is missing');
    if (!(await reader.take(32, false)).equals(expected)) throw damaged('its checksum does not match its content');
    if (!(await reader.atEnd())) throw damaged('there are bytes after its end');
    return manifest;
  } finally {
    input.unpipe(gunzip);
    gunzip.destroy();
    if (!input.readableEnded) input.destroy();
  }
}

async function drain(_: unknown, data: AsyncIterable<Buffer>): Promise<void> {
  for await (const _chunk of data);
}

/** Reads the whole archive and answers its manifest, or throws 400 when it is not intact. */
export function verifyArchive(input: Readable): Promise<Manifest> {
  return readArchive(input);
}
