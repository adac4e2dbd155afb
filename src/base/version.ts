// Silo's own version, read once from package.json (the same relative place from src/ and dist/):
// what `silo --version` prints and what a backup's manifest records as the Silo that took it.
import { readFileSync } from 'node:fs';

export const SILO_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
