// Reading a console form or query: empty fields count as not given, and what fails its schema is
// a 400 naming the fields, like the API's validation (and shown on the page).
import type { z } from 'zod';
import { invalid } from '../../base/errors.ts';

/** The form's text fields, with empty ones left out (a browser sends every field it shows). */
export function filled(form: Record<string, string | File | (string | File)[]>): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(form)) {
    if (typeof value === 'string' && value.trim() !== '') fields[name] = value.trim();
  }
  return fields;
}

export function parseOrRefuse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalid(
    'some fields are not right',
    result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
  );
}
