// The one place that reads the environment: parsed once with zod, refusing to start on bad values.
import { join } from 'node:path';
import { z } from 'zod';
import { passwordSchema } from '../auth/password-rule.ts';
import { SSL_MODES, type SslMode } from '../db/tls.ts';
import { postgresUrlSchema } from '../db/postgres-url.ts';

const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((v) => v === 'true' || v === '1');

const envSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    // The address to listen on (127.0.0.1: this machine only); unset: every interface.
    HOST: z
      .string()
      .regex(/^[A-Za-z0-9.:%-]+$/, 'must be a host name or an IP address')
      .optional(),
    DATABASE_URL: postgresUrlSchema.optional(),
    SILO_DATA_DIR: z.string().min(1).default('./.silo'),
    SILO_JWT_SECRET: z.string().min(32, 'must be at least 32 bytes').optional(),
    SILO_MASTER_KEY: z
      .string()
      .refine((v) => decodeKey(v) !== null, 'must be 32 bytes as 64 hex digits or base64')
      .optional(),
    // The key being replaced, during a master key rotation only (docs/security-database.md).
    SILO_MASTER_KEY_PREVIOUS: z
      .string()
      .refine((v) => decodeKey(v) !== null, 'must be 32 bytes as 64 hex digits or base64')
      .optional(),
    SILO_ADMIN_EMAIL: z.email().optional(),
    SILO_ADMIN_PASSWORD: passwordSchema.optional(),
    SILO_MIGRATE_ON_START: booleanFlag,
    SILO_BODY_LIMIT: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    SILO_TOKEN_TTL: z.coerce.number().int().min(60).default(3600),
    // How tenant databases are cloned from the template; see docs/provisioning.md for the numbers.
    SILO_TEMPLATE_STRATEGY: z.enum(['WAL_LOG', 'FILE_COPY']).default('WAL_LOG'),
    // Databases cloned ahead of time per postgres server for instant sign-ups; 0 turns it off.
    SILO_WARM_POOL: z.coerce.number().int().min(0).max(100).default(4),
    // Create the demo companies on start (`silo demo` does the same; docs/demo.md).
    SILO_DEMO: booleanFlag,
    // Names of every database and role this installation creates start with this prefix.
    SILO_DB_PREFIX: z
      .string()
      .regex(/^[a-z][a-z0-9]{0,11}$/, 'must be 1-12 lowercase letters or digits, starting with a letter')
      .default('silo'),
    SILO_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    // The pool map (docs/pool-map.md): defaults suit one instance on a server with max_connections = 100.
    SILO_POOL_MAX_POOLS: z.coerce.number().int().min(1).default(200),
    SILO_POOL_PER_COMPANY: z.coerce.number().int().min(1).max(50).default(3),
    SILO_POOL_SERVER_BUDGET: z.coerce.number().int().min(1).default(60),
    SILO_POOL_IDLE_TIMEOUT: z.coerce.number().int().min(1).default(30),
    SILO_TENANT_CONNECT_TIMEOUT: z.coerce.number().int().min(1).max(60).default(3),
    // CONNECTION LIMIT of each tenant role Silo creates; unset: 10 x SILO_POOL_PER_COMPANY
    // (docs/security-database.md says why).
    SILO_TENANT_CONNECTION_LIMIT: z.coerce.number().int().min(1).max(10_000).optional(),
    SILO_REGISTRY_TTL_MS: z.coerce.number().int().min(0).default(5000),
    SILO_REGISTRY_STALE_MS: z.coerce.number().int().min(0).default(60_000),
    SILO_LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).default(10),
    SILO_LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).default(100),
    SILO_LOGIN_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
    SILO_TRUST_PROXY: booleanFlag,
    // How many proxies in front of Silo append to X-Forwarded-For (docs/security.md).
    SILO_TRUST_PROXY_HOPS: z.coerce.number().int().min(1).max(10).default(1),
    // Logins in progress at once (each waits for one bcrypt compare), in all and per company.
    SILO_LOGIN_MAX_CONCURRENT: z.coerce.number().int().min(1).default(32),
    SILO_LOGIN_MAX_CONCURRENT_PER_COMPANY: z.coerce.number().int().min(1).default(8),
    // GET /metrics: a system admin's token or this bearer token; SILO_METRICS_OPEN=true serves it to anyone.
    SILO_METRICS_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    SILO_METRICS_OPEN: booleanFlag,
    // Open HTTP connections at once; more are refused by the server until some close.
    SILO_HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(4096),
    // host:port/path of a WebSocket-to-TCP proxy for Neon's serverless driver (no protocol). Unset
    // for Neon itself; the tests set it to reach a local PostgreSQL (docs/scale-out.md).
    // A PEM file of CAs trusted, besides Node's built-in roots, for database URLs with
    // sslmode=verify-ca or verify-full and no sslrootcert of their own (docs/tls.md).
    SILO_DB_CA_FILE: z.string().optional(),
    // The weakest sslmode any database connection uses; a URL may ask for more (docs/tls.md).
    SILO_DB_SSLMODE: z.enum(SSL_MODES).optional(),
    // Seconds to connect to a Neon company's compute: it may be waking from scale to zero
    // (docs/providers.md), which takes longer than SILO_TENANT_CONNECT_TIMEOUT allows.
    SILO_NEON_CONNECT_TIMEOUT: z.coerce.number().int().min(1).max(120).default(15),
    // Where backup archives are written (docs/backups.md); unset: <SILO_DATA_DIR>/backups.
    SILO_BACKUP_DIR: z.string().optional(),
    // Backups running at once per database server in one instance (scheduled and asked for alike).
    SILO_BACKUP_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    // Seconds after which a running backup whose heartbeat was not renewed counts as interrupted, and
    // other instances mark it failed (docs/backups.md): longer than any pause a Silo may survive
    // (a frozen VM, a stopped process); the heartbeat is renewed every quarter of it, at most every 15 s.
    SILO_BACKUP_STALE_AFTER_SECONDS: z.coerce.number().int().min(2).max(86_400).default(120),
    // How archives are compressed: brotli (quality 0, the fastest) or gzip (level 1: a few percent
    // smaller archives, several times the CPU). Either is read whatever this says (docs/backups.md).
    SILO_BACKUP_COMPRESSION: z.enum(['brotli', 'gzip']).default('brotli'),
    // Backup archives in an S3 or S3-compatible bucket (made by you) instead of SILO_BACKUP_DIR
    // (docs/backups.md), under keys <SILO_BACKUP_S3_PREFIX><company id>/<backup id>.silo. The other
    // variables are as for document files; without keys, the AWS SDK's own chain applies.
    SILO_BACKUP_S3_BUCKET: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
      .optional(),
    SILO_BACKUP_S3_PREFIX: z
      .string()
      .regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be folder names each ending with "/" (letters, digits, ".", "_", "-"), or empty')
      .max(200)
      .default(''),
    SILO_BACKUP_S3_ENDPOINT: z.url().optional(),
    SILO_BACKUP_S3_REGION: z.string().min(1).default('us-east-1'),
    SILO_BACKUP_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    SILO_BACKUP_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    SILO_BACKUP_S3_FORCE_PATH_STYLE: booleanFlag,
    // The largest archive POST /api/companies/import takes (the body limit does not apply to it).
    SILO_IMPORT_MAX_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(10 * 1024 ** 3),
    // The read-only SQL executor (docs/querying.md): per statement, idle in its transaction, rows kept.
    SILO_SQL_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
    SILO_SQL_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
    SILO_SQL_MAX_ROWS: z.coerce.number().int().min(1).max(100_000).default(1_000),
    // An OpenAI-compatible chat-completions endpoint for POST /api/sql/ask (docs/querying.md), its
    // key (sent as a Bearer token, a secret) and model. Credentials in the URL itself are refused:
    // the URL may appear where a key must not.
    SILO_SQL_ASSISTANT_URL: z
      .url({ protocol: /^https?$/ })
      .refine((v) => !new URL(v).username && !new URL(v).password, 'must not carry credentials: put the key in SILO_SQL_ASSISTANT_KEY')
      .optional(),
    SILO_SQL_ASSISTANT_KEY: z.string().min(1).optional(),
    SILO_SQL_ASSISTANT_MODEL: z.string().min(1).max(200).optional(),
    SILO_SQL_ASSISTANT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    // Where document files are kept (docs/files.md), a folder per company; unset: <SILO_DATA_DIR>/files.
    SILO_FILES_DIR: z.string().optional(),
    // The largest file one upload may carry (the body limit does not apply to uploads).
    SILO_FILE_MAX_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 ** 3),
    // Document files in S3 or an S3-compatible store instead of the folder (docs/files.md): a bucket
    // per company named <SILO_FILES_S3_BUCKET_PREFIX>-<company id>, or one bucket
    // (SILO_FILES_S3_BUCKET) with a prefix per company. The endpoint and path style are for
    // S3-compatible stores; without keys, the AWS SDK's own chain (environment, profile, role) applies.
    SILO_FILES_S3_BUCKET_PREFIX: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,24}[a-z0-9]$/, 'must be 2-26 lowercase letters, digits or hyphens, not at either end')
      .optional(),
    SILO_FILES_S3_BUCKET: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
      .optional(),
    SILO_FILES_S3_ENDPOINT: z.url().optional(),
    SILO_FILES_S3_REGION: z.string().min(1).default('us-east-1'),
    SILO_FILES_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    SILO_FILES_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    SILO_FILES_S3_FORCE_PATH_STYLE: booleanFlag,
    SILO_NEON_WS_PROXY: z
      .string()
      .regex(/^[^\s/:]+(:\d+)?(\/\S*)?$/, 'must be host[:port][/path], without a protocol')
      .optional(),
  })
  .refine((v) => (v.SILO_ADMIN_EMAIL === undefined) === (v.SILO_ADMIN_PASSWORD === undefined), {
    message: 'SILO_ADMIN_EMAIL and SILO_ADMIN_PASSWORD must be set together',
    path: ['SILO_ADMIN_PASSWORD'],
  })
  .refine((v) => v.SILO_DB_SSLMODE === undefined || v.SILO_DB_SSLMODE === 'disable' || v.DATABASE_URL !== undefined, {
    message: 'needs DATABASE_URL: the embedded PostgreSQL has no TLS',
    path: ['SILO_DB_SSLMODE'],
  })
  .refine((v) => v.SILO_FILES_S3_BUCKET === undefined || v.SILO_FILES_S3_BUCKET_PREFIX === undefined, {
    message: 'set SILO_FILES_S3_BUCKET (one bucket) or SILO_FILES_S3_BUCKET_PREFIX (a bucket per company), not both',
    path: ['SILO_FILES_S3_BUCKET'],
  })
  .refine((v) => (v.SILO_FILES_S3_ACCESS_KEY_ID === undefined) === (v.SILO_FILES_S3_SECRET_ACCESS_KEY === undefined), {
    message: 'SILO_FILES_S3_ACCESS_KEY_ID and SILO_FILES_S3_SECRET_ACCESS_KEY must be set together',
    path: ['SILO_FILES_S3_SECRET_ACCESS_KEY'],
  })
  .refine(
    (v) =>
      (v.SILO_SQL_ASSISTANT_URL === undefined) === (v.SILO_SQL_ASSISTANT_KEY === undefined) &&
      (v.SILO_SQL_ASSISTANT_URL === undefined) === (v.SILO_SQL_ASSISTANT_MODEL === undefined),
    {
      message: 'SILO_SQL_ASSISTANT_URL, SILO_SQL_ASSISTANT_KEY and SILO_SQL_ASSISTANT_MODEL must be set together',
      path: ['SILO_SQL_ASSISTANT_URL'],
    },
  )
  .refine((v) => (v.SILO_BACKUP_S3_ACCESS_KEY_ID === undefined) === (v.SILO_BACKUP_S3_SECRET_ACCESS_KEY === undefined), {
    message: 'SILO_BACKUP_S3_ACCESS_KEY_ID and SILO_BACKUP_S3_SECRET_ACCESS_KEY must be set together',
    path: ['SILO_BACKUP_S3_SECRET_ACCESS_KEY'],
  })
  .refine((v) => v.SILO_POOL_SERVER_BUDGET >= v.SILO_POOL_PER_COMPANY, {
    message: 'must be at least SILO_POOL_PER_COMPANY, or no company could be served',
    path: ['SILO_POOL_SERVER_BUDGET'],
  });

