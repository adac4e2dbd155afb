// `silo servers list | add`: the database servers that hold tenant databases. A server's URL holds
// its admin password: it is stored encrypted and never printed; servers show `host` (host:port).
import type { Command } from 'commander';
import { addServer, listServers, type ServerView } from '../../services/servers.ts';
import { checkDatabaseUrl, parsePositiveInt, parseText } from '../arguments.ts';
import { printJson, printLine, printTable } from '../output.ts';
import type { CliRuntime } from '../runtime.ts';

interface AddOptions {
  name: string;
  url: string;
  capacity?: number;
  json?: boolean;
}

function printServers(cli: CliRuntime, servers: ServerView[]): void {
  printTable(
    cli.stdout,
    ['NAME', 'HOST', 'STATUS', 'COMPANIES', 'CAPACITY', 'TEMPLATE', 'REACHABLE', 'ID'],
    servers.map((s) => [s.name, s.host, s.status, s.companies, s.capacity, s.templateVersion, s.reachable, s.id]),
  );
}

export function registerServerCommands(program: Command, cli: CliRuntime): void {
  const servers = program.command('servers').description('database servers that hold tenant databases');

  servers
    .command('list')
    .description('servers with their company counts, and whether each answers now')
    .option('--json', 'print one JSON document: { items }')
    .action(async (options: { json?: boolean }) => {
      const items = await cli.withSilo((ctx) => listServers(ctx, { probe: true }));
      if (options.json) printJson(cli.stdout, { items });
      else printServers(cli, items);
    });

  servers
    .command('add')
    .description('register a server and prepare its template; its login must be able to create databases and roles')
    .requiredOption('--name <name>', 'a name for it, unique', parseText(100))
    .requiredOption('--url <url>', "an admin login's postgres:// URL; stored encrypted, never printed")
    .option('--capacity <n>', 'how many companies it may hold (default: 500)', parsePositiveInt(100_000))
    .option('--json', 'print one JSON document')
    .action(async (options: AddOptions) => {
      const url = checkDatabaseUrl(options.url, '--url');
      const server = await cli.withSilo((ctx) =>
        addServer(ctx, { name: options.name, url, ...(options.capacity ? { capacity: options.capacity } : {}) }),
      );
      if (options.json) return printJson(cli.stdout, server);
      printLine(cli.stdout, `added server ${server.name} (${server.id}) at ${server.host}`);
    });
}
