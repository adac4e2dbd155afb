// Structured JSON logs (pino). Fields that could hold secrets are redacted by path as a second line
// of defence; the first is that code never passes secrets to the logger.
//
// Without a destination given, lines go to stdout asynchronously and in batches (pino.destination
// with sync off): a line is appended to a buffer, and the buffer is written once it holds
// BATCH_BYTES or when FLUSH_MS have passed, whichever comes first. Every line is written (nothing
// is sampled or dropped); under load the access lines of some forty requests share one write
// instead of costing one write system call (and one thread-pool hand-off) each. pino flushes the
// buffer synchronously when the process exits (an uncaught error included); only a process killed
// outright (SIGKILL, out of memory) can lose the lines of its last moments (docs/decisions.md, "Logs").
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** A buffer of this many bytes is written at once (sonic-boom needs it below its 16 KB maxWrite). */
const BATCH_BYTES = 8 * 1024;
/** A line waits at most this long for its batch to fill (a quiet server's lines still come out). */
const FLUSH_MS = 200;

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'silo' },
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'url', '*.url', 'authorization', '*.authorization'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES, periodicFlush: FLUSH_MS }),
  );
}
