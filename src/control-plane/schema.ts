// The management database: every company, where its database lives, the operators, and the audit
// trail of operations on tenant databases. `npm run db:generate:management` writes its migrations.
import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const serverStatuses = ['active', 'draining', 'disabled'] as const;
// postgres: a server Silo administers (creates databases and roles). neon: the Neon API, one Neon
// project per company. external: databases someone else created, registered by connection string.
export const providers = ['postgres', 'neon', 'external'] as const;
export const serverPlacements = ['automatic', 'manual'] as const;
// archived: its database dropped after a verified backup, its row and slug kept (docs/backups.md).
export const companyStatuses = ['provisioning', 'active', 'suspended', 'failed', 'deleted', 'archived'] as const;
export type ServerStatus = (typeof serverStatuses)[number];
export type CompanyStatus = (typeof companyStatuses)[number];
export type Provider = (typeof providers)[number];

// Millisecond precision: JavaScript dates carry no more, and keyset cursors compare these exactly.
const createdAt = () => timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow();

export const databaseServers = pgTable('database_servers', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  provider: text('provider', { enum: providers }).notNull().default('postgres'),
  // AES-256-GCM encrypted with SILO_MASTER_KEY. postgres: the admin connection string. neon: the
  // Neon API's base URL. external: none (each company brings its own connection string).
  urlEncrypted: text('url_encrypted'),
  // neon: the Neon API key, encrypted like the URL.
  apiKeyEncrypted: text('api_key_encrypted'),
  // neon: what new projects are created with (region, Postgres version, organization); never secret.
  settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
  // host:port (postgres) or the API's host (neon), safe to show.
  host: text('host').notNull(),
  capacity: integer('capacity').notNull().default(500),
  status: text('status', { enum: serverStatuses }).notNull().default('active'),
  // automatic: ordinary sign-ups may be placed here. manual: only companies that name this server.
  placement: text('placement', { enum: serverPlacements }).notNull().default('automatic'),
  // The tenant schema version the server's template database is on (null: no template yet).
  templateVersion: text('template_version'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const companies = pgTable(
  'companies',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    status: text('status', { enum: companyStatuses }).notNull().default('provisioning'),
    maxUsers: integer('max_users'),
    // The most bytes of document files the company may store (docs/files.md); null: no limit.
    maxStorageBytes: bigint('max_storage_bytes', { mode: 'number' }),
    features: jsonb('features').$type<Record<string, unknown>>().notNull().default({}),
    serverId: uuid('server_id').references(() => databaseServers.id),
    // How the database is reached and looked after: the provider of its server when it was placed.
    provider: text('provider', { enum: providers }).notNull().default('postgres'),
    databaseName: text('database_name'),
    roleName: text('role_name'),
    // The tenant role's password, AES-256-GCM encrypted with SILO_MASTER_KEY.
    credentialsEncrypted: text('credentials_encrypted'),
    // neon and external: the whole connection string (the host is the company's own), encrypted
    // like the password. postgres companies are reached through their server's URL instead.
    databaseUrlEncrypted: text('database_url_encrypted'),
    // neon: the Neon project that holds the company's database (deleted with the company).
    providerRef: text('provider_ref'),
    schemaVersion: text('schema_version'),
    // Set when the last attempt to migrate this company failed; cleared when one succeeds.
    migrationError: text('migration_error'),
    migratedAt: timestamp('migrated_at', { withTimezone: true, precision: 3 }),
    lastError: text('last_error'),
    // A move to another server in progress (docs/scale-out.md): where to, and until when the mover's
    // claim holds unless renewed (a mover that died lets it lapse).
    movingTo: uuid('moving_to').references(() => databaseServers.id),
    moveLeaseUntil: timestamp('move_lease_until', { withTimezone: true, precision: 3 }),
    // While in the future, writes to the company answer 503 (its data is being copied).
    writesHeldUntil: timestamp('writes_held_until', { withTimezone: true, precision: 3 }),
    // Scheduled backups (docs/backups.md): one every `everyHours`, the newest `keep` kept.
    backupSchedule: jsonb('backup_schedule').$type<{ everyHours: number; keep: number }>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
  },
  (t) => [
    // A deleted company keeps its row for the audit trail and frees its slug.
    uniqueIndex('companies_live_slug_key').on(t.slug).where(sql`${t.status} <> 'deleted'`),
    index('companies_server_idx').on(t.serverId),
    index('companies_created_idx').on(t.createdAt, t.id),
  ],
);

export const systemUsers = pgTable(
  'system_users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    email: text('email').notNull(),
    name: text('name'),
    passwordHash: text('password_hash').notNull(),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('system_users_email_key').on(sql`lower(${t.email})`)],
);

