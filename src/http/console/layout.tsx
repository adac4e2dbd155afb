// The page frame every console page shares: the head (assets, htmx's settings), a skip link, the
// navigation, who is logged in with the logout button, and the page's messages.
import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';
import { assets } from './assets.ts';
import { Messages } from './parts.tsx';

// htmx may not evaluate strings as code, run scripts in swapped HTML or add an inline style (the
// Content-Security-Policy forbids both); pages are never copied into the browser's storage.
// Error answers are swapped like any other, so their messages show where the request was made.
const htmxConfig = JSON.stringify({
  allowEval: false,
  allowScriptTags: false,
  includeIndicatorStyles: false,
  historyCacheSize: 0,
  refreshOnHistoryMiss: true,
  selfRequestsOnly: true,
  responseHandling: [
    { code: '204', swap: false },
    { code: '...', swap: true },
  ],
});

export type Section = 'fleet' | 'companies' | 'servers' | 'migrations' | 'query' | 'templates' | 'login';

const sections: { id: Section; href: string; label: string }[] = [
  { id: 'fleet', href: '/console', label: 'Fleet' },
  { id: 'companies', href: '/console/companies', label: 'Companies' },
  { id: 'servers', href: '/console/servers', label: 'Servers' },
  { id: 'migrations', href: '/console/migrations', label: 'Migrations' },
  { id: 'query', href: '/console/fleet/query', label: 'Fleet query' },
  { id: 'templates', href: '/console/templates', label: 'Templates' },
];

export interface PageProps {
  title: string;
  section: Section;
  adminEmail?: string | undefined;
  notice?: string | undefined;
  error?: string | undefined;
  children?: Child;
}

export function Page({ title, section, adminEmail, notice, error, children }: PageProps) {
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="htmx-config" content={htmxConfig} />
          <title>{`${title} · Silo console`}</title>
          {/* No icon to fetch: the browser would ask for /favicon.ico, which Silo does not serve. */}
          <link rel="icon" href="data:," />
          <link rel="stylesheet" href={assets.style.url} />
          <script src={assets.htmx.url} defer />
          <script src={assets.script.url} defer />
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <a class="brand" href="/console">
              Silo console
            </a>
            {adminEmail && (
              <>
                <nav aria-label="Console">
                  <ul>
                    {sections.map((s) => (
                      <li>
                        <a href={s.href} aria-current={s.id === section ? 'page' : undefined}>
                          {s.label}
                        </a>
                      </li>
                    ))}
                  </ul>
                </nav>
                <div class="who">
                  <span>{adminEmail}</span>
                  <form method="post" action="/console/logout">
                    <button type="submit">Log out</button>
                  </form>
                </div>
              </>
            )}
          </header>
          <main id="main" tabindex={-1}>
            <h1>{title}</h1>
            <Messages notice={notice} error={error} />
            {children}
          </main>
        </body>
      </html>
    </>
  );
}
