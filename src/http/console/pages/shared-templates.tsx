// GET /console/templates: the shared document templates every company sees (docs/shared-data.md),
// with forms to add one, change one and remove one. The forms are checked with the API's own
// schemas; the changes are the functions /api/shared/templates calls.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { TemplateView } from '../../../base/template-rules.ts';
import type { SiloContext } from '../../../context.ts';
import {
  createSharedTemplate,
  deleteSharedTemplate,
  listSharedTemplates,
  updateSharedTemplate,
} from '../../../control-plane/shared-templates.ts';
import { CreateSharedTemplateBody, UpdateSharedTemplateBody } from '../../routes/system-admin/shared-templates.ts';
import { TemplateKeyParam } from '../../schemas.ts';
import type { ConsoleEnv, Web } from '../env.ts';
import { explain } from '../errors.tsx';
import { parseOrRefuse } from '../forms.ts';
import { Page } from '../layout.tsx';
import { type NoticeKey, noticeFor } from '../notices.ts';
import { formatTime, Table } from '../parts.tsx';

/** The most templates one page shows; more are reached with "Next". */
const PAGE_SIZE = 50;

type Given = Partial<Record<'key' | 'title' | 'content' | 'tags', string>>;

/** The form's fields as typed: the content exactly (white space may matter), tags split at commas. */
async function templateForm(c: Context<ConsoleEnv>): Promise<{ given: Given; fields: Record<string, unknown> }> {
  const form = await c.req.parseBody();
  const given: Given = {};
  for (const name of ['key', 'title', 'content', 'tags'] as const) if (typeof form[name] === 'string') given[name] = form[name];
  const tags = (given.tags ?? '')
    .split(',')
    .map((tag) => tag.trim())
    .filter(Boolean);
  return { given, fields: { key: given.key?.trim(), title: given.title, content: given.content ?? '', tags } };
}

const Fields = ({ given, label }: { given: Given; label: string }) => (
  <>
    <label>
      Title{label}
      <input name="title" required maxlength={200} value={given.title ?? ''} />
    </label>
    <label>
      Content{label}
      <textarea name="content" rows={8} maxlength={100000}>
        {given.content ?? ''}
      </textarea>
    </label>
    <label>
      Tags{label} <span class="hint">separated by commas; at most 20</span>
      <input name="tags" maxlength={1100} value={given.tags ?? ''} />
    </label>
  </>
);

const EditTemplate = ({ template }: { template: TemplateView }) => (
  <section class="panel" aria-label={`Template ${template.key}`}>
    <h3>{template.key}</h3>
    <form class="stack" method="post" action={`/console/templates/${template.key}`}>
      <Fields given={{ ...template, tags: template.tags.join(', ') }} label={` of ${template.key}`} />
      <button type="submit" class="secondary">
        Save {template.key}
      </button>
    </form>
    <details class="confirm">
      <summary>Delete {template.key}</summary>
      <p>Companies stop seeing it, except those with a template of their own under this key.</p>
      <form method="post" action={`/console/templates/${template.key}/delete`}>
        <button type="submit" class="danger">
          Delete {template.key} for good
        </button>
      </form>
    </details>
  </section>
);

async function templatesPage(
  c: Context<ConsoleEnv>,
  ctx: SiloContext,
  outcome: { error?: string; status?: ContentfulStatusCode; given?: Given } = {},
) {
  const cursor = c.req.query('cursor');
  const page = await listSharedTemplates(ctx.shared, { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) });
  return c.html(
    <Page
      title="Shared templates"
      section="templates"
      adminEmail={c.get('adminEmail')}
      notice={noticeFor(c.req.query('done'))}
      error={outcome.error}
    >
      <p>Every company sees these document templates, unless it has one of its own with the same key.</p>
      <Table caption="Shared templates">
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Title</th>
            <th scope="col">Tags</th>
            <th scope="col">Characters</th>
            <th scope="col">Changed</th>
          </tr>
        </thead>
        <tbody>
          {page.items.length === 0 && (
            <tr>
              <td colspan={5}>No shared templates yet.</td>
            </tr>
          )}
          {page.items.map((t) => (
            <tr>
              <td>{t.key}</td>
              <td>{t.title}</td>
              <td>{t.tags.join(', ')}</td>
              <td>{t.content.length}</td>
              <td>{formatTime(t.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </Table>
      {page.nextCursor && (
        <p>
          <a href={`/console/templates?cursor=${encodeURIComponent(page.nextCursor)}`}>Next templates</a>
        </p>
      )}
      <h2>Add a template</h2>
      <form class="stack" method="post" action="/console/templates">
        <label>
          Key <span class="hint">lowercase letters, digits and hyphens, e.g. meeting-notes</span>
          <input name="key" required maxlength={64} value={outcome.given?.key ?? ''} />
        </label>
        <Fields given={outcome.given ?? {}} label="" />
        <button type="submit">Add the template</button>
      </form>
      {page.items.length > 0 && <h2>Change a template</h2>}
      {page.items.map((template) => (
        <EditTemplate template={template} />
      ))}
    </Page>,
    outcome.status ?? 200,
  );
}

export function registerSharedTemplatePages(web: Web, ctx: SiloContext) {
  const act = async (c: Context<ConsoleEnv>, run: (fields: Record<string, unknown>) => Promise<NoticeKey>) => {
    const { given, fields } = await templateForm(c);
    try {
      return c.redirect(`/console/templates?done=${await run(fields)}`, 303);
    } catch (error) {
      const { status, message } = await explain(error, c, ctx.log);
      // Only the add form shows what was typed again (it has a key field); an edit form shows the template.
      return templatesPage(c, ctx, { error: message, status, ...(given.key !== undefined ? { given } : {}) });
    }
  };
  const keyOf = (c: Context<ConsoleEnv>) => parseOrRefuse(TemplateKeyParam, { key: c.req.param('key') }).key;

  web.get('/templates', (c) => templatesPage(c, ctx));

  web.post('/templates', (c) =>
    act(c, async (fields) => {
      const { key, ...rest } = parseOrRefuse(CreateSharedTemplateBody, fields);
      await createSharedTemplate(ctx.shared, key, rest);
      return 'template-added';
    }),
  );

  web.post('/templates/:key', (c) =>
    act(c, async ({ key: _key, ...fields }) => {
      await updateSharedTemplate(ctx.shared, keyOf(c), parseOrRefuse(UpdateSharedTemplateBody, fields));
      return 'template-changed';
    }),
  );

  web.post('/templates/:key/delete', (c) =>
    act(c, async () => {
      await deleteSharedTemplate(ctx.shared, keyOf(c));
      return 'template-deleted';
    }),
  );
}
