// The access log (src/api/observe.ts) wrote every request header but the cookie, at info level, and relied on
// the logger's redaction (src/logger.ts redactPaths) for credentials, which named only `authorization`,
// `x-pagerduty-signature`, `cookie` and `x-csrf-token`: `Proxy-Authorization`, the credential header HTTP
// defines for proxies (RFC 9110 §11.7.2), reached the log in clear whenever a client or proxy chain forwarded
// it to the API, as did any credential header an authenticating proxy adds (X-Forwarded-Access-Token, a
// vendor's own). The log now writes the values of an allow-list of headers, and any other by name only.
import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

interface AccessLine {
  msg: string;
  requestId?: string;
  req?: { headers?: Record<string, string> };
}

describe('the access log never writes a credential header', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  it('Proxy-Authorization, X-Forwarded-Access-Token and a header it does not know are logged by name only; the headers it needs keep their values', async function () {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: 'access-log-admin-token-0123456789' });
    // Temporal is not reached by this request.
    const app = createApp({ config, db: db.db, temporal: {} as never, logger }, allRoutes);
    const proxyCredential = Buffer.from('svc-proxy:Pr0xy-Passw0rd-Secret').toString('base64');
    const forwardedToken = 'fwd-access-token-Zq9Secret';
    const vendorToken = 'vendor-gateway-credential-Zq9Secret';
    const res = await app.request('/api/incidents', {
      headers: {
        authorization: 'Bearer not-a-valid-token-xxxxxxxx',
        'proxy-authorization': `Basic ${proxyCredential}`,
        'x-forwarded-access-token': forwardedToken,
        'x-acme-gateway-credential': vendorToken,
        cookie: 'session=cookie-value-Zq9Secret',
        'user-agent': 'access-log-test/1.0',
        'x-forwarded-for': '203.0.113.7',
        'x-request-id': 'access-log-proxy-auth',
      },
    });
    assert.equal(res.status, 401);
    const line = lines.map((l) => JSON.parse(l) as AccessLine).find((l) => l.msg === 'request' && l.requestId === 'access-log-proxy-auth');
    assert.ok(line, `an access log line: ${lines.join('')}`);
    const all = lines.join('');
    for (const secret of [proxyCredential, forwardedToken, vendorToken, 'not-a-valid-token', 'cookie-value']) {
      assert.ok(!all.includes(secret), `${secret} is in the log: ${JSON.stringify(line.req?.headers)}`);
    }
    const headers = line.req?.headers ?? {};
    assert.deepEqual(
      [headers.authorization, headers['proxy-authorization'], headers['x-forwarded-access-token'], headers['x-acme-gateway-credential'], 'cookie' in headers],
      ['[redacted]', '[redacted]', '[redacted]', '[redacted]', false],
    );
    assert.deepEqual([headers['user-agent'], headers['x-forwarded-for'], headers['x-request-id']], ['access-log-test/1.0', '203.0.113.7', 'access-log-proxy-auth']);
  });
});
