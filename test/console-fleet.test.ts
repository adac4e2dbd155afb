// The console's fleet pages in a real browser (chromium, headless) against Silo started as `npm
// start` starts it: a fleet query whose rows stream in as each company answers, one company timing
// out and one skipped, the company filter, a CSV download parsed back; adding a second database
// server (its URL never shown again, nor logged), moving a company to it, draining it back, and
// archiving and unarchiving a company. No page may log a console error or see a failed request
// unless the test asked for that error.
import { readFileSync, rmSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedServer, freePort, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { callApi, logInApi } from './support/console-api.ts';
import { DESKTOP, launchBrowser, shoot, shown, type Watch, watch } from './support/browser.ts';
import { checkoutSilo, type SiloCheckout } from './support/silo-checkout.ts';
import { killLeftover, type SiloProcess, siloDataDir, stopWith } from './support/silo-process.ts';

const admin = { email: 'ops@silo.test', password: 'correct-horse-battery' };
const PASSWORD = 'company-password';
/** Each company's documents; initech's "slow" one makes the query outlast its timeout there. */
const documents: Record<string, string[]> = {
  acme: ['a1'],
  globex: ['g1', 'g2, "quoted"'],
  initech: ['slow'],
  hooli: ['h1'],
};
const SQL =
  "select title, length(title) as length from documents where case when title = 'slow' then (select count(*) from pg_sleep(10)) = 1 else true end order by title";

let checkout: SiloCheckout;
let silo: SiloProcess;
let second: EmbeddedServer | undefined;
let secondDir: string;
let browser: Browser;
let page: Page;
let w: Watch;
let base: string;

const token = (slug: string) => logInApi(base, { email: `a@${slug}.test`, password: PASSWORD, company: slug });
const titles = async (slug: string) =>
  (await callApi(base, 'GET', '/api/documents', { token: await token(slug) })).body.items.map((d: { title: string }) => d.title).sort();

beforeAll(async () => {
  checkout = checkoutSilo(admin);
  silo = await checkout.start();
  base = silo.url;
  const adminToken = await logInApi(base, admin);
  for (const [slug, list] of Object.entries(documents)) {
    const body = { name: `${slug} Inc`, slug, admin: { email: `a@${slug}.test`, password: PASSWORD } };
    expect((await callApi(base, 'POST', '/api/companies', { token: adminToken, body })).status).toBe(201);
    const companyToken = await token(slug);
    for (const title of list) {
      expect((await callApi(base, 'POST', '/api/documents', { token: companyToken, body: { title, content: title } })).status).toBe(201);
    }
  }
  expect((await callApi(base, 'PATCH', '/api/companies/hooli', { token: adminToken, body: { status: 'suspended' } })).status).toBe(200);
  secondDir = siloDataDir();
  second = await startEmbeddedPostgres(secondDir, { port: await freePort() });

  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: DESKTOP, acceptDownloads: true })).newPage();
  w = watch(page);
  await page.goto(`${base}/console/login`);
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}/console`);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  if (silo) await stopWith(silo, 'SIGTERM').catch(() => killLeftover(silo));
  await second?.stop();
  if (secondDir) rmSync(secondDir, { recursive: true, force: true });
  checkout?.remove();
});

const text = (selector: string) => shown(page.locator(selector));
const resultRows = (slug: string) => page.locator('#results tr').filter({ has: page.locator('th[scope=row]', { hasText: slug }) });

describe('the fleet query in the console', () => {
  it('streams each company’s rows into one table as it answers, with a timeout and a skip said in words', async () => {
    await page.getByRole('link', { name: 'Fleet query' }).click();
    expect(await text('h1')).toBe('Fleet query');
    await page.getByLabel(/^SQL/).fill(SQL);
    await page.getByLabel(/^Timeout per company/).fill('3000');
    await shoot(page, 'fleet-query-form');
    await page.getByRole('button', { name: 'Run the query' }).click();

    // acme and globex answer at once; initech holds the page open until its timeout: their rows
    // are on the page while the summary is not there yet.
    await resultRows('globex').nth(1).waitFor();
    expect(await page.locator('#summary').count()).toBe(0);
    await page.locator('#summary').waitFor({ timeout: 30_000 });
    expect(await text('#summary')).toMatch(/^4 companies: 2 succeeded, 1 failed, 1 skipped, in [\d.]+ s\.$/);

    expect(await shown(page.locator('#results tr.columns'))).toBe('company\ttitle\tlength');
    expect(await shown(resultRows('acme'))).toBe('acme\ta1\t2');
    expect((await resultRows('globex').allInnerTexts()).sort()).toEqual(['globex\tg1\t2', 'globex\tg2, "quoted"\t12']);
    expect(await shown(resultRows('initech'))).toBe('initech\tFailed: canceling statement due to statement timeout (SQLSTATE 57014)');
    expect(await shown(resultRows('hooli'))).toBe('hooli\tSkipped: the company is suspended.');
    // The form keeps what was asked, to change it or download it.
    expect(await page.getByLabel(/^SQL/).inputValue()).toBe(SQL);
    await shoot(page, 'fleet-query');
    w.clean();
  }, 60_000);

  it('runs on the companies named, or all but them', async () => {
    await page.getByLabel('Only these companies').fill('acme, globex');
    await page.getByRole('button', { name: 'Run the query' }).click();
    await page.locator('#summary').waitFor();
    expect(await text('#summary')).toMatch(/^2 companies: 2 succeeded, 0 failed, 0 skipped/);
    await page.getByLabel('Only these companies').fill('');
    await page.getByLabel('All but these companies').fill('initech hooli globex');
    await page.getByRole('button', { name: 'Run the query' }).click();
    await page.locator('#summary').waitFor();
    expect(await text('#summary')).toMatch(/^1 company: 1 succeeded/);
    expect(await text('#results')).not.toContain('globex');

    await page.getByLabel('All but these companies').fill('nosuch');
    await page.getByRole('button', { name: 'Run the query' }).click();
    expect(await text('[role=alert]')).toBe('No such companies: nosuch. Only/exclude: no company nosuch.');
    expect(await page.getByLabel(/^SQL/).inputValue()).toBe(SQL);
    w.expected(/answer 400: POST .*\/console\/fleet\/query/);
    w.expected(/console: Failed to load resource.*400/);
    w.clean();
  }, 60_000);

  it('downloads the results as CSV, the company first', async () => {
    await page.getByLabel('All but these companies').fill('initech');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download as CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^fleet-query-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.csv$/);
    const rows = parse(readFileSync((await download.path())!, 'utf8')) as string[][];
    expect(rows[0]).toEqual(['company', 'title', 'length']);
    expect(rows.slice(1).sort((a, b) => a.join().localeCompare(b.join()))).toEqual([
      ['acme', 'a1', '2'],
      ['globex', 'g1', '2'],
      ['globex', 'g2, "quoted"', '12'],
    ]);
    // A form post answered with an attachment: chromium turns the navigation into a download and
    // reports the navigation itself as aborted.
    w.expected(/failed: POST .*\/console\/fleet\/query\/csv net::ERR_ABORTED/);
    w.clean();
  }, 60_000);

  it('answers 16 queries at once, each page whole, every name and value escaped', async () => {
    const session = (await page.context().cookies()).find((c) => c.name === 'silo_console')!.value;
    const sql = `select '<script>alert(1)</script>' as "<i>odd</i>", count(*)::int as documents from documents`;
    const run = async () => {
      const answer = await fetch(`${base}/console/fleet/query`, {
        method: 'POST',
        headers: { cookie: `silo_console=${session}`, origin: base, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ sql, exclude: 'initech' }),
      });
      return { status: answer.status, headers: answer.headers, html: await answer.text() };
    };
    const pages = await Promise.all(Array.from({ length: 16 }, run));
    for (const { status, headers, html } of pages) {
      expect(status).toBe(200);
      // A streamed page is still a console page: its policy, and kept by no cache.
      expect(headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(headers.get('cache-control')).toBe('no-store');
      expect(html).toMatch(/3 companies: 2 succeeded, 0 failed, 1 skipped/);
      expect(html).toMatch(/<th scope="row">acme<\/th><td>[^<]+<\/td><td>1<\/td>/);
      expect(html).toMatch(/<th scope="row">globex<\/th><td>[^<]+<\/td><td>2<\/td>/);
      expect(html).toContain('<th scope="col">&lt;i&gt;odd&lt;/i&gt;</th>');
      expect(html).toContain('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>');
      expect(html).not.toContain('<script>alert');
      expect(html.trimEnd().endsWith('</html>')).toBe(true);
    }
  }, 60_000);
});

describe('servers and company moves in the console', () => {
  it('adds a server whose URL is never shown again, nor logged', async () => {
    const url = second!.url;
    const secret = new URL(url).password;
    await page.getByRole('link', { name: 'Servers' }).click();
    // Refused first (no such database): the form comes back without the URL.
    await page.getByLabel('Name', { exact: true }).fill('second');
    await page.getByLabel(/^URL/).fill(url.replace(/\/[^/]*$/, '/no_such_database'));
    await page.getByRole('button', { name: 'Add the server' }).click();
    expect(await text('[role=alert]')).not.toBe('');
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('second');
    expect(await page.getByLabel(/^URL/).inputValue()).toBe('');
    expect(await page.content()).not.toContain(secret);
    w.expected(/answer \d+: POST .*\/console\/servers/);
    w.expected(/console: Failed to load resource/);

    await page.getByLabel(/^URL/).fill(url);
    await page.getByLabel(/^Capacity companies/).fill('50');
    await page.getByRole('button', { name: 'Add the server' }).click();
    expect(await text('[role=status]')).toBe('The server is registered and its template prepared.');
    expect(await shown(page.getByRole('row', { name: /^second / }))).toMatch(/0 \/ 50/);
    expect(await page.content()).not.toContain(secret);
    expect(silo.lines.join('\n')).not.toContain(secret);
    w.clean();
  }, 120_000);

  it('moves a company to the other server, its data with it', async () => {
    await page.goto(`${base}/console/companies/acme`);
    await page.getByLabel('Move to server').selectOption({ label: 'second (0 / 50)' });
    await page.getByRole('button', { name: 'Move', exact: true }).click();
    expect(await text('[role=status]')).toBe('The company was moved and is served from its new server.');
    expect(await text('dl.details')).toContain('second');
    expect(await titles('acme')).toEqual(['a1']);
    w.clean();
  }, 120_000);

  it('drains that server: its companies go back, then it can be removed', async () => {
    await page.getByRole('link', { name: 'Servers' }).click();
    await page.getByRole('button', { name: 'Drain second' }).click();
    expect(await text('[role=status]')).toContain('The server is draining');
    await expect
      .poll(
        async () => {
          await page.reload();
          return shown(page.getByRole('row', { name: /^second / }));
        },
        { timeout: 60_000, interval: 1000 },
      )
      .toMatch(/0 \/ 50[\s\S]*draining/);
    await shoot(page, 'servers-draining');
    await page.getByRole('button', { name: 'Remove second' }).click();
    expect(await text('[role=status]')).toBe('The server was removed.');
    expect(await text('table')).not.toContain('second');
    expect(await titles('acme')).toEqual(['a1']);
    const details = await (async () => {
      await page.goto(`${base}/console/companies/acme`);
      return text('dl.details');
    })();
    expect(details).toContain('default');
    w.clean();
  }, 120_000);

  it('archives a company and brings it back from its archive', async () => {
    await page.goto(`${base}/console/companies/globex`);
    await page.getByRole('button', { name: 'Archive' }).click();
    expect(await text('[role=status]')).toContain('The company is archived');
    expect(await text('dl.details')).toContain('archived');
    expect(
      (await callApi(base, 'POST', '/api/auth/login', { body: { email: 'a@globex.test', password: PASSWORD, company: 'globex' } })).status,
    ).not.toBe(200);
    await page.getByRole('button', { name: 'Unarchive' }).click();
    expect(await text('[role=status]')).toBe('The company is restored from its archive and active again.');
    expect(await text('dl.details')).toContain('active');
    expect(await titles('globex')).toEqual(['g1', 'g2, "quoted"']);
    w.clean();
  }, 120_000);
});
