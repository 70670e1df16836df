// Tokens and sign-in (docs/security.md "Tokens and sign-in"): tokens expire, and a source that keeps
// presenting bad bearer tokens is answered 429 before any token is looked at. Before this change a token
// lived until revoked (expiresIn/expiresAt were unknown fields: 400), and guessing was unlimited: the
// 11th, 1000th and millionth wrong token each got a 401 and a database lookup.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { AUTH_LIMIT_MAX_SOURCES, AuthFailureLimiter, sourceKey } from '../../src/api/auth.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';

describe('security: tokens expire', function () {
  let stack: Stack;

  before(async () => {
    stack = await startStack();
  });
  after(async () => stack?.stop());

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
  const create = async (body: Record<string, unknown>): Promise<{ status: number; body: any }> => {
    const res = await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: `t-${randomUUID().slice(0, 6)}`, scopes: ['read'], ...body }) });
    return { status: res.status, body: await res.json() };
  };
  const days = (iso: string) => (Date.parse(iso) - Date.now()) / 86_400_000;

  it('every token gets an expiry: 90 days by default, expiresIn or expiresAt within 366 days, shown by GET /api/tokens', async function () {
    const plain = await create({});
    assert.equal(plain.status, 201);
    assert.ok(Math.abs(days(plain.body.expiresAt) - 90) < 0.01, plain.body.expiresAt);
    const short = await create({ expiresIn: '12h' });
    assert.ok(Math.abs(days(short.body.expiresAt) - 0.5) < 0.01);
    const at = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const fixed = await create({ expiresAt: at });
    assert.equal(Date.parse(fixed.body.expiresAt), Date.parse(at));

    const listed = (await (await stack.api('/api/tokens')).json()) as { items: { id: string; expiresAt: string; expired: boolean }[] };
    const row = listed.items.find((t) => t.id === short.body.id)!;
    assert.equal(Date.parse(row.expiresAt), Date.parse(short.body.expiresAt));
    assert.equal(row.expired, false);

    const bad: [Record<string, unknown>, string][] = [
      [{ expiresIn: '367d' }, 'expiresIn'],
      [{ expiresIn: '0m' }, 'expiresIn'],
      [{ expiresIn: '10y' }, 'expiresIn'],
      [{ expiresAt: new Date(Date.now() + 400 * 86_400_000).toISOString() }, 'expiresAt'],
      [{ expiresAt: new Date(Date.now() - 1000).toISOString() }, 'expiresAt'],
      [{ expiresIn: '1d', expiresAt: at }, 'expiresAt'],
      [{ expiresAt: 'tomorrow' }, 'expiresAt'],
    ];
    for (const [body, field] of bad) {
      const res = await create(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.deepEqual(res.body.errors.map((e: { path: string }) => e.path), [field], JSON.stringify(body));
    }
  });

  it('a token may name the person it is issued to: stored as they sign in (user:<email>, lower case, or user:<subject>), listed and audited; anything else is a 400 naming owner', async function () {
    const mail = await create({ owner: 'Alice@Example.COM' });
    assert.equal(mail.status, 201, JSON.stringify(mail.body));
    assert.equal(mail.body.owner, 'user:alice@example.com');
    const sub = await create({ owner: 'user:00u1Alice' });
    assert.equal(sub.body.owner, 'user:00u1Alice', 'a subject keeps its case');
    const none = await create({});
    assert.equal(none.body.owner, null);
    const listed = (await (await stack.api('/api/tokens')).json()) as { items: { id: string; owner: string | null }[] };
    assert.equal(listed.items.find((t) => t.id === mail.body.id)?.owner, 'user:alice@example.com');
    const audit = await stack.db.db.selectFrom('audit_log').select('after').where('action', '=', 'token.create').where('entity_id', '=', mail.body.id).executeTakeFirstOrThrow();
    assert.equal((audit.after as { owner: string }).owner, 'user:alice@example.com');
    for (const owner of ['alice', 'alice @example.com', 'user:', 'user:a b', `${'a'.repeat(300)}@example.com`, 42]) {
      const res = await create({ owner });
      assert.equal(res.status, 400, JSON.stringify(owner));
      assert.deepEqual([...new Set(res.body.errors.map((e: { path: string }) => e.path))], ['owner'], JSON.stringify(owner));
    }
  });

  it('an expired token is refused with 401 exactly like a revoked or unknown one', async function () {
    const issued = (await create({ scopes: ['admin'], expiresIn: '5m' })).body as { id: string; token: string };
    const use = () => stack.api('/api/rules', { headers: { authorization: `Bearer ${issued.token}` } });
    assert.equal((await use()).status, 200);
    // Time passes (the row is what the clock is compared with).
    await stack.db.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', issued.id).execute();
    const expired = await use();
    assert.equal(expired.status, 401);
    const unknown = await stack.api('/api/rules', { headers: { authorization: 'Bearer shk_never-issued' } });
    assert.deepEqual(await expired.json(), await unknown.json(), 'the answer does not say which');
    const listed = (await (await stack.api('/api/tokens')).json()) as { items: { id: string; expired: boolean }[] };
    assert.equal(listed.items.find((t) => t.id === issued.id)!.expired, true);
  });
});

