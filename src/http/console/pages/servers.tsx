// GET /console/servers: the database servers, with forms to add one (its URL and API key are
// password fields, never shown again), change its capacity, drain it (its companies are moved to
// where placement puts new ones), disable it, make it active again, or remove an empty one.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { describeError } from '../../../base/errors.ts';
import type { SiloContext } from '../../../context.ts';
import { drainServer } from '../../../operations/scale-out/drain-server.ts';
import { changeServer, removeServer } from '../../../operations/server-changes.ts';
import { addServer, listServersProbed } from '../../../operations/servers.ts';
import { AddServerBody, UpdateServerBody } from '../../routes/system-admin/servers.ts';
import { consoleActor, type ConsoleEnv, type Web } from '../env.ts';
import { explain } from '../errors.tsx';
import { filled, parseOrRefuse } from '../forms.ts';
import { Page } from '../layout.tsx';
import { type NoticeKey, noticeFor } from '../notices.ts';
import { ServersTable } from './fleet.tsx';

type Servers = Awaited<ReturnType<typeof listServersProbed>>;

const ServerControls = ({ server }: { server: Servers[number] }) => {
  const base = `/console/servers/${server.id}`;
  return (
    <section class="panel" aria-label={`Server ${server.name}`}>
      <h3>{server.name}</h3>
      <div class="actions">
        <form class="inline" method="post" action={`${base}/capacity`}>
          <label>
            Capacity of {server.name}
            <input name="capacity" type="number" min={1} max={100000} required value={String(server.capacity)} />
          </label>
          <button type="submit" class="secondary">
            Save capacity
          </button>
        </form>
        {server.status !== 'draining' && (
          <form method="post" action={`${base}/drain`}>
            <button type="submit" class="secondary">
              Drain {server.name}
            </button>
          </form>
        )}
        {server.status !== 'disabled' && (
          <form method="post" action={`${base}/status`}>
            <input type="hidden" name="status" value="disabled" />
            <button type="submit" class="secondary">
              Disable {server.name}
            </button>
          </form>
        )}
        {server.status !== 'active' && (
          <form method="post" action={`${base}/status`}>
            <input type="hidden" name="status" value="active" />
            <button type="submit" class="secondary">
              Make {server.name} active
            </button>
          </form>
        )}
        {server.companies === 0 && (
          <form method="post" action={`${base}/remove`}>
            <button type="submit" class="danger">
              Remove {server.name}
            </button>
          </form>
        )}
      </div>
    </section>
  );
};

const AddForm = ({ given }: { given: Record<string, string> }) => (
  <form class="stack" method="post" action="/console/servers">
    <label>
      Name
      <input name="name" required maxlength={100} value={given.name ?? ''} />
    </label>
    <label>
      Provider
      <select name="provider">
        {['postgres', 'neon', 'external'].map((p) => (
          <option value={p} selected={given.provider === p}>
            {p}
          </option>
        ))}
      </select>
    </label>
    <label>
      URL <span class="hint">postgres: an admin login’s connection string; neon: the API’s URL (optional). Never shown again.</span>
      <input name="url" type="password" autocomplete="off" maxlength={2000} />
    </label>
    <label>
      API key <span class="hint">neon only; never shown again</span>
      <input name="apiKey" type="password" autocomplete="off" maxlength={500} />
    </label>
    <label>
      Capacity <span class="hint">companies it takes; default 500</span>
      <input name="capacity" type="number" min={1} max={100000} value={given.capacity ?? ''} />
    </label>
    <label>
      Placement
      <select name="placement">
        <option value="automatic">automatic: new companies may land here</option>
        <option value="manual" selected={given.placement === 'manual'}>
          manual: only companies that name it
        </option>
      </select>
    </label>
    <button type="submit">Add the server</button>
  </form>
);

async function serversPage(
  c: Context<ConsoleEnv>,
  ctx: SiloContext,
  outcome: { error?: string; status?: ContentfulStatusCode; given?: Record<string, string> } = {},
) {
  const servers = await listServersProbed(ctx);
  return c.html(
    <Page title="Servers" section="servers" adminEmail={c.get('adminEmail')} notice={noticeFor(c.req.query('done'))} error={outcome.error}>
      <ServersTable servers={servers} />
      <h2>Change a server</h2>
      {servers.map((server) => (
        <ServerControls server={server} />
      ))}
      <h2>Add a server</h2>
      <AddForm given={outcome.given ?? {}} />
    </Page>,
    outcome.status ?? 200,
  );
}

const withoutSecrets = ({ url: _url, apiKey: _key, ...rest }: Record<string, string>) => rest;

export function registerServerPages(web: Web, ctx: SiloContext) {
  const act = async (c: Context<ConsoleEnv>, run: (form: Record<string, string>) => Promise<NoticeKey>) => {
    const form = filled(await c.req.parseBody());
    try {
      return c.redirect(`/console/servers?done=${await run(form)}`, 303);
    } catch (error) {
      const { status, message } = await explain(error, c, ctx.log);
      return serversPage(c, ctx, { error: message, status, given: withoutSecrets(form) });
    }
  };

  web.get('/servers', (c) => serversPage(c, ctx));

  web.post('/servers', (c) =>
    act(c, async (form) => {
      const capacity = form.capacity ? Number(form.capacity) : undefined;
      await addServer(ctx, parseOrRefuse(AddServerBody, { ...form, capacity }));
      return 'server-added';
    }),
  );

  web.post('/servers/:id/capacity', (c) =>
    act(c, async (form) => {
      await changeServer(ctx, c.req.param('id'), parseOrRefuse(UpdateServerBody, { capacity: Number(form.capacity) }));
      return 'server-changed';
    }),
  );

  web.post('/servers/:id/status', (c) =>
    act(c, async (form) => {
      await changeServer(ctx, c.req.param('id'), parseOrRefuse(UpdateServerBody, { status: form.status }));
      return 'server-changed';
    }),
  );

  web.post('/servers/:id/drain', (c) =>
    act(c, async () => {
      const id = c.req.param('id');
      // Marked draining now, so the page shows it; the moves run in the background, as many as
      // `silo servers drain` runs by default, and each one's outcome is in the company's audit log.
      const server = await changeServer(ctx, id, { status: 'draining' });
      if (server.provider === 'postgres') {
        drainServer(ctx, id, { concurrency: 2, actor: consoleActor(c.get('auth')) }).catch((error: unknown) =>
          ctx.log.warn({ serverId: id, error: describeError(error) }, 'drain failed'),
        );
      }
      return 'server-draining';
    }),
  );

  web.post('/servers/:id/remove', (c) =>
    act(c, async () => {
      await removeServer(ctx, c.req.param('id'));
      return 'server-removed';
    }),
  );
}
