// Reading exact byte counts from a stream of chunks, as a backup archive's reader needs them (a
// length, then that many bytes), hashing what it hands out unless told not to. Anything that does
// not read as an archive is answered with `damaged`: 400 validation_failed, before anything acts on it.
import { createHash } from 'node:crypto';
import { invalid } from '../../base/errors.ts';

export const damaged = (why: string) =>
  invalid(`the archive is damaged or not a Silo backup (${why})`, [{ path: 'archive', message: why }]);

export class ByteReader {
  private chunks: Buffer[] = [];
  private size = 0;
  readonly hash = createHash('sha256');

  /** `what` names the source in the reason of a failure to read it (a decompressor's, mostly). */
  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly what = 'stream',
  ) {}

  /** Buffers the next chunk; false at the end of the source. */
  private async pull(): Promise<boolean> {
    let next: IteratorResult<Buffer>;
    try {
      next = await this.source.next();
    } catch (error) {
      throw damaged(`not a complete ${this.what}: ${(error as Error).message}`);
    }
    if (next.done) return false;
    this.chunks.push(next.value);
    this.size += next.value.length;
    return true;
  }

  /** The next `n` bytes, left unread; fewer when the source ends first. */
  async peek(n: number): Promise<Buffer> {
    while (this.size < n && (await this.pull()));
    const all = Buffer.concat(this.chunks, this.size);
    this.chunks = all.length > 0 ? [all] : [];
    return all.subarray(0, n);
  }

  async take(n: number, hashed = true): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    while (this.size < n) if (!(await this.pull())) throw damaged('it ends too early');
    // Decompressors hand out 64 kB chunks or more: most takes are served from the first one, with no copy.
    const all = this.chunks[0]!.length >= n ? this.chunks.shift()! : Buffer.concat(this.chunks.splice(0), this.size);
    const restSize = this.size - all.length;
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    if (rest.length > 0) this.chunks.unshift(rest);
    this.size = restSize + rest.length;
    if (hashed) this.hash.update(taken);
    return taken;
  }

  async length(max: number): Promise<number> {
    const n = (await this.take(4)).readUInt32BE(0);
    if (n > max) throw damaged('a length is out of range');
    return n;
  }

  async atEnd(): Promise<boolean> {
    return this.size === 0 && !(await this.pull());
  }

  /** Everything not read yet, as it comes (for a decompressor to take over). */
  async *rest(): AsyncGenerator<Buffer> {
    while (this.chunks.length > 0) {
      const chunk = this.chunks.shift()!;
      this.size -= chunk.length;
      yield chunk;
    }
    for (let next = await this.source.next(); !next.done; next = await this.source.next()) yield next.value;
  }
}
