// A local stand-in for the Neon API v2 endpoints Silo uses, so Silo's Neon provider can be tested
// with the real @neondatabase/api-client and no access to Neon.
//
// What a Neon "project" is here: one login role and one database on a real local PostgreSQL (the
// superuser `adminUrl`), reached through a compute endpoint of its own (test/support/neon-computes.ts:
// TLS with SNI, scale to zero, cold starts), directly or through test/support/ws-proxy.ts.
// Everything a client can observe follows Neon's published API (paths, bodies typed against
// api.gen.ts, status codes, `{ code, message }` errors), including what makes Neon awkward to
// program against; each is cited where it is modelled:
//   - project creation is asynchronous: the 201 carries operations that go `scheduling`, then
//     `running`, then `finished`; the role and database only exist once they have finished;
//   - a failed operation is retried by Neon: `failed` is not final (Neon's docs on operations,
//     neon.com/docs/manage/operations; the spec's Operation has `failures_count` and `retry_at`),
//     while `error` and `cancelled` are; failOperations() makes the next projects' do either;
//   - a write to a project with an operation under way answers 423 Locked ("safe to retry": the
//     spec's GeneralError response);
//   - keys, organisations, plan project limits, regions and rate limits (test/support/neon-accounts.ts);
//   - listing with `timeout` may answer partially, naming the rest in `unavailable_project_ids`
//     (the spec's TimeoutParam and ProjectsResponse); partialListings() makes the next ones do so;
//   - deletion is soft: "Deleted projects can be recovered within 7 days" (the spec's deleteProject);
//     they are listed only with `recoverable=true`, with `deleted_at` and `recoverable_until`;
//   - connection URIs end in `?sslmode=require&channel_binding=require` when `tls` is on (Neon's
//     connection strings do; neon.com/docs/connect/connect-securely);
//   - failNext() injects 429 (no Retry-After unless asked), 423 or 5xx answers.
//
// Deviations, forced by "many projects on one local server", each invisible to a client that only
// uses what the API returns:
//   - Names: on Neon every project has its own Postgres, so two projects may both have `neondb`.
//     Here a taken name gets a unique one (`neon_<project id>_<name>`, at most 63 bytes), and THAT
//     name is what the API returns.
//   - Hosts are `127.0.0.1:<port>` (`localhost:<port>` with tls, the certificate's name), not
//     `ep-....aws.neon.tech:5432`; without `tls` URIs carry no query string (no TLS to require).
//   - The role only has LOGIN and owns its database (Neon's is also in neon_superuser); CONNECT is
//     revoked from PUBLIC so that one project's role cannot reach another's database.
//   - `pg_version` is echoed as requested; the databases run on whatever the local server is.
//   - A deleted project's database and role are dropped at once (there is no recover endpoint).
//   - Error `code` strings other than PROJECTS_LIMIT_EXCEEDED are this stand-in's own: the spec
//     documents `code` as a free-form string.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { serve } from '@hono/node-server';
import type { Operation } from '@neondatabase/api-client';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import postgres from 'postgres';
import { Compute } from './neon-computes.ts';
import { Keys, type Principal, RateLimiter, type StandInOrganization } from './neon-accounts.ts';
import { standInRoutes } from './neon-stand-in-routes.ts';
import { newProjectId, newProjectRecords, quoteIdent, type SimProject, sleep, timestamp, truncateBytes } from './neon-stand-in-records.ts';
import { makeLocalhostCertificates } from './test-certificates.ts';

