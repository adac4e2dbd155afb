// The Neon API stand-in's records (test/support/neon-stand-in.ts): a new project's project, branch,
// endpoint, role, database and operations, shaped as Neon's OpenAPI types say (api.gen.ts in
// @neondatabase/api-client), with ids, passwords and timestamps in Neon's formats.
import { createHash, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Branch, Database, Endpoint, Operation, Project, ProjectListItem, Role } from '@neondatabase/api-client';

// An operation Neon will still run or retry holds the project's lock.
export const LOCKING: readonly string[] = ['scheduling', 'running', 'cancelling', 'failed'];

export interface SimProject {
  project: Project;
  branch: Branch;
  endpoint: Endpoint;
  role: Role & { password: string };
  database: Database;
  operations: Operation[];
  deleted: boolean;
  /** Set by a delete: listed with `recoverable=true` until then. */
  recoverableUntil?: string;
  deletedAt?: string;
}

export interface NewProject {
  id: string;
  name?: string | undefined;
  regionId: string;
  pgVersion?: number | undefined;
  orgId: string;
  branchName?: string | undefined;
  databaseName: string;
  roleName: string;
  databaseId: number;
  /** The compute's host:port (every host field of the answer). */
  host: string;
  storePasswords?: boolean | undefined;
  historyRetentionSeconds?: number | undefined;
}

export function newProjectRecords(spec: NewProject): SimProject {
  const at = timestamp();
  const branchId = `br-${words()}-${suffix()}`;
  const endpointId = `ep-${words()}-${suffix()}`;
  const periodStart = new Date();
  periodStart.setUTCDate(1);
  periodStart.setUTCHours(0, 0, 0, 0);
  const periodEnd = new Date(periodStart);
  periodEnd.setUTCMonth(periodEnd.getUTCMonth() + 1);
  const { id, host } = spec;

  const project: Project = {
    data_storage_bytes_hour: 0,
    data_transfer_bytes: 0,
    written_data_bytes: 0,
    compute_time_seconds: 0,
    active_time_seconds: 0,
    cpu_used_sec: 0,
    id,
    platform_id: spec.regionId.split('-')[0]!,
    region_id: spec.regionId,
    name: spec.name ?? id,
    provisioner: 'k8s-neonvm',
    // Neon's default: scale to zero after 5 idle minutes (0 here means "the default").
    default_endpoint_settings: { autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 2, suspend_timeout_seconds: 0 },
    settings: { allowed_ips: { ips: [], protected_branches_only: false }, enable_logical_replication: false },
    pg_version: spec.pgVersion ?? 17,
    proxy_host: host,
    branch_logical_size_limit: 0,
    branch_logical_size_limit_bytes: -1,
    store_passwords: spec.storePasswords ?? true,
    creation_source: 'console',
    history_retention_seconds: spec.historyRetentionSeconds ?? 86_400,
    created_at: at,
    updated_at: at,
    consumption_period_start: timestamp(periodStart),
    consumption_period_end: timestamp(periodEnd),
    owner_id: randomUUID(),
    org_id: spec.orgId,
  };
  const branch: Branch = {
    id: branchId,
    project_id: id,
    name: spec.branchName ?? 'main',
    current_state: 'init',
    pending_state: 'ready',
    state_changed_at: at,
    creation_source: 'console',
    primary: true,
    default: true,
    protected: false,
    cpu_used_sec: 0,
    compute_time_seconds: 0,
    active_time_seconds: 0,
    written_data_bytes: 0,
    data_transfer_bytes: 0,
    created_at: at,
    updated_at: at,
  };
  const endpoint: Endpoint = {
    host,
    id: endpointId,
    project_id: id,
    branch_id: branchId,
    autoscaling_limit_min_cu: 0.25,
    autoscaling_limit_max_cu: 2,
    region_id: spec.regionId,
    type: 'read_write' as Endpoint['type'],
    current_state: 'init' as Endpoint['current_state'],
    pending_state: 'active' as Endpoint['current_state'],
    settings: {},
    pooler_enabled: false,
    pooler_mode: 'transaction' as Endpoint['pooler_mode'],
    disabled: false,
    passwordless_access: true,
    creation_source: 'console',
    created_at: at,
    updated_at: at,
    proxy_host: host,
    suspend_timeout_seconds: 0,
    provisioner: 'k8s-neonvm',
  };
  const role = { branch_id: branchId, name: spec.roleName, password: newPassword(), protected: false, created_at: at, updated_at: at };
  const database: Database = {
    id: spec.databaseId,
    branch_id: branchId,
    name: spec.databaseName,
    owner_name: spec.roleName,
    created_at: at,
    updated_at: at,
  };
  // Operations start `scheduling`, as Neon's do (OperationStatus in the spec lists it first).
  const operation = (action: string, extra: Partial<Operation>): Operation => ({
    id: randomUUID(),
    project_id: id,
    branch_id: branchId,
    action: action as Operation['action'],
    status: 'scheduling' as Operation['status'],
    failures_count: 0,
    created_at: at,
    updated_at: at,
    total_duration_ms: 0,
    ...extra,
  });
  const operations = [operation('create_timeline', {}), operation('start_compute', { endpoint_id: endpointId })];
  return { project, branch, endpoint, role, database, operations, deleted: false };
}

