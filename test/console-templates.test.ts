// Shared templates from the console, in a real browser against Silo started as `npm start` starts
// it: the page lists none, adds one (a company sees it through the API at once), refuses a bad key
// with the field named and the typed text kept, changes one, and deletes one after a confirmation.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, logInApi } from './support/console-api.ts';
import { DESKTOP, launchBrowser, shoot, shown, type Watch, watch } from './support/browser.ts';
import { checkoutSilo, type SiloCheckout } from './support/silo-checkout.ts';
import { killLeftover, type SiloProcess, stopWith } from './support/silo-process.ts';

const admin = { email: 'ops@silo.test', password: 'correct-horse-battery' };
const boss = { email: 'boss@acme.test', password: 'company-password', company: 'acme' };
let checkout: SiloCheckout;
let silo: SiloProcess;
let browser: Browser;
let page: Page;
let w: Watch;

beforeAll(async () => {
  checkout = checkoutSilo(admin);
  silo = await checkout.start();
  const token = await logInApi(silo.url, admin);
  const body = { name: 'Acme', slug: 'acme', admin: { email: boss.email, password: boss.password } };
  expect((await callApi(silo.url, 'POST', '/api/companies', { token, body })).status).toBe(201);
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  w = watch(page);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (silo) await stopWith(silo, 'SIGTERM').catch(() => killLeftover(silo));
  checkout?.remove();
});

const text = (selector: string) => shown(page.locator(selector));

/** The templates acme's admin sees through the API. */
async function seenByAcme() {
  const token = await logInApi(silo.url, boss);
  return (await callApi(silo.url, 'GET', '/api/templates', { token })).body.items as { key: string; title: string; source: string }[];
}

describe('shared templates in the console', () => {
  it('lists none, then adds one that every company sees', async () => {
    await page.goto(`${silo.url}/console/login`);
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'Templates' }).click();
    expect(page.url()).toBe(`${silo.url}/console/templates`);
    expect(await text('table')).toContain('No shared templates yet.');

    await page.getByLabel('Key').fill('meeting-notes');
    await page.getByLabel('Title', { exact: true }).fill('Meeting notes');
    await page.getByLabel('Content', { exact: true }).fill('# Attendees\n\n# Decisions\n');
    await page.getByLabel('Tags', { exact: false }).first().fill('meetings, notes');
    await page.getByRole('button', { name: 'Add the template' }).click();
    expect(await text('[role=status]')).toBe('The template was added: every company sees it now.');
    expect(await text('table')).toMatch(/meeting-notes\s+Meeting notes\s+meetings, notes/);
    expect(await seenByAcme()).toEqual([expect.objectContaining({ key: 'meeting-notes', title: 'Meeting notes', source: 'shared' })]);
    await shoot(page, 'shared-templates');
    w.clean();
  });

  it('refuses a bad key, naming the field and keeping what was typed', async () => {
    await page.getByLabel('Key').fill('Bad Key');
    await page.getByLabel('Title', { exact: true }).fill('Kept title');
    await page.getByLabel('Content', { exact: true }).fill('kept');
    await page.getByRole('button', { name: 'Add the template' }).click();
    expect(await text('[role=alert]')).toMatch(/key: Must be 2-64 characters/i);
    expect(await page.getByLabel('Title', { exact: true }).inputValue()).toBe('Kept title');
    w.expected(/answer 400: POST .*\/console\/templates/);
    w.expected(/console: Failed to load resource.*400/);
    w.clean();
  });

  it('changes a template, then deletes it after a confirmation', async () => {
    await page.goto(`${silo.url}/console/templates`);
    await page.getByLabel('Title of meeting-notes').fill('Minutes');
    await page.getByRole('button', { name: 'Save meeting-notes' }).click();
    expect(await text('[role=status]')).toBe('The template was changed.');
    expect(await text('table')).toContain('Minutes');
    expect((await seenByAcme())[0]).toMatchObject({ key: 'meeting-notes', title: 'Minutes' });

    await page.getByText('Delete meeting-notes', { exact: true }).click();
    await page.getByRole('button', { name: 'Delete meeting-notes for good' }).click();
    expect(await text('[role=status]')).toBe('The template was deleted.');
    expect(await text('table')).toContain('No shared templates yet.');
    expect(await seenByAcme()).toEqual([]);
    w.clean();
  });
});
