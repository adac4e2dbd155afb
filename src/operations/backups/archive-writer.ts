// Writing a format 3 archive (the layout: archive-format.ts and docs/backups.md) as a stream, in one
// pass: each table's COPY text is copied straight from the driver's rows into the block being filled
// (archive-codec.ts), in frames that end where the blocks do, and each frame is hashed and its rows
// counted as it closes, a megabyte at a time. A backup reads about 100 MB of text in some 150,000
// rows: going through async iterators and a buffer per 64 kB read copied the text twice and
// allocated as much again, and the garbage collection that allocation costs was a quarter of a
// backup's CPU (docs/backups.md, "Figures").
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BLOCK_BYTES, BlockCompressor, type Codec } from './archive-codec.ts';
import { FORMAT_VERSION, lengthOf, type Manifest, type ManifestFile, type ManifestHead, TRAILER } from './archive-format.ts';
import { CopyDigest, type TableFigures } from './copy-digest.ts';
import type { TableShape } from '../scale-out/table-copy.ts';

type Bytes = AsyncIterable<Buffer | Uint8Array>;

export interface WriteOptions {
  /** Told of the rows of COPY text as they pass (a progress bar), about a megabyte at a time. */
  onRows?: (rows: number) => void;
  /** The bytes of each file the manifest names. */
  fileData?: (file: ManifestFile) => Promise<Bytes>;
  /** The compression of the content (archive-codec.ts); brotli unless told. */
  codec?: Codec;
}

export interface ArchiveStream {
  /** The archive's bytes; read it to its end (or destroy it). */
  archive: Readable;
  /** The manifest with every table's figures, once the archive has been read to its end. */
  manifest: Promise<Manifest>;
}

/** The archive was destroyed by its reader: what was writing it stops. */
class ReaderGone extends Error {}

/** The content of an archive, framed, hashed and put in blocks; its compressed output goes to `emit`. */
class ContentWriter {
  private readonly blocks: BlockCompressor;
  /** The trailer's hash: every content byte but the tables' COPY text, which their figures cover. */
  private readonly trailer = createHash('sha256');
  /** Where the open frame of COPY text starts in the block (its length goes there); -1: none open. */
  private frameAt = -1;
  /** The figures of the table whose COPY text is being written. */
  private text: CopyDigest | undefined;

  constructor(
    codec: Codec,
    private readonly emit: (pieces: Buffer[]) => Promise<void>,
    private readonly onRows?: (rows: number) => void,
  ) {
    this.blocks = new BlockCompressor(codec);
  }

  /** Bytes of the content outside the tables' COPY text: in the trailer's hash. */
  plain(bytes: Buffer): void {
    this.trailer.update(bytes);
    this.copy(bytes);
  }

  /** The end of the content: the trailer, then every block's output and the zero length that ends them. */
  async end(): Promise<void> {
    this.copy(Buffer.concat([TRAILER, this.trailer.digest()]));
    this.blocks.seal();
    while (this.blocks.pending > 0) await this.emit(await this.blocks.next());
    await this.emit([Buffer.alloc(4)]);
  }

  startText(): void {
    this.text = new CopyDigest();
  }

  /**
   * COPY text, cut anywhere (rows may span frames): copied into frames that end where blocks do.
   * Stops when too many blocks are being compressed (a row may span hundreds of blocks) and answers
   * where it stopped in `chunk`: `settle`, then append the rest.
   */
  appendText(chunk: Buffer, from = 0): number {
    let at = from;
    while (at < chunk.length && !this.blocks.busy) {
      if (this.frameAt < 0) this.openFrame();
      at += this.blocks.fill(chunk, at);
      if (this.blocks.room === 0) {
        this.closeFrame();
        this.blocks.seal();
      }
    }
    return at;
  }

  /** The end of a table's text: its figures, and the zero length and figures that close its section. */
  endText(): TableFigures {
    if (this.frameAt >= 0) this.closeFrame();
    const figures = this.text!.figures();
    this.text = undefined;
    const footer = Buffer.from(JSON.stringify(figures));
    this.plain(Buffer.concat([lengthOf(Buffer.alloc(0)), lengthOf(footer), footer]));
    return figures;
  }

  /** Too many blocks are being compressed: `settle` before writing more. */
  get busy(): boolean {
    return this.blocks.busy;
  }

  /** Hands on the oldest blocks' output until fewer are being compressed than may be. */
  async settle(): Promise<void> {
    while (this.blocks.busy) await this.emit(await this.blocks.next());
  }

  private copy(bytes: Buffer): void {
    for (let at = 0; at < bytes.length; ) {
      at += this.blocks.fill(bytes, at);
      if (this.blocks.room === 0) this.blocks.seal();
    }
  }

