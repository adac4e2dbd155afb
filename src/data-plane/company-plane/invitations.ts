// Invitations to join a company, in its own database. The token is `<companyId>.<secret>`: the
// accept route has no login to say which company it is for, so the token says it, and only the
// SHA-256 of the whole token is stored. Accepting creates the user, single use, within maxUsers.
import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { hashPassword } from '../../base/auth/passwords.ts';
import { isCompanyRole, type IssuedToken } from '../../base/auth/tokens.ts';
import type { SiloContext } from '../../context.ts';
import { conflict, notFound, pgCode, SiloError } from '../../base/errors.ts';
import { assertWritesAllowed } from '../write-hold.ts';
import { keyset, toPage, type Page, type PageRequest } from '../../base/pagination.ts';
import type { TenantDb } from '../pool-map.ts';
import { userInvitations, users } from '../schema.ts';
import { toUserView, withinUserLimit, type UserView } from './users.ts';
import type { CompanyRole } from '../../base/auth/tokens.ts';
import { isServable } from '../../control-plane/company-records.ts';

// A constant, not a setting: the contract names no variable for it.
const INVITATION_TTL = sql`interval '7 days'`;
const SECRET_BYTES = 32;

export type InvitationStatus = 'pending' | 'accepted' | 'expired';

export interface InvitationView {
  id: string;
  email: string;
  role: CompanyRole;
  status: InvitationStatus;
  invitedBy: string | null;
  expiresAt: string;
  acceptedAt: string | null;
  createdAt: string;
}

