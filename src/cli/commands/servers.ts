// `silo servers list | add | drain` (update, remove: server-changes.ts): the database servers that hold tenant databases. A server's URL
// holds its admin password: it is stored encrypted and never printed; servers show `host` (host:port).
import { SingleBar } from 'cli-progress';
import { Option, type Command } from 'commander';
import { providers, serverPlacements } from '../../control-plane/schema.ts';
import { drainServer } from '../../operations/scale-out/drain-server.ts';
import { addServer, type AddServerInput, listServersProbed } from '../../operations/servers.ts';
import type { ServerView } from '../../control-plane/server-records.ts';
import { checkDatabaseUrl, parsePositiveInt, parseServerId, parseText } from '../arguments.ts';
import { printJson, printLine, printTable } from '../output.ts';
import { CliError, EXIT, usageError, type CliRuntime } from '../runtime.ts';
import { readSecret } from '../secret-input.ts';
import { registerServerChangeCommands } from './server-changes.ts';

interface AddOptions {
  name: string;
  provider: 'postgres' | 'neon' | 'external';
  url?: string;
  urlEnv?: string;
  urlStdin?: boolean;
  apiKeyEnv?: string;
  neonRegion?: string;
  neonPgVersion?: number;
  neonOrg?: string;
  capacity?: number;
  placement?: 'automatic' | 'manual';
  json?: boolean;
}

function printServers(cli: CliRuntime, servers: ServerView[]): void {
  printTable(
    cli.stdout,
    ['NAME', 'PROVIDER', 'HOST', 'STATUS', 'PLACEMENT', 'COMPANIES', 'CAPACITY', 'TEMPLATE', 'REACHABLE', 'ID'],
    servers.map((s) => [s.name, s.provider, s.host, s.status, s.placement, s.companies, s.capacity, s.templateVersion, s.reachable, s.id]),
  );
}

async function addServerInput(cli: CliRuntime, options: AddOptions): Promise<AddServerInput> {
  const common = {
    name: options.name,
    provider: options.provider,
    ...(options.capacity ? { capacity: options.capacity } : {}),
    ...(options.placement ? { placement: options.placement } : {}),
  };
  const url = await readSecret(cli, { flag: '--url', value: options.url, env: options.urlEnv, stdin: options.urlStdin });
  if (options.provider === 'postgres') {
    if (!url) throw usageError('a postgres server needs its URL: --url-env <name> or --url-stdin');
    return { ...common, url: checkDatabaseUrl(url, '--url') };
  }
  if (options.provider === 'external') {
    if (url || options.apiKeyEnv)
      throw usageError('an external server takes no --url or --api-key-env: each company brings its own database');
    return common;
  }
  if (!options.apiKeyEnv) throw usageError('--api-key-env is required for a neon server');
  const apiKey = (await readSecret(cli, { flag: '--api-key', env: options.apiKeyEnv }))!;
  if (url && !/^https?:\/\/.+/.test(url)) throw usageError("--url must be the Neon API's http(s) URL");
  return {
    ...common,
    apiKey,
    ...(url ? { url } : {}),
    neon: { regionId: options.neonRegion, pgVersion: options.neonPgVersion, orgId: options.neonOrg },
  };
}

