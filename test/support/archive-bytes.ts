// A format 3 archive taken apart and put together again by hand, apart from Silo's reader and
// writer, for the tests that forge or inspect one: the plain head "SILO-BACKUP 3 <codec>\n", then
// blocks (4-byte length + the block compressed on its own, at most 1 MiB once decompressed) up to a
// zero length.
import type { ManifestHead } from '../../src/operations/backups/archive-format.ts';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';

const BLOCK_BYTES = 1024 * 1024;

function framed(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** The head line and the decompressed content of a format 3 archive. */
export function openFormatThree(archive: Buffer): { head: string; codec: string; content: Buffer } {
  const end = archive.indexOf(0x0a);
  const head = archive.subarray(0, end + 1).toString('latin1');
  const codec = /^SILO-BACKUP 3 (\w+)\n$/.exec(head)?.[1];
  if (!codec) throw new Error(`not a format 3 archive: ${JSON.stringify(head)}`);
  const blocks: Buffer[] = [];
  for (let at = end + 1; ; ) {
    const n = archive.readUInt32BE(at);
    at += 4;
    if (n === 0) break;
    const block = archive.subarray(at, at + n);
    blocks.push(codec === 'brotli' ? brotliDecompressSync(block) : gunzipSync(block));
    at += n;
  }
  return { head, codec, content: Buffer.concat(blocks) };
}

/** A format 3 archive of `content`, compressed with `codec`. */
export function formatThree(content: Buffer, codec: 'brotli' | 'gzip' = 'brotli'): Buffer {
  const parts: Buffer[] = [Buffer.from(`SILO-BACKUP 3 ${codec}\n`)];
  for (let at = 0; at < content.length; at += BLOCK_BYTES) {
    const block = content.subarray(at, at + BLOCK_BYTES);
    parts.push(framed(codec === 'brotli' ? brotliCompressSync(block) : gzipSync(block)));
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

/** Where the first table's figures are in a content (after the manifest and the table's frames): its length's offset. */
export function firstFiguresAt(content: Buffer): number {
  let at = 4 + content.readUInt32BE(0);
  while (content.readUInt32BE(at) !== 0) at += 4 + content.readUInt32BE(at);
  return at + 4;
}

/** The manifest head of a test company's archive whose tables, of two columns (id, data), are `names`. */
export function manifestHeadOf(names: string[]): ManifestHead {
  return {
    format: 'silo-backup',
    formatVersion: 3,
    company: { id: '00000000-0000-4000-8000-000000000001', slug: 'acme', name: 'Acme' },
    schemaVersion: null,
    siloVersion: 'test',
    serverVersion: 'test',
    createdAt: new Date(0).toISOString(),
    tables: names.map((name) => ({ name, columns: ['id', 'data'] })),
    sequences: [],
  };
}
