// `silo admin create` (list, reset-password, remove: admin-accounts.ts): a system admin (an operator who may use the HTTP API's /api/companies etc.).
import type { Command } from 'commander';
import { revokeTokens } from '../../control-plane/token-subjects.ts';
import type { SiloContext } from '../../context.ts';
import { findCompany, isServable } from '../../control-plane/company-records.ts';
import { createSystemAdmin, findSystemAdminByEmail } from '../../control-plane/system-users.ts';
import { findUserRowByEmail } from '../../data-plane/company-plane/users.ts';
import { checkPassword, parseEmail, parseText } from '../arguments.ts';
import { printJson, printLine } from '../output.ts';
import { CliError, type CliRuntime, usageError } from '../runtime.ts';
import { registerAdminAccountCommands } from './admin-accounts.ts';
import { readSecret } from '../secret-input.ts';
import { PASSWORD_RULE } from '../../base/auth/password-rule.ts';

interface CreateAdminOptions {
  email: string;
  password?: string;
  passwordEnv?: string;
  passwordStdin?: boolean;
  name?: string;
  json?: boolean;
}

export function registerAdminCommands(program: Command, cli: CliRuntime): void {
  const admin = program.command('admin').description('system admins (operators)');

  admin
    .command('create')
    .description('create a system admin; fails if one with that email exists')
    .requiredOption('--email <email>', 'their email, used to log in', parseEmail)
    .option('--password-env <name>', `the environment variable that holds their password, ${PASSWORD_RULE}`)
    .option('--password-stdin', 'read their password from standard input')
    .option('--password <password>', 'their password (discouraged: it shows in the process list and shell history)')
    .option('--name <name>', 'their name', parseText(200))
    .option('--json', 'print one JSON document')
    .action(async (options: CreateAdminOptions) => {
      const given = await readSecret(cli, {
        flag: '--password',
        value: options.password,
        env: options.passwordEnv,
        stdin: options.passwordStdin,
      });
      if (given === undefined) throw usageError('a password is required: --password-env <name> or --password-stdin');
      const password = checkPassword(given, '--password');
      const row = await cli.withSilo((ctx) =>
        createSystemAdmin(ctx, { email: options.email, password, ...(options.name ? { name: options.name } : {}) }),
      );
      const view = { id: row.id, email: row.email, name: row.name, createdAt: row.createdAt.toISOString() };
      if (options.json) printJson(cli.stdout, view);
      else printLine(cli.stdout, `created system admin ${view.email} (${view.id})`);
    });

  registerAdminAccountCommands(admin, cli);
  registerRevokeTokens(admin, cli);
}

/** The token subject for an email: a system admin, or with `company` that company's user. */
async function userToRevoke(ctx: SiloContext, email: string, companyRef: string | undefined) {
  if (companyRef === undefined) {
    const admin = await findSystemAdminByEmail(ctx, email);
    if (!admin) throw new CliError('no system admin has that email (add --company for a company user)');
    return { sub: admin.id };
  }
  const company = await findCompany(ctx, companyRef);
  if (!isServable(company)) throw new CliError('no such company');
  const user = await ctx.tenants.run(company, (db) => findUserRowByEmail(db, email));
  if (!user) throw new CliError('the company has no user with that email');
  return { sub: user.id, cid: company.id };
}

export function registerRevokeTokens(admin: Command, cli: CliRuntime): void {
  admin
    .command('revoke-tokens')
    .description('end every token a user holds now, in every instance (they log in again)')
    .requiredOption('--email <email>', "the user's email", parseEmail)
    .option('--company <company>', "a company user's company (slug or id); without it, a system admin")
    .option('--json', 'print one JSON document')
    .action(async (options: { email: string; company?: string; json?: boolean }) => {
      const user = await cli.withSilo(async (ctx) => {
        const found = await userToRevoke(ctx, options.email, options.company);
        await revokeTokens(ctx, found);
        return found;
      });
      if (options.json) printJson(cli.stdout, { userId: user.sub, companyId: user.cid ?? null, revoked: true });
      else printLine(cli.stdout, `revoked every token of ${options.email}`);
    });
}
