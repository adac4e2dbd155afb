// What every service function receives: the composition root builds one (src/bootstrap.ts), the
// HTTP app, the CLI and the tests all pass it on. Nothing below reads process.env.
import type { Sql } from 'postgres';
import type { TokenService } from './base/auth/tokens.ts';
import type { Config } from './base/config/config.ts';
import type { ManagementDb } from './control-plane/db.ts';
import type { CredentialBox } from './base/crypto/credentials.ts';
import type { Logger } from './base/logger.ts';
import type { MigrationSet } from './base/db/migration-set.ts';
import type { SharedDb } from './control-plane/shared-db.ts';
import type { ServerConnections } from './control-plane/server-connections.ts';
import type { Tenants } from './data-plane/tenants.ts';

export type ProvisionStep =
  | 'placement'
  | 'files'
  | 'project'
  | 'connect'
  | 'relink_files'
  | 'claim'
  | 'role'
  | 'database'
  | 'revoke'
  | 'ownership'
  | 'migrate'
  | 'first_admin'
  | 'activate';

/** The steps of moving a company to another server (src/operations/scale-out/move-company.ts and its parts). */
export type MoveStep =
  | 'role'
  | 'database'
  | 'revoke'
  | 'ownership'
  | 'migrate'
  | 'hold'
  | 'lock'
  | 'copy'
  | 'verify'
  | 'switch'
  | 'drop_old';

export interface SiloContext {
  config: Config;
  /** Management database: drizzle for typed queries, sql for the few raw ones. */
  db: ManagementDb;
  sql: Sql;
  /** A small pool of the management database's that only holds advisory locks (src/base/db/advisory-lock.ts). */
  locks: Sql;
  /** The shared reference database (docs/shared-data.md): read by every company's API, written by system admins. */
  shared: SharedDb;
  box: CredentialBox;
  tokens: TokenService;
  servers: ServerConnections;
  /** The data plane: company registry cache and pool map. */
  tenants: Tenants;
  tenantMigrations: MigrationSet;
  log: Logger;
  /** The warm pool's background refiller, when this process runs one (the server does). */
  warmPool?: { kick(): void };
  /**
   * Called before each provisioning step. Production leaves it unset; the tests use it to make a
   * real saga fail at a chosen step and check that everything is undone.
   */
  beforeProvisionStep?: (step: ProvisionStep) => void | Promise<void>;
  /** Likewise before each step of a move, and before each table it copies (`table`). */
  beforeMoveStep?: (step: MoveStep, detail?: { table: string }) => void | Promise<void>;
}
