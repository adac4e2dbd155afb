// Try the Neon provider by hand without Neon: starts the local Neon API stand-in and the
// WebSocket-to-TCP proxy the tests use (test/support/), backed by a PostgreSQL you name, and prints
// what to give Silo. Projects are databases and roles on that PostgreSQL; Ctrl-C drops them.
//
//   npm run neon:stand-in                      uses the embedded PostgreSQL of a running `npm start` (./.silo)
//   STAND_IN_DATABASE_URL=postgres://… npm run neon:stand-in     or a superuser login of your own
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNeonStandIn } from '../test/support/neon-stand-in.ts';
import { startWsProxy } from '../test/support/ws-proxy.ts';

function adminUrl(): string {
  if (process.env.STAND_IN_DATABASE_URL) return process.env.STAND_IN_DATABASE_URL;
  const file = join(process.env.SILO_DATA_DIR ?? '.silo', 'embedded.json');
  try {
    const { port, user, password } = JSON.parse(readFileSync(file, 'utf8')) as { port: number; user: string; password: string };
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  } catch {
    console.error(`no ${file}: run \`npm start\` first (it starts the embedded PostgreSQL), or set STAND_IN_DATABASE_URL`);
    process.exit(2);
  }
}

const neon = await startNeonStandIn({ adminUrl: adminUrl() });
const proxy = await startWsProxy();
console.log(`Neon API stand-in: ${neon.apiUrl}
WebSocket proxy:   ${proxy.wsProxy}

1. Restart Silo with the proxy, so that its serverless driver reaches the local PostgreSQL:
     SILO_NEON_WS_PROXY=${proxy.wsProxy} npm start
2. Register the stand-in as a neon server (an organization key of this stand-in's, made up now; its
   personal key, ${neon.personalKey}, works too: the stand-in has one organization):
     curl -s localhost:3000/api/servers -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
       -d '{"name":"neon","provider":"neon","url":"${neon.apiUrl}","apiKey":"${neon.apiKey}"}'
3. Create companies with that server's id as serverId.

Ctrl-C stops both and drops every project's database and role.`);

const stop = async () => {
  await neon.close();
  await proxy.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
