// The earlier credential format (v1: AES-256-GCM bound to nothing), as Silo wrote it before values
// were bound to their rows: what existing installations hold in their management database.
import { createCipheriv, randomBytes } from 'node:crypto';

export function sealV1(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `v1.${[iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url')).join('.')}`;
}
