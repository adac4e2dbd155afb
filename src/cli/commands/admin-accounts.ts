// `silo admin list | reset-password | remove`: the system admins after the first. A new password or
// a removal ends the admin's tokens at once; the last admin cannot be removed.
import type { Command } from 'commander';
import { listSystemAdmins, removeSystemAdmin, resetSystemAdminPassword } from '../../operations/system-admin-accounts.ts';
import { checkPassword, parseEmail } from '../arguments.ts';
import { printJson, printLine, printTable, shortTime } from '../output.ts';
import { type CliRuntime, usageError } from '../runtime.ts';
import { readSecret } from '../secret-input.ts';

export function registerAdminAccountCommands(admin: Command, cli: CliRuntime): void {
  admin
    .command('list')
    .description('the system admins, oldest first (never their passwords)')
    .option('--json', 'print one JSON document: { items }')
    .action(async (options: { json?: boolean }) => {
      const items = await cli.withSilo((ctx) => listSystemAdmins(ctx));
      if (options.json) return printJson(cli.stdout, { items });
      printTable(
        cli.stdout,
        ['email', 'name', 'last login', 'created', 'id'],
        items.map((a) => [a.email, a.name, shortTime(a.lastLoginAt), shortTime(a.createdAt), a.id]),
      );
    });

  admin
    .command('reset-password')
    .description("set a system admin's password; every token they hold ends")
    .requiredOption('--email <email>', 'the admin', parseEmail)
    .option('--password-env <name>', 'the environment variable that holds the new password')
    .option('--password-stdin', 'read the new password from standard input')
    .option('--json', 'print one JSON document')
    .action(async (options: { email: string; passwordEnv?: string; passwordStdin?: boolean; json?: boolean }) => {
      const given = await readSecret(cli, { flag: '--password', env: options.passwordEnv, stdin: options.passwordStdin });
      if (given === undefined) throw usageError('a new password is required: --password-env <name> or --password-stdin');
      const password = checkPassword(given, '--password');
      const { id } = await cli.withSilo((ctx) => resetSystemAdminPassword(ctx, options.email, password));
      if (options.json) return printJson(cli.stdout, { id, email: options.email, passwordReset: true, tokensRevoked: true });
      printLine(cli.stdout, `set a new password for ${options.email}; their tokens are revoked`);
    });

  admin
    .command('remove')
    .description('remove a system admin (not the last one); their tokens end')
    .requiredOption('--email <email>', 'the admin', parseEmail)
    .option('--json', 'print one JSON document')
    .action(async (options: { email: string; json?: boolean }) => {
      const { id } = await cli.withSilo((ctx) => removeSystemAdmin(ctx, options.email));
      if (options.json) return printJson(cli.stdout, { id, email: options.email, removed: true });
      printLine(cli.stdout, `removed system admin ${options.email}`);
    });
}
