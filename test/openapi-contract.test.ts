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
import { openApiDocument, type Operation } from './support/openapi-document.ts';
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
      // Redocly exits 1 when it finds errors: its report is on stdout either way.
      const stdout = await promisify(execFile)('node_modules/.bin/redocly', ['lint', file, '--extends=recommended', '--format=json'], {
        // Redocly's documented opt-outs: no usage data sent, no update check.
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      }).then(
        (done) => done.stdout,
        (failed: { stdout?: string }) => failed.stdout ?? '',
      );
      const report = JSON.parse(stdout) as { totals: { errors: number }; problems: { ruleId: string; location: { pointer: string }[] }[] };
      const found = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`);
      expect(report.totals.errors, found.join('\n')).toBe(0);
      // The warnings left are deliberate: /, /health and /ready have no 4xx to declare, and Silo has
      // no licence URL or SPDX identifier (package.json: private, no licence).
      expect(found.sort()).toEqual([
        'info-license-strict #/info/license',
        'operation-4xx-response #/paths/~1/get/responses',
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

describe('every operation answers as the document says', () => {
  const ok = new Set<string>();
  const failed = new Set<string>();
  let byId: Map<string, Operation>;
  let problems: ReturnType<typeof openApiDocument>['problems'];
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  /**
   * Calls an operation by its operationId, asserts the status and that the answer matches the
   * document (status declared, body valid against its schema), and returns the body.
   */
  async function call(
    operationId: string,
    expected: number,
    options: {
      params?: Record<string, string>;
      query?: string;
      body?: unknown;
      token?: string | null;
      headers?: Record<string, string>;
    } = {},
  ) {
    const op = byId.get(operationId);
    if (!op) throw new Error(`no operation ${operationId}`);
    const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(options.params?.[name] ?? ''));
    const res = await t.call(op.method, `${path}${options.query ? `?${options.query}` : ''}`, {
      token: options.token === undefined ? t.adminToken : options.token,
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(options.headers ? { headers: options.headers } : {}),
    });
    expect(res.status, `${operationId}: ${res.text.slice(0, 300)}`).toBe(expected);
    expect(problems(op, res), operationId).toEqual([]);
    (expected < 400 ? ok : failed).add(operationId);
    return res.body;
  }

  beforeAll(async () => {
    const doc = openApiDocument((await t.call('GET', '/openapi.json', { token: null })).body);
    problems = doc.problems;
    byId = new Map(doc.operations.map((op) => [op.operationId, op]));
    for (const slug of ['contract-a', 'contract-b']) {
      const admin = { email: `admin@${slug}.test`, password: 'admin-password' };
      ids[slug] = (await call('createCompany', 201, { body: { name: slug, slug, admin } })).id;
      tokens[slug] = (await call('login', 200, { token: null, body: { ...admin, company: slug } })).token;
    }
  });

  it('operations and the system admin plane', async () => {
    await call('getIndex', 200, { token: null });
    await call('getHealth', 200, { token: null });
    await call('getReady', 200, { token: null });
    await call('login', 200, { token: null, body: ADMIN });
    await call('login', 401, { token: null, body: { ...ADMIN, password: 'wrong-password' } });
    await call('login', 400, { token: null, body: { email: '' } });
    await call('login', 415, { token: null, body: JSON.stringify(ADMIN), headers: { 'content-type': 'text/plain' } });
    await call('login', 413, { token: null, body: { ...ADMIN, pad: 'x'.repeat(5000) } });
    const form = (fields: Record<string, string>) => ({
      token: null,
      body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await call('issueToken', 200, form({ grant_type: 'password', username: ADMIN.email, password: ADMIN.password }));
    await call('issueToken', 400, form({ grant_type: 'client_credentials' }));
    await call('issueToken', 415, { token: null, body: { grant_type: 'password' } });
    await call('getMe', 200);
    await call('getMe', 200, { token: tokens['contract-a']! });
    await call('getMe', 401, { token: null });
    await call('getSystemStatus', 200);
    await call('getSystemStatus', 403, { token: tokens['contract-a']! });

    await call('createCompany', 409, { body: { name: 'again', slug: 'contract-a', admin: { email: 'x@y.test' } } });
    await call('createCompany', 400, { body: { name: '', slug: 'Bad Slug' } });
    await call('listCompanies', 200, { query: 'limit=1' });
    await call('listCompanies', 400, { query: 'limit=0' });
    const a = { params: { company: 'contract-a' } };
    const none = { params: { company: 'no-such-company' } };
    await call('getCompany', 200, a);
    await call('getCompany', 404, none);
    await call('getCompany', 400, { params: { company: 'x'.repeat(65) } });
    await call('updateCompany', 200, { ...a, body: { name: 'Contract A' } });
    await call('updateCompany', 400, { ...a, body: {} });
    await call('updateCompany', 404, { ...none, body: { name: 'x' } });
    await call('getCompanyStats', 200, a);
    await call('getCompanyStats', 404, none);
    await call('testCompanyDatabase', 200, a);
    await call('testCompanyDatabase', 404, none);
    await call('listCompanyLogs', 200, a);
    await call('listCompanyLogs', 400, { ...a, query: 'limit=500' });
    await call('migrateCompany', 200, a);
    await call('migrateCompany', 404, none);
    await call('rotateCompanyCredentials', 200, a);
    await call('rotateCompanyCredentials', 404, none);
    const [server] = (await call('listServers', 200)).items;
    await call('listServers', 401, { token: null });
    await call('moveCompany', 409, { ...a, body: { serverId: server.id } });
    await call('moveCompany', 400, { ...a, body: { serverId: 'not-a-uuid' } });
    await call('createServer', 400, { body: { name: 'x', url: 'mysql://a@b/c' } });
    await call('updateServer', 200, { params: { id: server.id }, body: { capacity: server.capacity } });
    await call('updateServer', 404, { params: { id: '00000000-0000-0000-0000-000000000000' }, body: { capacity: 10 } });
    const empty = await call('createServer', 201, { body: { name: 'contract-empty', provider: 'external', placement: 'manual' } });
    await call('deleteServer', 409, { params: { id: server.id } });
    await call('deleteServer', 204, { params: { id: empty.id } });
    await call('deleteServer', 404, { params: { id: empty.id } });

    const backup = await call('createBackup', 202, a);
    await call('createBackup', 404, none);
    const backupOf = (company: string) => ({ params: { company, id: backup.id } });
    for (let i = 0; i < 300 && (await call('getBackup', 200, backupOf('contract-a'))).status === 'running'; i++) {
      await new Promise((resume) => setTimeout(resume, 100));
    }
    await call('getBackup', 404, backupOf('contract-b'));
    await call('listBackups', 200, a);
    await call('listBackups', 404, none);
    await call('downloadBackupArchive', 200, backupOf('contract-a'));
    await call('downloadBackupArchive', 404, backupOf('contract-b'));
    await call('restoreCompany', 202, { ...a, body: { backupId: backup.id } });
    await call('restoreCompany', 400, { ...a, body: { backupId: 'not-a-uuid' } });
    await call('restoreCompany', 404, { ...none, body: { backupId: backup.id } });
    // The restore runs in the background: the company plane's test below needs it done.
    for (let i = 0; i < 300; i++) {
      const logs = await call('listCompanyLogs', 200, a);
      if (logs.items.some((l: { action: string }) => l.action === 'restored')) break;
      await new Promise((resume) => setTimeout(resume, 100));
    }
    const archive = await t.app.request(`/api/companies/contract-a/backups/${backup.id}/archive`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    const bytes = { headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(await archive.arrayBuffer()) };
    await call('importCompany', 201, { ...bytes, query: 'slug=contract-imported' });
    await call('importCompany', 409, { ...bytes, query: 'slug=contract-imported' });
    await call('importCompany', 400, { ...bytes, query: 'slug=Not%20A%20Slug', body: new Uint8Array([1, 2, 3]) });
    const fromBackup = { company: 'contract-a', backupId: backup.id };
    await call('createCompany', 201, { body: { name: 'From backup', slug: 'contract-copy', fromBackup } });
    await call('deleteBackup', 204, backupOf('contract-a'));
    await call('deleteBackup', 404, backupOf('contract-a'));

    const doomed = { email: 'admin@contract-c.test', password: 'admin-password' };
    await call('createCompany', 201, { body: { name: 'C', slug: 'contract-c', admin: doomed } });
    await call('deleteCompany', 409, { params: { company: 'contract-c' } });
    await call('deleteCompany', 200, { params: { company: 'contract-c' }, headers: { 'x-confirm': 'contract-c' } });
    await call('deleteCompany', 404, { ...none, headers: { 'x-confirm': 'no-such-company' } });
  });

  it('the company plane', async () => {
    const admin = { token: tokens['contract-a']! };
    const other = { token: tokens['contract-b']! };
    await call('getTenantHealth', 200, admin);
    await call('getTenantHealth', 403, { token: t.adminToken });
    await call('listTenantTables', 200, admin);
    await call('listTenantTables', 401, { token: 'not-a-token' });

    const member = { email: 'member@contract-a.test', role: 'member', password: 'member-password' };
    const user = await call('createUser', 201, { ...admin, body: member });
    await call('createUser', 409, { ...admin, body: member });
    await call('createUser', 400, { ...admin, body: { email: 'nope' } });
    const memberToken = (
      await call('login', 200, { token: null, body: { email: member.email, password: member.password, company: 'contract-a' } })
    ).token;
    await call('createUser', 403, { token: memberToken, body: { ...member, email: 'other@contract-a.test' } });
    await call('listUsers', 200, admin);
    await call('listUsers', 400, { ...admin, query: 'limit=x' });
    await call('getUser', 200, { ...admin, params: { id: user.id } });
    await call('getUser', 404, { ...other, params: { id: user.id } });
    await call('getUser', 400, { ...admin, params: { id: 'not-a-uuid' } });
    await call('updateUser', 200, { ...admin, params: { id: user.id }, body: { name: 'Member' } });
    await call('updateUser', 404, { ...other, params: { id: user.id }, body: { name: 'x' } });

    const invitation = await call('createInvitation', 201, { ...admin, body: { email: 'joiner@contract-a.test', role: 'member' } });
    await call('createInvitation', 400, { ...admin, body: { email: 'x' } });
    await call('listInvitations', 200, admin);
    await call('listInvitations', 403, { token: memberToken });
    await call('acceptInvitation', 201, { token: null, body: { token: invitation.token, password: 'joiner-password' } });
    await call('acceptInvitation', 404, { token: null, body: { token: invitation.token, password: 'joiner-password' } });
    const withdrawn = await call('createInvitation', 201, { ...admin, body: { email: 'later@contract-a.test', role: 'member' } });
    await call('deleteInvitation', 204, { ...admin, params: { id: withdrawn.id } });
    await call('deleteInvitation', 404, { ...admin, params: { id: withdrawn.id } });

    const document = await call('createDocument', 201, { ...admin, body: { title: 'Plan', content: 'the plan', tags: ['a'] } });
    await call('createDocument', 415, { ...admin, body: 'title=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    await call('listDocuments', 200, { ...admin, query: 'q=plan' });
    await call('listDocuments', 400, { ...admin, query: 'limit=-1' });
    await call('getDocument', 200, { ...admin, params: { id: document.id } });
    await call('getDocument', 404, { ...other, params: { id: document.id } });
    await call('updateDocument', 200, { ...admin, params: { id: document.id }, body: { title: 'Plan B' } });
    await call('updateDocument', 404, { ...other, params: { id: document.id }, body: { title: 'x' } });

    const session = await call('createChatSession', 201, { ...admin, body: { title: 'Chat' } });
    await call('createChatSession', 401, { token: null, body: {} });
    await call('listChatSessions', 200, admin);
    await call('listChatSessions', 400, { ...admin, query: 'limit=1000' });
    await call('createChatMessage', 201, { ...admin, params: { id: session.id }, body: { role: 'user', content: 'hello' } });
    await call('createChatMessage', 404, { ...other, params: { id: session.id }, body: { role: 'user', content: 'hello' } });
    await call('listChatMessages', 200, { ...admin, params: { id: session.id } });
    await call('listChatMessages', 404, { ...other, params: { id: session.id } });

    await call('runSql', 200, { ...admin, body: { sql: 'select $1::int as n', params: [1] } });
    await call('runSql', 400, { ...admin, body: { sql: 'delete from documents' } });
    await call('listSqlHistory', 200, admin);
    await call('listSqlHistory', 403, { token: memberToken });
    await call('getSqlSchema', 200, admin);
    await call('getSqlSchema', 403, { token: memberToken });
    const saved = await call('saveSqlQuery', 201, { ...admin, body: { question: 'How many?', sql: 'select count(*) from documents' } });
    await call('saveSqlQuery', 400, { ...admin, body: { question: '' } });
    await call('listSavedSqlQueries', 200, { ...admin, query: 'q=many' });
    await call('listSavedSqlQueries', 400, { ...admin, query: 'limit=0' });
    await call('askSql', 200, { ...admin, body: { question: 'how many', run: true } });
    await call('askSql', 404, { ...admin, body: { question: 'zebras per continent' } });
    await call('askSql', 400, { ...admin, body: {} });
    await call('deleteSavedSqlQuery', 204, { ...admin, params: { id: saved.id } });
    await call('deleteSavedSqlQuery', 404, { ...admin, params: { id: saved.id } });

    const shared = { key: 'contract-shared', title: 'Shared', content: 'shared text', tags: ['s'] };
    await call('createSharedTemplate', 201, { body: shared });
    await call('createSharedTemplate', 409, { body: shared });
    await call('listSharedTemplates', 200, { query: 'limit=1' });
    await call('listSharedTemplates', 400, { query: 'cursor=not-a-cursor' });
    await call('updateSharedTemplate', 200, { params: { key: shared.key }, body: { title: 'Shared too' } });
    await call('updateSharedTemplate', 404, { params: { key: 'no-such-template' }, body: { title: 'x' } });
    await call('putTemplate', 201, { ...admin, params: { key: shared.key }, body: { title: 'Own', content: 'own text' } });
    await call('putTemplate', 200, { ...admin, params: { key: shared.key }, body: { title: 'Own', content: 'own text 2' } });
    await call('putTemplate', 400, { ...admin, params: { key: 'Not A Key' }, body: { title: 'x', content: 'y' } });
    await call('listTemplates', 200, other);
    await call('listTemplates', 400, { ...admin, query: 'limit=0' });
    await call('createDocument', 201, { ...other, body: { fromTemplate: shared.key } });
    await call('createDocument', 404, { ...other, body: { fromTemplate: 'no-such-template' } });
    await call('deleteTemplate', 204, { ...admin, params: { key: shared.key } });
    await call('deleteTemplate', 404, { ...admin, params: { key: shared.key } });
    await call('deleteSharedTemplate', 204, { params: { key: shared.key } });
    await call('deleteSharedTemplate', 404, { params: { key: shared.key } });

    await call('fleetQuery', 200, { body: { sql: 'select count(*)::int as n from documents', only: ['contract-a', 'contract-b'] } });
    await call('fleetQuery', 400, { body: { sql: 'select 1', only: ['no-such-company'] } });

    const fileParams = (fileId: string) => ({ params: { id: document.id, fileId } });
    const octets = { 'content-type': 'application/octet-stream' };
    const file = await call('uploadDocumentFile', 201, {
      ...admin,
      ...fileParams(''),
      query: 'name=a.txt',
      body: 'hello',
      headers: octets,
    });
    await call('uploadDocumentFile', 400, { ...admin, ...fileParams(''), query: 'name=', body: 'hello', headers: octets });
    await call('uploadDocumentFile', 404, { ...other, ...fileParams(''), query: 'name=a.txt', body: 'hello', headers: octets });
    await call('listDocumentFiles', 200, { ...admin, ...fileParams('') });
    await call('listDocumentFiles', 404, { ...other, ...fileParams('') });
    await call('downloadDocumentFile', 200, { ...admin, ...fileParams(file.id) });
    await call('downloadDocumentFile', 206, { ...admin, ...fileParams(file.id), headers: { range: 'bytes=0-1' } });
    await call('downloadDocumentFile', 304, { ...admin, ...fileParams(file.id), headers: { 'if-none-match': `"${file.sha256}"` } });
    await call('downloadDocumentFile', 416, { ...admin, ...fileParams(file.id), headers: { range: 'bytes=9-' } });
    await call('downloadDocumentFile', 404, { ...other, ...fileParams(file.id) });
    await call('deleteDocumentFile', 204, { ...admin, ...fileParams(file.id) });
    await call('deleteDocumentFile', 404, { ...admin, ...fileParams(file.id) });
    await call('deleteDocument', 204, { ...admin, params: { id: document.id } });
    await call('deleteDocument', 404, { ...admin, params: { id: document.id } });
    await call('deleteUser', 204, { ...admin, params: { id: user.id } });
    await call('deleteUser', 404, { ...admin, params: { id: user.id } });
    // Last: logging out ends every token of the caller.
    await call('logout', 401, { token: null });
    await call('logout', 204, other);
  });

  it('covered a success and an error of every operation that declares one', () => {
    const missing = [...byId.values()].flatMap((op) => {
      const declares = Object.keys(op.spec.responses);
      const gaps: string[] = [];
      // A move that succeeds needs a second database server: test/move.test.ts covers it.
      if (!ok.has(op.operationId) && op.operationId !== 'moveCompany' && op.operationId !== 'createServer')
        gaps.push(`${op.operationId} success`);
      if (declares.some((s) => s.startsWith('4')) && !failed.has(op.operationId)) gaps.push(`${op.operationId} error`);
      return gaps;
    });
    expect(missing).toEqual([]);
  });
});
