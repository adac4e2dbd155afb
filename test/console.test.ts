// The operators' console in a real browser (chromium, headless) against Silo started as `npm start`
// starts it: logging in and out, creating a company and reading its temporary password, search,
// suspend and reactivate, backups taken, downloaded and restored, delete with the slug typed,
// servers, and what the console refuses (a company user's token, a form from another site). No
// page may log a console error or see a failed request unless the test asked for that error.
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, logInApi } from './support/console-api.ts';
import { DESKTOP, launchBrowser, shoot, type Watch, watch } from './support/browser.ts';
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

const text = (selector: string) => page.locator(selector).innerText();
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
});
