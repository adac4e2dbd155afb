// What sharing the login limits through the management database costs (docs/security.md, "Login
// limits"), against what it is added to. Per login attempt, in rounds that alternate them:
//
//   (a) counting in memory (src/base/auth/login-limiter.ts: the fallback during a management outage)
//   (b) counting in the management database (src/control-plane/login-attempts.ts): one transaction
//       for the count and one statement for the success, as a right password costs
//   (c) a whole successful login over HTTP (bcrypt, the user's row, a token), which includes (b)
//
// each run by one client after another (latency) and by 16 at once (throughput).
//
//   npm run bench:login-limits [-- --attempts 400 --rounds 3]
//   BENCH_DATABASE_URL=postgres://...  an existing server instead of an embedded one
import { LoginLimiter } from '../src/base/auth/login-limiter.ts';
import { SharedLoginLimiter } from '../src/control-plane/login-attempts.ts';
import { createApp } from '../src/http/app.ts';
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { formatTable, intOption, machineInfo, median, openBenchSilo, serverInfo, silentLog, startBenchServer, timed } from './support.ts';

const ATTEMPTS = intOption('attempts', 'BENCH_ATTEMPTS', 400);
const ROUNDS = intOption('rounds', 'BENCH_ROUNDS', 3);
const CONCURRENCY = 16;
const ADMIN = { email: 'bench@silo.test', password: 'bench-password-1' };

const server = await startBenchServer();
// 16 right passwords at once are 16 attempts in progress, each counted before its check.
const bench = await openBenchSilo(server.url, {
  SILO_LOGIN_MAX_CONCURRENT: '64',
  SILO_LOGIN_MAX_FAILURES: '1000',
  SILO_LOGIN_MAX_FAILURES_PER_IP: '1000',
});
try {
  const { ctx } = bench.silo;
  await createSystemAdmin(ctx, ADMIN);
  const app = createApp(ctx);
  const limits = { maxFailures: 5, maxFailuresPerAddress: 1_000_000, windowSeconds: 600 };
  const memory = new LoginLimiter(limits);
  const shared = new SharedLoginLimiter(ctx.sql, limits, silentLog);
  let run = 0;
  const kinds = {
    '(a) count in memory': async (i: number) => {
      memory.countAttempt(`bench/${run}/${i}`, '10.0.0.1');
      memory.succeeded(`bench/${run}/${i}`, '10.0.0.1');
    },
    '(b) count in the management database': async (i: number) => {
      await shared.countAttempt(`bench/${run}/${i}`, '10.0.0.1');
      await shared.succeeded(`bench/${run}/${i}`, '10.0.0.1');
    },
    '(c) a whole login over HTTP': async () => {
      const res = await app.request('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ADMIN),
      });
      if (res.status !== 200) throw new Error(`login answered ${res.status}`);
    },
  };
  const results = new Map<string, { one: number[]; many: number[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, attempt] of Object.entries(kinds)) {
      // A whole login costs a bcrypt compare: fewer of them.
      const count = name.startsWith('(c)') ? Math.max(16, Math.floor(ATTEMPTS / 8)) : ATTEMPTS;
      const entry = results.get(name) ?? { one: [], many: [] };
      run++;
      entry.one.push(await timed(count, 1, attempt));
      run++;
      entry.many.push(await timed(count, CONCURRENCY, attempt));
      results.set(name, entry);
    }
  }
  console.log(`login limits: ${ATTEMPTS} attempts per kind and round, ${ROUNDS} rounds; medians over the rounds`);
  console.log(`${machineInfo()}; ${await serverInfo(ctx.sql)}`);
  console.log(
    formatTable(
      ['per attempt', 'one at a time (µs)', `${CONCURRENCY} at once (µs of wall clock)`],
      [...results].map(([name, { one, many }]) => [name, median(one).toFixed(0), median(many).toFixed(0)]),
    ),
  );
} finally {
  await bench.close();
  await server.stop();
}
