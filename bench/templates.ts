// What the merge of shared and company templates costs a request (docs/shared-data.md), against
// what it is added to. Per request, in rounds that alternate them, over four companies:
//
//   (a) GET /api/documents?limit=50: one read of the company's database (the baseline: the same
//       route machinery, token, tenant middleware and pool map)
//   (b) GET /api/templates?limit=50: the company's own templates and the shared ones, read at
//       once and merged
//   (c) GET /api/shared/templates?limit=50: the shared database alone (a system admin's list)
//
// each run by one client after another (latency) and by 16 at once (throughput).
//
//   npm run bench:templates [-- --requests 400 --rounds 3]
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { createSharedTemplate } from '../src/control-plane/shared-templates.ts';
import { createApp } from '../src/http/app.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { formatTable, intOption, machineInfo, median, openBenchSilo, runBench, serverInfo, startBenchServer, timed } from './support.ts';

const REQUESTS = intOption('requests', 'BENCH_REQUESTS', 400);
const ROUNDS = intOption('rounds', 'BENCH_ROUNDS', 3);
const CONCURRENCY = 16;
const COMPANIES = 4;
const SHARED = 40;
const OWN = 10;

async function main() {
  const server = await startBenchServer();
  const bench = await openBenchSilo(server.url);
  try {
    const { ctx } = bench.silo;
    const app = createApp(ctx);
    const systemAdmin = await createSystemAdmin(ctx, { email: 'bench@silo.test', password: 'bench-password-1' });
    const adminToken = (await ctx.tokens.issue({ sub: systemAdmin.id, role: 'system_admin' })).token;
    const text = (n: number) => `Paragraph ${n}. `.repeat(40);
    for (let i = 0; i < SHARED; i++) {
      await createSharedTemplate(ctx.shared, `shared-${String(i).padStart(3, '0')}`, {
        title: `Shared ${i}`,
        content: text(i),
        tags: ['shared'],
      });
    }
    const tokens: string[] = [];
    for (let c = 0; c < COMPANIES; c++) {
      const slug = `bench-templates-${c}`;
      const { company, admin } = await provisionCompany(
        ctx,
        { name: slug, slug, admin: { email: `admin@${slug}.example`, password: 'bench-password-1' } },
        'bench',
      );
      const token = (await ctx.tokens.issue({ sub: admin.id, role: 'company_admin', cid: company.id })).token;
      tokens.push(token);
      const call = (method: string, path: string, body: unknown) =>
        app.request(path, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      // Half of the company's own templates override shared ones.
      for (let i = 0; i < OWN; i++) {
        const key = i % 2 === 0 ? `shared-${String(i).padStart(3, '0')}` : `own-${i}`;
        if ((await call('PUT', `/api/templates/${key}`, { title: `Own ${i}`, content: text(i) })).status !== 201)
          throw new Error('put failed');
      }
      // As many documents as a page of templates holds, of the same size.
      for (let i = 0; i < 50; i++) {
        if ((await call('POST', '/api/documents', { title: `Document ${i}`, content: text(i) })).status !== 201)
          throw new Error('post failed');
      }
    }
    const get = (path: string, token: string) => async () => {
      const res = await app.request(path, { headers: { authorization: `Bearer ${token}` } });
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      await res.arrayBuffer();
    };
    const kinds: Record<string, (i: number) => Promise<void>> = {
      '(a) GET /api/documents (company database)': (i) => get('/api/documents?limit=50', tokens[i % COMPANIES]!)(),
      '(b) GET /api/templates (merged)': (i) => get('/api/templates?limit=50', tokens[i % COMPANIES]!)(),
      '(c) GET /api/shared/templates (shared database)': () => get('/api/shared/templates?limit=50', adminToken)(),
    };
    // Warm every pool and cache once.
    for (const request of Object.values(kinds)) await timed(COMPANIES * 4, COMPANIES, request);
    const results = new Map<string, { one: number[]; many: number[] }>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, request] of Object.entries(kinds)) {
        const entry = results.get(name) ?? { one: [], many: [] };
        entry.one.push(await timed(REQUESTS, 1, request));
        entry.many.push(await timed(REQUESTS, CONCURRENCY, request));
        results.set(name, entry);
      }
    }
    const baseline = results.get('(a) GET /api/documents (company database)')!;
    console.log(
      `templates: ${REQUESTS} requests per kind and round, ${ROUNDS} rounds, ${COMPANIES} companies, ${SHARED} shared and ${OWN} own templates each; medians over the rounds`,
    );
    console.log(`${machineInfo()}; ${await serverInfo(ctx.sql)}`);
    console.log(
      formatTable(
        ['per request', 'one at a time (µs)', 'vs (a)', `${CONCURRENCY} at once (µs of wall clock)`, 'vs (a)'],
        [...results].map(([name, { one, many }]) => [
          name,
          median(one).toFixed(0),
          `${(median(one) / median(baseline.one)).toFixed(2)}x`,
          median(many).toFixed(0),
          `${(median(many) / median(baseline.many)).toFixed(2)}x`,
        ]),
      ),
    );
  } finally {
    await bench.close();
    await server.stop();
  }
}

runBench(main);
