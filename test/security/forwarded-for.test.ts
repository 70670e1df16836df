// The client behind trusted proxies (docs/security.md "Tokens and sign-in", "Behind a reverse proxy"): the
// source the failed-authentication limit counts is the right-most X-Forwarded-For entry that is not itself
// a trusted proxy; entries further left are the client's own say, so changing them escapes nothing. A real
// HTTP server trusting loopback (the test plays the proxy), SELFHEAL_AUTH_MAX_FAILURES=5: after 5 bad
// tokens from one source every request with a token from it is 429, a valid one included.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

describe('security: X-Forwarded-For behind a trusted proxy', function () {
  let db: TestDatabase;
  let proxied: ApiServer;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: db.url,
      SELFHEAL_AUTH_MAX_FAILURES: '5',
      SELFHEAL_AUTH_FAILURE_WINDOW_SECONDS: '60',
      SELFHEAL_TRUSTED_PROXIES: '127.0.0.1',
    });
    proxied = await startApiServer({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) });
  });
  after(async function () {
    await proxied?.close(0);
    await db?.close();
  });

  const get = (token: string, forwardedFor?: string) =>
    fetch(`${proxied.url}/api/rules`, { headers: { authorization: `Bearer ${token}`, ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) } });
  const status = async (token: string, forwardedFor?: string) => (await get(token, forwardedFor)).status;

  it('the client is the right-most entry that is not a trusted proxy: changing the entries left of it escapes nothing; another client is not blocked', async function () {
    for (let i = 1; i <= 5; i++) assert.equal(await status(`shk_guess_${i}`, `203.0.113.${i}, 198.51.100.9, 127.0.0.1`), 401, `guess ${i}`);
    const blocked = await get(ADMIN_TOKEN, '203.0.113.200, 198.51.100.9, 127.0.0.1');
    assert.equal(blocked.status, 429, 'the sixth request of 198.51.100.9, a valid token, whatever it says to its left');
    assert.equal(blocked.headers.get('content-type'), 'application/problem+json');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(((await blocked.json()) as { limit: string }).limit, 'failed-authentications');
    assert.equal(await status(ADMIN_TOKEN, '198.51.100.9, 127.0.0.1'), 429, 'the same client with nothing to its left');
    assert.equal(await status(ADMIN_TOKEN, '198.51.100.9, 127.0.0.1, 127.0.0.1'), 429, 'the same client through two trusted hops');

    assert.equal(await status(ADMIN_TOKEN, '198.51.100.10, 127.0.0.1'), 200, 'another client behind the same proxy');
    assert.equal(await status(ADMIN_TOKEN, '198.51.100.9, 198.51.100.10, 127.0.0.1'), 200, 'another client claiming to forward for the blocked one');
    assert.equal(await status(ADMIN_TOKEN), 200, 'the proxy itself (no header) is another source');
  });

  it('an entry with the port a proxy appended names its client (IPv4 and [IPv6]); left entries still change nothing', async function () {
    // Before, 198.51.100.20:4444 was not an address: every client behind such a proxy fell back to the
    // proxy's one count, and one client's guesses locked all of them out.
    for (let i = 1; i <= 5; i++) assert.equal(await status(`shk_guess_p${i}`, `203.0.113.${50 + i}, 198.51.100.20:4444, 127.0.0.1`), 401, `guess ${i}`);
    assert.equal(await status(ADMIN_TOKEN, '203.0.113.99, 198.51.100.20:5555, 127.0.0.1'), 429, 'that client, from another port, whatever it says to its left');
    assert.equal(await status(ADMIN_TOKEN, '198.51.100.20, 127.0.0.1'), 429, 'that client without a port');
    assert.equal(await status(ADMIN_TOKEN, '198.51.100.21:4444, 127.0.0.1'), 200, 'another client behind the same proxy');
    assert.equal(await status(ADMIN_TOKEN), 200, 'the proxy itself is another source');
    for (let i = 1; i <= 5; i++) assert.equal(await status(`shk_guess_v${i}`, `[2001:db8::${i}]:443, [2001:db8:1::7]:443, 127.0.0.1`), 401, `IPv6 guess ${i}`);
    assert.equal(await status(ADMIN_TOKEN, '[2001:db8:1::7]:8443, 127.0.0.1'), 429, 'the IPv6 client');
  });

  it('an entry that is no address ends the walk at the proxy: its left entries, the client’s own say, never become the source', async function () {
    // Nothing left of an entry the chain cannot read is trusted: the source is the proxy itself. Had the
    // walk skipped it, each guess would count for a different, made-up 203.0.113.x.
    for (let i = 1; i <= 5; i++) assert.equal(await status(`shk_guess_m${i}`, `203.0.113.${60 + i}, unknown, 127.0.0.1`), 401, `guess ${i}`);
    assert.equal(await status(ADMIN_TOKEN, '203.0.113.99, not-an-address, 127.0.0.1'), 429, 'every malformed chain shares the proxy\'s count');
    assert.equal(await status(ADMIN_TOKEN, '203.0.113.99, 198.51.100.30:99999, 127.0.0.1'), 429, 'a port out of range is no address either');
    assert.equal(await status(ADMIN_TOKEN, '198.51.100.30, 127.0.0.1'), 200, 'a well-formed chain still names its own client');
  });
});
