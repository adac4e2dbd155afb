// The operators' console in a real browser (chromium, headless) against Silo started as `npm start`
// starts it: logging in and out, creating a company and reading its temporary password, search,
// suspend and reactivate, backups taken, downloaded and restored, delete with the slug typed,
// servers, and what the console refuses (a company user's token, a form from another site). No
// page may log a console error or see a failed request unless the test asked for that error.
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, logInApi } from './support/console-api.ts';
import { DESKTOP, launchBrowser, shoot, shown, type Watch, watch } from './support/browser.ts';
import { checkoutSilo, type SiloCheckout } from './support/silo-checkout.ts';
import { killLeftover, type SiloProcess, stopWith } from './support/silo-process.ts';

const admin = { email: 'ops@silo.test', password: 'correct-horse-battery' };
let checkout: SiloCheckout;
let silo: SiloProcess;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let w: Watch;
let base: string;
/** The first admin of acme, who logs in with the temporary password the console showed. */
const acme = { email: 'boss@acme.test', password: '', company: 'acme' };

beforeAll(async () => {
  checkout = checkoutSilo(admin);
  silo = await checkout.start();
  base = silo.url;
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  page = await context.newPage();
  w = watch(page);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (silo) await stopWith(silo, 'SIGTERM').catch(() => killLeftover(silo));
  checkout?.remove();
});

const text = (selector: string) => shown(page.locator(selector));
/** Waits until every lazily loaded cell of the companies table has its figures. */
const figuresLoaded = () => page.waitForFunction(() => !document.querySelector('td[hx-get]'));

