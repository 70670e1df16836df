// Real headless Chromium for the dashboard tests: one way to launch it, a page that records what the
// dashboard's strict CSP refused and every request to another origin (and the check that there were none),
// the token sign-in, and screenshots. dashboard-suite.ts sets all of it up with the API server.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type LaunchOptions, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where the dashboard tests leave their screenshots. */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/**
 * Headless Chromium with nothing of its own on the network (no QUIC, updates, sync or background fetches);
 * `options` adds to Playwright's launch options (say, `ignoreDefaultArgs`), never replacing these flags.
 */
export function launchChromium(options: Omit<LaunchOptions, 'executablePath' | 'args'> = {}): Promise<Browser> {
  return chromium.launch({
    ...options,
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface WatchedPage {
  page: Page;
  /** Console errors saying the CSP refused something. */
  consoleViolations: string[];
  /** Every request the page made to an origin other than `origin`. */
  foreign: string[];
  /** The `securitypolicyviolation` events of the page now open (directive and blocked URI). */
  cspViolations(): Promise<string[]>;
}

/** A new page that records CSP violations (from the DOM event and the console) and requests leaving `origin`. */
export async function watchedPage(browser: Browser, origin: string, viewport?: { width: number; height: number }): Promise<WatchedPage> {
  const page = await browser.newPage(viewport ? { viewport } : {});
  const consoleViolations: string[] = [];
  const foreign: string[] = [];
  await page.addInitScript({
    content: "window.cspViolations = []; document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));",
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused/i.test(m.text())) consoleViolations.push(m.text());
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(origin)) foreign.push(r.url());
  });
  return { page, consoleViolations, foreign, cspViolations: async () => (await page.evaluate('window.cspViolations')) as string[] };
}

/** Open the dashboard at `origin` and sign in with a bearer token, as an SRE pastes one. */
export async function signInWithToken(page: Page, origin: string, token: string): Promise<void> {
  await page.goto(`${origin}/ui`);
  await page.locator('#token').waitFor();
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.getByTestId('incidents').waitFor();
}

/** The page broke no CSP rule (by the DOM event or the console) and asked nothing of another origin. */
export async function assertKeptToItself(watched: WatchedPage): Promise<void> {
  assert.deepEqual(await watched.cspViolations(), []);
  assert.deepEqual(watched.consoleViolations, []);
  assert.deepEqual(watched.foreign, []);
}

/** A full-page screenshot of `page` as test-artifacts/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}
