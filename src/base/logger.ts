// Structured JSON logs (pino). Fields that could hold secrets are redacted by path as a second line
// of defence; the first is that code never passes secrets to the logger.
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
    destination,
  );
}
