// The per-caller request budget (src/api/auth.ts, README "Security model"): every issued API token and
// dashboard session, and the bootstrap SELFHEAL_ADMIN_TOKEN, spends a token bucket (here a burst of 10, refilled at 1 per second); past it the caller gets
// 429 with Retry-After before the route does anything, while other callers are served. Before it, only
// failed authentications were limited: one valid `read` token could send requests without end.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CALLER_BUDGET_MAX_CALLERS, CallerBudget } from '../../src/api/auth.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { issueToken, startStack, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { insertTestSession } from '../helpers/sessions.js';

const BURST = 10;
const METRICS = 'metrics-token-0123456789abcdef';
const ISSUER = 'https://login.example.com/realms/sre';

describe('security: each authenticated caller has a request budget', function () {
  this.timeout(60_000);
  let stack: Stack;

  before(async function () {
    stack = await startStack({
      env: {
        SELFHEAL_RATE_LIMIT_BURST: String(BURST),
        SELFHEAL_RATE_LIMIT_PER_SECOND: '1',
        METRICS_TOKEN: METRICS,
        SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com',
        OIDC_ISSUER_URL: ISSUER,
        OIDC_CLIENT_ID: 'selfheal',
        OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
        OIDC_ROLE_MAP: 'sre=write,viewers=read',
      },
    });
  });
  after(async () => stack?.stop());

  const as = (token: string, init: RequestInit = {}) => ({ ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  /** `n` requests at once with one token: their statuses, and how long they took. */
  async function burst(token: string, n: number, path = '/api/rules'): Promise<{ statuses: number[]; seconds: number; refused: Response[] }> {
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: n }, () => stack.api(path, as(token))));
    return { statuses: answers.map((r) => r.status), seconds: (Date.now() - started) / 1000, refused: answers.filter((r) => r.status === 429) };
  }
  const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;
  /** The status of an in-process request to the app. */
  const statusOf = async (path: string, init: RequestInit = {}) => (await stack.app.request(path, init)).status;

  it('one read token past its burst gets 429 problem+json with Retry-After, while another token is served at the same moment; the budget refills', async function () {
    const a = await issueToken(stack, 'reader-a', ['read']);
    const b = await issueToken(stack, 'reader-b', ['read']);
    const first = await burst(a, BURST + 8);
    const served = count(first.statuses, 200);
    assert.ok(served >= BURST && served <= BURST + Math.ceil(first.seconds), `${served} of ${BURST + 8} served in ${first.seconds} s: ${first.statuses.join(',')}`);
    assert.equal(served + count(first.statuses, 429), BURST + 8, first.statuses.join(','));

    const refused = first.refused[0]!;
    assert.equal(refused.headers.get('content-type'), 'application/problem+json');
    const wait = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 2, `Retry-After ${refused.headers.get('retry-after')}`);
    const body = (await refused.json()) as { status: number; limit: string; detail: string };
    assert.equal(body.status, 429);
    assert.equal(body.limit, 'caller-budget');
    assert.match(body.detail, /budget/);

    // The same moment: A is still refused, B and the admin token are served (A's flood spends only A's budget).
    assert.equal((await stack.api('/api/rules', as(a))).status, 429);
    assert.equal((await stack.api('/api/rules', as(b))).status, 200, 'another token is not limited by A');
    assert.equal((await stack.api('/api/rules')).status, 200, 'the admin token is not limited by A');

    // Retry-After is honest: once it has passed, A is served again, and only at the refill rate.
    await new Promise((r) => setTimeout(r, wait * 1000 + 50));
    assert.equal((await stack.api('/api/rules', as(a))).status, 200, 'refilled');
    const again = await burst(a, 5);
    assert.ok(count(again.statuses, 429) >= 3, `right after, A has at most a token or two: ${again.statuses.join(',')}`);
  });

  it('a refused request does nothing: a write over budget creates no rule, and a 403 still spends the budget', async function () {
    const w = await issueToken(stack, `writer-${randomUUID().slice(0, 6)}`, ['write']);
    // 403s (an admin route) spend the budget like any authenticated request.
    const spent = await burst(w, BURST + 2, '/api/tokens');
    assert.equal(count(spent.statuses, 403) + count(spent.statuses, 429), BURST + 2, spent.statuses.join(','));
    assert.ok(count(spent.statuses, 429) >= 1, spent.statuses.join(','));
    const name = `over-budget-${randomUUID().slice(0, 6)}`;
    const rule = { name, services: ['*'], actions: [{ id: 'n', type: 'pagerduty.note', content: 'x' }] };
    const res = await stack.api('/api/rules', as(w, { method: 'POST', body: JSON.stringify(rule), headers: { 'content-type': 'application/json' } }));
    assert.equal(res.status, 429);
    const rows = await stack.db.db.selectFrom('rules').select('id').where('name', '=', name).execute();
    assert.deepEqual(rows, [], 'no rule was created');
  });

  it('a backtest costs ten requests of the budget', async function () {
    const d = await issueToken(stack, `backtester-${randomUUID().slice(0, 6)}`, ['read']);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date().toISOString();
    const rule = { name: 'bt', services: ['PNOSUCH1'], actions: [{ id: 'n', type: 'pagerduty.note', content: 'x' }] };
    const started = Date.now();
    const bt = await stack.api('/api/rules/backtest', as(d, { method: 'POST', body: JSON.stringify({ rule, from, to }), headers: { 'content-type': 'application/json' } }));
    assert.equal(bt.status, 200, await bt.clone().text());
    const after = await burst(d, 3);
    const seconds = (Date.now() - started) / 1000;
    // Charged 1, the backtest would have left 9: all three would pass. Charged 10, none is left.
    assert.ok(count(after.statuses, 429) >= 3 - Math.floor(seconds), `after a backtest (${seconds} s): ${after.statuses.join(',')}`);
  });

  /** A dashboard session as the sign-in stores it (read role). */
  const signIn = () =>
    insertTestSession(stack.db.db, { issuer: ISSUER, subject: `sub-${randomUUID()}`, actor: 'user:vera@example.com', email: 'vera@example.com', scopes: ['read'], groups: ['viewers'] });

  it('a dashboard session has a budget of its own, spent by /api and GET /auth/session', async function () {
    const one = await signIn();
    const other = await signIn();
    const statuses = await Promise.all(Array.from({ length: BURST + 5 }, (_, i) => statusOf(i % 2 ? '/auth/session' : '/api/rules', { headers: { cookie: one.cookie } })));
    assert.ok(count(statuses, 429) >= 4, statuses.join(','));
    assert.equal((await stack.app.request('/auth/session', { headers: { cookie: one.cookie } })).status, 429);
    assert.equal((await stack.app.request('/api/rules', { headers: { cookie: other.cookie } })).status, 200, 'another session is served');
  });

  it('the PagerDuty webhook, /healthz, /readyz and /metrics are never limited, even carrying a spent token', async function () {
    const spent = await issueToken(stack, `spent-${randomUUID().slice(0, 6)}`, ['read']);
    await burst(spent, BURST + 2);
    assert.equal((await stack.api('/api/rules', as(spent))).status, 429);

    const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId()));
    const headers = { 'content-type': 'application/json', 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET), authorization: `Bearer ${spent}` };
    const deliveries = await Promise.all(Array.from({ length: BURST * 2 }, () => statusOf('/webhooks/pagerduty', { method: 'POST', headers, body: raw })));
    assert.ok(deliveries.every((s) => s === 202 || s === 200), `webhook: ${deliveries.join(',')}`);

    for (const [path, token] of [['/healthz', spent], ['/readyz', spent], ['/metrics', METRICS]] as const) {
      const statuses = await Promise.all(Array.from({ length: BURST * 2 }, () => statusOf(path, { headers: { authorization: `Bearer ${token}` } })));
      assert.ok(statuses.every((s) => s === 200), `${path}: ${statuses.join(',')}`);
    }
  });

  it('sign-out is never refused for the budget: a session that spent it still signs out (cutting off whoever spent it), and a flood of sign-outs revokes it once', async function () {
    const s = await signIn();
    const spent = await Promise.all(Array.from({ length: BURST + 5 }, () => statusOf('/api/rules', { headers: { cookie: s.cookie } })));
    assert.ok(count(spent, 429) >= 1, spent.join(','));
    assert.equal(await statusOf('/auth/session', { headers: { cookie: s.cookie } }), 429, 'the budget is spent');
    // A thief of the cookie who keeps the budget spent must not be able to keep its owner from signing out.
    const headers = { cookie: s.cookie, origin: 'https://selfheal.example.com', 'sec-fetch-site': 'same-origin', 'x-csrf-token': s.csrf };
    const outs = await Promise.all(Array.from({ length: BURST * 2 }, () => statusOf('/auth/logout', { method: 'POST', headers })));
    assert.ok(outs.every((st) => st === 200), `sign-outs: ${outs.join(',')}`);
    assert.equal(await statusOf('/api/rules', { headers: { cookie: s.cookie } }), 401, 'signed out');
    // Sign-out ends its caller: the flood revoked and audited it once; the rest found nothing live to revoke.
    const audited = await stack.db.db.selectFrom('audit_log').select('id').where('action', '=', 'session.revoke').where('entity_id', '=', s.id).execute();
    assert.equal(audited.length, 1);
  });

  it('the bootstrap SELFHEAL_ADMIN_TOKEN has a budget of its own: its flood is refused 429 problem+json and does nothing, while a token and a session are served at the same moment', async function () {
    const bystander = await issueToken(stack, `bystander-${randomUUID().slice(0, 6)}`, ['read']);
    const session = await signIn();
    // Before, this token alone was never counted: a leaked or looping one, which nothing but a restart can
    // revoke, could send requests without end.
    const started = Date.now();
    const flood = await Promise.all(Array.from({ length: BURST * 3 }, () => stack.api('/api/rules')));
    const statuses = flood.map((r) => r.status);
    // Its bucket is what the earlier tests (issuing tokens) left of a burst of 10, refilled at 1 a second.
    const served = count(statuses, 200);
    assert.ok(served >= 1 && served <= BURST + Math.ceil((Date.now() - started) / 1000), `admin token flood: ${statuses.join(',')}`);
    assert.equal(served + count(statuses, 429), BURST * 3, statuses.join(','));
    const refused = flood.find((r) => r.status === 429)!;
    assert.equal(refused.headers.get('content-type'), 'application/problem+json');
    const wait = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(wait) && wait >= 1, `Retry-After ${refused.headers.get('retry-after')}`);
    assert.equal(((await refused.json()) as { limit: string }).limit, 'caller-budget');

    // Refused before the route: a token the admin token asks for now is not created.
    const name = `over-budget-admin-${randomUUID().slice(0, 6)}`;
    const mint = await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name, scopes: ['read'] }) });
    assert.equal(mint.status, 429);
    assert.deepEqual(await stack.db.db.selectFrom('api_tokens').select('id').where('name', '=', name).execute(), [], 'no token was created');

    // The same moment: an issued token and a dashboard session are served.
    assert.equal((await stack.api('/api/rules', as(bystander))).status, 200, 'an issued token is not limited by the admin token');
    assert.equal((await stack.app.request('/api/rules', { headers: { cookie: session.cookie } })).status, 200, 'a session is not limited by the admin token');

    // Once Retry-After has passed, the admin token is served again.
    await new Promise((r) => setTimeout(r, wait * 1000 + 50));
    assert.equal((await stack.api('/api/rules')).status, 200, 'refilled');
  });

  it('memory stays bounded: idle callers are forgotten once full again, and at most a fixed number are tracked', function () {
    let now = 1_700_000_000_000;
    const budget = new CallerBudget({ burst: 5, perSecond: 1 }, () => now);
    for (let i = 0; i < 3 * CALLER_BUDGET_MAX_CALLERS; i++) budget.take(`token:${i}`);
    assert.ok(budget.size <= CALLER_BUDGET_MAX_CALLERS, `${budget.size} callers tracked`);
    for (let i = 0; i < 5; i++) assert.equal(budget.take('token:x'), 0);
    assert.equal(budget.take('token:x'), 1, 'empty: one request back in 1 s');
    assert.equal(budget.take('token:x', 3), 3);
    assert.equal(budget.take('token:x', 50), 5, 'a cost above the burst asks for the whole burst, never more');
    now += 5_001;
    assert.equal(budget.size, 0, 'every bucket refilled: forgotten');
    assert.equal(budget.take('token:x', 5), 0, 'a forgotten caller starts full, as it would have been');
    const off = new CallerBudget({ burst: 0, perSecond: 1 }, () => now);
    for (let i = 0; i < 1000; i++) assert.equal(off.take('token:y'), 0);
    assert.equal(off.size, 0, 'burst 0: off, nothing tracked');
  });
});
