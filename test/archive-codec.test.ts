// The compression of a format 3 archive's content (archive-codec.ts), with no database: the blocks
// being filled are reused once compressed, so a content of many blocks, arriving in chunks of every
// size, must come back byte for byte with either codec, and each block must be a stream of its own.
import { createHash, randomBytes } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BLOCK_BYTES, CODECS, compressBlocks, decompressBlocks } from '../src/operations/backups/archive-codec.ts';
import { ByteReader } from '../src/operations/backups/byte-reader.ts';

/** About `n` bytes of COPY-like text with incompressible stretches, in chunks of uneven sizes. */
function content(n: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let size = 0, i = 0; size < n; i++) {
    const chunk =
      i % 7 === 3
        ? randomBytes(1 + ((i * 7919) % 200_000))
        : Buffer.from(`${i}\tDocument ${i}\t${'words of a document '.repeat(1 + ((i * 104_729) % 5000))}\n`);
    chunks.push(chunk);
    size += chunk.length;
  }
  return chunks;
}

async function* from(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const chunk of chunks) yield chunk;
}

async function all(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('compressed blocks', () => {
  it.each(CODECS)('come back byte for byte over many blocks (%s)', async (codec) => {
    const chunks = content(12 * BLOCK_BYTES + 12_345);
    const original = Buffer.concat(chunks);
    const body = await all(compressBlocks(from(chunks), codec));

    // Each framed block decompresses on its own to at most one block's bytes.
    const decompress = codec === 'brotli' ? brotliDecompressSync : gunzipSync;
    let blocks = 0;
    for (let at = 0; ; blocks++) {
      const n = body.readUInt32BE(at);
      if (n === 0) break;
      expect(decompress(body.subarray(at + 4, at + 4 + n)).length).toBeLessThanOrEqual(BLOCK_BYTES);
      at += 4 + n;
    }
    expect(blocks).toBe(Math.ceil(original.length / BLOCK_BYTES));

    const read = await all(decompressBlocks(new ByteReader(from([body])[Symbol.asyncIterator]()), codec));
    expect(read.length).toBe(original.length);
    expect(createHash('sha256').update(read).digest('hex')).toBe(createHash('sha256').update(original).digest('hex'));
  });
});
