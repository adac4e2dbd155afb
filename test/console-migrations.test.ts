// Fleet migrations from the console, in a real browser: a deploy brings a tenant migration (Silo
// is stopped, the migration added, Silo started again on the same data dir, as `npm start` runs
// it), the console plans it, applies it with a canary and shows the run's progress until it ends,
// lists the company that failed with its error, and after the operator fixes that company's data,
// re-runs the failed one to the end.
import postgres from 'postgres';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, logInApi } from './support/console-api.ts';
import { DESKTOP, launchBrowser, shoot, shown, type Watch, watch } from './support/browser.ts';
import { checkoutSilo, type SiloCheckout } from './support/silo-checkout.ts';
import { killLeftover, type SiloProcess, stopWith } from './support/silo-process.ts';

const admin = { email: 'ops@silo.test', password: 'correct-horse-battery' };
const slugs = ['acme', 'globex', 'initech'];
const MIGRATION = '0002_no_blocked_titles';
let checkout: SiloCheckout;
let silo: SiloProcess;
let browser: Browser;
let page: Page;
let w: Watch;

beforeAll(async () => {
  checkout = checkoutSilo(admin);
  silo = await checkout.start();
  const token = await logInApi(silo.url, admin);
  for (const slug of slugs) {
    const body = { name: `${slug} Inc`, slug, admin: { email: `a@${slug}.test`, password: 'company-password' } };
    expect((await callApi(silo.url, 'POST', '/api/companies', { token, body })).status).toBe(201);
  }
  // globex holds a row the coming migration's constraint refuses.
  const globex = await logInApi(silo.url, { email: 'a@globex.test', password: 'company-password', company: 'globex' });
  const blocked = await callApi(silo.url, 'POST', '/api/documents', { token: globex, body: { title: 'blocked', content: 'x' } });
  expect(blocked.status).toBe(201);

  // The deploy: a new tenant migration, and Silo started again on the same data.
  await stopWith(silo, 'SIGTERM');
  checkout.addTenantMigration(MIGRATION, "alter table documents add constraint documents_title_not_blocked check (title <> 'blocked');");
  silo = await checkout.start();
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  w = watch(page);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  if (silo) await stopWith(silo, 'SIGTERM').catch(() => killLeftover(silo));
  checkout?.remove();
});

const text = (selector: string) => shown(page.locator(selector));

/** Waits for the run on the page to end (htmx replaces #run every second until then). */
async function runEnded() {
  await page.waitForFunction(() => !document.querySelector('#run')?.hasAttribute('hx-trigger'), undefined, { timeout: 90_000 });
  return text('#run');
}

describe('fleet migrations in the console', () => {
  it('plans the new migration, applies it with a canary, and lists the company that failed', async () => {
    await page.goto(`${silo.url}/console/login`);
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${silo.url}/console`);
    expect(await text('main')).toContain('3 companies are behind');
    await shoot(page, 'fleet-behind');

    await page.getByRole('link', { name: 'Migrations', exact: true }).click();
    expect(await text('main')).toContain(`Latest tenant schema: ${MIGRATION}. 3 of 3 companies behind`);
    for (const slug of slugs) expect(await shown(page.getByRole('row', { name: new RegExp(`^${slug} `) }))).toContain(MIGRATION);
    await shoot(page, 'migrations');

    await page.getByLabel(/^Canary/).fill('1');
    await page.getByRole('button', { name: 'Apply to the fleet (3 behind)' }).click();
    await page.waitForURL(/\/console\/migrations\/runs\//);
    const ended = await runEnded();
    expect(ended).toMatch(/2\s+migrated/);
    expect(ended).toMatch(/1\s+failed/);
    const failure = await shown(page.getByRole('row', { name: /^globex / }));
    expect(failure).toContain(MIGRATION);
    expect(failure).toContain('documents_title_not_blocked');
    await shoot(page, 'migration-run');
    w.clean();
  }, 120_000);

  it('re-runs the failed company once its data is fixed', async () => {
    const database = (await callApi(silo.url, 'GET', '/api/companies/globex', { token: await logInApi(silo.url, admin) })).body.database;
    // The operator fixes the row by hand, as the superuser of the database server.
    const sql = postgres(checkout.superuserUrl(database), { max: 1, onnotice: () => {} });
    try {
      await sql`delete from documents where title = 'blocked'`;
    } finally {
      await sql.end();
    }
    await page.getByRole('button', { name: 'Re-run the 1 failed' }).click();
    await page.waitForURL(/\/console\/migrations\/runs\//);
    const ended = await runEnded();
    expect(ended).toMatch(/1\s+migrated/);
    expect(ended).toMatch(/0\s+failed/);

    await page.getByRole('link', { name: 'Fleet', exact: true }).click();
    expect(await text('main')).toContain('0 companies are behind');
    expect(await shown(page.getByRole('row', { name: new RegExp(`^${MIGRATION}`) }))).toMatch(/3\s+current/);
    w.clean();
  }, 120_000);
});
