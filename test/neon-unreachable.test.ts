// A neon server whose API is gone (the stand-in stopped): the server list and `silo reconcile`
// report it, a company on it can be deleted only with force (which records its project as left
// over), and when the API is back (at a new address, the server's URL changed to it) `silo
// reconcile --fix` deletes what was left and the server is no longer reported.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNeonStandIn, type NeonStandIn } from './support/neon-stand-in.ts';
import { cliFor } from './support/cli.ts';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';
import { startWsProxy, type WsProxy } from './support/ws-proxy.ts';

const API_KEY = 'neon-unreachable-test-key';
let t: TestSilo;
let neon: NeonStandIn | undefined;
let proxy: WsProxy;
let serverId: string;
let silo: ReturnType<typeof cliFor>;

async function findings() {
  const report = await silo('reconcile', '--json');
  return { code: report.code, findings: JSON.parse(report.stdout).findings as { kind: string; serverId: string; error?: string }[] };
}

beforeAll(async () => {
  neon = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 50, apiKey: API_KEY });
  proxy = await startWsProxy();
  t = await createTestSilo({ env: { SILO_NEON_WS_PROXY: proxy.wsProxy, SILO_LOG_LEVEL: 'warn' } });
  silo = cliFor(t);
  const added = await t.call('POST', '/api/servers', {
    token: t.adminToken,
    body: { name: 'neon', provider: 'neon', url: neon.apiUrl, apiKey: API_KEY },
  });
  expect(added.status, added.text).toBe(201);
  serverId = added.body.id;
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'Gone', slug: 'gone', serverId, admin: { email: 'boss@gone.test', password: 'correct-horse-battery' } },
  });
  expect(created.status, created.text).toBe(201);
});

afterAll(async () => {
  await t?.close();
  await neon?.close();
  await proxy?.close();
});

describe('a neon server whose API is gone', () => {
  it('is reported by the server list and by silo reconcile, which exits 1', async () => {
    expect((await findings()).findings.filter((f) => f.serverId === serverId)).toEqual([]);
    await neon!.close();
    neon = undefined;

    const listed = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find((s: { id: string }) => s.id === serverId);
    expect(listed.reachable).toBe(false);
    const report = await findings();
    expect(report.code).toBe(1);
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'unreachable_server', serverId, name: 'neon', error: expect.stringMatching(/Neon API/) }),
    ]);
    expect(JSON.stringify(report)).not.toContain(API_KEY);
    const table = await silo('reconcile');
    expect(table.stdout).toMatch(/unreachable_server\s+neon/);
  });

  it('keeps its company until a forced delete, whose project reconcile then reports as left over', async () => {
    const plain = await t.call('DELETE', '/api/companies/gone', { token: t.adminToken, headers: { 'x-confirm': 'gone' } });
    expect(plain.status).toBe(503);
    const forced = await silo('companies', 'delete', 'gone', '--confirm', 'gone', '--force', '--json');
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ status: 'deleted' });
    const kinds = (await findings()).findings.map((f) => `${f.kind} ${f.serverId}`).sort();
    expect(kinds).toEqual([`forced_delete_leftover ${serverId}`, `unreachable_server ${serverId}`]);
    // --fix cannot reach it either: both stay, and it says why.
    const fix = await silo('reconcile', '--fix', '--json');
    expect(fix.code).toBe(1);
    expect(JSON.parse(fix.stdout).findings.every((f: { fixed: boolean; error?: string }) => !f.fixed && f.error)).toBe(true);
  });

  it('once its API answers again at a new address, the leftover is fixed and nothing is reported', async () => {
    neon = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 50, apiKey: API_KEY });
    const patched = await t.call('PATCH', `/api/servers/${serverId}`, { token: t.adminToken, body: { url: neon.apiUrl } });
    expect(patched.status, patched.text).toBe(200);
    const fixed = await silo('reconcile', '--fix', '--json');
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(JSON.parse(fixed.stdout).findings).toEqual([expect.objectContaining({ kind: 'forced_delete_leftover', serverId, fixed: true })]);
    expect(await findings()).toEqual({ code: 0, findings: [] });
  });
});
