// `silo shared templates list | put | delete`: the shared document templates every company sees
// (docs/shared-data.md), the same functions the system admin's /api/shared/templates calls.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { z } from 'zod';
import { templateContentSchema, templateKeySchema } from '../../base/template-rules.ts';
import type { TemplateView } from '../../base/template-rules.ts';
import {
  createSharedTemplate,
  deleteSharedTemplate,
  findSharedTemplate,
  listSharedTemplates,
  updateSharedTemplate,
} from '../../control-plane/shared-templates.ts';
import type { SiloContext } from '../../context.ts';
import { printJson, printLine, printTable, shortTime } from '../output.ts';
import { type CliRuntime, usageError } from '../runtime.ts';

interface PutOptions {
  title: string;
  content?: string;
  contentFile?: string;
  tag?: string[];
  json?: boolean;
}

/** The first problem a schema found, as a usage error naming the option. */
function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.length ? `--${String(issue.path[0])}` : what;
  throw usageError(`${field} ${issue?.message ?? 'is not valid'}`);
}

function readContentFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(`--content-file cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function allSharedTemplates(ctx: SiloContext): Promise<TemplateView[]> {
  const items: TemplateView[] = [];
  let cursor: string | undefined;
  do {
    const page = await listSharedTemplates(ctx.shared, { limit: 200, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

export function registerSharedCommands(program: Command, cli: CliRuntime): void {
  const shared = program.command('shared').description('shared reference data, read by every company');
  const templates = shared.command('templates').description('document templates every company sees, unless it has its own with the key');

  templates
    .command('list')
    .description('every shared template, in key order')
    .option('--json', 'print one JSON document: { items }')
    .action(async (options: { json?: boolean }) => {
      const items = await cli.withSilo(allSharedTemplates);
      if (options.json) printJson(cli.stdout, { items });
      else
        printTable(
          cli.stdout,
          ['KEY', 'TITLE', 'TAGS', 'CHARACTERS', 'UPDATED'],
          items.map((t) => [t.key, t.title, t.tags.join(','), t.content.length, shortTime(t.updatedAt)]),
        );
    });

  templates
    .command('put <key>')
    .description('create the shared template with this key, or replace its title, content and tags')
    .requiredOption('--title <title>', 'its title')
    .option('--content <text>', 'its content')
    .option('--content-file <path>', 'read its content from this file (UTF-8)')
    .option('--tag <tag...>', 'its tags (replacing any it had)')
    .option('--json', 'print the template as JSON')
    .action(async (rawKey: string, options: PutOptions) => {
      const key = check(templateKeySchema, rawKey, '<key>');
      if ((options.content === undefined) === (options.contentFile === undefined))
        throw usageError('give the content with --content or --content-file (one of them)');
      const content = options.content ?? readContentFile(options.contentFile!);
      const fields = check(templateContentSchema, { title: options.title, content, tags: options.tag ?? [] }, 'the template');
      const { template, created } = await cli.withSilo(async (ctx) =>
        (await findSharedTemplate(ctx.shared, key))
          ? { template: await updateSharedTemplate(ctx.shared, key, fields), created: false }
          : { template: await createSharedTemplate(ctx.shared, key, fields), created: true },
      );
      if (options.json) printJson(cli.stdout, template);
      else printLine(cli.stdout, `${created ? 'created' : 'replaced'} shared template ${template.key}`);
    });

  templates
    .command('delete <key>')
    .description("remove a shared template (companies' own templates with the key stay)")
    .action(async (rawKey: string) => {
      const key = check(templateKeySchema, rawKey, '<key>');
      await cli.withSilo((ctx) => deleteSharedTemplate(ctx.shared, key));
      printLine(cli.stdout, `deleted shared template ${key}`);
    });
}
