// The writing of a format 3 archive with no database: the blocks being filled are reused once
// compressed, so a content of many blocks must come back byte for byte with either codec, each block
// a stream of its own; and the writer, which copies COPY text straight into blocks in frames that
// end where blocks do, must give the reader every table's text and figures exactly, whatever the
// sizes of the rows (a row over several blocks, a table ending on a block's edge, an empty table).
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BLOCK_BYTES, BlockCompressor, CODECS, decompressBlocks } from '../src/operations/backups/archive-codec.ts';
import { type ManifestHead, readArchive } from '../src/operations/backups/archive-format.ts';
import { writeArchive } from '../src/operations/backups/archive-writer.ts';
import { ByteReader } from '../src/operations/backups/byte-reader.ts';
import { manifestHeadOf } from './support/archive-bytes.ts';

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
  afterEach(() => vi.restoreAllMocks());
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
  const head = manifestHeadOf([...tables.keys()]);

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
    // Negative: the row runs a few bytes into the next block (the figures then start there).
    for (let left = -5; left <= 100; left++) {
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

  /** One table of `rows` as a stream: its rows and end are pushed at once, as postgres.js does between reads. */
  const buffered = (rows: Buffer[]) => {
    const source = new Readable({ read() {} });
    for (const r of rows) source.push(r);
    source.push(null);
    return source;
  };

  it('hands blocks on in order when a table’s end comes while it is paused', async () => {
    // The last row fills blocks and pauses the stream, whose end is already buffered: the next table
    // must wait until those blocks are handed on, or two loops take the blocks' output at once.
    let unanswered = 0;
    let overlapped = 0;
    const next = BlockCompressor.prototype.next;
    vi.spyOn(BlockCompressor.prototype, 'next').mockImplementation(function (this: BlockCompressor) {
      if (unanswered > 0) overlapped++;
      unanswered++;
      const answer = next.call(this);
      answer.then(
        () => unanswered--,
        () => unanswered--,
      );
      return answer;
    });
    const two: ManifestHead = { ...head, tables: [head.tables[0]!, head.tables[1]!] };
    for (let i = 0; i < 10; i++) {
      const rows = [[row(1, 3 * BLOCK_BYTES), row(2, 3 * BLOCK_BYTES)], [row(3, 10)]];
      const written = writeArchive(two, async (table) => buffered(rows[table.name === 'many' ? 0 : 1]!));
      const manifest = await readArchive(Readable.from([await all(written.archive)]));
      expect(manifest.tables.map((t) => t.rows)).toEqual([2, 1]);
    }
    expect(overlapped).toBe(0);
  });

  it('compresses a few blocks at a time when one row spans many', async () => {
    let most = 0;
    const seal = BlockCompressor.prototype.seal;
    vi.spyOn(BlockCompressor.prototype, 'seal').mockImplementation(function (this: BlockCompressor) {
      seal.call(this);
      most = Math.max(most, this.pending);
    });
    const one: ManifestHead = { ...head, tables: [head.tables[0]!] };
    const written = writeArchive(one, async () => Readable.from([row(1, 32 * BLOCK_BYTES), row(2, 10), row(3, 10)]));
    const manifest = await readArchive(Readable.from([await all(written.archive)]));
    expect(manifest.tables[0]!.rows).toBe(3);
    // At most IN_FLIGHT (4) compressing, and the last block sealed at the end.
    expect(most).toBeLessThanOrEqual(5);
  });

  it('reads a few blocks ahead of a reader that stops reading, no more', async () => {
    let pulled = 0;
    const one: ManifestHead = { ...head, tables: [head.tables[0]!] };
    const written = writeArchive(one, async () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < 10_000; i++) {
            const r = row(i, 10_000);
            pulled += r.length;
            yield r;
          }
        })(),
      ),
    );
    await new Promise<void>((resolve) => written.archive.once('readable', resolve));
    written.archive.read(1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // The blocks compressing, the one being filled, a block of output waiting and the source's own
    // buffer: a few megabytes of the table's 100.
    expect(pulled).toBeLessThan(10 * BLOCK_BYTES);
    written.archive.destroy();
  });

  /** A long table that records its streams, to see whether the writer stopped reading them. */
  const long = (sources: Readable[]) => async () => {
    const source = Readable.from(Array.from({ length: 4000 }, (_, i) => row(i, 10_000)));
    sources.push(source);
    return source;
  };

  it('stops reading the tables when its reader goes away', async () => {
    const sources: Readable[] = [];
    const written = writeArchive(head, long(sources));
    let taken = 0;
    for await (const chunk of written.archive) {
      taken += (chunk as Buffer).length;
      if (taken > 2 * BLOCK_BYTES) break;
    }
    await expect.poll(() => sources[0]?.destroyed).toBe(true);
    // Stopped midway through the first table, and asked for no other.
    expect(sources[0]!.readableEnded).toBe(false);
    expect(sources).toHaveLength(1);
    expect(written.archive.destroyed).toBe(true);
  });

  it('stops when its reader fails from inside a read', async () => {
    const sources: Readable[] = [];
    const one: ManifestHead = { ...head, tables: [head.tables[0]!] };
    const written = writeArchive(one, long(sources));
    const errors: string[] = [];
    written.archive.on('error', (error) => errors.push(error.message));
    let taken = 0;
    written.archive.on('data', (chunk: Buffer) => {
      taken += chunk.length;
      if (taken > 2 * BLOCK_BYTES && !written.archive.destroyed) written.archive.destroy(new Error('disk full'));
    });
    await expect.poll(() => sources[0]?.destroyed).toBe(true);
    expect(sources[0]!.readableEnded).toBe(false);
    expect(errors).toEqual(['disk full']);
  });

  it('fails with the error of a table’s stream, of tableData and of fileData', async () => {
    const one: ManifestHead = { ...head, tables: [head.tables[0]!] };
    const broken = writeArchive(one, async () => {
      const source = new Readable({ read() {} });
      let i = 0;
      const timer = setInterval(() => {
        if (i++ < 300) source.push(row(i, 10_000));
        else {
          clearInterval(timer);
          source.destroy(new Error('connection lost'));
        }
      }, 0);
      return source;
    });
    await expect(all(broken.archive)).rejects.toThrow('connection lost');

    const refused = writeArchive(one, async () => {
      throw new Error('permission denied');
    });
    await expect(all(refused.archive)).rejects.toThrow('permission denied');

    const file = { id: '00000000-0000-4000-8000-000000000002', size: 3, sha256: '0'.repeat(64) };
    const lost = writeArchive({ ...head, tables: [], files: [file] }, async () => Readable.from([]), {
      fileData: async () =>
        (async function* () {
          yield Buffer.from('abc');
          throw new Error('file gone');
        })(),
    });
    await expect(all(lost.archive)).rejects.toThrow('file gone');
  });
});