export function registerServerCommands(program: Command, cli: CliRuntime): void {
  const servers = program.command('servers').description('database servers that hold tenant databases');
  registerServerChangeCommands(servers, cli);

  servers
    .command('list')
    .description('servers with their company counts, and whether each answers now')
    .option('--json', 'print one JSON document: { items }')
    .action(async (options: { json?: boolean }) => {
      const items = await cli.withSilo((ctx) => listServersProbed(ctx));
      if (options.json) printJson(cli.stdout, { items });
      else printServers(cli, items);
    });

  servers
    .command('add')
    .description('register a server (postgres: prepare its template; its login must be able to create databases and roles)')
    .requiredOption('--name <name>', 'a name for it, unique', parseText(100))
    .addOption(
      new Option('--provider <provider>', 'postgres, neon (a Neon project per company) or external (bring your own)')
        .choices(providers)
        .default('postgres'),
    )
    .option(
      '--url-env <name>',
      "postgres: the environment variable that holds an admin login's postgres:// URL (stored encrypted, never printed)",
    )
    .option('--url-stdin', "postgres: read the admin login's URL from standard input")
    .option(
      '--url <url>',
      "neon: the API's base URL; postgres: the admin URL itself (discouraged: its password shows in the process list and shell history)",
    )
    .option('--api-key-env <name>', 'neon: the environment variable that holds the Neon API key (kept out of the process list)')
    .option('--neon-region <id>', 'neon: region of new projects, e.g. aws-us-east-2')
    .option('--neon-pg-version <n>', 'neon: Postgres major version of new projects', parsePositiveInt(18))
    .option('--neon-org <id>', 'neon: organization that owns new projects')
    .option('--capacity <n>', 'how many companies it may hold (default: 500)', parsePositiveInt(100_000))
    .addOption(
      new Option('--placement <placement>', 'automatic (default): sign-ups may land here; manual: only companies that name it').choices(
        serverPlacements,
      ),
    )
    .option('--json', 'print one JSON document')
    .action(async (options: AddOptions) => {
      const input = await addServerInput(cli, options);
      const server = await cli.withSilo((ctx) => addServer(ctx, input));
      if (options.json) return printJson(cli.stdout, server);
      printLine(cli.stdout, `added ${server.provider} server ${server.name} (${server.id}) at ${server.host}`);
    });

  servers
    .command('drain')
    .description('mark a server draining (no new companies) and move every company on it to the other servers')
    .argument('<id>', 'the server (see "silo servers list")', parseServerId)
    .option('--concurrency <n>', 'companies moved at once', parsePositiveInt(64), 2)
    .option('--json', 'print one JSON document at the end')
    .addHelpText(
      'after',
      '\nEach company goes where a new one would be placed. Ctrl-C stops starting moves; running ones\n' +
        'finish. The server stays draining afterwards. Exit status: 0 only when no company is left on it.',
    )
    .action(async (id: string, options: { concurrency: number; json?: boolean }) => {
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const live = !options.json && (cli.stdout as { isTTY?: boolean }).isTTY === true;
      const bar = live ? new SingleBar({ format: 'draining [{bar}] {value}/{total} companies | failed {failed} | {slug}' }) : undefined;
      try {
        const run = await cli.withSilo((ctx) => {
          bar?.start(0, 0, { failed: 0, slug: '' });
          return drainServer(ctx, id, {
            concurrency: options.concurrency,
            actor: 'cli',
            signal: interrupt.signal,
            onOutcome: (outcome, progress) => {
              if (bar) {
                bar.setTotal(progress.total);
                bar.update(progress.done, { failed: progress.failed, slug: outcome.slug });
              } else if (!options.json) {
                const what = outcome.status === 'moved' ? `moved to ${outcome.toServerId}` : `FAILED: ${outcome.error}`;
                printLine(cli.stdout, `[${progress.done}/${progress.total}] ${outcome.slug}: ${what}`);
              }
            },
          });
        });
        bar?.stop();
        const moved = run.outcomes.filter((o) => o.status === 'moved');
        const failed = run.outcomes.filter((o) => o.status === 'failed');
        if (options.json) {
          printJson(cli.stdout, run);
        } else {
          const mb = (moved.reduce((n, o) => n + o.bytes, 0) / 1e6).toFixed(1);
          const held = Math.max(0, ...moved.map((o) => o.writesHeldMs ?? 0));
          printTable(
            cli.stdout,
            ['COMPANIES', 'MOVED', 'FAILED', 'NOT ATTEMPTED', 'REMAINING', 'DATA (MB)', 'LONGEST WRITE HOLD (MS)'],
            [[run.total, moved.length, failed.length, run.notAttempted.length, run.remaining, mb, held]],
          );
          for (const f of failed) printLine(cli.stderr, `failed: ${f.slug}${f.step ? ` at ${f.step}` : ''}: ${f.error}`);
        }
        if (run.remaining > 0) {
          throw new CliError(`${run.remaining} compan${run.remaining === 1 ? 'y is' : 'ies are'} still on the server`, EXIT.failed);
        }
      } finally {
        bar?.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