// Token revocation (docs/security.md): tokens of `subject` (`system:<user id>` or
// `<company id>:<user id>`) issued at or before `revoked_at` no longer work. Written on logout, a
// password change and `silo admin revoke-tokens`; a row older than the token lifetime is useless.
export const tokenRevocations = pgTable('token_revocations', {
  subject: text('subject').primaryKey(),
  revokedAt: timestamp('revoked_at', { withTimezone: true, precision: 3 }).notNull(),
});

// Login attempts (docs/security.md, "Login limits"), shared by every instance: per account and per
// client address, the attempts counted in the window that ends at `window_ends`. `key` is a hash
// of what is counted (no email in the clear); rows whose window has ended are deleted. UNLOGGED (in
// its migration; drizzle does not model it): a count is worth no WAL write and no fsync per login,
// and a crash or a failover to a replica only starts every window afresh.
export const loginAttempts = pgTable('login_attempts', {
  key: text('key').primaryKey(),
  attempts: integer('attempts').notNull(),
  windowEnds: timestamp('window_ends', { withTimezone: true, precision: 3 }).notNull(),
});

// JWT signing keys (docs/security.md, "Signing keys"), added by `silo secrets rotate-jwt-key`: the
// newest signs, the others still verify until the tokens they signed have expired. The configured
// secret (SILO_JWT_SECRET or the data dir's file) is the key before the first row and is never
// stored. A key no longer needed has its sealed value wiped (null) but keeps its row, whose
// created_at tells until when the key before it is still needed.
export const jwtSigningKeys = pgTable('jwt_signing_keys', {
  id: uuid('id').primaryKey().defaultRandom(),
  // The `kid` of the tokens it signs: random, never derived from the key.
  kid: text('kid').notNull().unique(),
  // AES-256-GCM encrypted with SILO_MASTER_KEY; null once retired.
  keyEncrypted: text('key_encrypted'),
  createdAt: createdAt(),
});

export const companyDatabaseLogs = pgTable(
  'company_database_logs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    companyId: uuid('company_id')
      .notNull()
      .references(() => companies.id),
    serverId: uuid('server_id'),
    // created | migrated | suspended | resumed | deleted | provision_step | ...
    action: text('action').notNull(),
    status: text('status', { enum: ['ok', 'failed'] }).notNull(),
    // Who asked: "system_admin:<id>", "cli", "system".
    actor: text('actor').notNull(),
    durationMs: integer('duration_ms'),
    error: text('error'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [index('company_database_logs_company_idx').on(t.companyId, t.id)],
);

/** Every migration attempted on a company's database, by the fleet runner, the API or a request. */
export const companyMigrations = pgTable(
  'company_migrations',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    companyId: uuid('company_id')
      .notNull()
      .references(() => companies.id),
    // The migration's tag, e.g. "0001_add_priority".
    migration: text('migration').notNull(),
    status: text('status', { enum: ['applied', 'failed'] }).notNull(),
    durationMs: integer('duration_ms'),
    error: text('error'),
    // Groups the results of one fleet run (null for single migrations).
    runId: uuid('run_id'),
    createdAt: createdAt(),
  },
  (t) => [index('company_migrations_company_idx').on(t.companyId, t.id), index('company_migrations_run_idx').on(t.runId)],
);

