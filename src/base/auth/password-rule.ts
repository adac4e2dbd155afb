// The one rule for a password Silo stores (a system admin's, a company user's, an invited user's):
// 8 characters or more, and at most 72 bytes in UTF-8. bcrypt reads only the first 72 bytes, so a
// longer password would be silently cut: two that share their first 72 bytes would both log in.
// Refusing it says so; 72 bytes is 72 ASCII characters, or as few as 18 four-byte characters.
import { z } from 'zod';

export const PASSWORD_MIN_CHARACTERS = 8;
export const PASSWORD_MAX_BYTES = 72;

/** The rule in words, for help texts. */
export const PASSWORD_RULE = `at least ${PASSWORD_MIN_CHARACTERS} characters, at most ${PASSWORD_MAX_BYTES} bytes`;

/** What is wrong with a password, in words for whoever chose it; undefined when it is fine. */
export function passwordProblem(password: string): string | undefined {
  if ([...password].length < PASSWORD_MIN_CHARACTERS) return `must be at least ${PASSWORD_MIN_CHARACTERS} characters`;
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) {
    return `must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8 (bcrypt ignores the rest; accented and non-Latin characters take 2-4 bytes each)`;
  }
  return undefined;
}

/** The rule as a schema for request bodies and configuration. */
export const passwordSchema = z.string().superRefine((value, check) => {
  const problem = passwordProblem(value);
  if (problem) check.addIssue({ code: 'custom', message: problem });
});
