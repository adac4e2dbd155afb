// The actions panel of a company's page: each action a small form that posts to
// company-actions.ts. Destructive ones ask first: restoring opens a confirmation, deleting needs
// the slug typed.
import { isServable } from '../../../control-plane/company-records.ts';
import type { CompanyRow } from '../../../control-plane/schema.ts';
import type { ServerView } from '../../../control-plane/server-records.ts';

const Post = ({ action, label, name, value, kind }: { action: string; label: string; name?: string; value?: string; kind?: string }) => (
  <form method="post" action={action}>
    {name && <input type="hidden" name={name} value={value ?? ''} />}
    <button type="submit" class={kind ?? 'secondary'}>
      {label}
    </button>
  </form>
);

function MoveForm({ company, servers }: { company: CompanyRow; servers: ServerView[] }) {
  const targets = servers.filter((s) => s.id !== company.serverId && s.status === 'active' && s.provider === 'postgres');
  if (company.provider !== 'postgres' || targets.length === 0) return null;
  return (
    <form class="inline" method="post" action={`/console/companies/${company.slug}/move`}>
      <label>
        Move to server
        <select name="serverId" required>
          {targets.map((s) => (
            <option value={s.id}>
              {s.name} ({s.companies} / {s.capacity})
            </option>
          ))}
        </select>
      </label>
      <button type="submit" class="secondary">
        Move
      </button>
    </form>
  );
}

export function CompanyActions({ company, servers }: { company: CompanyRow; servers: ServerView[] }) {
  const base = `/console/companies/${company.slug}`;
  if (company.status === 'deleted') return null;
  return (
    <section class="panel" aria-labelledby="actions-heading">
      <h2 id="actions-heading">Actions</h2>
      <div class="actions">
        {isServable(company) && <Post action={`${base}/migrate`} label="Migrate now" />}
        {company.status === 'active' && <Post action={`${base}/status`} name="status" value="suspended" label="Suspend" />}
        {company.status === 'suspended' && <Post action={`${base}/status`} name="status" value="active" label="Reactivate" />}
        {isServable(company) && <Post action={`${base}/status`} name="status" value="archived" label="Archive" />}
        {company.status === 'archived' && <Post action={`${base}/status`} name="status" value="active" label="Unarchive" />}
        {isServable(company) && <MoveForm company={company} servers={servers} />}
      </div>
      <h3>Delete</h3>
      <form class="inline" method="post" action={`${base}/delete`}>
        <label>
          <span>
            Type <code>{company.slug}</code> to confirm: the database and its role are dropped (backups are kept)
          </span>
          <input name="confirm" autocomplete="off" required />
        </label>
        <button type="submit" class="danger">
          Delete the company
        </button>
      </form>
    </section>
  );
}