/**
 * Databases and roles a move may have left on a server: the target of a move that did not finish
 * (recorded before anything is created there) and the source of one that did (until it is dropped).
 * `silo reconcile` drops those still present; `removed_at` is set once they are gone.
 */
export const databaseLeftovers = pgTable(
  'database_leftovers',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    companyId: uuid('company_id')
      .notNull()
      .references(() => companies.id),
    serverId: uuid('server_id')
      .notNull()
      .references(() => databaseServers.id),
    databaseName: text('database_name').notNull(),
    roleName: text('role_name').notNull(),
    // forced_delete: a company deleted with force while its server could not be reached.
    // restore_*: a restore's new database and the old one it replaced; both carry no role of their
    // own (the company's role owns them), so role_name repeats the database's name. archived: an
    // archived company's database and role, until they are dropped.
    reason: text('reason', {
      enum: ['move_target', 'move_source', 'forced_delete', 'restore_target', 'restore_source', 'archived'],
    }).notNull(),
    lastError: text('last_error'),
    createdAt: createdAt(),
    removedAt: timestamp('removed_at', { withTimezone: true, precision: 3 }),
  },
  (t) => [index('database_leftovers_present_idx').on(t.companyId, t.serverId).where(sql`${t.removedAt} is null`)],
);

/**
 * A company's backups (docs/backups.md): one row per backup taken, its archive in the backup
 * storage under `storage_key`. Rows of a deleted company stay (with their archives) unless the
 * delete asked to remove them.
 */
export const companyBackups = pgTable(
  'company_backups',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    companyId: uuid('company_id')
      .notNull()
      .references(() => companies.id),
    status: text('status', { enum: ['running', 'completed', 'failed'] })
      .notNull()
      .default('running'),
    // manual | scheduled | archive | import: why it was taken.
    origin: text('origin').notNull().default('manual'),
    actor: text('actor').notNull(),
    storageKey: text('storage_key').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    schemaVersion: text('schema_version'),
    // Rows per table, as the manifest says.
    tables: jsonb('tables').$type<Record<string, number>>(),
    error: text('error'),
    startedAt: timestamp('started_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true, precision: 3 }),
    // Renewed while a backup runs (waiting its turn included): a running backup whose heartbeat
    // lapsed was ended by a crash of its instance, and is marked failed (backups/stale.ts).
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [index('company_backups_company_idx').on(t.companyId, t.startedAt)],
);

/**
 * The warm pool (docs/provisioning.md, "The warm pool"): databases cloned ahead of time from a
 * server's template, each owned by a NOLOGIN role of the same name, waiting for a sign-up to claim
 * them. A row is inserted before anything is created on the server (`cloning`), so that what a
 * crashed refill leaves is always named here or by its name's pattern; it is `ready` once the
 * clone is complete, and deleted when a company claims it or it is retired.
 */
export const warmDatabases = pgTable(
  'warm_databases',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    serverId: uuid('server_id')
      .notNull()
      .references(() => databaseServers.id),
    // The database's and its owner role's name on the server.
    name: text('name').notNull().unique(),
    status: text('status', { enum: ['cloning', 'ready'] })
      .notNull()
      .default('cloning'),
    // The tenant schema version read from the clone itself; a claim takes only the latest.
    templateVersion: text('template_version'),
    createdAt: createdAt(),
  },
  (t) => [index('warm_databases_ready_idx').on(t.serverId, t.templateVersion, t.createdAt).where(sql`${t.status} = 'ready'`)],
);

/** The rows the rest of Silo passes around, named once. */
export type ServerRow = typeof databaseServers.$inferSelect;
export type CompanyRow = typeof companies.$inferSelect;
