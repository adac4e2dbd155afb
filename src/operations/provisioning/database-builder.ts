// What the provisioning saga asks of a provider: build the company's database (or, for an external
// one, reach it), hand back a client on it and where it is, and undo what it built on failure.
import type { Sql } from 'postgres';
import type { ProvisionStep } from '../../context.ts';
import type { StepRunner } from '../../control-plane/audit.ts';

/** The company row's columns that say where its database is and how to log in. */
export interface DatabaseLocation {
  databaseName: string;
  roleName: string;
  credentialsEncrypted: string | null;
  databaseUrlEncrypted: string | null;
  providerRef: string | null;
}

export interface BuiltDatabase {
  /**
   * One connection to the new database for the rest of the saga (migrations, the first admin),
   * logged in so that what it creates belongs to the company's role. The saga ends it.
   */
  client: Sql;
  /** The version it already has (a template clone); null when the saga must migrate it. */
  schemaVersion: string | null;
  /** How it was made, for the audit trail: template, migrations, neon, external. */
  via: string;
  location: DatabaseLocation;
  /** What to tidy once the company is active (a failure is logged, not raised). */
  afterActivate?: () => Promise<void>;
}

export interface DatabaseBuilder {
  build(step: StepRunner<ProvisionStep>): Promise<BuiltDatabase>;
  /** Removes what build() created (nothing, for a database Silo did not create). */
  undo(): Promise<void>;
  /** What undo() would remove, for the audit row. */
  created(): Record<string, boolean>;
}
