// GET /console: the fleet at a glance. Companies by status; servers with their capacity in use,
// whether they answer and their status; tenant schema versions with how many companies are on each
// and which failed, with the error; the pool map's figures.
import type { SiloContext } from '../../../context.ts';
import { listServersProbed } from '../../../operations/servers.ts';
import { systemStatus } from '../../../operations/system-status.ts';
import type { Web } from '../env.ts';
import { Page } from '../layout.tsx';
import { Badge, Bar, Table } from '../parts.tsx';

type Status = Awaited<ReturnType<typeof systemStatus>>;
type Servers = Awaited<ReturnType<typeof listServersProbed>>;

const Companies = ({ counts }: { counts: Status['companies'] }) => (
  <section class="panel" aria-labelledby="companies-heading">
    <h2 id="companies-heading">Companies by status</h2>
    <ul class="cards">
      {['active', 'suspended', 'archived', 'provisioning', 'failed', 'deleted'].map((status) => (
        <li>
          <a href={`/console/companies?status=${status}`}>
            <span class="figure">{counts[status] ?? 0}</span> {status}
          </a>
        </li>
      ))}
    </ul>
  </section>
);

export const ServersTable = ({ servers }: { servers: Servers }) => (
  <Table caption="Database servers">
    <thead>
      <tr>
        <th>Server</th>
        <th>Provider</th>
        <th>Companies / capacity</th>
        <th>Reachable</th>
        <th>Status</th>
        <th>Template</th>
      </tr>
    </thead>
    <tbody>
      {servers.map((s) => (
        <tr>
          <td>
            {s.name}
            <div class="muted">{s.host}</div>
          </td>
          <td>{s.provider}</td>
          <td>
            <Bar used={s.companies} of={s.capacity} label={`${s.name}: ${s.companies} companies of ${s.capacity}`} />
          </td>
          <td>
            <Badge value={s.reachable === false ? 'unreachable' : 'reachable'} />
          </td>
          <td>
            <Badge value={s.status} />
          </td>
          <td>
            <code>{s.templateVersion ?? '—'}</code>
          </td>
        </tr>
      ))}
    </tbody>
  </Table>
);

const Schema = ({ schema }: { schema: Status['tenantSchema'] }) => (
  <section class="panel" aria-labelledby="schema-heading">
    <h2 id="schema-heading">Tenant schema versions</h2>
    <p>
      Latest: <code>{schema.latest ?? '(none)'}</code>. {schema.behind} {schema.behind === 1 ? 'company is' : 'companies are'} behind.{' '}
      <a href="/console/migrations">Plan and apply migrations</a>
    </p>
    <Table caption="Companies per tenant schema version">
      <thead>
        <tr>
          <th>Version</th>
          <th class="num">Companies</th>
          <th>State</th>
        </tr>
      </thead>
      <tbody>
        {schema.versions.map((v) => (
          <tr>
            <td>
              <code>{v.version ?? '(none)'}</code>
            </td>
            <td class="num">{v.companies}</td>
            <td>
              <Badge value={v.version === schema.latest ? 'current' : 'pending'} />
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
    {schema.failed.length > 0 && (
      <>
        <h3>Last migration failed</h3>
        <Table caption="Companies whose last migration failed">
          <thead>
            <tr>
              <th>Company</th>
              <th>On version</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>
            {schema.failed.map((f) => (
              <tr>
                <td>
                  <a href={`/console/companies/${f.slug}`}>{f.slug}</a>
                </td>
                <td>
                  <code>{f.version ?? '(none)'}</code>
                </td>
                <td>{f.error}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      </>
    )}
  </section>
);

const Pools = ({ pools }: { pools: Status['pools'] }) => (
  <section class="panel" aria-labelledby="pools-heading">
    <h2 id="pools-heading">Pool map (this instance)</h2>
    <ul class="cards">
      <li>
        <span class="figure">{pools.openPools}</span> open pools
      </li>
      <li>
        <span class="figure">{pools.drainingPools}</span> draining
      </li>
      <li>
        <span class="figure">{pools.connectionsAtMost}</span> connections at most
      </li>
      <li>
        <span class="figure">{pools.hits}</span> hits
      </li>
      <li>
        <span class="figure">{pools.misses}</span> misses
      </li>
      <li>
        <span class="figure">{pools.evictions}</span> evictions
      </li>
      <li>
        <span class="figure">{pools.opensInFlight}</span> opening now
      </li>
    </ul>
  </section>
);

const Files = ({ files }: { files: Status['files'] }) => (
  <section class="panel" aria-labelledby="files-heading">
    <h2 id="files-heading">Document files ({files.storage})</h2>
    <p>
      {(files.used.bytes / 2 ** 20).toFixed(1)} MB in {files.used.files} files of {files.used.companies} companies
      {files.used.unreadable > 0 ? `; ${files.used.unreadable} companies could not be read` : ''} (summed at most once a minute)
    </p>
  </section>
);

export function registerFleetPage(web: Web, ctx: SiloContext) {
  web.get('/', async (c) => {
    const [status, servers] = await Promise.all([systemStatus(ctx), listServersProbed(ctx)]);
    return c.html(
      <Page title="Fleet" section="fleet" adminEmail={c.get('adminEmail')}>
        <Companies counts={status.companies} />
        <section class="panel" aria-labelledby="servers-heading">
          <h2 id="servers-heading">Servers</h2>
          <ServersTable servers={servers} />
        </section>
        <Schema schema={status.tenantSchema} />
        <Pools pools={status.pools} />
        <Files files={status.files} />
      </Page>,
    );
  });
}
