// One caller without the admin scope holds at most all of the statistics line's places but one
// (src/api/caller-share.ts), so that one reader's burst cannot fill the line. A dashboard user is not one
// caller, though: every sign-in is a session of its own (a user keeps up to SESSION_MAX_PER_USER of them,
// a sign-in in another browser or without the cookie starts another), and each session counted as a caller.
// A user signed in twice held the whole line (four places with one session, the fifth with the other), and
// every other caller's statistics were answered 503 for as long as the user kept asking. A user's sessions
// now count as one caller in the lines' shares.
import assert from 'node:assert/strict';
import type { KyselyPlugin } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { MAX_STATS_AT_ONCE, MAX_WAITING_STATS } from '../../src/api/routes/stats.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertTestSession } from '../helpers/sessions.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

const ISSUER = 'https://login.example.com/realms/sre';

/** What `p` settled with within `ms`, or 'pending'. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  try {
    return await Promise.race([p, pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe("security: a user's dashboard sessions hold one caller's share of the statistics line", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  // Each rule_matches read is held while `held`: the statistics line stays full until the test lets go.
  let held = true;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    const matchQueries = new Set<unknown>();
    const holdMatches: KyselyPlugin = {
      transformQuery(args) {
        if (JSON.stringify(args.node).includes('rule_matches')) matchQueries.add(args.queryId);
        return args.node;
      },
      async transformResult(args) {
        if (held && matchQueries.has(args.queryId)) await gate;
        return args.result;
      },
    };
    const config = loadConfig({
      NODE_ENV: 'test',
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com',
      OIDC_ISSUER_URL: ISSUER,
      OIDC_CLIENT_ID: 'selfheal',
      OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
      OIDC_ROLE_MAP: 'viewers=read',
    });
    app = createApp({ config, db: db.db.withPlugin(holdMatches), temporal: {} as never, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => {
    held = false;
    release();
    await db?.close();
  });

  it('a user signed in twice gets the 503 perCaller past four places, and another caller still has its place', async function () {
    const places = MAX_STATS_AT_ONCE + MAX_WAITING_STATS;
    // Two sign-ins of one user (two browsers, say), as single sign-on leaves them.
    const alice = { issuer: ISSUER, actor: 'user:alice@example.com', subject: 'alice-sub', email: 'alice@example.com', scopes: ['read'], groups: ['viewers'] };
    const [first, second] = [await insertTestSession(db.db, alice), await insertTestSession(db.db, alice)];
    const issued = await app.request('/api/tokens', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'other-reader', scopes: ['read'] }),
    });
    assert.equal(issued.status, 201, await issued.clone().text());
    const other = ((await issued.json()) as { token: string }).token;
    const withCookie = (cookie: string) => async () => app.request('/api/stats', { headers: { cookie } });

    // The first session's burst: four places taken (one computing, held), its fifth refused.
    const sent = Array.from({ length: places }, () => withCookie(first.cookie)());
    const early = await Promise.race(sent);
    assert.equal(early.status, 503, await early.clone().text());
    assert.equal(((await early.clone().json()) as { limit: string }).limit, 'stats-per-caller');

    // The same user's other session: its share is the same, already held.
    const again = await within(withCookie(second.cookie)(), 1000);
    if (again === 'pending') {
      const otherNow = await within(Promise.resolve(app.request('/api/stats', { headers: { authorization: `Bearer ${other}` } })), 1000);
      assert.fail(`the user's second session took the line's last place; another caller's statistics: ${otherNow === 'pending' ? 'pending' : `${otherNow.status} ${await otherNow.text()}`}`);
    }
    assert.equal(again.status, 503, await again.clone().text());
    const body = (await again.json()) as { limit: string; perCaller: number };
    assert.deepEqual([body.limit, body.perCaller], ['stats-per-caller', places - 1]);

    // Another caller waits its turn in the line's last place (not a 503), and is answered once the line moves.
    const otherAnswer = Promise.resolve(app.request('/api/stats', { headers: { authorization: `Bearer ${other}` } }));
    const waiting = await within(otherAnswer, 300);
    assert.equal(waiting === 'pending' ? waiting : `${waiting.status} ${await waiting.clone().text()}`, 'pending', "another caller's statistics were refused");
    held = false;
    release();
    assert.deepEqual((await Promise.all(sent)).map((r) => r.status).sort(), [200, 200, 200, 200, 503]);
    assert.equal((await otherAnswer).status, 200);
  });
});