export interface AcceptedInvitation {
  user: UserView;
  issued: IssuedToken;
  company: { id: string; slug: string; name: string };
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

const tokenPattern = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[A-Za-z0-9_-]{43}$/i;

/** Still open: not accepted, not expired (by the database's clock). */
const open = and(isNull(userInvitations.acceptedAt), gt(userInvitations.expiresAt, sql`now()`));

// Every way a token can be wrong answers the same 404 (unknown company, unknown, expired, used or
// deleted invitation), so the accept route tells nobody which companies or invitations exist.
const noSuchInvitation = () => notFound('invitation');

const columns = {
  id: userInvitations.id,
  email: userInvitations.email,
  role: userInvitations.role,
  status: sql<InvitationStatus>`case when ${userInvitations.acceptedAt} is not null then 'accepted'
    when ${userInvitations.expiresAt} <= now() then 'expired' else 'pending' end`,
  invitedBy: userInvitations.invitedBy,
  expiresAt: userInvitations.expiresAt,
  acceptedAt: userInvitations.acceptedAt,
  createdAt: userInvitations.createdAt,
};

type InvitationRow = Omit<InvitationView, 'expiresAt' | 'acceptedAt' | 'createdAt'> & {
  expiresAt: Date;
  acceptedAt: Date | null;
  createdAt: Date;
};

const toInvitationView = (row: InvitationRow): InvitationView => ({
  ...row,
  expiresAt: row.expiresAt.toISOString(),
  acceptedAt: row.acceptedAt?.toISOString() ?? null,
  createdAt: row.createdAt.toISOString(),
});

/**
 * Invites an email that is not yet a user of the company. The token is returned here and never
 * again. Several open invitations for one email may exist: the first accepted makes the user, the
 * others then answer 409.
 */
export async function createInvitation(
  db: TenantDb,
  companyId: string,
  invitedBy: string,
  input: { email: string; role: CompanyRole },
): Promise<{ id: string; token: string; expiresAt: string }> {
  const [existing] = await db
    .select({ id: users.id })
    .from(users)
    .where(eq(sql`lower(${users.email})`, input.email.toLowerCase()));
  if (existing) throw conflict('a user with that email already exists');
  const token = `${companyId}.${randomBytes(SECRET_BYTES).toString('base64url')}`;
  try {
    const [row] = await db
      .insert(userInvitations)
      .values({ email: input.email, role: input.role, tokenHash: hashToken(token), invitedBy, expiresAt: sql`now() + ${INVITATION_TTL}` })
      .returning({ id: userInvitations.id, expiresAt: userInvitations.expiresAt });
    return { id: row!.id, token, expiresAt: row!.expiresAt.toISOString() };
  } catch (error) {
    // invited_by references users: a token that outlived its user.
    if (pgCode(error) === '23503') throw new SiloError('unauthorized', 'the user of this token no longer exists');
    throw error;
  }
}

/** Newest first, with their status; never a token or its hash. */
export async function listInvitations(db: TenantDb, query: PageRequest): Promise<Page<InvitationView>> {
  const page = keyset({ createdAt: userInvitations.createdAt, id: userInvitations.id }, query);
  const rows = await db
    .select(columns)
    .from(userInvitations)
    .where(page.where)
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toPage(rows, query.limit, toInvitationView);
}

/** Withdraws an invitation (or removes an accepted or expired one from the list). */
export async function deleteInvitation(db: TenantDb, id: string): Promise<void> {
  const deleted = await db.delete(userInvitations).where(eq(userInvitations.id, id)).returning({ id: userInvitations.id });
  if (deleted.length === 0) throw notFound('invitation');
}

/**
 * Accepts an invitation with no login: the token names the company. Creates the user with the
 * invitation's email and role and answers a login token for it. The invitation is marked accepted
 * in the same transaction as the insert, by an update that only matches an open invitation, so of
 * two concurrent accepts the second finds it taken and answers 404; a failed insert (the email is
 * taken, 409; maxUsers reached, 409 limit_exceeded) leaves it open.
 */
export async function acceptInvitation(
  ctx: SiloContext,
  input: { token: string; password: string; name?: string | undefined },
): Promise<AcceptedInvitation> {
  const companyId = tokenPattern.exec(input.token)?.[1]?.toLowerCase();
  const company = companyId ? await ctx.tenants.company(companyId) : undefined;
  if (!isServable(company)) throw noSuchInvitation();
  const tokenHash = hashToken(input.token);
  const user = await ctx.tenants.run(company, async (db) => {
    const [invitation] = await db
      .select({ id: userInvitations.id })
      .from(userInvitations)
      .where(and(eq(userInvitations.tokenHash, tokenHash), open));
    if (!invitation) throw noSuchInvitation();
    assertWritesAllowed(company);
    // Only the holder of a good token learns that the company is suspended.
    if (company.status === 'suspended') throw new SiloError('company_suspended', 'the company is suspended');
    const passwordHash = await hashPassword(input.password);
    try {
      return await withinUserLimit(db, company.maxUsers, async (tx) => {
        const [taken] = await tx
          .update(userInvitations)
          .set({ acceptedAt: sql`now()` })
          .where(and(eq(userInvitations.id, invitation.id), open))
          .returning({ email: userInvitations.email, role: userInvitations.role });
        if (!taken) throw noSuchInvitation();
        // The row is the tenant database owner's to write: a role Silo does not issue (such as
        // system_admin) makes no user and no token.
        if (!isCompanyRole(taken.role)) {
          ctx.log.warn({ companyId: company.id, invitationId: invitation.id }, 'refused an invitation: its role is not one Silo issues');
          throw new SiloError('forbidden', 'this invitation has a role Silo does not accept; ask for a new invitation');
        }
        const [row] = await tx
          .insert(users)
          .values({ email: taken.email, name: input.name ?? null, role: taken.role, passwordHash })
          .returning();
        return toUserView(row!);
      });
    } catch (error) {
      if (pgCode(error) === '23505') throw conflict('a user with that email already exists');
      throw error;
    }
  });
  const issued = await ctx.tokens.issue({ sub: user.id, role: user.role, cid: company.id });
  return { user, issued, company: { id: company.id, slug: company.slug, name: company.name } };
}
