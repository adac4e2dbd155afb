// `silo companies list | create | delete | move` (show, suspend, activate, stats, logs:
// company-operations.ts): the companies, each with its own database.
import { Option, type Command } from 'commander';
import { companyStatuses, type CompanyStatus } from '../../control-plane/schema.ts';
import { SiloError } from '../../base/errors.ts';
import { provisionCompany } from '../../operations/provisioning/provision-company.ts';
import { openLeftovers } from '../../operations/scale-out/leftovers.ts';
import { describeMoveFailure, moveCompany } from '../../operations/scale-out/move-company.ts';
import { deleteCompany, listCompanies } from '../../operations/companies.ts';
import { toCompanyView } from '../../control-plane/company-records.ts';
import { checkPassword, parseEmail, parsePositiveInt, parseServerId, parseSlug, parseText } from '../arguments.ts';
import { printJson, printLine, printTable, shortTime } from '../output.ts';
import { CliError, usageError, type CliRuntime } from '../runtime.ts';
import { readSecret } from '../secret-input.ts';
import { registerCompanyOperationCommands } from './company-operations.ts';
import { isDatabaseUrl } from '../../base/db/postgres-url.ts';
import { PASSWORD_RULE } from '../../base/auth/password-rule.ts';

interface ListOptions {
  status?: CompanyStatus;
  q?: string;
  limit: number;
  cursor?: string;
  json?: boolean;
}

interface CreateOptions {
  name: string;
  slug?: string;
  adminEmail: string;
  adminPassword?: string;
  adminPasswordEnv?: string;
  adminPasswordStdin?: boolean;
  adminName?: string;
  maxUsers?: number;
  maxStorageBytes?: number;
  server?: string;
  externalDatabaseUrlEnv?: string;
  json?: boolean;
}

interface MoveOptions {
  to: string;
  json?: boolean;
}

interface DeleteOptions {
  confirm: string;
  dropDatabase?: boolean;
  force?: boolean;
  json?: boolean;
}

async function externalUrlFrom(cli: CliRuntime, variable: string): Promise<string> {
  const url = (await readSecret(cli, { flag: '--external-database-url', env: variable }))!;
  if (!isDatabaseUrl(url)) {
    throw usageError(`--external-database-url-env: ${variable} must hold a postgres:// or postgresql:// URL naming a database`);
  }
  return url;
}

