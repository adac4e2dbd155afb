// Company users, in the company's own database. Functions take the tenant database handed out by
// the pool map, so they can never reach another company's data.
import { eq, sql } from 'drizzle-orm';
import { hashPassword } from '../../base/auth/passwords.ts';
import { conflict, notFound, pgCode, SiloError } from '../../base/errors.ts';
import { keyset, toPage, type Page } from '../../base/pagination.ts';
import type { TenantDb } from '../pool-map.ts';
import { preparedSelect } from '../prepared.ts';
import { users } from '../schema.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import type { CompanyRole } from '../../base/auth/tokens.ts';

export interface UserView {
  id: string;
  email: string;
  name: string | null;
  role: CompanyRole;
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
}

const columns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  lastLoginAt: users.lastLoginAt,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
};

type UserRow = { [K in keyof typeof columns]: (typeof columns)[K]['_']['data'] | null } & { createdAt: Date; updatedAt: Date };

export function toUserView(row: Pick<UserRow, keyof typeof columns>): UserView {
  return {
    id: row.id!,
    email: row.email!,
    name: row.name ?? null,
    role: row.role!,
    lastLoginAt: row.lastLoginAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

// One key for "the set of users" in each tenant database: creating a user takes it for the
// length of its transaction, so concurrent creates count one after the other.
const USERS_LOCK = 0x75736572;

/**
 * Runs `insert` only if the company stays within maxUsers, counting under a lock so that
 * concurrent creates (users or accepted invitations) cannot pass the limit together.
 */
export async function withinUserLimit<T>(db: TenantDb, maxUsers: number | null, insert: (tx: TenantDb) => Promise<T>): Promise<T> {
  return inTransaction(db, async (tx) => {
    if (maxUsers !== null) {
      await tx.execute(sql`select pg_advisory_xact_lock(${USERS_LOCK})`);
      const [row] = await tx.select({ n: sql<number>`count(*)::int` }).from(users);
      if ((row?.n ?? 0) >= maxUsers) {
        throw new SiloError('limit_exceeded', `the company's plan allows at most ${maxUsers} users`, { maxUsers });
      }
    }
    return insert(tx);
  });
}

export async function createUser(
  db: TenantDb,
  maxUsers: number | null,
  input: { email: string; name?: string | undefined; role: CompanyRole; password: string },
): Promise<UserView> {
  const passwordHash = await hashPassword(input.password);
  try {
    const [row] = await withinUserLimit(db, maxUsers, (tx) =>
      tx
        .insert(users)
        .values({ email: input.email, name: input.name ?? null, role: input.role, passwordHash })
        .returning(columns),
    );
    return toUserView(row!);
  } catch (error) {
    if (pgCode(error) === '23505') throw conflict('a user with that email already exists');
    throw error;
  }
}

export async function listUsers(db: TenantDb, query: { limit: number; cursor?: string | undefined }): Promise<Page<UserView>> {
  const page = keyset({ createdAt: users.createdAt, id: users.id }, query);
  const rows = await db
    .select(columns)
    .from(users)
    .where(page.where)
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toPage(rows, query.limit, toUserView);
}

const userById = preparedSelect(columns, (db) =>
  db
    .select(columns)
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .prepare('silo_user_by_id'),
);

/** A user's role, or null when there is no such user: whether a token still stands. */
export async function findUserRole(db: TenantDb, id: string): Promise<CompanyRole | null> {
  const [row] = await userById(db, { id });
  return row?.role ?? null;
}

/** The whole row (password hash included) of the user with an email, compared without case. */
export async function findUserRowByEmail(db: TenantDb, email: string) {
  const [row] = await db
    .select()
    .from(users)
    .where(eq(sql`lower(${users.email})`, email.toLowerCase()));
  return row;
}

export async function findUser(db: TenantDb, id: string): Promise<UserView | undefined> {
  const [row] = await userById(db, { id });
  return row ? toUserView(row) : undefined;
}

export async function getUser(db: TenantDb, id: string): Promise<UserView> {
  const user = await findUser(db, id);
  if (!user) throw notFound('user');
  return user;
}

export async function updateUser(
  db: TenantDb,
  id: string,
  input: { name?: string | null | undefined; role?: CompanyRole | undefined; password?: string | undefined },
): Promise<UserView> {
  const passwordHash = input.password ? await hashPassword(input.password) : undefined;
  return inTransaction(db, async (tx) => {
    if (input.role === 'member') await assertAnotherAdmin(tx, id);
    const [row] = await tx
      .update(users)
      .set({
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.role ? { role: input.role } : {}),
        ...(passwordHash ? { passwordHash } : {}),
        updatedAt: sql`now()`,
      })
      .where(eq(users.id, id))
      .returning(columns);
    if (!row) throw notFound('user');
    return toUserView(row);
  });
}

export async function deleteUser(db: TenantDb, id: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    await assertAnotherAdmin(tx, id);
    const deleted = await tx.delete(users).where(eq(users.id, id)).returning({ id: users.id });
    if (deleted.length === 0) throw notFound('user');
  });
}

/** A company keeps at least one company_admin: demoting or deleting the last one is refused. */
async function assertAnotherAdmin(tx: TenantDb, leavingId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${USERS_LOCK})`);
  const admins = await tx.select({ id: users.id }).from(users).where(eq(users.role, 'company_admin'));
  if (admins.length === 1 && admins[0]!.id === leavingId) {
    throw conflict('a company needs at least one company_admin');
  }
}
