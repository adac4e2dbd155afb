// Silo's backup archive (format 3): a plain head "SILO-BACKUP 3 <codec>\n", then the content in
// compressed blocks (archive-codec.ts). The content: the manifest (4-byte length + JSON), then each
// table of the manifest in its order as COPY text split in frames (4-byte length + bytes, a zero
// length ends the data) followed by the table's figures (4-byte length + JSON { rows, checksum }),
// then each document file of the manifest's `files` in frames likewise, and a trailer "END\n" + the
// SHA-256 of every content byte before it but the tables' COPY text, which their figures' checksums cover.
// Written (archive-writer.ts) and read (here) in one pass, with no temporary file: a table's row
// count and checksum are taken from its COPY text as it streams, so they follow its rows, and a
// reader checks them at the table's end. Formats 1 and 2 (one gzip stream holding "SILO-BACKUP <n>\n" and the same
// layout, the trailer over every byte; format 1 with the figures in the manifest) are still read; a
// format newer than this Silo knows is refused with 409. The layout and the choices: docs/backups.md.
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import { conflict } from '../../base/errors.ts';
import type { TableShape } from '../scale-out/table-copy.ts';
import { decompressBlocks, isCodec } from './archive-codec.ts';
import { ByteReader, damaged } from './byte-reader.ts';
import { CopyDigest, type TableFigures } from './copy-digest.ts';

/** The format this Silo writes; it reads this one and every older one. */
export const FORMAT_VERSION = 3;
const MAGIC_PREFIX = Buffer.from('SILO-BACKUP ');
export const TRAILER = Buffer.from('END\n');
/** A manifest larger than this is not one Silo wrote (a company's tables and sequences fit in a few kB). */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** Frames hold at most a block (format 3) or one read of the driver (older formats); anything far larger is a damaged length. */
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
/** Formats 2 and 3: the tables' shapes in the manifest, their figures after their data. */
const manifestV2 = z.object({ ...common, formatVersion: z.union([z.literal(2), z.literal(3)]), tables: z.array(tableShape) });

/** The manifest at the head of an archive's content, as written. */
export type ManifestHead = z.infer<typeof manifestV2>;
/** A manifest with every table's figures, whatever the format it was read from. */
export type Manifest = Omit<ManifestHead, 'formatVersion' | 'tables'> & {
  formatVersion: 1 | 2 | 3;
  tables: (TableShape & TableFigures)[];
};
export type ManifestTable = Manifest['tables'][number];
export type ManifestFile = NonNullable<Manifest['files']>[number];

export function lengthOf(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return length;
}

/** A format number of the head: ASCII digits up to `end`. */
async function readNumber(reader: ByteReader, end: number): Promise<number> {
  let digits = '';
  for (let byte = (await reader.take(1))[0]; byte !== end; byte = (await reader.take(1))[0]) {
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

/**
 * The archive's content as a reader, and its format. Format 3 and later name their codec in a plain
 * head; formats 1 and 2 are one gzip stream with the head inside.
 */
async function openContent(raw: ByteReader): Promise<{ content: ByteReader; version: number; close: () => void }> {
  if ((await raw.peek(MAGIC_PREFIX.length)).equals(MAGIC_PREFIX)) {
    await raw.take(MAGIC_PREFIX.length);
    const version = await readNumber(raw, 0x20);
    let codec = '';
    for (let byte = (await raw.take(1))[0]!; byte !== 0x0a; byte = (await raw.take(1))[0]!) {
      if (codec.length >= 16) break;
      codec += String.fromCharCode(byte);
    }
    if (version < 3 || !isCodec(codec)) throw damaged('it does not start as one');
    const content = new ByteReader(decompressBlocks(raw, codec)[Symbol.asyncIterator](), `${codec} block`);
    return { content, version, close: () => {} };
  }
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  const source = Readable.from(raw.rest());
  source.on('error', (error) => gunzip.destroy(error));
  const content = new ByteReader(source.pipe(gunzip)[Symbol.asyncIterator](), 'gzip stream');
  if (!(await content.take(MAGIC_PREFIX.length)).equals(MAGIC_PREFIX)) throw damaged('it does not start as one');
  const version = await readNumber(content, 0x0a);
  if (version > 2) throw damaged('it does not start as one');
  return {
    content,
    version,
    close: () => {
      source.unpipe(gunzip);
      source.destroy();
      gunzip.destroy();
    },
  };
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
  const raw = new ByteReader(input[Symbol.asyncIterator](), 'file');
  let close = () => {};
  try {
    const opened = await openContent(raw);
    const { content: reader, version } = opened;
    close = opened.close;
    const head = await readJson<z.infer<typeof manifestV1> | ManifestHead>(reader, version === 1 ? manifestV1 : manifestV2, 'manifest');
    if (head.formatVersion !== version) throw damaged('its manifest is of another format');
    // One section's frames, up to the zero length that ends it; the reader must take them all.
    // `digest`: the COPY text of a table in format 3, kept out of the trailer's hash and checked against its figures.
    const section = async (what: string, read: (data: AsyncIterable<Buffer>) => Promise<void>, digest?: CopyDigest) => {
      let ended = false;
      async function* frames(): AsyncGenerator<Buffer> {
        for (;;) {
          const n = await reader.length(MAX_FRAME_BYTES);
          if (n === 0) break;
          const frame = await reader.take(n, !digest);
          digest?.update(frame);
          yield frame;
        }
        ended = true;
      }
      await read(frames());
      if (!ended) throw new Error(`the data of ${what} was not read to its end`);
    };
    const tables: Manifest['tables'] = [];
    for (const table of head.tables) {
      const shape = { name: table.name, columns: table.columns };
      const digest = version >= 3 ? new CopyDigest() : undefined;
      await section(`table ${table.name}`, (data) => onTable(shape, data), digest);
      if ('rows' in table) {
        tables.push(table);
        continue;
      }
      const figures = await readJson(reader, figuresSchema, `figures of ${table.name}`);
      const read = digest?.figures();
      if (read && (read.rows !== figures.rows || read.checksum !== figures.checksum)) {
        throw damaged(`the rows of table ${table.name} do not match its checksum`);
      }
      tables.push({ ...shape, ...figures });
    }
    for (const file of head.files ?? []) await section(`file ${file.id}`, (data) => onFile(file, data));
    const expected = reader.hash.digest();
    if (!(await reader.take(TRAILER.length, false)).equals(TRAILER)) throw damaged('its trailer is missing');
    if (!(await reader.take(32, false)).equals(expected)) throw damaged('its checksum does not match its content');
    if (!(await reader.atEnd())) throw damaged('there are bytes after its end');
    return { ...head, tables };
  } finally {
    close();
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