/** The project as GET /projects lists it. */
export function listItem({ project: p, deletedAt, recoverableUntil }: SimProject): ProjectListItem {
  return {
    id: p.id,
    platform_id: p.platform_id,
    region_id: p.region_id,
    name: p.name,
    provisioner: p.provisioner,
    default_endpoint_settings: p.default_endpoint_settings,
    settings: p.settings,
    pg_version: p.pg_version,
    proxy_host: p.proxy_host,
    branch_logical_size_limit: p.branch_logical_size_limit,
    branch_logical_size_limit_bytes: p.branch_logical_size_limit_bytes,
    store_passwords: p.store_passwords,
    active_time: 0,
    cpu_used_sec: 0,
    creation_source: p.creation_source,
    created_at: p.created_at,
    updated_at: p.updated_at,
    owner_id: p.owner_id,
    ...(p.org_id ? { org_id: p.org_id } : {}),
    history_retention_seconds: p.history_retention_seconds,
    ...(deletedAt ? { deleted_at: deletedAt, recoverable_until: recoverableUntil } : {}),
  };
}

const ADJECTIVES = ['silent', 'wispy', 'floral', 'bitter', 'spring', 'aged', 'little', 'dark', 'morning', 'winter', 'cool', 'misty'];
const NOUNS = ['sun', 'meadow', 'king', 'sound', 'smoke', 'salad', 'bread', 'boat', 'snowflake', 'river', 'frost', 'leaf', 'hill'];

export function words(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}`;
}

/** Project ids look like Neon's: `silent-sun-12345678`. */
export function newProjectId(): string {
  return `${words()}-${randomInt(10_000_000, 100_000_000)}`;
}

/** Branch and endpoint ids end in 8 lowercase letters/digits, e.g. `br-wispy-meadow-a5bx2c3d`. */
function suffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from({ length: 8 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

/** Neon-style `npg_` passwords; only [A-Za-z0-9_], so they are safe inside a SQL string literal. */
function newPassword(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `npg_${Array.from({ length: 12 }, () => alphabet[randomInt(alphabet.length)]).join('')}`;
}

/** ISO-8601 to the second, as Neon writes timestamps (`2022-11-30T20:09:48Z`). */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Cuts to at most `max` UTF-8 bytes without splitting a character. */
export function truncateBytes(text: string, max: number): string {
  let out = '';
  for (const ch of text) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
}

/** Constant-time comparison (of digests, so lengths need not match). */
export function timingSafeEqualText(a: string, b: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
