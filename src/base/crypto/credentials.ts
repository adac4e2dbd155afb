// Credentials at rest (tenant role passwords, connection strings, Neon API keys): AES-256-GCM under
// SILO_MASTER_KEY, with a 16-byte tag. Each value is bound to the row and column it is stored in
// (additional authenticated data, e.g. "companies.credentials:<id>"), so that a value copied into
// another row or column does not open: whoever can write the management database cannot make Silo
// log in to one company with another's credentials. Stored as "v2.<iv>.<tag>.<ciphertext>" in
// base64url. "v1." values (the earlier format, bound to nothing) still open, with any field, and
// are re-sealed as v2 on the next start (src/base/crypto/reseal.ts, docs/security-database.md).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const TAG_BYTES = 16;
const IV_BYTES = 12;

/** Where a sealed value is stored: its table, its column and its row's id. */
export type SealedField = `${string}.${string}:${string}`;

/** The fields Silo stores sealed values in; a value opens only with the field it was sealed for. */
export const sealedAt = {
  companyCredentials: (companyId: string): SealedField => `companies.credentials:${companyId}`,
  companyDatabaseUrl: (companyId: string): SealedField => `companies.database_url:${companyId}`,
  serverUrl: (serverId: string): SealedField => `database_servers.url:${serverId}`,
  serverApiKey: (serverId: string): SealedField => `database_servers.api_key:${serverId}`,
  jwtSigningKey: (keyId: string): SealedField => `jwt_signing_keys.key_encrypted:${keyId}`,
};

export interface CredentialBox {
  /** Seals under the current key. */
  seal(plaintext: string, field: SealedField): string;
  /** Opens with the current key or, during a rotation, the previous one. */
  open(sealed: string, field: SealedField): string;
  /** Whether a stored value should be sealed again: an earlier format, or not under the current key. */
  isStale(sealed: string, field: SealedField): boolean;
}

/** Whether a stored value is in the current format (else the next start re-seals it). */
export const isCurrentFormat = (sealed: string) => sealed.startsWith('v2.');

function decode(part: string, bytes?: number): Buffer {
  const buffer = Buffer.from(part, 'base64url');
  if (bytes !== undefined && buffer.length !== bytes) throw new Error('sealed credential has an unknown format');
  return buffer;
}

function openWith(key: Buffer, sealed: string, field: SealedField): string {
  const [version, iv, tag, ciphertext, extra] = sealed.split('.');
  if ((version !== 'v1' && version !== 'v2') || !iv || !tag || ciphertext === undefined || extra !== undefined) {
    throw new Error('sealed credential has an unknown format');
  }
  // The tag's length is pinned: a shortened tag would be easier to forge.
  const decipher = createDecipheriv(ALGORITHM, key, decode(iv, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(decode(tag, TAG_BYTES));
  if (version === 'v2') decipher.setAAD(Buffer.from(field, 'utf8'));
  // A wrong key, a wrong field or a tampered value throws here ("unable to authenticate data"),
  // never a secret.
  return Buffer.concat([decipher.update(decode(ciphertext)), decipher.final()]).toString('utf8');
}

/**
 * A box that seals under `key` and opens with it or with `previousKey` (SILO_MASTER_KEY_PREVIOUS,
 * set only while a rotation re-seals what the previous key sealed).
 */
export function createCredentialBox(key: Buffer, previousKey?: Buffer): CredentialBox {
  for (const k of [key, previousKey]) if (k && k.length !== 32) throw new Error('the master key must be 32 bytes');
  const opensWithCurrentKey = (sealed: string, field: SealedField) => {
    try {
      openWith(key, sealed, field);
      return true;
    } catch {
      return false;
    }
  };
  return {
    seal(plaintext, field) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(field, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
      return `v2.${parts.join('.')}`;
    },
    open(sealed, field) {
      try {
        return openWith(key, sealed, field);
      } catch (error) {
        if (!previousKey) throw error;
        return openWith(previousKey, sealed, field);
      }
    },
    isStale(sealed, field) {
      return !isCurrentFormat(sealed) || !opensWithCurrentKey(sealed, field);
    },
  };
}