describe('the console', () => {
  it('serves its assets from Silo, versioned and immutable, under a policy without inline scripts', async () => {
    const login = await fetch(`${base}/console/login`);
    const policy = login.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain('unsafe-inline');
    expect(login.headers.get('x-frame-options')).toBe('DENY');
    const html = await login.text();
    const htmx = html.match(/src="(\/console\/assets\/[^"]+\/htmx\.min\.js)"/)![1]!;
    const version = JSON.parse(readFileSync('node_modules/htmx.org/package.json', 'utf8')).version;
    expect(htmx).toBe(`/console/assets/${version}/htmx.min.js`);
    const asset = await fetch(`${base}${htmx}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(html).not.toMatch(/<script>|<style>| style="|https?:\/\//);
    expect((await fetch(`${base}/console/assets/${version}/other.js`)).status).toBe(404);
  });

  it('refuses a wrong password with a readable message, and logs in from the keyboard', async () => {
    await page.goto(`${base}/console`);
    expect(page.url()).toBe(`${base}/console/login`);
    await shoot(page, 'login');
    // The first Tab reaches the skip link, and the focus is drawn.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe('none');

    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByLabel('Password').press('Enter');
    await page.waitForLoadState();
    expect(await text('[role=alert]')).toBe('The email or password is not right.');
    w.expected(/answer 401: POST .*\/console\/login/);
    w.expected(/console: Failed to load resource.*401/);

    await page.getByLabel('Password').fill(admin.password);
    await page.getByLabel('Password').press('Enter');
    await page.waitForURL(`${base}/console`);
    expect(await text('h1')).toBe('Fleet');
    expect(await text('main')).toContain('default');
    const cookie = (await context.cookies()).find((c) => c.name === 'silo_console')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console', secure: false });
    await shoot(page, 'fleet');
    w.clean();
  });

  it('creates a company and shows its temporary password once, with a copy button', async () => {
    await page.getByRole('link', { name: 'Companies' }).click();
    await page.getByRole('link', { name: 'Create a company' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Acme Corp');
    await page.getByLabel(/^Slug/).fill('acme');
    await page.getByLabel('First admin’s email').fill(acme.email);
    await shoot(page, 'company-new');
    await page.getByRole('button', { name: 'Create the company' }).click();
    expect(await text('h1')).toBe('Created Acme Corp');
    acme.password = await text('#temporary-password');
    expect(acme.password).toMatch(/^\S{12,}$/);
    await page.getByRole('button', { name: 'Copy the password' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(acme.password);
    await shoot(page, 'company-created');
    // The password works, and it is shown nowhere else.
    await logInApi(base, acme);
    await page.goto(`${base}/console/companies/acme`);
    expect(await page.content()).not.toContain(acme.password);

    const token = await logInApi(base, admin);
    for (const slug of ['globex', 'initech']) {
      const created = await callApi(base, 'POST', '/api/companies', {
        token,
        body: { name: `${slug} Inc`, slug, admin: { email: `a@${slug}.test` } },
      });
      expect(created.status).toBe(201);
    }
    w.clean();
  });

  it('finds companies by search and by status, in place', async () => {
    await page.goto(`${base}/console/companies`);
    await figuresLoaded();
    expect(await page.getByRole('row').count()).toBe(4);
    await page.getByLabel('Search by name or slug').fill('glob');
    await page.waitForURL(/q=glob/);
    await page.waitForFunction(() => document.querySelectorAll('#company-results tbody tr').length === 1);
    await figuresLoaded();
    expect(await text('#company-results tbody')).toContain('globex');
    await shoot(page, 'companies');
    await page.getByLabel('Search by name or slug').fill('');
    await page.getByLabel('Status').selectOption('suspended');
    await page.waitForURL(/status=suspended/);
    expect(await text('#company-results')).toContain('No company matches.');
    w.clean();
  });

  it('suspends and reactivates a company, and tests its database', async () => {
    await page.goto(`${base}/console/companies/acme`);
    await page.getByRole('button', { name: 'Suspend' }).click();
    expect(await text('[role=status]')).toContain('The company is suspended');
    expect(await text('dl.details')).toContain('suspended');
    expect((await callApi(base, 'POST', '/api/auth/login', { body: acme })).body.error.code).toBe('company_suspended');
    await page.getByRole('button', { name: 'Reactivate' }).click();
    expect(await text('[role=status]')).toContain('active again');
    await logInApi(base, acme);

    await page.getByRole('button', { name: 'Migrate now' }).click();
    expect(await text('[role=status]')).toBe('The company was already on the latest schema.');
    await page.getByRole('button', { name: 'Test the database' }).click();
    expect(await text('#database [role=status]')).toMatch(/^Connected as the company's role in [\d.]+ ms: PostgreSQL 18/);
    w.clean();
  });

  it('takes a backup, downloads it and restores the company from it after a confirmation', async () => {
    const token = await logInApi(base, acme);
    const document = (title: string) => callApi(base, 'POST', '/api/documents', { token, body: { title, content: title } });
    expect((await document('before the backup')).status).toBe(201);

    await page.goto(`${base}/console/companies/acme`);
    await page.getByRole('button', { name: 'Take a backup' }).click();
    expect(await text('[role=status]')).toContain('A backup is running');
    // The section refreshes itself until the backup has completed.
    await page.locator('#backups .badge.completed').waitFor({ timeout: 60_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    const archive = readFileSync((await download.path())!);
    expect(archive.subarray(0, 14).toString('latin1')).toBe('SILO-BACKUP 3 ');
    expect(download.suggestedFilename()).toMatch(/\.silo$/);

    expect((await document('after the backup')).status).toBe(201);
    await page.getByText('Restore…').click();
    await shoot(page, 'company');
    await page.getByRole('button', { name: 'Restore this backup' }).click();
    expect(await text('[role=status]')).toContain('The restore has started');
    await expect
      .poll(
        async () => {
          await page.reload();
          return text('main');
        },
        { timeout: 60_000, interval: 1000 },
      )
      .toMatch(/restored\s+ok/);
    const titles = (await callApi(base, 'GET', '/api/documents', { token: await logInApi(base, acme) })).body.items.map(
      (d: { title: string }) => d.title,
    );
    expect(titles).toEqual(['before the backup']);
    w.clean();
  }, 120_000);

  it('shows what went wrong as a sentence on the page', async () => {
    await page.goto(`${base}/console/companies/no-such-company`);
    expect(await text('h1')).toBe('Not found');
    expect(await text('[role=alert]')).toBe('Company not found.');
    w.expected(/answer 404: GET .*no-such-company/);
    w.expected(/console: Failed to load resource.*404/);
    await page.goto(`${base}/console/companies?cursor=not-a-cursor`);
    expect(await text('[role=alert]')).toBe('Invalid cursor. Cursor: is not a cursor this API returned.');
    w.expected(/answer 400/);
    w.expected(/console: Failed to load resource.*400/);
    w.clean();
  });

  it('deletes a company only with its slug typed', async () => {
    await page.goto(`${base}/console/companies/initech`);
    await page.getByLabel(/^Type initech to confirm/).fill('initec');
    await page.getByRole('button', { name: 'Delete the company' }).click();
    expect(await text('[role=alert]')).toContain("Deleting needs confirmation: repeat the company's slug");
    expect(await text('dl.details')).toContain('active');
    w.expected(/answer 409: POST .*\/initech\/delete/);
    w.expected(/console: Failed to load resource.*409/);

    await page.getByLabel(/^Type initech to confirm/).fill('initech');
    await page.getByRole('button', { name: 'Delete the company' }).click();
    await page.waitForURL(`${base}/console/companies?done=deleted`);
    expect(await text('[role=status]')).toContain('The company was deleted');
    await figuresLoaded();
    expect(await text('#company-results')).not.toContain('initech');
    expect((await callApi(base, 'GET', '/api/companies/initech', { token: await logInApi(base, admin) })).body.status).toBe('deleted');
    w.clean();
  });

  it('shows the servers and changes a capacity and a status', async () => {
    await page.getByRole('link', { name: 'Servers' }).click();
    await page.getByLabel('Capacity of default').fill('400');
    await page.getByRole('button', { name: 'Save capacity' }).click();
    expect(await text('[role=status]')).toBe('The server was changed.');
    expect(await text('table')).toContain('2 / 400');
    await page.getByRole('button', { name: 'Disable default' }).click();
    expect(await text('table')).toContain('disabled');
    await page.getByRole('button', { name: 'Make default active' }).click();
    expect(await text('table')).toContain('active');
    await shoot(page, 'servers');
    w.clean();
  });

  it('refuses a form sent from another site, and a request without a session', async () => {
    const token = await logInApi(base, admin);
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/console/companies/acme/status`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: `silo_console=${token}`, 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: 'status=suspended',
      });
    expect((await post({ origin: 'http://attacker.test', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({ origin: 'http://attacker.test' })).status).toBe(403);
    expect((await post({})).status).toBe(403);
    const status = async () => (await callApi(base, 'GET', '/api/companies/acme', { token })).body.status;
    expect(await status()).toBe('active');
    const noSession = await fetch(`${base}/console/companies`, { redirect: 'manual' });
    expect([noSession.status, noSession.headers.get('location')]).toEqual([303, '/console/login']);
  });

  it('logs out, which ends the session in every instance', async () => {
    const session = (await context.cookies()).find((c) => c.name === 'silo_console')!.value;
    await page.goto(`${base}/console`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/console/login?reason=logged-out`);
    expect(await text('[role=status]')).toBe('You are logged out.');
    expect((await context.cookies()).some((c) => c.name === 'silo_console')).toBe(false);
    await page.goto(`${base}/console/companies`);
    expect(page.url()).toBe(`${base}/console/login`);
    // The token is revoked in the management database, not only forgotten by this browser.
    expect((await callApi(base, 'GET', '/api/auth/me', { token: session })).status).toBe(401);
    w.clean();
  });

  it("does not open for a company user's token, in the cookie or as a bearer", async () => {
    const token = await logInApi(base, acme);
    const other = await browser.newContext({ viewport: DESKTOP });
    try {
      await other.addCookies([{ name: 'silo_console', value: token, url: `${base}/console` }]);
      const visitor = await other.newPage();
      const seen = watch(visitor);
      await visitor.goto(`${base}/console`);
      expect(visitor.url()).toBe(`${base}/console/login?reason=not-admin`);
      expect(await shown(visitor.locator('[role=status]'))).toContain('the console is for system admins only');
      await other.clearCookies();
      await other.setExtraHTTPHeaders({ authorization: `Bearer ${token}` });
      await visitor.goto(`${base}/console/companies`);
      expect(visitor.url()).toBe(`${base}/console/login`);
      seen.clean();
    } finally {
      await other.close();
    }
  });
});
