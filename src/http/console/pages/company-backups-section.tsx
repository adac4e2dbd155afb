// The backups section of a company's page: take one, the list (refreshed in place while one runs),
// a download link per archive, and a restore behind a confirmation (company-backups.tsx posts them).
import type { CompanyRow } from '../../../control-plane/schema.ts';
import type { BackupView } from '../../../operations/backups/backups.ts';
import { Badge, formatBytes, formatTime, Table } from '../parts.tsx';

function RestoreConfirm({ slug, backup }: { slug: string; backup: BackupView }) {
  return (
    <details class="confirm">
      <summary>Restore…</summary>
      <form method="post" action={`/console/companies/${slug}/restore`}>
        <input type="hidden" name="backupId" value={backup.id} />
        <p>
          Replace all of {slug}’s data with this backup from {formatTime(backup.completedAt)}? Whatever changed since is lost. Requests
          answer “try again” for the moment of the swap.
        </p>
        <button type="submit" class="danger">
          Restore this backup
        </button>
      </form>
    </details>
  );
}

export function BackupsSection({ company, backups }: { company: CompanyRow; backups: BackupView[] }) {
  const running = backups.some((b) => b.status === 'running');
  const canTake = company.status === 'active' || company.status === 'suspended';
  // While a backup runs, the section asks for the page every second and keeps only itself.
  const poll = running
    ? { 'hx-get': `/console/companies/${company.slug}`, 'hx-trigger': 'every 1s', 'hx-select': '#backups', 'hx-swap': 'outerHTML' }
    : {};
  return (
    <section class="panel" id="backups" aria-labelledby="backups-heading" {...poll}>
      <h2 id="backups-heading">Backups</h2>
      {canTake && (
        <form method="post" action={`/console/companies/${company.slug}/backups`}>
          <button type="submit" class="secondary">
            Take a backup
          </button>
        </form>
      )}
      <Table caption="The company's backups, newest first">
        <thead>
          <tr>
            <th>Started</th>
            <th>Status</th>
            <th>Origin</th>
            <th>Schema</th>
            <th class="num">Size</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {backups.map((b) => (
            <tr>
              <td>{formatTime(b.startedAt)}</td>
              <td>
                <Badge value={b.status} />
                {b.error && <div class="muted">{b.error}</div>}
              </td>
              <td>{b.origin}</td>
              <td>
                <code>{b.schemaVersion ?? '—'}</code>
              </td>
              <td class="num">{formatBytes(b.sizeBytes)}</td>
              <td>
                {b.status === 'completed' && (
                  <>
                    <a href={`/console/companies/${company.slug}/backups/${b.id}/archive`} download>
                      Download
                    </a>{' '}
                    {canTake && <RestoreConfirm slug={company.slug} backup={b} />}
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </Table>
      {backups.length === 0 && <p>No backups yet.</p>}
    </section>
  );
}
