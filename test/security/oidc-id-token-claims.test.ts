// What openid-client leaves unchecked in a valid, signed ID token (src/api/oidc.ts, checkIdClaims): a `sub`
// over the 255 bytes OpenID Connect allows (the session stores it, and `user:<sub>` names the user in the
// audit log, approvals and token owners), and an `iat` in the future. Against a real provider
// (oidc-provider): the long subject is its account's own; the future `iat` is an ID token it signs with its
// own key (test/helpers/oidc-provider.ts, reissueIdToken).
import assert from 'node:assert/strict';
import type { TestDatabase } from '../helpers/db.js';
import { CookieJar, jarFetch, startSsoServer, throughProvider, type OidcProvider, type OidcUser, type SsoServer } from '../helpers/oidc-provider.js';

const LONG = 'l'.repeat(256);
const LONGEST = 'm'.repeat(255);
const USERS: Record<string, OidcUser> = {
  alice: { email: 'alice@example.com', name: 'Alice', groups: ['sre'] },
  [LONG]: { email: 'long@example.com', name: 'Long Subject', groups: ['sre'], emailVerified: false },
  [LONGEST]: { email: 'longest@example.com', name: 'Longest Subject', groups: ['sre'], emailVerified: false },
};

describe('security: an ID token with an overlong sub or a future iat is refused at sign-in', function () {
  this.timeout(60_000);
  let sso: SsoServer;
  let db: TestDatabase;
  let op: OidcProvider;
  let base: string;

  before(async function () {
    sso = await startSsoServer({
      users: USERS,
      clientId: 'selfheal-dashboard',
      clientSecret: 'claims-client-secret-0123456789abcdef',
      env: { SELFHEAL_ADMIN_TOKEN: 'claims-admin-token-0123456789abcdef', OIDC_ROLE_MAP: 'sre=write', SELFHEAL_AUTH_MAX_FAILURES: '1000' },
    });
    ({ db, op, base } = sso);
  });
  after(async () => sso?.close());

  /** A sign-in as `login` through the provider's pages, its callback requested: the answer and the jar. */
  async function signIn(login: string): Promise<{ res: Response; page: string; jar: CookieJar }> {
    const jar = new CookieJar();
    const start = await jarFetch(jar, `${base}/auth/login`);
    assert.equal(start.status, 302, await start.text());
    const url = new URL(await throughProvider(jar, start.headers.get('location')!, `${base}/auth/callback`, login));
    const res = await jarFetch(jar, `${base}${url.pathname}${url.search}`);
    return { res, page: await res.clone().text(), jar };
  }
  const sessionsOf = (subject: string) => db.db.selectFrom('auth_sessions').select('id').where('subject', '=', subject).execute();

  it('a sub of 256 bytes is refused (400, a page saying so, no session); one of 255 signs in', async function () {
    const refused = await signIn(LONG);
    assert.equal(refused.res.status, 400, refused.page);
    assert.match(refused.page, /subject \(sub\) of 256 bytes, over the 255 OpenID Connect allows/);
    assert.equal(refused.jar.get(new URL(base).hostname, '__Host-selfheal-session'), undefined);
    assert.equal((await sessionsOf(LONG)).length, 0);
    const accepted = await signIn(LONGEST);
    assert.equal(accepted.res.status, 303, accepted.page);
    assert.equal((await sessionsOf(LONGEST)).length, 1);
  });

  it('an ID token issued in the future (iat 10 minutes ahead) is refused; 30 seconds ahead (clock skew) signs in', async function () {
    try {
      op.reissueIdToken = (claims) => ({ ...claims, iat: Math.floor(Date.now() / 1000) + 600 });
      const refused = await signIn('alice');
      assert.equal(refused.res.status, 400, refused.page);
      assert.match(refused.page, /ID token was issued \d+ seconds in the future \(iat\), more than the 60 seconds allowed: check the clocks/);
      assert.equal((await sessionsOf('alice')).length, 0);
      op.reissueIdToken = (claims) => ({ ...claims, iat: Math.floor(Date.now() / 1000) + 30 });
      const skewed = await signIn('alice');
      assert.equal(skewed.res.status, 303, skewed.page);
      assert.equal((await sessionsOf('alice')).length, 1);
    } finally {
      op.reissueIdToken = undefined;
    }
  });
});
