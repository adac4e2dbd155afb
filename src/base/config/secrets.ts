// Secrets that may be generated: when SILO_JWT_SECRET or SILO_MASTER_KEY is unset, a random one is
// created once in the data dir (mode 0600) and reused on every later start, by the server and CLI.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, decodeKey, type Config } from './config.ts';

export interface Secrets {
  jwtSecret: Uint8Array;
  masterKey: Buffer;
  /** Where the master key came from, to name in messages: the variable or the file, never the key. */
  masterKeySource: string;
}

function readOrCreate(dataDir: string, file: string, make: () => string): string {
  const path = join(dataDir, file);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const value = make();
  // 'wx' so that two processes starting together never overwrite each other's secret.
  try {
    writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
    return value;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8').trim();
    throw error;
  }
}

export function resolveSecrets(config: Config): Secrets {
  const jwt = config.jwtSecret ?? readOrCreate(config.dataDir, 'jwt-secret', () => randomBytes(48).toString('base64url'));
  const jwtSecret = new TextEncoder().encode(jwt);
  if (config.masterKey) return { jwtSecret, masterKey: config.masterKey, masterKeySource: 'SILO_MASTER_KEY' };
  const file = join(config.dataDir, 'master-key');
  const masterKey = decodeKey(readOrCreate(config.dataDir, 'master-key', () => randomBytes(32).toString('hex')));
  if (!masterKey) throw new ConfigError(`${file} does not hold a 32-byte key`);
  return { jwtSecret, masterKey, masterKeySource: file };
}