export interface NeonStandIn {
  /** Base URL to give to createApiClient({ baseURL }), e.g. http://127.0.0.1:PORT/api/v2 */
  apiUrl: string;
  /** An organisation key of the first organisation. */
  apiKey: string;
  /** A personal key of a user who belongs to every organisation. */
  personalKey: string;
  /** A key scoped to one project. */
  projectKey(projectId: string): string;
  organizations: StandInOrganization[];
  /** Live (not deleted) projects, with the database and role that back them. */
  projects(): { id: string; name: string; databaseName: string; roleName: string; orgId: string }[];
  /** A project's compute endpoint (to suspend it, count its cold starts, read the SNI it saw). */
  compute(projectId: string): Compute;
  /** PEM file of the CA that signed the computes' certificate (with `tls`). */
  caFile: string | undefined;
  /** Every request received: method, path, status answered (for assertions on retries and waits). */
  requests: { method: string; path: string; status: number }[];
  /** The next `count` requests answer `status` before doing anything (429 without Retry-After unless set). */
  failNext(count: number, status: 423 | 429 | 500 | 503): void;
  /** The next `count` projects' operations go `failed` and are retried to `finished`, or end in `error`. */
  failOperations(count: number, outcome: 'retried' | 'error'): void;
  /** The next `count` listings name every matching project in `unavailable_project_ids` instead. */
  partialListings(count: number): void;
  /**
   * Until the returned function is called, operations that reach the end of their time stay
   * `running` (nothing is created on the server): so that a test can look at an operation under
   * way however slow the machine is.
   */
  holdOperations(): () => void;
  close(): Promise<void>; // stops the servers and drops every database/role it created
}

export interface StandInOptions {
  adminUrl: string; // superuser URL of the local PostgreSQL that plays Neon's computes
  apiKey?: string; // the first organisation's key; default: a random one
  /** How long operations take: a third `scheduling`, the rest `running` (default ~150 ms). */
  operationMs?: number;
  /** Retry-After (seconds) sent with 429s; default none, as Neon's docs promise none. */
  retryAfterSeconds?: number | null;
  organizations?: StandInOrganization[];
  /** Neon's: 700 a minute per account, 40 a second per route; null turns it off. */
  rateLimit?: { perMinute: number; perSecondPerRoute: number } | null;
  /** TLS on the computes, and `sslmode=require&channel_binding=require` in URIs. */
  tls?: boolean;
  /** Idle time before a compute suspends (Neon's default: 5 minutes). */
  suspendAfterMs?: number;
  /** How long a suspended compute takes to start on the next connection (default 0). */
  coldStartMs?: number;
}

export interface StandInState {
  organizations: StandInOrganization[];
  keys: Keys;
  projects: Map<string, SimProject>;
  computes: Map<string, Compute>;
  limiter: RateLimiter | undefined;
  retryAfter: number | null;
  injected: (423 | 429 | 500 | 503)[];
  operationFailures: ('retried' | 'error')[];
  partial: { count: number };
  /** The query string of connection URIs. */
  uriQuery: string;
  fail(c: Context, status: ContentfulStatusCode, code: string, message: string): Response;
  createProject(spec: NewProjectSpec): Promise<SimProject>;
  removeProject(p: SimProject): Promise<void>;
}

export interface NewProjectSpec {
  name?: string | undefined;
  regionId: string;
  orgId: string;
  pgVersion?: number | undefined;
  branchName?: string | undefined;
  databaseName: string;
  roleName: string;
  storePasswords?: boolean | undefined;
  historyRetentionSeconds?: number | undefined;
}

type OperationStatus = Operation['status'];