describe('security: failed bearer authentication is limited per source address', function () {
  let stack: Stack;
  let server: ApiServer;
  let proxied: ApiServer;
  const METRICS = 'metrics-token-0123456789abcdef';

  before(async function () {
    stack = await startStack({ env: { PORT: '0', HOST: '127.0.0.1', METRICS_TOKEN: METRICS, SELFHEAL_AUTH_MAX_FAILURES: '5', SELFHEAL_AUTH_FAILURE_WINDOW_SECONDS: '3' } });
    // Two real HTTP servers, so the source address is a socket's: one trusts no proxy, one trusts loopback's X-Forwarded-For.
    const logger = createLogger({ level: 'silent' });
    server = await startApiServer({ config: stack.config, db: stack.db.db, temporal: stack.temporal.client, logger });
    const behindProxy = loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      TEMPORAL_ADDRESS: stack.temporal.address,
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: stack.db.url,
      SELFHEAL_AUTH_MAX_FAILURES: '5',
      SELFHEAL_TRUSTED_PROXIES: '127.0.0.1',
    });
    // Its own database handle: one limiter per app.
    const { openDatabase } = await import('../../src/db/connect.js');
    const own = await openDatabase({ url: stack.db.url, dataDir: '', poolSize: 2 });
    proxied = await startApiServer({ config: behindProxy, db: own.db, temporal: stack.temporal.client, logger });
    const close = proxied.close;
    proxied.close = async () => {
      await close();
      await own.close();
    };
  });
  after(async () => {
    await server?.close();
    await proxied?.close();
    await stack?.stop();
  });

  const get = (base: ApiServer, p: string, token: string, headers: Record<string, string> = {}) => fetch(`${base.url}${p}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

  it('after 5 bad tokens the 6th request is 429 with Retry-After, valid tokens included, without a token lookup; then it recovers', async function () {
    this.timeout(60_000);
    const issued = (await (await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: 'victim', scopes: ['read'] }) })).json()) as { id: string; token: string };
    for (let i = 0; i < 5; i++) assert.equal((await get(server, '/api/rules', `shk_guess_${i}`)).status, 401, `guess ${i}`);
    const blocked = await get(server, '/api/rules', 'shk_guess_5');
    assert.equal(blocked.status, 429);
    assert.equal(blocked.headers.get('content-type'), 'application/problem+json');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 3, `Retry-After ${retryAfter}`);
    assert.equal(((await blocked.json()) as { status: number }).status, 429);

    // The admin token and an issued token are refused too, and the issued one is not even looked up.
    assert.equal((await get(server, '/api/rules', ADMIN_TOKEN)).status, 429);
    assert.equal((await get(server, '/api/rules', issued.token)).status, 429);
    const row = await stack.db.db.selectFrom('api_tokens').select('last_used_at').where('id', '=', issued.id).executeTakeFirstOrThrow();
    assert.equal(row.last_used_at, null, 'no lookup while blocked');

    // A forged X-Forwarded-For does not escape: no proxy is trusted here.
    assert.equal((await get(server, '/api/rules', ADMIN_TOKEN, { 'x-forwarded-for': '203.0.113.77' })).status, 429);
    // /metrics shares the limit.
    assert.equal((await get(server, '/metrics', METRICS)).status, 429);

    // The window ends; the source may try again.
    const ok = await eventually(async () => ((await get(server, '/api/rules', ADMIN_TOKEN)).status === 200 ? true : undefined), 20_000, 'the block to lift');
    assert.equal(ok, true);
  });

  it('/metrics: bad METRICS_TOKEN guesses count toward the same limit', async function () {
    this.timeout(60_000);
    await eventually(async () => ((await get(server, '/api/rules', ADMIN_TOKEN)).status === 200 ? true : undefined), 20_000, 'a clean window');
    for (let i = 0; i < 5; i++) assert.equal((await get(server, '/metrics', `wrong-metrics-${i}`)).status, 401);
    assert.equal((await get(server, '/metrics', METRICS)).status, 429);
    assert.equal((await get(server, '/api/rules', ADMIN_TOKEN)).status, 429);
  });

  it('behind a trusted proxy each client counts on its own (X-Forwarded-For), and a request without a token costs nothing', async function () {
    this.timeout(60_000);
    const from = (client: string) => ({ 'x-forwarded-for': `${client}, 127.0.0.1` });
    for (let i = 0; i < 5; i++) assert.equal((await get(proxied, '/api/rules', `bad-${i}`, from('198.51.100.1'))).status, 401);
    assert.equal((await get(proxied, '/api/rules', ADMIN_TOKEN, from('198.51.100.1'))).status, 429);
    assert.equal((await get(proxied, '/api/rules', ADMIN_TOKEN, from('198.51.100.2'))).status, 200, 'another client behind the same proxy');
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`${proxied.url}/api/rules`, { headers: from('198.51.100.3') })).status, 401);
    assert.equal((await get(proxied, '/api/rules', ADMIN_TOKEN, from('198.51.100.3'))).status, 200, 'no token is not a guess');
  });

  it('memory stays bounded under a spray of addresses; an IPv6 host counts per /64', function () {
    let now = 0;
    const limiter = new AuthFailureLimiter({ maxFailures: 3, windowSeconds: 60, trustedProxies: [] }, () => now);
    for (let i = 0; i < 50_000; i++) limiter.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    assert.ok(limiter.size <= AUTH_LIMIT_MAX_SOURCES, `${limiter.size} sources remembered`);
    assert.equal(sourceKey('2001:db8:1:2::1'), sourceKey('2001:db8:1:2:ffff:ffff:ffff:fffe'));
    assert.notEqual(sourceKey('2001:db8:1:2::1'), sourceKey('2001:db8:1:3::1'));
    assert.equal(sourceKey('::ffff:192.0.2.7'), '192.0.2.7');
    for (let i = 0; i < 3; i++) limiter.fail(sourceKey('2001:db8:1:2::1'));
    assert.ok(limiter.retryAfter(sourceKey('2001:db8:1:2::99')) > 0);
    now += 61_000;
    assert.equal(limiter.retryAfter(sourceKey('2001:db8:1:2::99')), 0);
  });
});
