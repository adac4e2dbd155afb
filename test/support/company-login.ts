// A company user's token, from the login route, for tests that act as that user.
import { expect } from 'vitest';
import type { TestSilo } from './test-silo.ts';

export async function companyToken(t: TestSilo, email: string, password: string, company: string): Promise<string> {
  const res = await t.call('POST', '/api/auth/login', { token: null, body: { email, password, company } });
  expect(res.status).toBe(200);
  return res.body.token;
}
