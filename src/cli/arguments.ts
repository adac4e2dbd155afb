// Checks on command-line values, so that a bad value fails with a clear message before any
// database is touched. Commander repeats a rejected value in its message, so secrets (passwords,
// connection strings) are checked in the actions instead, with messages that never include them.
import { InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { passwordProblem } from '../base/auth/password-rule.ts';
import { slugSchema } from '../base/names.ts';
import { usageError } from './runtime.ts';
import { isPostgresUrl, POSTGRES_URL_RULE } from '../base/db/postgres-url.ts';

function parserOf<T>(schema: z.ZodType<T>, message?: string) {
  return (value: string): T => {
    const result = schema.safeParse(value);
    if (!result.success) throw new InvalidArgumentError(message ?? result.error.issues[0]?.message ?? 'is not valid');
    return result.data;
  };
}

export const parseSlug = parserOf(slugSchema);
export const parseEmail = parserOf(z.email().max(320), 'must be an email address');
export const parseServerId = parserOf(z.uuid(), 'must be a server id (see "silo servers list")');

export const parseText = (max: number) => parserOf(z.string().trim().min(1).max(max), `must be 1-${max} characters`);

export const parsePositiveInt = (max: number) =>
  parserOf(z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(1).max(max)), `must be a whole number from 1 to ${max}`);

export function checkPassword(value: string, flag: string): string {
  const problem = passwordProblem(value);
  if (problem) throw usageError(`${flag} ${problem}`);
  return value;
}

export function checkDatabaseUrl(value: string, flag: string): string {
  if (!isPostgresUrl(value)) throw usageError(`${flag} ${POSTGRES_URL_RULE}`);
  return value;
}
