// For the dashboard tests in a real headless Chromium against the real API server over a fresh test
// database, without Temporal: the database, the server with an admin token, one browser for the whole
// describe block and one page in it (watched: see browser.ts), signed in with the token. A test file seeds
// its own data and states only what it checks.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import type { Browser, Page } from 'playwright-core';
import type { AppDeps } from '../../src/api/env.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { launchChromium, signInWithToken, watchedPage, type WatchedPage } from './browser.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface DashboardSuiteOptions {
  /** The admin token (SELFHEAL_ADMIN_TOKEN) the page signs in with. */
  token: string;
  /** The page's viewport: 1280×1000 when not given. */
  viewport?: { width: number; height: number };
  extractors?: AppDeps['extractors'];
  /** Writes what the tests read: once the server is up, before the page signs in. */
  seed?: (suite: { db: TestDatabase; server: ApiServer }) => Promise<void>;
}

export interface DashboardSuite {
  /** Set once the suite's `before` ran. */
  readonly db: TestDatabase;
  readonly server: ApiServer;
  readonly browser: Browser;
  /** The signed-in page (`watched.page`). */
  readonly page: Page;
  readonly watched: WatchedPage;
}

/** Sets the suite up in the calling describe block's hooks; the browser is shared by its tests. */
export function dashboardSuite(opts: DashboardSuiteOptions): DashboardSuite {
  let db: TestDatabase | undefined;
  let server: ApiServer | undefined;
  let browser: Browser | undefined;
  let watched: WatchedPage | undefined;
  let launching: Promise<Browser> | undefined;
  const ready = <T>(v: T | undefined): T => {
    assert.ok(v !== undefined, 'the suite has not been set up yet');
    return v;
  };

  before(async function () {
    // Chromium starts while the database is migrated and seeded, rather than after.
    launching = launchChromium();
    launching.catch(() => undefined); // awaited below; a failure that comes first is reported there
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', SELFHEAL_ADMIN_TOKEN: opts.token, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    server = await startApiServer({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: opts.extractors });
    await opts.seed?.({ db, server });
    browser = await launching;
    watched = await watchedPage(browser, server.url, opts.viewport ?? { width: 1280, height: 1000 });
    await signInWithToken(watched.page, server.url, opts.token);
  });

  after(async function () {
    // The browser also when `before` failed before it was awaited.
    await (await launching?.catch(() => undefined))?.close();
    await server?.close();
    await db?.close();
  });

  return {
    get db() {
      return ready(db);
    },
    get server() {
      return ready(server);
    },
    get browser() {
      return ready(browser);
    },
    get page() {
      return ready(watched).page;
    },
    get watched() {
      return ready(watched);
    },
  };
}
