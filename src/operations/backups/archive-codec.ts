// How a format 3 archive's content is compressed. The bytes are cut in blocks of at most BLOCK_BYTES
// (most of them full), each compressed on its own on libuv's thread pool (zlib's async calls), a few
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
 * The content of a format 3 archive as it is written: bytes go into the block being filled
 * (`block`, `size`: the writer fills it in place, archive-writer.ts), and each block sealed is
 * compressed on the thread pool while the next one fills; `next()` answers their framed output in
 * order. Blocks are reused once compressed (IN_FLIGHT of them and the one being filled): a fresh 1 MiB
 * buffer per block added to the buffers after which V8 runs a full garbage collection, one every
 * few megabytes (docs/backups.md).
 */
export class BlockCompressor {
  block: Buffer = Buffer.allocUnsafe(BLOCK_BYTES);
  /** The bytes of `block` filled so far. */
  size = 0;
  private readonly free: Buffer[] = [];
  private readonly work = new InOrder<Buffer[]>();

  constructor(private readonly codec: Codec) {}

  get room(): number {
    return BLOCK_BYTES - this.size;
  }

  /** Leaves `n` bytes of the block to be written in place later (a frame's length); answers where they start. */
  reserve(n: number): number {
    const at = this.size;
    this.size += n;
    return at;
  }

  /** Copies what fits of `bytes` from `from` on into the block; answers how many bytes it took. */
  fill(bytes: Buffer, from = 0): number {
    const copied = bytes.copy(this.block, this.size, from, from + Math.min(bytes.length - from, this.room));
    this.size += copied;
    return copied;
  }

  /** Starts compressing the block (when it holds anything) and takes an empty one to fill. */
  seal(): void {
    if (this.size === 0) return;
    const block = this.block;
    this.work.start(
      compress(block.subarray(0, this.size), this.codec).then((framed) => {
        this.free.push(block);
        return framed;
      }),
    );
    this.block = this.free.pop() ?? Buffer.allocUnsafe(BLOCK_BYTES);
    this.size = 0;
  }

  /** As many blocks are being compressed as may be: take the oldest's output before sealing more. */
  get busy(): boolean {
    return this.work.full;
  }

  /** Blocks sealed whose output has not been taken yet. */
  get pending(): number {
    return this.work.size;
  }

  /** The oldest sealed block's output: its 4-byte length, then the compressed pieces. */
  next(): Promise<Buffer[]> {
    return this.work.next();
  }
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
