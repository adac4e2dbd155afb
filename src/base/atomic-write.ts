// Writing a file whole or not at all, for the backup store and the document file store: the bytes go
// to a temporary file beside the final one, are flushed to disk (fsync), renamed into place, and the
// folder is flushed so that the rename itself survives a crash. A reader never finds half a file
// under the final name, whatever crashes meanwhile; a source that fails leaves no temporary file.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fsyncPath } from './fsync.ts';

/** How many bytes may wait for the disk before the source is paused. */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * Streams `data` into `path` through `temporary` (a name in the same folder, which the caller
 * chooses so that it knows what a crash could leave); answers the number of bytes written. The
 * folder must exist.
 */
export async function writeFileAtomically(
  path: string,
  temporary: string,
  data: Readable | AsyncIterable<Uint8Array>,
  mode = 0o600,
): Promise<number> {
  // `flush`: the stream fsyncs the file before it closes it, on the handle it wrote with.
  // `highWaterMark`: chunks that arrive while a write is under way wait in the stream and go out
  // together in one writev, rather than one write (and a thread-pool round trip) each; a socket
  // hands over 64 kB at a time (docs/files.md, "Performance").
  const out = createWriteStream(temporary, { mode, flush: true, highWaterMark: WRITE_BUFFER_BYTES });
  try {
    await pipeline(data instanceof Readable ? data : Readable.from(data), out);
    await rename(temporary, path);
    await fsyncPath(dirname(path));
    return out.bytesWritten;
  } catch (error) {
    // A source that fails at once can beat the file's open: the stream, destroyed, still opens
    // (creating the file) and then closes. Remove the file only once it is closed.
    if (!out.closed) await new Promise<void>((closed) => out.once('close', () => closed()));
    await rm(temporary, { force: true });
    throw error;
  }
}