export interface Config {
  port: number;
  /** The bind address; undefined listens on every interface. */
  host: string | undefined;
  databaseUrl: string | undefined;
  dataDir: string;
  jwtSecret: string | undefined;
  masterKey: Buffer | undefined;
  /** Still opens stored values during a master key rotation; never seals. */
  masterKeyPrevious: Buffer | undefined;
  admin: { email: string; password: string } | undefined;
  migrateOnStart: boolean;
  bodyLimitBytes: number;
  tokenTtlSeconds: number;
  templateStrategy: 'WAL_LOG' | 'FILE_COPY';
  /** Warm databases kept ready per postgres server (0: none; every sign-up clones). */
  warmPool: number;
  /** Create the demo companies on start. */
  demo: boolean;
  dbPrefix: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  pools: {
    maxPools: number;
    perCompany: number;
    serverBudget: number;
    idleTimeoutSeconds: number;
    connectTimeoutSeconds: number;
    registryTtlMs: number;
    registryStaleMs: number;
  };
  /** CONNECTION LIMIT of every tenant role on a postgres server. */
  tenantConnectionLimit: number;
  login: { maxFailures: number; maxFailuresPerAddress: number; windowSeconds: number };
  trustProxy: boolean;
  trustProxyHops: number;
  loginConcurrency: { maxConcurrent: number; maxConcurrentPerCompany: number };
  metrics: { token: string | undefined; open: boolean };
  httpMaxConnections: number;
  neonWsProxy: string | undefined;
  neonConnectTimeoutSeconds: number;
  dbCaFile: string | undefined;
  dbSslMode: SslMode | undefined;
  backups: {
    dir: string;
    concurrencyPerServer: number;
    /** A running backup whose heartbeat is older than this many seconds was interrupted (stale.ts). */
    staleAfterSeconds: number;
    importMaxBytes: number;
    compression: 'brotli' | 'gzip';
    s3: S3BackupsConfig | undefined;
  };
  /** Bounds of SQL run through the read-only executor (the SQL console, fleet queries). */
  sql: { statementTimeoutMs: number; idleInTransactionTimeoutMs: number; maxRows: number };
  /** The assistant POST /api/sql/ask asks when no saved query matches; undefined: none. The key is a secret. */
  sqlAssistant: SqlAssistantConfig | undefined;
  files: { dir: string; maxBytes: number; s3: S3FilesConfig | undefined };
}

