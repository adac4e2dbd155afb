// Structured JSON logs (pino). Fields that could hold secrets are redacted by path as a second line
// of defence; the first is that code never passes secrets to the logger.
//
// Without a destination given, lines go to stdout asynchronously (pino.destination with sync off):
// a line is appended to a buffer and written by the event loop, and lines logged while a write is
// under way go out together in the next one. Every line is written (nothing is sampled or dropped);
// under load the access lines of many requests share one write instead of costing one write system
// call each, which at the default level was about a sixth of a warm read's time. pino flushes the
// buffer synchronously when the process exits (an uncaught error included); only a process killed
// outright (SIGKILL, out of memory) can lose the lines of its last moments (docs/decisions.md, "Logs").
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

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
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
