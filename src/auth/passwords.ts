// Password hashing for system admins and company users (bcryptjs, pure JavaScript: no native build).
import bcrypt from 'bcryptjs';
import { randomBytes } from 'node:crypto';

const COST = 10;

export const hashPassword = (password: string) => bcrypt.hash(password, COST);
export const verifyPassword = (password: string, hash: string) => bcrypt.compare(password, hash);

/** A random password for generated credentials (tenant roles, temporary admin passwords). */
export const generatePassword = (bytes = 18) => randomBytes(bytes).toString('base64url');

// A real hash to compare against when the user does not exist, so that an unknown email costs the
// same time as a wrong password.
const dummyHash = bcrypt.hashSync(generatePassword(), COST);
export const burnPasswordCheck = (password: string) => bcrypt.compare(password, dummyHash).then(() => false);
