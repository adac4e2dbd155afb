// How a format 3 archive's content is compressed. The bytes are cut in blocks of BLOCK_BYTES (the
// last one shorter), each compressed on its own on libuv's thread pool (zlib's async calls), a few
// at once, and written in order as a 4-byte length + the compressed block; a zero length ends them.
// Blocks of their own let a backup compress on every core while the next rows arrive, let a restore
// decompress ahead of its COPY, and bound what one block may decompress to (BLOCK_BYTES: a damaged
// or hostile archive cannot make a reader allocate more).
// The codec is named in the archive's plain head. Brotli at quality 0 is the default: on COPY text
// it runs about three to four times as fast as gzip level 1 for archives a few percent larger, which
// is what lets a backup keep up with its COPY (docs/backups.md has the figures). Both codecs are
// built into Node's zlib: no native module to install, and any Node reads them.
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { type ByteReader, damaged } from './byte-reader.ts';

export const CODECS = ['brotli', 'gzip'] as const;
export type Codec = (typeof CODECS)[number];

export function isCodec(name: string): name is Codec {
  return (CODECS as readonly string[]).includes(name);
}

/** Big enough that a block's header and the dictionary it starts without cost little (under 0.5%). */
export const BLOCK_BYTES = 1024 * 1024;
/** The compressed size of a block cannot reach this (brotli and gzip add a few bytes to incompressible input). */
const MAX_COMPRESSED_BYTES = BLOCK_BYTES + 64 * 1024;
/** Blocks (de)compressed at once: the cores, at least 2, at most the thread pool's default size (4). */
const IN_FLIGHT = Math.min(4, Math.max(2, availableParallelism()));

const brotliDecompress = promisify(zlib.brotliDecompress);
const gunzip = promisify(zlib.gunzip);

/**
 * Compressed output is handed out in pieces of this size as the thread pool fills them, and written
 * as they are: a block's output is never joined into one buffer (the one-shot calls join theirs),
 * so each compressed byte is allocated once. A brotli block of COPY text takes five or six.
 */
const OUTPUT_PIECE_BYTES = 64 * 1024;

const engines: Record<Codec, () => zlib.BrotliCompress | zlib.Gzip> = {
  brotli: () =>
    zlib.createBrotliCompress({
      chunkSize: OUTPUT_PIECE_BYTES,
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 0, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: BLOCK_BYTES },
    }),
  gzip: () => zlib.createGzip({ level: zlib.constants.Z_BEST_SPEED, chunkSize: OUTPUT_PIECE_BYTES }),
};

/** One block compressed on the thread pool: its framed output (4-byte length, then the pieces). */
function compress(block: Buffer, codec: Codec): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const engine = engines[codec]();
    const pieces: Buffer[] = [Buffer.alloc(4)];
    let length = 0;
    engine.on('data', (piece: Buffer) => {
      pieces.push(piece);
      length += piece.length;
    });
    engine.once('error', reject);
    engine.once('end', () => {
      pieces[0]!.writeUInt32BE(length);
      resolve(pieces);
    });
    engine.end(block);
  });
}

const decompressors: Record<Codec, (block: Buffer) => Promise<Buffer>> = {
  brotli: (block) => brotliDecompress(block, { maxOutputLength: BLOCK_BYTES }),
  gzip: (block) => gunzip(block, { maxOutputLength: BLOCK_BYTES }),
};

/** Work started in order and answered in order, at most IN_FLIGHT at once. */
class InOrder<T> {
  private readonly pending: Promise<T>[] = [];

  start(work: Promise<T>): void {
    // Awaited in order by `next`; a failure meanwhile must not count as unhandled.
    work.catch(() => {});
    this.pending.push(work);
  }

  get full(): boolean {
    return this.pending.length >= IN_FLIGHT;
  }

  get size(): number {
    return this.pending.length;
  }

  next(): Promise<T> {
    return this.pending.shift()!;
  }
}

/**
 * `source` as the framed compressed blocks of a format 3 archive's body, the end marker included.
 * The blocks being filled are reused once compressed (IN_FLIGHT of them, one more at most): a fresh
 * 1 MiB buffer per block added to the buffers after which V8 runs a full garbage collection, one
 * every few megabytes (docs/backups.md).
 */
export async function* compressBlocks(source: AsyncIterable<Buffer>, codec: Codec): AsyncGenerator<Buffer> {
  const work = new InOrder<Buffer[]>();
  const free: Buffer[] = [];
  const startBlock = (block: Buffer, size: number) =>
    work.start(
      compress(block.subarray(0, size), codec).then((framed) => {
        free.push(block);
        return framed;
      }),
    );
  let block: Buffer = Buffer.allocUnsafe(BLOCK_BYTES);
  let size = 0;
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length; ) {
      const copied = chunk.copy(block, size, at);
      size += copied;
      at += copied;
      if (size < BLOCK_BYTES) continue;
      startBlock(block, size);
      size = 0;
      if (work.full) yield* await work.next();
      block = free.pop() ?? Buffer.allocUnsafe(BLOCK_BYTES);
    }
  }
  if (size > 0) startBlock(block, size);
  while (work.size > 0) yield* await work.next();
  yield Buffer.alloc(4);
}

/** The bytes of a format 3 archive's body, read from `raw` (after the head) up to the end marker. */
export async function* decompressBlocks(raw: ByteReader, codec: Codec): AsyncGenerator<Buffer> {
  const decompress = (block: Buffer) =>
    decompressors[codec](block).catch((error: Error) => {
      throw damaged(`a compressed block does not decompress: ${error.message}`);
    });
  const work = new InOrder<Buffer>();
  for (let n = await raw.length(MAX_COMPRESSED_BYTES); n > 0; n = await raw.length(MAX_COMPRESSED_BYTES)) {
    // Stream chunks are fresh buffers, never reused: the thread pool reads the block while the next arrives.
    work.start(decompress(await raw.take(n, false)));
    if (work.full) yield await work.next();
  }
  while (work.size > 0) yield await work.next();
  if (!(await raw.atEnd())) throw damaged('there are bytes after its end');
}
