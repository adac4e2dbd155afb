// The HTTP contract as a client sees it: errors raised by the framework answer their own 4xx in
// the contract's shape, and every answer of every operation matches the served /openapi.json.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HTTPException } from 'hono/http-exception';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.ts';
import { openApiDocument } from './support/openapi-document.ts';
import { ADMIN, createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_BODY_LIMIT: '4096' } });
});
afterAll(async () => {
  await t?.close();
});

/** A raw request: the body and Content-Type exactly as given. */
async function send(method: string, path: string, contentType: string | undefined, body: string) {
  const res = await t.app.request(path, { method, headers: contentType ? { 'content-type': contentType } : {}, body });
  return { status: res.status, body: await res.json() };
}

const errorShape = (code: string) => ({ error: { code, message: expect.any(String) } });

describe('errors raised by the framework answer their own status in the contract shape', () => {
  it('answers 415 to a JSON body where the route takes a form (POST /api/auth/token)', async () => {
    const res = await send('POST', '/api/auth/token', 'application/json', JSON.stringify({ grant_type: 'password' }));
    expect(res).toEqual({ status: 415, body: errorShape('unsupported_media_type') });
  });

  it('answers 415 to a text/plain body where the route takes JSON (POST /api/auth/login)', async () => {
    const res = await send('POST', '/api/auth/login', 'text/plain', JSON.stringify(ADMIN));
    expect(res).toEqual({ status: 415, body: errorShape('unsupported_media_type') });
  });

  it('answers 400 to a body that cannot be parsed as its Content-Type says', async () => {
    expect(await send('POST', '/api/auth/login', 'application/json', '{"email": ')).toEqual({
      status: 400,
      body: errorShape('validation_failed'),
    });
    const form = await send('POST', '/api/auth/token', 'multipart/form-data; boundary=x', 'not multipart at all');
    expect(form).toEqual({ status: 400, body: errorShape('validation_failed') });
  });

  it('answers 413 to a body over the limit', async () => {
    const res = await send('POST', '/api/auth/login', 'application/json', JSON.stringify({ ...ADMIN, pad: 'x'.repeat(5000) }));
    expect(res).toEqual({ status: 413, body: errorShape('payload_too_large') });
  });

  it.each([
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [409, 'conflict'],
    [413, 'payload_too_large'],
    [415, 'unsupported_media_type'],
    [418, 'validation_failed'],
    [429, 'rate_limited'],
    [500, 'internal'],
    [502, 'internal'],
    [503, 'unavailable'],
  ])('answers an HTTPException(%i) raised by a middleware with that status and code %s', async (status, code) => {
    // A fresh app with one more middleware: the app's own error handler, the framework as it is.
    const app = createApp(t.ctx);
    app.use('/api/raise', () => {
      throw new HTTPException(status as 401, { message: 'framework detail' });
    });
    const res = await app.request('/api/raise');
    const expected = status === 502 ? 500 : status;
    expect({ status: res.status, body: await res.json() }).toEqual({ status: expected, body: errorShape(code) });
  });
});

describe('the served /openapi.json', () => {
  // biome-ignore lint/suspicious/noExplicitAny: the document, read as JSON
  let doc: any;
  beforeAll(async () => {
    doc = (await t.call('GET', '/openapi.json', { token: null })).body;
  });

  it("passes Redocly's recommended ruleset with no errors (offline, no telemetry)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'silo-openapi-'));
    try {
      const file = join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(doc));
      const { stdout } = await promisify(execFile)('node_modules/.bin/redocly', ['lint', file, '--extends=recommended', '--format=json'], {
        // Redocly's documented opt-outs: no usage data sent, no update check.
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      });
      const report = JSON.parse(stdout) as { totals: { errors: number }; problems: { ruleId: string; location: { pointer: string }[] }[] };
      const found = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`);
      expect(report.totals.errors, found.join('\n')).toBe(0);
      // The warnings left are deliberate: /health and /ready have no 4xx to declare, and Silo has
      // no licence URL or SPDX identifier (package.json: private, no licence).
      expect(found.sort()).toEqual([
        'info-license-strict #/info/license',
        'operation-4xx-response #/paths/~1health/get/responses',
        'operation-4xx-response #/paths/~1ready/get/responses',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names every operation and says whether it needs a token', () => {
    const { operations } = openApiDocument(doc);
    expect(operations.length).toBeGreaterThan(30);
    for (const op of operations) {
      expect(op.operationId, `${op.method} ${op.path}`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.spec.security, `${op.method} ${op.path}`).toBeDefined();
    }
    expect(new Set(operations.map((op) => op.operationId)).size).toBe(operations.length);
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(doc.info.license).toEqual({ name: 'UNLICENSED' });
  });
});
