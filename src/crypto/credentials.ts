// Credentials at rest (tenant role passwords, server connection strings): AES-256-GCM under
// SILO_MASTER_KEY. Stored as "v1.<iv>.<tag>.<ciphertext>" in base64url, so the format can evolve.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface CredentialBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export function createCredentialBox(key: Buffer): CredentialBox {
  if (key.length !== 32) throw new Error('the master key must be 32 bytes');
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
      return `v1.${parts.join('.')}`;
    },
    open(sealed) {
      const [version, iv, tag, ciphertext] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || ciphertext === undefined) {
        throw new Error('sealed credential has an unknown format');
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      // A wrong key or tampered value throws here ("unable to authenticate data"), never a secret.
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