export function registerCompanyCommands(program: Command, cli: CliRuntime): void {
  const companies = program.command('companies').description('list, create, show, suspend, delete and move companies');
  registerCompanyOperationCommands(companies, cli);

  companies
    .command('list')
    .description('companies, newest first')
    .addOption(new Option('--status <status>', 'only companies with this status (default: all but deleted)').choices(companyStatuses))
    .option('--q <text>', 'only companies whose name or slug contains this text', parseText(200))
    .option('--limit <n>', 'at most this many (1-200)', parsePositiveInt(200), 50)
    .option('--cursor <cursor>', 'the page after a previous one (its nextCursor)')
    .option('--json', 'print one JSON document: { items, nextCursor }')
    .action(async (options: ListOptions) => {
      const page = await cli.withSilo((ctx) =>
        listCompanies(ctx, {
          limit: options.limit,
          ...(options.status ? { status: options.status } : {}),
          ...(options.q ? { q: options.q } : {}),
          ...(options.cursor ? { cursor: options.cursor } : {}),
        }),
      );
      const items = page.items.map(toCompanyView);
      if (options.json) return printJson(cli.stdout, { items, nextCursor: page.nextCursor });
      if (items.length === 0) return printLine(cli.stdout, 'no companies');
      printTable(
        cli.stdout,
        ['SLUG', 'NAME', 'STATUS', 'DATABASE', 'SCHEMA', 'CREATED'],
        items.map((c) => [c.slug, c.name, c.status, c.database, c.schemaVersion, shortTime(c.createdAt)]),
      );
      if (page.nextCursor) printLine(cli.stderr, `more companies: add --cursor ${page.nextCursor}`);
    });

  companies
    .command('create')
    .description('create a company with its own database and first admin; answers when the database is ready')
    .requiredOption('--name <name>', 'the company name', parseText(200))
    .option('--slug <slug>', 'its short name, which also names its database (default: from --name)', parseSlug)
    .requiredOption('--admin-email <email>', "the first company admin's email", parseEmail)
    .option(
      '--admin-password-env <name>',
      `the environment variable that holds the first admin's password, ${PASSWORD_RULE} (default: a temporary one, printed once)`,
    )
    .option('--admin-password-stdin', "read the first admin's password from standard input")
    .option('--admin-password <password>', "the first admin's password (discouraged: it shows in the process list and shell history)")
    .option('--admin-name <name>', "the first admin's name", parseText(200))
    .option('--max-users <n>', 'the most users the company may have (default: no limit)', parsePositiveInt(1_000_000))
    .option(
      '--max-storage-bytes <n>',
      'the most bytes of document files it may store (default: no limit)',
      parsePositiveInt(Number.MAX_SAFE_INTEGER),
    )
    .option('--server <id>', 'the database server to place it on (default: the least loaded active one)', parseServerId)
    .option(
      '--external-database-url-env <name>',
      'bring your own database: the environment variable that holds its connection string (kept out of the process list and shell history)',
    )
    .option('--json', 'print one JSON document')
    .action(async (options: CreateOptions) => {
      const given = await readSecret(cli, {
        flag: '--admin-password',
        value: options.adminPassword,
        env: options.adminPasswordEnv,
        stdin: options.adminPasswordStdin,
      });
      const password = given === undefined ? undefined : checkPassword(given, '--admin-password');
      const externalDatabaseUrl =
        options.externalDatabaseUrlEnv === undefined ? undefined : await externalUrlFrom(cli, options.externalDatabaseUrlEnv);
      const { company, admin } = await cli.withSilo((ctx) =>
        provisionCompany(
          ctx,
          {
            name: options.name,
            ...(options.slug ? { slug: options.slug } : {}),
            admin: {
              email: options.adminEmail,
              ...(password ? { password } : {}),
              ...(options.adminName ? { name: options.adminName } : {}),
            },
            ...(options.maxUsers ? { maxUsers: options.maxUsers } : {}),
            ...(options.maxStorageBytes ? { maxStorageBytes: options.maxStorageBytes } : {}),
            ...(options.server ? { serverId: options.server } : {}),
            ...(externalDatabaseUrl ? { externalDatabaseUrl } : {}),
          },
          'cli',
        ),
      );
      const view = toCompanyView(company);
      if (options.json) return printJson(cli.stdout, { ...view, admin });
      printLine(cli.stdout, `created company ${view.slug} (${view.id}) with database ${view.database}`);
      printLine(cli.stdout, `first admin: ${admin.email}`);
      // Generated for this one answer and stored only as a hash: this is the only chance to see it.
      if (admin.temporaryPassword) printLine(cli.stdout, `temporary password (shown once): ${admin.temporaryPassword}`);
    });

  companies
    .command('delete')
    .description("drop a company's database and role (an external database is detached); its row is kept as deleted for the audit trail")
    .argument('<slug>', 'the company', parseSlug)
    .requiredOption('--confirm <slug>', 'the slug again, to confirm')
    .option('--drop-database', 'external companies: drop the database too (default: detach it and leave it in place)')
    .option(
      '--force',
      'when its database cannot be reached (server gone for good): mark it deleted anyway; "silo reconcile" reports what was left',
    )
    .option('--json', 'print one JSON document')
    .action(async (slug: string, options: DeleteOptions) => {
      if (options.confirm !== slug) throw usageError(`--confirm must repeat the slug: --confirm ${slug}`);
      const { deleted, left } = await cli.withSilo(async (ctx) => {
        const row = await deleteCompany(ctx, slug, options.confirm, 'cli', {
          dropDatabase: options.dropDatabase === true,
          force: options.force === true,
        });
        return { deleted: row, left: await openLeftovers(ctx, { companyId: row.id }) };
      });
      const view = toCompanyView(deleted);
      if (options.json)
        return printJson(cli.stdout, { ...view, notRemoved: left.map((l) => ({ serverId: l.serverId, database: l.databaseName })) });
      if (left.length > 0) {
        printLine(cli.stdout, `deleted company ${view.slug}; its database ${view.database} could not be reached and is left in place`);
        return printLine(cli.stderr, '"silo reconcile" lists it; "silo reconcile --fix" drops it if its server comes back');
      }
      const detached = view.provider === 'external' && options.dropDatabase !== true;
      printLine(
        cli.stdout,
        `deleted company ${view.slug}: database ${view.database} ${detached ? 'detached and left in place' : 'dropped'}`,
      );
    });

  companies
    .command('move')
    .description("move a company's database to another server: copied, verified, switched, the old one dropped")
    .argument('<slug>', 'the company', parseSlug)
    .requiredOption('--to <serverId>', 'the database server to move it to (see "silo servers list")', parseServerId)
    .option('--json', 'print one JSON document: the company, with the figures of the move')
    .addHelpText(
      'after',
      '\nWrites to the company answer 503 (Retry-After) while its data is copied; reads go on. A failure\n' +
        'before the switch leaves the company on its old server, untouched (exit status 1).',
    )
    .action(async (slug: string, options: MoveOptions) => {
      const { company, move } = await cli
        .withSilo((ctx) => moveCompany(ctx, slug, options.to, 'cli'))
        .catch((error: unknown) => {
          // A failed move's reason is in its details, which the generic report leaves out.
          throw error instanceof SiloError && error.code !== 'validation_failed' ? new CliError(describeMoveFailure(error)) : error;
        });
      if (options.json) return printJson(cli.stdout, { ...toCompanyView(company), move });
      const mb = (move.bytes / 1e6).toFixed(1);
      printLine(
        cli.stdout,
        `moved company ${company.slug} to server ${move.toServerId}: ${move.rows} rows, ${mb} MB in ${move.durationMs} ms`,
      );
      printLine(cli.stdout, `writes were held for ${move.writesHeldMs} ms`);
      if (!move.oldDatabaseDropped) printLine(cli.stderr, 'the old database could not be dropped: "silo reconcile --fix" drops it');
    });
}
