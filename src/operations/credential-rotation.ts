// A company role's password, changed without a failed request. The new password is stored (sealed)
// in the company's row and set on the server in one management transaction that holds the row, then
// every instance is told: its pool for the company drains (queries in flight finish on their
// connections, which stay logged in) and the next one logs in with the new password. Every new
// tenant connection reads the password from the row (src/data-plane/tenants.ts), so pools already open
// follow too.
//
// The role and the row cannot change at once: a login that reads the row on one side of ALTER ROLE
// and reaches the server on the other is refused. Such a query was never sent, so it is sent again
// once this transaction has committed (src/data-plane/rotating-login.ts waits on the row lock held
// here). The role is changed last, right before the commit, to keep that wait short.
import { and, eq, sql as dsql } from 'drizzle-orm';
import { generatePassword } from '../base/auth/passwords.ts';
import type { SiloContext } from '../context.ts';
import { companies, type CompanyRow } from '../control-plane/schema.ts';
import { sealedAt } from '../base/crypto/credentials.ts';
import { scramSha256Verifier } from '../base/crypto/scram.ts';
import { inTransaction } from '../base/db/transaction.ts';
import { conflict, describeError } from '../base/errors.ts';
import { quoteIdent, quoteLiteral } from '../base/names.ts';
import { recordAudit } from '../control-plane/audit.ts';
import { getCompany, isServable } from '../control-plane/company-records.ts';

export async function rotateCompanyCredentials(ctx: SiloContext, idOrSlug: string, actor: string): Promise<CompanyRow> {
  const company = await getCompany(ctx, idOrSlug);
  // A neon role's password is Neon's to reset (and resetting it drops every connection of the
  // branch); an external database's login belongs to its owner.
  if (company.provider !== 'postgres') throw conflict(`a ${company.provider} company's credentials are not Silo's to rotate`);
  if (!isServable(company) || !company.serverId || !company.roleName || !company.credentialsEncrypted) {
    throw conflict(`a ${company.status} company has no credentials to rotate`);
  }
  if (company.movingTo) throw conflict('the company is being moved; rotate its credentials afterwards');

  const password = generatePassword();
  const admin = await ctx.servers.admin(company.serverId);
  const setPassword = (secret: string) =>
    admin.unsafe(`alter role ${quoteIdent(company.roleName!)} password ${quoteLiteral(scramSha256Verifier(secret))}`);
  const started = performance.now();
  let altered = false;
  let rotated: CompanyRow;
  try {
    // The row is locked for the change, so two rotations (or a rotation and a move) take turns.
    rotated = await inTransaction(ctx.db, async (tx) => {
      const [locked] = await tx
        .select()
        .from(companies)
        .where(and(eq(companies.id, company.id), eq(companies.credentialsEncrypted, company.credentialsEncrypted!)))
        .for('update');
      if (!locked || locked.movingTo) throw conflict('the company changed while its credentials were being rotated; try again');
      const [updated] = await tx
        .update(companies)
        .set({ credentialsEncrypted: ctx.box.seal(password, sealedAt.companyCredentials(company.id)), updatedAt: dsql`now()` })
        .where(eq(companies.id, company.id))
        .returning();
      await recordAudit(tx, [
        {
          companyId: company.id,
          serverId: company.serverId,
          action: 'credentials_rotated',
          status: 'ok',
          actor,
          durationMs: Math.round(performance.now() - started),
        },
      ]);
      altered = true;
      await setPassword(password);
      return updated!;
    });
  } catch (error) {
    // The row keeps the old password: so must the role.
    if (altered) {
      await setPassword(ctx.box.open(company.credentialsEncrypted, sealedAt.companyCredentials(company.id))).catch((undo: unknown) =>
        ctx.log.error({ companyId: company.id, error: describeError(undo) }, 'could not restore the old role password'),
      );
    }
    throw error;
  }
  await ctx.tenants.companyChanged(company.id);
  return rotated;
}
