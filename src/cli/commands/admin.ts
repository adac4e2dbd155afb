// `silo admin create`: a system admin (an operator who may use the HTTP API's /api/companies etc.).
import type { Command } from 'commander';
import { createSystemAdmin } from '../../services/system-users.ts';
import { checkPassword, parseEmail, parseText } from '../arguments.ts';
import { printJson, printLine } from '../output.ts';
import { type CliRuntime, usageError } from '../runtime.ts';
import { readSecret } from '../secret-input.ts';

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
    .option('--password-env <name>', 'the environment variable that holds their password, 8-200 characters')
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
}
