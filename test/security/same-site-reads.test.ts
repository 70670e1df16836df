// Reads another page of the same site makes with the dashboard session. SameSite=Lax lets a page of the same
// site (another port of the host, a sibling subdomain) send the session cookie with its subresources: an
// <img> or <script> pointed at /api. It cannot read the answers, and writes are refused it (CSRF), but each
// such read was served as the user's own, charged to the session's request budget: a page left open
// elsewhere kept the user's dashboard answered 429 (and its reads counted as the person's use of the session).
// Nothing of the dashboard reads that way: its page fetches from its own origin, and a link from elsewhere
// is a navigation.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { createApp } from '../../src/api/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertTestSession, type TestSession, SSO_ISSUER, SSO_ORIGIN, ssoApp } from '../helpers/sessions.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

const ORIGIN = SSO_ORIGIN;
const ISSUER = SSO_ISSUER;
const BURST = 10;

/** What Chromium sends with an <img> on https://wiki.example.com pointed at the dashboard's API. */
const SAME_SITE_IMAGE = { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image', referer: 'https://wiki.example.com/' };
/** What it sends with the dashboard page's own fetch. */
const OWN_FETCH = { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', origin: ORIGIN };

describe('security: another page of the same site cannot spend the dashboard session with its reads', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    app = ssoApp(db, {
      OIDC_ROLE_MAP: 'viewers=read',
      SELFHEAL_RATE_LIMIT_BURST: String(BURST),
      SELFHEAL_RATE_LIMIT_PER_SECOND: '1',
    });
  });
  after(async () => db?.close());

  const signIn = (): Promise<TestSession> =>
    insertTestSession(db.db, { issuer: ISSUER, subject: `sub-${randomUUID()}`, actor: 'user:vera@example.com', email: 'vera@example.com', scopes: ['read'], groups: ['viewers'] });
  const get = async (s: TestSession, path: string, headers: Record<string, string>) => (await app.request(path, { headers: { cookie: s.cookie, accept: 'application/json', ...headers } })).status;

  it("a same-site page's images at /api are refused the session, and the user's own dashboard is still served", async function () {
    const vera = await signIn();
    // Three times the burst, at once: as many as the budget holds and more.
    const images = await Promise.all(Array.from({ length: 3 * BURST }, () => get(vera, '/api/incidents?limit=1', SAME_SITE_IMAGE)));
    assert.equal(await get(vera, '/api/incidents?limit=1', OWN_FETCH), 200, `the user's own page is served: the images spent nothing of the session's budget (they were answered ${images.join(',')})`);
    assert.deepEqual([...new Set(images)], [403], `the same-site reads were answered ${images.join(',')}`);
    assert.equal(await get(vera, '/auth/session', OWN_FETCH), 200);
  });

  it('a link from elsewhere still opens with the session (a top-level navigation), and a bearer token is not concerned', async function () {
    const vera = await signIn();
    assert.equal(await get(vera, '/api/incidents?limit=1', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }), 200);
    assert.equal(await get(vera, '/api/incidents?limit=1', { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }), 200);
    assert.equal(await get(vera, '/api/incidents?limit=1', {}), 200, 'a client that sends no fetch metadata');
    // An <iframe> is a navigation too, but not a top-level one: refused like the image.
    assert.equal(await get(vera, '/api/incidents?limit=1', { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'iframe' }), 403);
    const bearer = await app.request('/api/incidents?limit=1', { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...SAME_SITE_IMAGE } });
    assert.equal(bearer.status, 200);
  });
});
