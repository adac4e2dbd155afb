// Operators (system admins): they live in the management database.
import { eq, sql as dsql } from 'drizzle-orm';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../base/auth/passwords.ts';
import type { SiloContext } from '../context.ts';
import { systemUsers } from './schema.ts';
import { conflict, pgCode } from '../base/errors.ts';

export type SystemUserRow = typeof systemUsers.$inferSelect;

export async function createSystemAdmin(ctx: SiloContext, input: { email: string; password: string; name?: string }) {
  try {
    const [row] = await ctx.db
      .insert(systemUsers)
      .values({ email: input.email, name: input.name ?? null, passwordHash: await hashPassword(input.password) })
      .returning();
    return row!;
  } catch (error) {
    if (pgCode(error) === '23505') throw conflict('a system admin with that email already exists');
    throw error;
  }
}

/** On start: create the admin from SILO_ADMIN_EMAIL/PASSWORD when there is no system admin yet. */
export async function ensureFirstSystemAdmin(ctx: SiloContext, admin: { email: string; password: string }) {
  const [any] = await ctx.db.select({ id: systemUsers.id }).from(systemUsers).limit(1);
  if (any) return false;
  try {
    await createSystemAdmin(ctx, admin);
  } catch (error) {
    // Another instance starting at the same moment created it.
    if ((error as { code?: string }).code !== 'conflict') throw error;
  }
  return true;
}

/** The system admin for an email and password, or null; the same cost either way. */
export async function authenticateSystemAdmin(ctx: SiloContext, email: string, password: string) {
  const [row] = await ctx.db
    .select()
    .from(systemUsers)
    .where(eq(dsql`lower(${systemUsers.email})`, email.toLowerCase()));
  if (!row) return burnPasswordCheck(password).then(() => null);
  if (!(await verifyPassword(password, row.passwordHash))) return null;
  await ctx.db.update(systemUsers).set({ lastLoginAt: dsql`now()` }).where(eq(systemUsers.id, row.id));
  return row;
}

export async function getSystemAdmin(ctx: SiloContext, id: string) {
  const [row] = await ctx.db.select().from(systemUsers).where(eq(systemUsers.id, id));
  return row;
}

export async function findSystemAdminByEmail(ctx: SiloContext, email: string) {
  const [row] = await ctx.db
    .select()
    .from(systemUsers)
    .where(eq(dsql`lower(${systemUsers.email})`, email.toLowerCase()));
  return row;
}
