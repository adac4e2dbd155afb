// GET /console/companies/new and POST /console/companies: creating a company with its first admin.
// The admin's temporary password is on the answer page once, with a copy button; it is never stored
// or shown again (the admin changes it).
import type { SiloContext } from '../../../context.ts';
import { listServers } from '../../../control-plane/server-records.ts';
import { provisionCompany } from '../../../operations/provisioning/provision-company.ts';
import { CreateCompanyBody } from '../../routes/system-admin/create-company.ts';
import { consoleActor, type Web } from '../env.ts';
import { explain } from '../errors.tsx';
import { filled, parseOrRefuse } from '../forms.ts';
import { Page } from '../layout.tsx';

type Servers = Awaited<ReturnType<typeof listServers>>;

function CreateForm({ servers, given }: { servers: Servers; given: Record<string, string> }) {
  return (
    <form class="stack" method="post" action="/console/companies">
      <label>
        Name
        <input name="name" required maxlength={200} value={given.name ?? ''} />
      </label>
      <label>
        Slug <span class="hint">lower-case letters, digits and dashes; made from the name when left empty</span>
        <input name="slug" maxlength={63} pattern="[a-z][a-z0-9\-]{1,39}" value={given.slug ?? ''} />
      </label>
      <label>
        First admin’s email
        <input name="adminEmail" type="email" required maxlength={320} value={given.adminEmail ?? ''} />
      </label>
      <label>
        First admin’s name <span class="hint">optional</span>
        <input name="adminName" maxlength={200} value={given.adminName ?? ''} />
      </label>
      <label>
        Server <span class="hint">where placement chooses when left on automatic</span>
        <select name="serverId">
          <option value="">automatic</option>
          {servers
            .filter((s) => s.status === 'active' && s.provider !== 'external')
            .map((s) => (
              <option value={s.id} selected={given.serverId === s.id}>
                {s.name} ({s.companies} / {s.capacity})
              </option>
            ))}
        </select>
      </label>
      <button type="submit">Create the company</button>
    </form>
  );
}

export function registerCreateCompanyPages(web: Web, ctx: SiloContext) {
  web.get('/companies/new', async (c) =>
    c.html(
      <Page title="Create a company" section="companies" adminEmail={c.get('adminEmail')}>
        <CreateForm servers={await listServers(ctx)} given={{}} />
      </Page>,
    ),
  );

  web.post('/companies', async (c) => {
    const given = filled(await c.req.parseBody());
    try {
      const input = parseOrRefuse(CreateCompanyBody, {
        name: given.name,
        slug: given.slug,
        serverId: given.serverId,
        admin: { email: given.adminEmail, ...(given.adminName ? { name: given.adminName } : {}) },
      });
      const created = await provisionCompany(ctx, { ...input, admin: input.admin! }, consoleActor(c.get('auth')));
      const { company, admin } = created;
      return c.html(
        <Page title={`Created ${company.name}`} section="companies" adminEmail={c.get('adminEmail')} notice="The company is ready.">
          <section class="panel" aria-labelledby="admin-heading">
            <h2 id="admin-heading">Its first admin</h2>
            <p>
              <strong>{admin.email}</strong> logs in to company <code>{company.slug}</code> with this temporary password. It is shown only
              now: copy it and hand it over safely.
            </p>
            <p>
              <span id="temporary-password" class="secret">
                {admin.temporaryPassword ?? '(the password given)'}
              </span>{' '}
              <button type="button" class="secondary" data-copy="temporary-password">
                Copy the password
              </button>
            </p>
          </section>
          <p>
            <a href={`/console/companies/${company.slug}`}>Open {company.slug}</a> · <a href="/console/companies">All companies</a>
          </p>
        </Page>,
        201,
        { 'Cache-Control': 'no-store' },
      );
    } catch (error) {
      const { status, message } = await explain(error, c, ctx.log);
      return c.html(
        <Page title="Create a company" section="companies" adminEmail={c.get('adminEmail')} error={message}>
          <CreateForm servers={await listServers(ctx)} given={given} />
        </Page>,
        status,
      );
    }
  });
}
