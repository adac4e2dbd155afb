// A real browser for the console's tests: Debian's chromium (apt-get install chromium; .ci/run
// installs it when it is missing) driven by playwright-core, headless. A watch on each page
// collects what an operator would notice as broken: console errors, uncaught exceptions, failed
// requests and error answers. Screenshots of each page go to test/console-screens/ (git-ignored)
// at a desktop width and a phone's.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM = process.env.SILO_CHROMIUM ?? '/usr/bin/chromium';
export const screensDir = fileURLToPath(new URL('../console-screens/', import.meta.url));
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

/** The text as the operator sees it (rendered: hidden parts left out, line breaks where they show). */
// biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what these tests check
export const shown = (locator: Locator) => locator.innerText();

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

export interface Watch {
  /** Everything noticed since the last check. */
  problems: string[];
  /** Forgets the problems matching `pattern` (an error answer a test asked for); fails if there is none. */
  expected(pattern: RegExp): void;
  /** Asserts nothing went wrong since the last check. */
  clean(): void;
}

export function watch(page: Page): Watch {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`answer ${response.status()}: ${response.request().method()} ${response.url()}`);
  });
  return {
    problems,
    expected(pattern) {
      const before = problems.length;
      const kept = problems.filter((p) => !pattern.test(p));
      expect(kept.length, `expected a problem matching ${pattern} in ${JSON.stringify(problems)}`).toBeLessThan(before);
      problems.splice(0, problems.length, ...kept);
    },
    clean() {
      expect(problems).toEqual([]);
    },
  };
}

/** Labels on every control, and no page wider than the window (tables scroll inside their box). */
async function checkPage(page: Page, width: number) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
      .filter((e) => {
        const labelled = (e as HTMLInputElement).labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby');
        return !labelled && !(e.tagName === 'BUTTON' && e.textContent?.trim());
      })
      .map((e) => e.outerHTML),
  );
  expect(unlabelled).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
}

/** Screenshots of the page as it is, at 1280 px and at 390 px, checking both widths. */
export async function shoot(page: Page, name: string) {
  mkdirSync(screensDir, { recursive: true });
  for (const [size, label] of [
    [DESKTOP, '1280'],
    [PHONE, '390'],
  ] as const) {
    await page.setViewportSize(size);
    await checkPage(page, size.width);
    await page.screenshot({ path: `${screensDir}${name}-${label}.png`, fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}
