// `silo`: the operators' command line. Each command opens the Silo from the environment (as the
// server does), calls the same service functions as the HTTP API, prints a table or one JSON
// document, and closes. bin/silo.js runs it after `npm ci`; `npm run silo -- <command>` too.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../base/config/config.ts';
import { describeError, SiloError } from '../base/errors.ts';
import { SILO_VERSION } from '../base/version.ts';
import { registerAdminCommands } from './commands/admin.ts';
import { registerBackupCommands } from './commands/backups.ts';
import { registerCompanyCommands } from './commands/companies.ts';
import { registerDemoCommand } from './commands/demo.ts';
import { registerEmbeddedCommands } from './commands/embedded.ts';
import { registerMigrateCommands } from './commands/migrate.ts';
import { registerFleetCommands } from './commands/fleet.ts';
import { registerReconcileCommand } from './commands/reconcile.ts';
import { registerSecretsCommands } from './commands/secrets.ts';
import { registerServerCommands } from './commands/servers.ts';
import { registerSharedCommands } from './commands/shared.ts';
import { CliError, createRuntime, EXIT, type CliIo } from './runtime.ts';

const EXIT_HELP = `
Exit status: 0 when everything asked for was done; 1 when something failed (the reason is one line
on stderr); 2 when the command line was refused before anything was done.

Configuration comes from the environment, as for the server: DATABASE_URL (without it, the
embedded PostgreSQL in SILO_DATA_DIR), SILO_DATA_DIR, SILO_DB_PREFIX, SILO_MASTER_KEY, ...
Logs go to stderr at level warn unless SILO_LOG_LEVEL says otherwise.`;

function buildProgram(io: CliIo): Command {
  const program = new Command('silo')
    .description('Silo: a database per tenant on PostgreSQL. Operator commands.')
    // Subcommands made with .command() inherit these: errors throw instead of exiting the process.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    })
    .version(SILO_VERSION, '-V, --version', "print Silo's version")
    .showSuggestionAfterError()
    .addHelpText('after', EXIT_HELP);
  const cli = createRuntime(io);
  registerAdminCommands(program, cli);
  registerCompanyCommands(program, cli);
  registerBackupCommands(program, cli);
  registerServerCommands(program, cli);
  registerReconcileCommand(program, cli);
  registerMigrateCommands(program, cli);
  registerFleetCommands(program, cli);
  registerSharedCommands(program, cli);
  registerSecretsCommands(program, cli);
  registerEmbeddedCommands(program, cli);
  registerDemoCommand(program, cli);
  return program;
}

/** Connection strings hold passwords; an unexpected error's message may quote one. */
const withoutUrls = (text: string) => text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>');

function failureOf(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: `error: ${error.message}`, exitCode: error.exitCode };
  if (error instanceof ConfigError) return { message: error.message, exitCode: EXIT.failed };
  if (error instanceof SiloError) {
    // Validation details name what was wrong ("slug: must be ..."); other details are for logs.
    const reasons = Array.isArray(error.details)
      ? error.details
          .filter((d): d is { path: string; message: string } => typeof d?.path === 'string' && typeof d?.message === 'string')
          .map((d) => `${d.path} ${d.message}`)
      : [];
    return {
      message: `error: ${error.message}${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}`,
      exitCode: error.code === 'validation_failed' ? EXIT.usage : EXIT.failed,
    };
  }
  return { message: `error: the command failed unexpectedly: ${withoutUrls(describeError(error))}`, exitCode: EXIT.failed };
}

/** Runs one command line (without "node silo") and returns its exit status; never exits the process. */
export async function runCli(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = {
    env: io.env ?? process.env,
    stdin: io.stdin ?? process.stdin,
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    tenantMigrationsFolder: io.tenantMigrationsFolder,
  };
  try {
    await buildProgram(full).parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    // Commander has already printed its own message (or the help that was asked for).
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const { message, exitCode } = failureOf(error);
    full.stderr.write(`${message}\n`);
    return exitCode;
  }
}

/**
 * Runs the command line and ends the process with its status, once the output is written. The exit
 * is explicit so that a handle left open (a pool still ending) cannot keep a finished command alive.
 */
export async function main(argv: string[]): Promise<never> {
  const status = await runCli(argv);
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write('', done))));
  process.exit(status);
}

function runDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

// `tsx src/cli/main.ts ...` (npm run silo); bin/silo.js calls main() itself.
if (runDirectly()) await main(process.argv.slice(2));
