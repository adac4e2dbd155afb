// A move's claim on its company, kept in the management database so that every instance and every
// other mover sees it: `moving_to` (which also takes room on the target, for placement), a lease
// the mover renews while it works (`move_lease_until`, which a mover that died lets lapse), and,
// while the data is copied, the write hold (`writes_held_until`, renewed with the lease). The lease's
// exact value is the claim's token: a renewal, the switch and the release all require it, so a
// mover whose lease lapsed and was taken over by another cannot act on the company any more.
import { and, count, eq, isNull, lt, ne, or, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { companies, databaseLeftovers, databaseServers, type CompanyRow, type ServerRow } from '../../control-plane/schema.ts';
import { conflict, describeError, notFound } from '../../base/errors.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import { servableCompanies } from '../../control-plane/company-records.ts';

/** How long a claim (and a write hold) lasts unless renewed; renewed every third of it. */
export const LEASE_SECONDS = 30;

/** Why a company cannot move to a server, or nothing when it can (room is checked apart). */
export function refuseTarget(company: CompanyRow, server: ServerRow | undefined): void {
  if (!server) throw notFound('database server');
  if (server.id === company.serverId) throw conflict('the company is already on that database server');
  if (server.status !== 'active') throw conflict(`that database server is ${server.status} and takes no companies`);
  if (server.provider !== 'postgres') throw conflict(`moving to a ${server.provider} server is not supported yet`);
}

export interface MoveClaim {
  companyId: string;
  from: string;
  to: string;
  /** The record, made with the claim, that the target may hold this company's database. */
  leftoverId: number;
  lease: Date;
}

/**
 * Claims the company for a move to `to`: the target is locked while its room is counted, so that
 * concurrent moves cannot overfill it. 409 when the company is being moved already (by a mover whose
 * lease has not lapsed) or changed since it was read.
 */
export async function claimMove(ctx: SiloContext, company: CompanyRow, to: string): Promise<MoveClaim> {
  return inTransaction(ctx.db, async (tx) => {
    const [server] = await tx.select().from(databaseServers).where(eq(databaseServers.id, to)).for('update');
    refuseTarget(company, server);
    const [taken] = await tx
      .select({ n: count() })
      .from(companies)
      .where(and(or(eq(companies.serverId, to), eq(companies.movingTo, to)), ne(companies.status, 'deleted')));
    if (taken!.n >= server!.capacity) throw conflict('that database server has no room for another company');
    const [claimed] = await tx
      .update(companies)
      .set({ movingTo: to, moveLeaseUntil: dsql`now() + make_interval(secs => ${LEASE_SECONDS})` })
      .where(
        and(
          eq(companies.id, company.id),
          eq(companies.serverId, company.serverId!),
          servableCompanies(),
          or(isNull(companies.movingTo), lt(companies.moveLeaseUntil, dsql`now()`)),
        ),
      )
      .returning({ lease: companies.moveLeaseUntil });
    if (!claimed) throw conflict('the company is being moved already, or changed meanwhile; try again shortly');
    const [leftover] = await tx
      .insert(databaseLeftovers)
      .values({
        companyId: company.id,
        serverId: to,
        databaseName: company.databaseName!,
        roleName: company.roleName!,
        reason: 'move_target',
      })
      .returning({ id: databaseLeftovers.id });
    return { companyId: company.id, from: company.serverId!, to, leftoverId: leftover!.id, lease: claimed.lease! };
  });
}

/** Keeps a claim alive while its move runs, and holds or releases the company's writes with it. */
export class MoveLease {
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private lost: Error | undefined;

  constructor(
    private readonly ctx: SiloContext,
    readonly claim: MoveClaim,
  ) {}

  start(): void {
    this.timer = setInterval(
      () => {
        this.renewing ??= this.renew(false)
          .catch((error: unknown) =>
            this.ctx.log.warn({ companyId: this.claim.companyId, error: describeError(error) }, 'could not renew a move lease'),
          )
          .finally(() => (this.renewing = undefined));
      },
      (LEASE_SECONDS * 1000) / 3,
    );
    this.timer.unref();
  }

  /** Renews the lease; `hold` also starts holding the company's writes. */
  private async renew(hold: boolean): Promise<void> {
    const [row] = await this.ctx.db
      .update(companies)
      .set({
        moveLeaseUntil: dsql`now() + make_interval(secs => ${LEASE_SECONDS})`,
        writesHeldUntil: hold
          ? dsql`now() + make_interval(secs => ${LEASE_SECONDS})`
          : dsql`case when ${companies.writesHeldUntil} is null then null else now() + make_interval(secs => ${LEASE_SECONDS}) end`,
      })
      .where(and(eq(companies.id, this.claim.companyId), eq(companies.moveLeaseUntil, this.claim.lease)))
      .returning({ lease: companies.moveLeaseUntil });
    if (!row) {
      this.lost = new Error('the move lost its claim on the company (its lease lapsed and was taken over)');
      throw this.lost;
    }
    this.claim.lease = row.lease!;
  }

  /** Holds writes: set in the management database, then every instance is told. */
  async holdWrites(): Promise<void> {
    await this.renewing;
    await this.renew(true);
    await this.ctx.tenants.companyChanged(this.claim.companyId);
  }

  /** Throws once the claim is known to be lost. */
  check(): void {
    if (this.lost) throw this.lost;
  }

  /** Stops renewing; afterwards `claim.lease` is the token for the switch or the release. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
    this.check();
  }

  /** Ends the claim without moving: writes resume on the old database everywhere. */
  async release(): Promise<void> {
    await this.stop().catch(() => {});
    await this.ctx.db
      .update(companies)
      .set({ movingTo: null, moveLeaseUntil: null, writesHeldUntil: null })
      .where(and(eq(companies.id, this.claim.companyId), eq(companies.moveLeaseUntil, this.claim.lease)));
    await this.ctx.tenants.companyChanged(this.claim.companyId);
  }
}
