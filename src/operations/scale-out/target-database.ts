// The empty twin of a company's database on the server it moves to: the same role and database
// names, a new random password, the same (latest) tenant schema. Provisioning's steps
// (createTenantDatabase, docs/provisioning.md) without the company row and its first admin.
import type { MoveStep, SiloContext } from '../../context.ts';
import { applyMigrations } from '../../base/db/migration-runner.ts';
import type { TenantNames } from '../../base/names.ts';
import type { StepRunner } from '../../control-plane/audit.ts';
import { createTenantDatabase } from '../provisioning/postgres-database.ts';

export interface TargetDatabase {
  via: 'template' | 'migrations';
  /** The tenant schema version the new database is on. */
  version: string | null;
}

export async function createTargetDatabase(
  ctx: SiloContext,
  serverId: string,
  names: TenantNames,
  password: string,
  step: StepRunner<MoveStep>,
): Promise<TargetDatabase> {
  const { client, schemaVersion } = await createTenantDatabase(ctx, serverId, names, password, step, { useTemplate: true });
  try {
    if (schemaVersion !== null) return { via: 'template', version: schemaVersion };
    const migrated = await step('migrate', () => applyMigrations(client, ctx.tenantMigrations));
    return { via: 'migrations', version: migrated.version };
  } finally {
    await client.end({ timeout: 5 });
  }
}