export async function startNeonStandIn(options: StandInOptions): Promise<NeonStandIn> {
  const operationMs = options.operationMs ?? 150;
  const admin = postgres(options.adminUrl, { max: 2, onnotice: () => {} });
  const local = new URL(options.adminUrl);
  const pg = { host: local.hostname || '127.0.0.1', port: Number(local.port || 5432) };
  const certDir = options.tls ? mkdtempSync(join(tmpdir(), 'neon-stand-in-')) : undefined;
  const certs = certDir ? makeLocalhostCertificates(certDir) : undefined;
  const secureContext = certs ? createSecureContext({ cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) }) : undefined;

  const organizations = options.organizations ?? [{ id: 'org-silent-sun-12345678', name: 'Silo tests', plan: 'free' }];
  const keys = new Keys();
  const apiKey = keys.add({ kind: 'organization', orgId: organizations[0]!.id }, options.apiKey);
  const personalKey = keys.add({ kind: 'personal', orgIds: organizations.map((o) => o.id) });
  const requests: NeonStandIn['requests'] = [];
  const pendingWork = new Set<Promise<void>>();
  const created = { databases: new Set<string>(), roles: new Set<string>() }; // exist on the server now
  let closed = false;
  /** Awaited before an operation finishes; replaced by holdOperations(), released by close() too. */
  let hold: Promise<void> = Promise.resolve();
  let releaseHold = () => {};

  const passwords = () => [...state.projects.values()].map((p) => p.role.password);
  /** Error texts never carry a password or an API key, whatever a lower layer put in them. */
  const redact = (text: string): string => {
    let out = text;
    for (const secret of [...keys.all(), ...passwords()]) if (secret) out = out.split(secret).join('[redacted]');
    return out;
  };

  /** What Neon's create_timeline + start_compute amount to here: the role and database appear. */
  async function materialize(p: SimProject): Promise<void> {
    const role = quoteIdent(p.role.name);
    const database = quoteIdent(p.database.name);
    // CREATE ROLE takes no bind parameters; the password is [A-Za-z0-9_] only (see newPassword).
    await admin.unsafe(`create role ${role} login password '${p.role.password}'`);
    created.roles.add(p.role.name);
    await admin.unsafe(`create database ${database} owner ${role}`);
    created.databases.add(p.database.name);
    await admin.unsafe(`revoke connect on database ${database} from public`);
  }

  async function dropFromServer(databaseName: string, roleName: string): Promise<void> {
    if (created.databases.has(databaseName)) {
      await admin.unsafe(`drop database if exists ${quoteIdent(databaseName)} with (force)`);
      created.databases.delete(databaseName);
    }
    if (created.roles.has(roleName)) {
      await admin.unsafe(`drop role if exists ${quoteIdent(roleName)}`);
      created.roles.delete(roleName);
    }
  }

  function setOperations(p: SimProject, status: `${OperationStatus}`, extra: Partial<Operation> = {}, startedAt = Date.now()): void {
    const at = timestamp();
    for (const op of p.operations)
      Object.assign(op, { status: status as OperationStatus, updated_at: at, total_duration_ms: Date.now() - startedAt, ...extra });
  }

  /** scheduling -> running -> (failed -> running ->) finished, or -> error. */
  function runOperations(p: SimProject, failure: 'retried' | 'error' | undefined): void {
    const startedAt = Date.now();
    const work = (async () => {
      await sleep(operationMs / 3);
      setOperations(p, 'running', {}, startedAt);
      await sleep(operationMs - operationMs / 3);
      if (failure) {
        // `failed` lasts as long as the operation had run, so that a poller surely sees it.
        const retryAt = timestamp(new Date(Date.now() + operationMs));
        const error = 'compute failed to start: injected by the stand-in';
        setOperations(p, failure === 'error' ? 'error' : 'failed', { error, failures_count: 1, retry_at: retryAt }, startedAt);
        if (failure === 'error') return;
        await sleep(operationMs);
        setOperations(p, 'running', {}, startedAt);
        await sleep(operationMs / 2);
      }
      await hold;
      let error: string | undefined;
      try {
        await materialize(p);
      } catch (e) {
        error = redact(e instanceof Error ? e.message : String(e));
      }
      if (error) {
        setOperations(p, 'error', { error, failures_count: p.operations[0]!.failures_count + 1 }, startedAt);
        return;
      }
      setOperations(p, 'finished', {}, startedAt);
      const at = timestamp();
      Object.assign(p.branch, { current_state: 'ready', state_changed_at: at });
      delete p.branch.pending_state;
      Object.assign(p.endpoint, { current_state: 'active', started_at: at, updated_at: at });
      delete p.endpoint.pending_state;
    })();
    pendingWork.add(work);
    void work.finally(() => pendingWork.delete(work));
  }

  const state: StandInState = {
    organizations,
    keys,
    projects: new Map(), // insertion order = creation order, for listing
    computes: new Map(),
    limiter: options.rateLimit === null ? undefined : new RateLimiter(options.rateLimit ?? { perMinute: 700, perSecondPerRoute: 40 }),
    retryAfter: options.retryAfterSeconds ?? null,
    injected: [],
    operationFailures: [],
    partial: { count: 0 },
    uriQuery: options.tls ? '?sslmode=require&channel_binding=require' : '',
    fail: (c, status, code, message) => c.json({ code, message: redact(message) }, status),
    async createProject(spec) {
      let id = newProjectId();
      while (state.projects.has(id)) id = newProjectId();
      const databaseName = await physicalName('database', spec.databaseName, id);
      const roleName = await physicalName('role', spec.roleName, id);
      const compute = await Compute.start({
        pgHost: pg.host,
        pgPort: pg.port,
        host: options.tls ? 'localhost' : '127.0.0.1',
        tls: secureContext,
        suspendAfterMs: options.suspendAfterMs ?? 300_000,
        coldStartMs: options.coldStartMs ?? 0,
        terminateSessions: async () => {
          await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${databaseName}`;
        },
      });
      state.computes.set(id, compute);
      const p = newProjectRecords({ ...spec, id, databaseName, roleName, databaseId: nextDatabaseId++, host: compute.address });
      state.projects.set(id, p);
      runOperations(p, state.operationFailures.shift());
      return p;
    },
    async removeProject(p) {
      p.deleted = true; // before the drop, so a concurrent DELETE gets 404 rather than a second drop
      const at = new Date();
      p.deletedAt = timestamp(at);
      p.recoverableUntil = timestamp(new Date(at.getTime() + 7 * 24 * 3600_000));
      p.project.updated_at = timestamp(at);
      await state.computes.get(p.project.id)?.close();
      await dropFromServer(p.database.name, p.role.name);
      reserved.database.delete(p.database.name);
      reserved.role.delete(p.role.name);
    },
  };

  const reserved = { database: new Set<string>(), role: new Set<string>() }; // handed out, not yet dropped
  let nextDatabaseId = 100_000 + Math.floor(Math.random() * 800_000);
  /** The requested name when the shared server still has it free, else a per-project one. */
  async function physicalName(kind: 'database' | 'role', requested: string, projectId: string): Promise<string> {
    const rows =
      kind === 'database'
        ? await admin`select 1 from pg_database where datname = ${requested}`
        : await admin`select 1 from pg_roles where rolname = ${requested}`;
    // Checked and reserved without an await in between, so two concurrent creates asking for the
    // same free name cannot both get it.
    const taken = rows.length > 0 || reserved[kind].has(requested);
    const name = taken ? truncateBytes(`neon_${projectId.replaceAll('-', '_')}_${requested}`, 63) : requested;
    reserved[kind].add(name);
    return name;
  }

  const app = standInRoutes(state, requests);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/v2`,
    apiKey,
    personalKey,
    projectKey: (projectId) => {
      const p = state.projects.get(projectId);
      if (!p) throw new Error(`no project ${projectId}`);
      return keys.add({ kind: 'project', orgId: p.project.org_id!, projectId } satisfies Principal);
    },
    organizations,
    requests,
    caFile: certs?.caFile,
    projects: () =>
      [...state.projects.values()]
        .filter((p) => !p.deleted)
        .map((p) => ({
          id: p.project.id,
          name: p.project.name,
          databaseName: p.database.name,
          roleName: p.role.name,
          orgId: p.project.org_id!,
        })),
    compute(projectId) {
      const compute = state.computes.get(projectId);
      if (!compute) throw new Error(`no compute for ${projectId}`);
      return compute;
    },
    failNext(count, status) {
      for (let i = 0; i < count; i++) state.injected.push(status);
    },
    failOperations(count, outcome) {
      for (let i = 0; i < count; i++) state.operationFailures.push(outcome);
    },
    partialListings(count) {
      state.partial.count += count;
    },
    holdOperations() {
      hold = new Promise<void>((resolve) => {
        releaseHold = resolve;
      });
      return () => releaseHold();
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Operations still running finish their work first, so nothing is created after the sweep.
      releaseHold();
      await Promise.allSettled([...pendingWork]);
      for (const compute of state.computes.values()) await compute.close();
      for (const p of state.projects.values()) if (!p.deleted) await dropFromServer(p.database.name, p.role.name);
      await admin.end();
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    },
  };
}
