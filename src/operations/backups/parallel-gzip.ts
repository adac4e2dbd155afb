// Gzip on several threads: the bytes are cut in blocks of BLOCK_BYTES, each compressed as a gzip
// member of its own on libuv's thread pool (zlib's async calls), a few at once, and the members
// written in order. Concatenated members are one valid gzip stream (RFC 1952; `gunzip` and Node's
// createGunzip read them through). A single deflate stream runs on one core at about the speed of a
// by-hand COPY's gzip; this lets a backup compress while the next rows arrive (docs/backups.md).
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzip as gzipCallback, constants as zlib } from 'node:zlib';

const gzip = promisify(gzipCallback);

/** Big enough that a member's header and the dictionary it starts without cost little (under 0.5%). */
const BLOCK_BYTES = 1024 * 1024;
/** Blocks compressed at once: the cores, at least 2, at most the thread pool's default size (4). */
const IN_FLIGHT = Math.min(4, Math.max(2, availableParallelism()));

async function* members(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const pending: Promise<Buffer>[] = [];
  let block: Buffer[] = [];
  let size = 0;
  const compress = () => {
    const whole = Buffer.concat(block, size);
    const member = gzip(whole, { level: zlib.Z_BEST_SPEED });
    // Awaited in order below; a failure meanwhile must not count as unhandled.
    member.catch(() => {});
    pending.push(member);
    block = [];
    size = 0;
  };
  for await (const chunk of source) {
    block.push(chunk);
    size += chunk.length;
    if (size >= BLOCK_BYTES) {
      compress();
      if (pending.length >= IN_FLIGHT) yield await pending.shift()!;
    }
  }
  if (size > 0 || pending.length === 0) compress();
  while (pending.length > 0) yield await pending.shift()!;
}

/** The bytes of `source`, gzip-compressed at level 1 (the fastest). */
export function parallelGzip(source: AsyncIterable<Buffer>): Readable {
  return Readable.from(members(source), { objectMode: false });
}
