// A SCRAM-SHA-256 verifier computed here, so that CREATE ROLE ... PASSWORD never sends the plaintext
// password to the server (where log_statement could record it). Format: RFC 5803, as Postgres stores.
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

function format(salted: Buffer, salt: Buffer, iterations: number): string {
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export function scramSha256Verifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  return format(pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256'), salt, iterations);
}

/** The same, with PBKDF2 on libuv's thread pool: started early, it is ready when needed. */
export async function scramSha256VerifierAsync(password: string, iterations = 4096): Promise<string> {
  const salt = randomBytes(16);
  return format(await pbkdf2Async(password.normalize('NFKC'), salt, iterations, 32, 'sha256'), salt, iterations);
}
