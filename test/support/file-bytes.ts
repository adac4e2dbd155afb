// Deterministic bytes of any length for file tests and the files bench, produced in chunks (never
// the whole file in memory), with their SHA-256; and the SHA-256 of a stream as it is read.
import { createHash, randomBytes } from 'node:crypto';

const BLOCK = randomBytes(1024 * 1024 + 7);
const CHUNK = 256 * 1024;

/** `size` bytes in chunks of 256 kB, and their SHA-256 once they have all been produced. */
export function fileBytes(size: number): { chunks: () => AsyncGenerator<Uint8Array>; sha256: string } {
  const hash = createHash('sha256');
  const produce = function* () {
    let offset = 0;
    while (offset < size) {
      const n = Math.min(CHUNK, size - offset);
      const at = offset % (BLOCK.length - CHUNK);
      yield BLOCK.subarray(at, at + n);
      offset += n;
    }
  };
  for (const chunk of produce()) hash.update(chunk);
  return {
    sha256: hash.digest('hex'),
    chunks: async function* () {
      yield* produce();
    },
  };
}

/** A web stream of the chunks, for a fetch or app.request body. */
export function streamOf(chunks: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  return new ReadableStream({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  });
}

/** The SHA-256 and length of a response body, read as it streams. */
export async function digestOf(body: ReadableStream<Uint8Array> | null): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  if (body) {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      size += chunk.length;
    }
  }
  return { sha256: hash.digest('hex'), size };
}