  /** A frame's length is written when it closes, so it must lie in the block being filled with its text. */
  private openFrame(): void {
    if (this.blocks.room < 5) this.blocks.seal();
    this.frameAt = this.blocks.reserve(4);
  }

  private closeFrame(): void {
    const { block, size } = this.blocks;
    const length = block.subarray(this.frameAt, this.frameAt + 4);
    const text = block.subarray(this.frameAt + 4, size);
    length.writeUInt32BE(text.length);
    this.trailer.update(length);
    const rows = this.text!.update(text);
    this.onRows?.(rows);
    this.frameAt = -1;
  }
}

/**
 * A table's COPY text, read from the driver's stream row by row as it comes (no async iteration,
 * no joined buffers), paused while the blocks before it are compressed and handed on.
 */
function appendTable(source: Readable, writer: ContentWriter): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // The blocks being handed on while the stream is paused. Its 'end' can come meanwhile (rows
    // and the end buffered during a pause, the last row's 'data' pausing it again): the table is
    // done only when they are, or two loops would take blocks' output at once.
    let settling: Promise<void> = Promise.resolve();
    const fail = (error: unknown) => {
      source.destroy();
      reject(error);
    };
    source.on('data', (chunk: Buffer) => {
      let at: number;
      try {
        at = writer.appendText(chunk);
      } catch (error) {
        fail(error);
        return;
      }
      if (!writer.busy) return;
      source.pause();
      settling = (async () => {
        for (;;) {
          await writer.settle();
          if (at === chunk.length) return;
          at = writer.appendText(chunk, at);
        }
      })().then(() => void source.resume(), fail);
    });
    source.once('end', () => void settling.then(() => resolve()));
    source.once('error', reject);
  });
}

/**
 * The archive as a stream. `tableData(table)` gives each table's COPY text in turn; it is asked for
 * the next table only once the previous one is done (one COPY at a time on a connection). Nothing
 * is asked for before the archive is first read. The content is compressed in blocks on several
 * threads (archive-codec.ts), so that a backup's time is the database's rather than the compressor's.
 */
export function writeArchive(
  head: ManifestHead,
  tableData: (table: TableShape) => Promise<Readable>,
  { onRows, fileData = noFiles, codec = 'brotli' }: WriteOptions = {},
): ArchiveStream {
  let finished!: (manifest: Manifest) => void;
  const manifest = new Promise<Manifest>((resolve) => (finished = resolve));
  let wanted: (() => void) | undefined;
  let started = false;
  const wake = () => {
    const waiting = wanted;
    wanted = undefined;
    waiting?.();
  };
  // Up to a block's worth of output waits to be written (rather than 16 kB), so that writing the
  // archive does not hold back compressing the next blocks.
  const archive = new Readable({
    highWaterMark: BLOCK_BYTES,
    read() {
      if (!started) {
        started = true;
        write().then(
          () => archive.push(null),
          (error: unknown) => archive.destroy(error instanceof ReaderGone ? undefined : (error as Error)),
        );
      }
      wake();
    },
    destroy(error, done) {
      wake();
      done(error);
    },
  });
  const emit = async (pieces: Buffer[]) => {
    // Destroyed while a block was being compressed: no read will ask for more.
    if (archive.destroyed) throw new ReaderGone();
    let more = true;
    for (const piece of pieces) more = archive.push(piece);
    // A reader can destroy the archive inside push (from a 'data' listener): no read would wake us.
    if (archive.destroyed) throw new ReaderGone();
    if (!more) await new Promise<void>((resolve) => (wanted = resolve));
    if (archive.destroyed) throw new ReaderGone();
  };

  async function write(): Promise<void> {
    await emit([Buffer.from(`SILO-BACKUP ${FORMAT_VERSION} ${codec}\n`)]);
    const writer = new ContentWriter(codec, emit, onRows);
    const json = Buffer.from(JSON.stringify({ ...head, formatVersion: FORMAT_VERSION }));
    writer.plain(Buffer.concat([lengthOf(json), json]));
    const tables: Manifest['tables'] = [];
    for (const table of head.tables) {
      writer.startText();
      await appendTable(await tableData(table), writer);
      tables.push({ ...table, ...writer.endText() });
      await writer.settle();
    }
    for (const file of head.files ?? []) {
      for await (const data of await fileData(file)) {
        if (data.length === 0) continue;
        const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        writer.plain(lengthOf(chunk));
        writer.plain(chunk);
        await writer.settle();
      }
      writer.plain(lengthOf(Buffer.alloc(0)));
    }
    await writer.end();
    finished({ ...head, formatVersion: FORMAT_VERSION, tables });
  }
  return { archive, manifest };
}

async function noFiles(): Promise<Bytes> {
  throw new Error('the manifest names files and no reader of them was given');
}
