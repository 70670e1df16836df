// What an anonymous visitor learns of the inside of the network from the sign-in pages and the dashboard's
// settings. Before the fix, GET /auth/login with the identity provider down showed "connect ECONNREFUSED
// <address>:<port>" (and a certificate's names, a proxy's words) on the page; a token endpoint that could
// not be reached did the same on the callback; and GET /ui/config.json gave anyone the internal Temporal
// UI address and the namespace.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { signInStarted, startDiscoveryOnlyProvider } from '../helpers/oidc-provider.js';

const ADMIN = 'sign-in-errors-admin-token-0123456789';
const PUBLIC_URL = 'http://127.0.0.1:8080';

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('security: sign-in failures and dashboard settings tell anonymous visitors nothing of the network', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  const logLines: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  });
  const appWith = (env: Record<string, string>) =>
    createApp({ config: loadConfig({ NODE_ENV: 'test', DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_ADMIN_TOKEN: ADMIN, SELFHEAL_PUBLIC_URL: PUBLIC_URL, ...env }), db: db.db, temporal: {} as Client, logger }, allRoutes);
  const sso = (issuer: string) => ({ OIDC_ISSUER_URL: issuer, OIDC_CLIENT_ID: 'selfheal-dashboard', OIDC_CLIENT_SECRET: 'client-secret-0123456789abcdef', OIDC_ROLE_MAP: 'sre=write' });

  before(async function () {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  /** The page says it in our words, with the request id; the log has what failed. */
  function assertFixedPage(page: string, requestId: string, hidden: string[]): void {
    for (const fragment of hidden) assert.ok(!page.includes(fragment), `the page shows "${fragment}":\n${page}`);
    assert.match(page, /The identity provider cannot be reached/);
    assert.match(page, /Try again later, or sign in with an API token/);
    assert.ok(page.includes(requestId), `the page names the request id ${requestId}`);
    const logged = logLines.filter((l) => l.includes(requestId) && l.includes('sign-in refused'));
    assert.ok(logged.some((l) => l.includes('ECONNREFUSED')), `the log has the cause: ${logged.join('\n')}`);
  }

  it('GET /auth/login with the provider unreachable: a fixed page, no address, port or ECONNREFUSED', async function () {
    const port = await closedPort();
    const app = appWith(sso(`http://127.0.0.1:${port}`));
    const res = await app.request('/auth/login', { headers: { 'x-request-id': 'req-login-down' } });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assertFixedPage(await res.text(), 'req-login-down', ['127.0.0.1', String(port), 'ECONNREFUSED', 'fetch failed', 'something went wrong']);
  });

  it('GET /auth/callback with the token endpoint unreachable: the same fixed page', async function () {
    const tokenPort = await closedPort();
    // A provider whose discovery answers, naming a token endpoint that does not.
    const provider = await startDiscoveryOnlyProvider(undefined, { tokenEndpoint: `http://127.0.0.1:${tokenPort}/token` });
    try {
      const app = appWith(sso(provider.issuer));
      const login = await app.request('/auth/login');
      assert.equal(login.status, 302, await login.clone().text());
      const { state, cookie } = signInStarted(login);
      const res = await app.request(`/auth/callback?code=some-code&state=${encodeURIComponent(state)}`, { headers: { cookie, 'x-request-id': 'req-token-down' } });
      assert.equal(res.status, 502);
      assertFixedPage(await res.text(), 'req-token-down', ['127.0.0.1', String(tokenPort), 'ECONNREFUSED', 'fetch failed']);
    } finally {
      await provider.close();
    }
  });

  it('GET /ui/config.json: the Temporal UI address and namespace only for a signed-in reader, never cached', async function () {
    const app = appWith({ TEMPORAL_UI_URL: 'http://temporal-ui.corp.internal:8233', TEMPORAL_NAMESPACE: 'prod-remediation' });
    const anonymous = await app.request('/ui/config.json');
    const text = await anonymous.text();
    assert.equal(anonymous.status, 401, text);
    for (const fragment of ['temporal-ui.corp.internal', 'prod-remediation']) assert.ok(!text.includes(fragment), `anonymous answer shows ${fragment}: ${text}`);
    const reader = await app.request('/ui/config.json', { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(reader.status, 200);
    assert.deepEqual(await reader.json(), { temporalUiUrl: 'http://temporal-ui.corp.internal:8233', namespace: 'prod-remediation' });
    assert.equal(reader.headers.get('cache-control'), 'no-store');
  });
});
