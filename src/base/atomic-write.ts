// Writing a file whole or not at all, for the backup store and the document file store: the bytes go
// to a temporary file beside the final one, are flushed to disk (fsync), renamed into place, and the
// folder is flushed so that the rename itself survives a crash. A reader never finds half a file
// under the final name, whatever crashes meanwhile; a source that fails leaves no temporary file.
import { createWriteStream, open } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { fsyncPath } from './fsync.ts';

// A plain descriptor, not a FileHandle: the write stream owns it (fsyncs and closes it, also when
// destroyed), and a FileHandle given to a stream cannot be closed before the stream is.
const openFd = promisify(open);

/** How many bytes may wait for the disk before the source is paused. */
const WRITE_BUFFER_BYTES = 1024 * 1024;

export interface AtomicWriteOptions {
  /** The file's permissions (default 0600). */
  mode?: number;
  /** Make the folder (0700) when it is missing, rather than fail. */
  makeFolder?: boolean;
}

/**
 * The temporary file, opened before any byte is taken from the source: a missing folder is found
 * here, while the source can still be written once the folder is made. Trying first costs nothing
 * when the folder exists, where a mkdir before each write costs a thread-pool round trip.
 */
async function openTemporary(temporary: string, { mode = 0o600, makeFolder = false }: AtomicWriteOptions): Promise<number> {
  try {
    return await openFd(temporary, 'w', mode);
  } catch (error) {
    if (!makeFolder || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(dirname(temporary), { recursive: true, mode: 0o700 });
    return openFd(temporary, 'w', mode);
  }
}

/**
 * Streams `data` into `path` through `temporary` (a name in the same folder, which the caller
 * chooses so that it knows what a crash could leave); answers the number of bytes written. The
 * folder must exist unless `makeFolder`.
 */
export async function writeFileAtomically(
  path: string,
  temporary: string,
  data: Readable | AsyncIterable<Uint8Array>,
  options: AtomicWriteOptions = {},
): Promise<number> {
  const source = data instanceof Readable ? data : Readable.from(data);
  let fd: number;
  try {
    fd = await openTemporary(temporary, options);
  } catch (error) {
    // Let the source go, as the pipeline would have (a backup's snapshot ends its connection so).
    source.destroy();
    throw error;
  }
  // `flush`: the stream fsyncs the file before it closes it.
  // `highWaterMark`: chunks that arrive while a write is under way wait in the stream and go out
  // together in one writev, rather than one write (and a thread-pool round trip) each; a socket
  // hands over 64 kB at a time (docs/files.md, "Performance").
  const out = createWriteStream(temporary, { fd, flush: true, highWaterMark: WRITE_BUFFER_BYTES });
  try {
    await pipeline(source, out);
    await rename(temporary, path);
    await fsyncPath(dirname(path));
    return out.bytesWritten;
  } catch (error) {
    // Remove the file only once the stream has closed it (a failed pipeline destroys the stream,
    // which closes the descriptor once its write under way is done).
    if (!out.closed) await new Promise<void>((closed) => out.once('close', () => closed()));
    await rm(temporary, { force: true });
    throw error;
  }
}