export interface SqlAssistantConfig {
  url: string;
  key: string;
  model: string;
  timeoutMs: number;
}

/** How to reach an S3 or S3-compatible store. */
export interface S3Connection {
  endpoint: string | undefined;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  forcePathStyle: boolean;
}

export interface S3FilesConfig extends S3Connection {
  /** A bucket per company, named `<bucketPrefix>-<company id>`; or `bucket` with a prefix per company. */
  bucketPrefix: string | undefined;
  bucket: string | undefined;
}

export interface S3BackupsConfig extends S3Connection {
  bucket: string;
  /** Before every key: "" or folder names each ending with "/". */
  prefix: string;
}

/**
 * A tenant role's default CONNECTION LIMIT, per connection of its pool: room for several Silo
 * instances' pools plus the operations that connect as the role (migrations, moves, stats).
 */
const TENANT_CONNECTIONS_PER_POOL_CONNECTION = 10;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A 32-byte key from 64 hex digits or base64; null when it is neither. */
export function decodeKey(value: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    const key = Buffer.from(value, 'base64');
    if (key.length === 32) return key;
  }
  return null;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset, as they do in most shells' `VAR= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    // Name the variable and the rule, never the value: it may be a secret.
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.SILO_DATA_DIR,
    jwtSecret: e.SILO_JWT_SECRET,
    masterKey: e.SILO_MASTER_KEY === undefined ? undefined : (decodeKey(e.SILO_MASTER_KEY) ?? undefined),
    masterKeyPrevious: e.SILO_MASTER_KEY_PREVIOUS === undefined ? undefined : (decodeKey(e.SILO_MASTER_KEY_PREVIOUS) ?? undefined),
    admin: e.SILO_ADMIN_EMAIL && e.SILO_ADMIN_PASSWORD ? { email: e.SILO_ADMIN_EMAIL, password: e.SILO_ADMIN_PASSWORD } : undefined,
    migrateOnStart: e.SILO_MIGRATE_ON_START,
    bodyLimitBytes: e.SILO_BODY_LIMIT,
    tokenTtlSeconds: e.SILO_TOKEN_TTL,
    templateStrategy: e.SILO_TEMPLATE_STRATEGY,
    warmPool: e.SILO_WARM_POOL,
    demo: e.SILO_DEMO,
    dbPrefix: e.SILO_DB_PREFIX,
    logLevel: e.SILO_LOG_LEVEL,
    pools: {
      maxPools: e.SILO_POOL_MAX_POOLS,
      perCompany: e.SILO_POOL_PER_COMPANY,
      serverBudget: e.SILO_POOL_SERVER_BUDGET,
      idleTimeoutSeconds: e.SILO_POOL_IDLE_TIMEOUT,
      connectTimeoutSeconds: e.SILO_TENANT_CONNECT_TIMEOUT,
      registryTtlMs: e.SILO_REGISTRY_TTL_MS,
      registryStaleMs: e.SILO_REGISTRY_STALE_MS,
    },
    tenantConnectionLimit: e.SILO_TENANT_CONNECTION_LIMIT ?? TENANT_CONNECTIONS_PER_POOL_CONNECTION * e.SILO_POOL_PER_COMPANY,
    login: {
      maxFailures: e.SILO_LOGIN_MAX_FAILURES,
      maxFailuresPerAddress: e.SILO_LOGIN_MAX_FAILURES_PER_IP,
      windowSeconds: e.SILO_LOGIN_WINDOW_SECONDS,
    },
    trustProxy: e.SILO_TRUST_PROXY,
    trustProxyHops: e.SILO_TRUST_PROXY_HOPS,
    metrics: { token: e.SILO_METRICS_TOKEN, open: e.SILO_METRICS_OPEN },
    httpMaxConnections: e.SILO_HTTP_MAX_CONNECTIONS,
    loginConcurrency: { maxConcurrent: e.SILO_LOGIN_MAX_CONCURRENT, maxConcurrentPerCompany: e.SILO_LOGIN_MAX_CONCURRENT_PER_COMPANY },
    neonWsProxy: e.SILO_NEON_WS_PROXY,
    neonConnectTimeoutSeconds: e.SILO_NEON_CONNECT_TIMEOUT,
    dbCaFile: e.SILO_DB_CA_FILE,
    dbSslMode: e.SILO_DB_SSLMODE,
    backups: {
      dir: e.SILO_BACKUP_DIR ?? join(e.SILO_DATA_DIR, 'backups'),
      concurrencyPerServer: e.SILO_BACKUP_CONCURRENCY,
      staleAfterSeconds: e.SILO_BACKUP_STALE_AFTER_SECONDS,
      compression: e.SILO_BACKUP_COMPRESSION,
      s3: e.SILO_BACKUP_S3_BUCKET
        ? { bucket: e.SILO_BACKUP_S3_BUCKET, prefix: e.SILO_BACKUP_S3_PREFIX, ...s3Connection(e, 'SILO_BACKUP_S3') }
        : undefined,
      importMaxBytes: e.SILO_IMPORT_MAX_BYTES,
    },
    sql: {
      statementTimeoutMs: e.SILO_SQL_STATEMENT_TIMEOUT_MS,
      idleInTransactionTimeoutMs: e.SILO_SQL_IDLE_TIMEOUT_MS,
      maxRows: e.SILO_SQL_MAX_ROWS,
    },
    sqlAssistant:
      e.SILO_SQL_ASSISTANT_URL && e.SILO_SQL_ASSISTANT_KEY && e.SILO_SQL_ASSISTANT_MODEL
        ? {
            url: e.SILO_SQL_ASSISTANT_URL,
            key: e.SILO_SQL_ASSISTANT_KEY,
            model: e.SILO_SQL_ASSISTANT_MODEL,
            timeoutMs: e.SILO_SQL_ASSISTANT_TIMEOUT_MS,
          }
        : undefined,
    files: {
      dir: e.SILO_FILES_DIR ?? join(e.SILO_DATA_DIR, 'files'),
      maxBytes: e.SILO_FILE_MAX_BYTES,
      s3:
        e.SILO_FILES_S3_BUCKET || e.SILO_FILES_S3_BUCKET_PREFIX
          ? { bucketPrefix: e.SILO_FILES_S3_BUCKET_PREFIX, bucket: e.SILO_FILES_S3_BUCKET, ...s3Connection(e, 'SILO_FILES_S3') }
          : undefined,
    },
  };
}

/** The endpoint, region, keys and path style of the S3 variables named `<prefix>_*`. */
function s3Connection(e: z.infer<typeof envSchema>, prefix: 'SILO_FILES_S3' | 'SILO_BACKUP_S3'): S3Connection {
  const accessKeyId = e[`${prefix}_ACCESS_KEY_ID`];
  const secretAccessKey = e[`${prefix}_SECRET_ACCESS_KEY`];
  return {
    endpoint: e[`${prefix}_ENDPOINT`],
    region: e[`${prefix}_REGION`],
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    forcePathStyle: e[`${prefix}_FORCE_PATH_STYLE`],
  };
}
