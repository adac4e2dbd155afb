// The writing of a format 3 archive with no database: the blocks being filled are reused once
// compressed, so a content of many blocks must come back byte for byte with either codec, each block
// a stream of its own; and the writer, which copies COPY text straight into blocks in frames that
// end where blocks do, must give the reader every table's text and figures exactly, whatever the
// sizes of the rows (a row over several blocks, a table ending on a block's edge, an empty table).
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BLOCK_BYTES, BlockCompressor, CODECS, decompressBlocks } from '../src/operations/backups/archive-codec.ts';
import { type ManifestHead, readArchive } from '../src/operations/backups/archive-format.ts';
import { writeArchive } from '../src/operations/backups/archive-writer.ts';
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

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const rowsOf = (text: Buffer) => text.toString('latin1').split('\n').length - 1;

describe('compressed blocks', () => {
  it.each(CODECS)('come back byte for byte over many blocks (%s)', async (codec) => {
    const chunks = content(12 * BLOCK_BYTES + 12_345);
    const original = Buffer.concat(chunks);
    const blocks = new BlockCompressor(codec);
    const output: Buffer[] = [];
    for (const chunk of chunks) {
      for (let at = 0; at < chunk.length; ) {
        at += blocks.fill(chunk, at);
        if (blocks.room === 0) blocks.seal();
        while (blocks.busy) output.push(...(await blocks.next()));
      }
    }
    blocks.seal();
    while (blocks.pending > 0) output.push(...(await blocks.next()));
    const body = Buffer.concat([...output, Buffer.alloc(4)]);

    // Each framed block decompresses on its own to at most one block's bytes.
    const decompress = codec === 'brotli' ? brotliDecompressSync : gunzipSync;
    let count = 0;
    for (let at = 0; ; count++) {
      const n = body.readUInt32BE(at);
      if (n === 0) break;
      expect(decompress(body.subarray(at + 4, at + 4 + n)).length).toBeLessThanOrEqual(BLOCK_BYTES);
      at += 4 + n;
    }
    expect(count).toBe(Math.ceil(original.length / BLOCK_BYTES));

    const read = await all(decompressBlocks(new ByteReader(from([body])[Symbol.asyncIterator]()), codec));
    expect(read.length).toBe(original.length);
    expect(sha256(read)).toBe(sha256(original));
  });
});

describe('the archive writer', () => {
  // Rows as postgres.js hands them over (one chunk per row), of every size.
  const row = (i: number, size: number) =>
    Buffer.concat([Buffer.from(`${i}\t`), randomBytes(size).map((b) => (b === 10 ? 32 : b)), Buffer.from('\n')]);
  const tables = new Map<string, Buffer[]>([
    // Small rows over several blocks.
    ['many', Array.from({ length: 20_000 }, (_, i) => row(i, 100 + (i % 300)))],
    ['empty', []],
    // One row over three blocks, between small ones.
    ['huge', [row(1, 10), row(2, 3 * BLOCK_BYTES + 17), row(3, 10)]],
    ['last', Array.from({ length: 50 }, (_, i) => row(i, 5000))],
  ]);
  const head: ManifestHead = {
    format: 'silo-backup',
    formatVersion: 3,
    company: { id: '00000000-0000-4000-8000-000000000001', slug: 'acme', name: 'Acme' },
    schemaVersion: null,
    siloVersion: 'test',
    serverVersion: 'test',
    createdAt: new Date(0).toISOString(),
    tables: [...tables.keys()].map((name) => ({ name, columns: ['id', 'data'] })),
    sequences: [],
  };

  it.each(CODECS)('gives the reader every table’s text and figures exactly (%s)', async (codec) => {
    const written = writeArchive(head, async (table) => Readable.from(tables.get(table.name)!), { codec });
    const archive = await all(written.archive);
    const read = new Map<string, Buffer>();
    const manifest = await readArchive(Readable.from([archive]), async (table, data) => {
      read.set(table.name, await all(data));
    });
    expect(await written.manifest).toEqual(manifest);
    for (const [name, rows] of tables) {
      const text = Buffer.concat(rows);
      expect(read.get(name)!.equals(text), name).toBe(true);
      expect(manifest.tables.find((t) => t.name === name)).toMatchObject({ rows: rowsOf(text), checksum: sha256(text) });
    }
  });

  it('writes text that ends on or near a block’s edge', async () => {
    // Before the first table's text: the manifest's length and JSON, and the first frame's length.
    const two: ManifestHead = { ...head, tables: [head.tables[0]!, head.tables[1]!] };
    const before = 4 + Buffer.byteLength(JSON.stringify(two)) + 4;
    // From a first table that fills its block exactly to one that leaves 100 bytes in it: the
    // table's figures then end at every place in the block's last bytes, and the second table's
    // first frame length with them (it must start a block of its own when it cannot fit whole).
    for (let left = 0; left <= 100; left++) {
      const first = [row(1, BLOCK_BYTES - before - left - 3)];
      const second = [row(2, 10), row(3, 10)];
      const written = writeArchive(two, async (table) => Readable.from(table.name === 'many' ? first : second));
      const read: Buffer[] = [];
      const manifest = await readArchive(Readable.from([await all(written.archive)]), async (_table, data) => {
        read.push(await all(data));
      });
      expect(read[0]!.equals(Buffer.concat(first)), `${left} bytes left`).toBe(true);
      expect(read[1]!.equals(Buffer.concat(second)), `${left} bytes left`).toBe(true);
      expect(manifest.tables.map((t) => t.rows)).toEqual([1, 2]);
    }
  });

  it('stops reading the tables when its reader goes away', async () => {
    let destroyed = false;
    const written = writeArchive(head, async () => {
      const source = Readable.from(content(40 * BLOCK_BYTES));
      source.once('close', () => {
        destroyed = true;
      });
      return source;
    });
    let taken = 0;
    for await (const chunk of written.archive) {
      taken += (chunk as Buffer).length;
      if (taken > 2 * BLOCK_BYTES) break;
    }
    await expect.poll(() => destroyed).toBe(true);
    expect(written.archive.destroyed).toBe(true);
  });
});
