// Small pieces the pages share: messages, status badges, capacity bars, and how figures and times
// are written.
import type { Child } from 'hono/jsx';

export function Messages({ notice, error }: { notice?: string | undefined; error?: string | undefined }) {
  return (
    <>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

export const Badge = ({ value }: { value: string }) => <span class={`badge ${value}`}>{value}</span>;

/** A labelled bar: `used` of `of` (companies of a server's capacity, companies migrated of a run). */
export function Bar({ used, of, label }: { used: number; of: number; label: string }) {
  return (
    <span class="bar">
      <progress value={Math.min(used, of)} max={Math.max(of, 1)} aria-label={label} />
      <span>
        {used} / {of}
      </span>
    </span>
  );
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** "2026-12-02 16:05 UTC": the same on every operator's screen. */
export function formatTime(iso: string | Date | null | undefined): string {
  if (!iso) return '—';
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export const Table = ({ caption, children }: { caption: string; children?: Child }) => (
  <div class="table-wrap">
    <table>
      <caption class="sr-only">{caption}</caption>
      {children}
    </table>
  </div>
);
