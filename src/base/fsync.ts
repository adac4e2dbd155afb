// Flushing a file or a folder to disk by path: an atomic write (temporary file, fsync, rename) also
// flushes the folder, so that the rename itself survives a crash. Used by the backup and file stores.
import { open } from 'node:fs/promises';

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
