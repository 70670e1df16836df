import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { sampleFor } from '../helpers/samples.js';
import { testTemporal } from '../helpers/temporal.js';

// Cross-team access for EVERY mounted route (issue 24). The table below names each route the app serves;
// a route missing from it fails the first test, so a new route cannot ship without saying how teams
// reach it. Each object route is called as principals of another team (an admin of team beta, and a
// legacy write token, which acts on the default team only) on team alpha's object: reads answer 404 (as
// for an unknown id), writes 403, and the object is unchanged afterwards; then as alpha's editor (or
// approver, or admin) it succeeds.

const ADMIN = 'teams-admin-token-0123456789abcdef';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;
type Who = 'alphaViewer' | 'alphaEditor' | 'alphaApprover' | 'alphaAdmin' | 'betaAdmin' | 'legacyWriter';
const OUTSIDERS: Who[] = ['betaAdmin', 'legacyWriter'];

interface Fixture {
  rule: string;
  env: string;
  job: string;
  incident: string;
  actionRun: string;
  /** A run of `job`, with one target result. */
  jobRun: string;
  /** A token holding alpha:viewer and beta:viewer, whose alpha roles the membership routes change. */
  member: string;
  suffix: string;
}

interface Req {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

type Case =
  /** `reads`: a POST that only reads the object (tests, backtests without attaching): refused like a GET. */
  | {
      kind: 'object';
      request: (f: Fixture) => Req;
      own: { who: Who; status: number };
      alsoRefused?: Who[];
      reads?: boolean;
      /** An admin request made after the refusals, before alpha's own call (what the call needs first). */
      beforeOwn?: (f: Fixture) => Req & { status: number };
    }
  | { kind: 'create'; request: (f: Fixture) => Req; own: { who: Who; status: number } }
  /** `items`: where the answer lists them (default `body.items`); `prepare`: what the list must hold first (seed makes none of it). */
  | { kind: 'list'; path: string; contains: (f: Fixture, items: Doc[]) => boolean; items?: (body: Doc) => Doc[]; prepare?: (db: TestDatabase, f: Fixture) => Promise<void> }
  | { kind: 'global-admin' }
  | { kind: 'not-team-owned'; why: string };

const ruleBody = (name: string, team?: string) => ({
  name,
  ...(team ? { team } : {}),
  services: ['PTEAMS1'],
  conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }] },
  actions: [{ type: 'pagerduty.note', content: 'seen {{ incident.title }}' }],
});
const jobBody = (f: { suffix: string; env: string }, team?: string) => ({
  id: `job-${f.suffix}`,
  name: `job ${f.suffix}`,
  ...(team ? { team } : {}),
  schedule: { interval: '24h' },
  targets: { environments: [f.env] },
  script: 'probe.sh',
});
const hourAgo = () => new Date(Date.now() - 3_600_000).toISOString();

const CASES: Record<string, Case> = {
  'GET /healthz': { kind: 'not-team-owned', why: 'public liveness' },
  'GET /readyz': { kind: 'not-team-owned', why: 'public readiness' },
  'GET /metrics': { kind: 'not-team-owned', why: 'METRICS_TOKEN, aggregate figures' },
  'POST /webhooks/pagerduty': { kind: 'not-team-owned', why: 'signed by PagerDuty; rules of every team match its events' },
  'GET /api/incidents': { kind: 'not-team-owned', why: 'incidents come from PagerDuty and span teams (docs/security.md)' },
  'GET /api/incidents/:id': { kind: 'not-team-owned', why: 'incidents come from PagerDuty and span teams (docs/security.md)' },
  'POST /api/incidents/:id/approvals/:actionRunId': {
    kind: 'object',
    request: (f) => ({ method: 'POST', path: `/api/incidents/${f.incident}/approvals/${f.actionRun}`, body: { decision: 'approve' } }),
    own: { who: 'alphaApprover', status: 202 },
    alsoRefused: ['alphaEditor', 'alphaViewer'],
  },
  'GET /api/rules': { kind: 'list', path: '/api/rules', contains: (f, items) => items.some((r) => r.id === f.rule) },
  'POST /api/rules/validate': { kind: 'not-team-owned', why: 'validates a body, touches no stored object' },
  'POST /api/rules/test': { kind: 'not-team-owned', why: 'tests an unsaved rule, touches no stored object' },
  'POST /api/rules': { kind: 'create', request: (f) => ({ method: 'POST', path: '/api/rules', body: ruleBody(`new-${f.suffix}`, 'alpha') }), own: { who: 'alphaEditor', status: 201 } },
  'GET /api/rules/:id': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/rules/${f.rule}` }), own: { who: 'alphaViewer', status: 200 } },
  'PUT /api/rules/:id': {
    kind: 'object',
    request: (f) => ({ method: 'PUT', path: `/api/rules/${f.rule}`, body: { ...ruleBody(`rule-${f.suffix}`), description: 'changed' }, headers: { 'if-match': '"2"' } }),
    own: { who: 'alphaEditor', status: 200 },
    alsoRefused: ['alphaViewer', 'alphaApprover'],
  },
  'DELETE /api/rules/:id': { kind: 'object', request: (f) => ({ method: 'DELETE', path: `/api/rules/${f.rule}` }), own: { who: 'alphaEditor', status: 200 }, alsoRefused: ['alphaViewer'] },
  'GET /api/rules/:id/versions': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/rules/${f.rule}/versions` }), own: { who: 'alphaViewer', status: 200 } },
  'GET /api/rules/:id/diff': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/rules/${f.rule}/diff?from=1` }), own: { who: 'alphaViewer', status: 200 } },
  'POST /api/rules/:id/rollback': {
    kind: 'object',
    request: (f) => ({ method: 'POST', path: `/api/rules/${f.rule}/rollback`, body: { version: 1 } }),
    own: { who: 'alphaEditor', status: 200 },
    alsoRefused: ['alphaViewer'],
  },
  'POST /api/rules/:id/reset-breaker': { kind: 'object', request: (f) => ({ method: 'POST', path: `/api/rules/${f.rule}/reset-breaker` }), own: { who: 'alphaEditor', status: 200 }, alsoRefused: ['alphaViewer'] },
  'POST /api/rules/:id/test': {
    kind: 'object',
    request: (f) => ({ method: 'POST', path: `/api/rules/${f.rule}/test`, body: { payload: sampleFor('v3-incident.triggered-01.json', `Q${f.suffix}`) } }),
    own: { who: 'alphaViewer', status: 200 },
    reads: true,
  },
  'POST /api/rules/backtest': {
    kind: 'object',
    request: (f) => ({ method: 'POST', path: '/api/rules/backtest', body: { ruleId: f.rule, since: '1d' } }),
    own: { who: 'alphaViewer', status: 200 },
    reads: true,
  },
  'POST /api/rules/:id/backtest': {
    kind: 'object',
    request: (f) => ({ method: 'POST', path: `/api/rules/${f.rule}/backtest`, body: { since: '1d' } }),
    own: { who: 'alphaEditor', status: 201 },
    alsoRefused: ['alphaViewer'],
  },
  'GET /api/rules/:id/backtests': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/rules/${f.rule}/backtests` }), own: { who: 'alphaViewer', status: 200 } },
  'POST /api/tokens': { kind: 'global-admin' },
  'GET /api/tokens': { kind: 'global-admin' },
  'DELETE /api/tokens/:id': { kind: 'global-admin' },
  'DELETE /api/sessions': { kind: 'global-admin' },
  'GET /api/teams': { kind: 'list', path: '/api/teams', contains: (_f, items) => items.some((t) => t.name === 'alpha') },
  'POST /api/teams': { kind: 'global-admin' },
  'GET /api/teams/:team/members': { kind: 'object', request: () => ({ method: 'GET', path: '/api/teams/alpha/members' }), own: { who: 'alphaAdmin', status: 200 }, alsoRefused: ['alphaEditor'] },
  'PUT /api/teams/:team/members/:tokenId': {
    kind: 'object',
    request: (f) => ({ method: 'PUT', path: `/api/teams/alpha/members/${f.member}`, body: { roles: ['viewer', 'editor'] } }),
    own: { who: 'alphaAdmin', status: 200 },
    alsoRefused: ['alphaEditor'],
  },
  'DELETE /api/teams/:team/members/:tokenId': {
    kind: 'object',
    request: (f) => ({ method: 'DELETE', path: `/api/teams/alpha/members/${f.member}` }),
    own: { who: 'alphaAdmin', status: 200 },
    alsoRefused: ['alphaEditor'],
  },
  'GET /api/audit': { kind: 'global-admin' },
  'GET /api/stats': { kind: 'not-team-owned', why: 'fleet-wide totals like /metrics; its per-rule lines are only of rules of readable teams (src/services/stats.ts)' },
  'GET /api/rules/:id/stats': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/rules/${f.rule}/stats` }), own: { who: 'alphaViewer', status: 200 } },
  // Fleet-wide pauses and those of environments of no team are everyone's (the last test below); an
  // environment pause of alpha's environment is alpha's. Before, every reader saw every team's pauses.
  'GET /api/automation': {
    kind: 'list',
    path: '/api/automation',
    items: (body) => [...(body.pauses as Doc[]), ...(body.history as Doc[])],
    contains: (f, items) => items.some((p) => p.environment === f.env),
    prepare: async (db, f) => {
      await db.db.insertInto('automation_pauses').values({ scope: 'environment', environment: f.env, guard: 'environment.maxTargetPercent', reason: `paused ${f.env}`, incident_id: f.incident }).execute();
    },
  },
  'POST /api/automation/resume': { kind: 'global-admin' },
  'POST /api/incidents/:id/mark-resolved': { kind: 'global-admin' },
  'GET /approvals/link': { kind: 'not-team-owned', why: 'a confirmation page; it decides nothing (the team check is that of POST /approvals/link)' },
  'POST /approvals/link': { kind: 'not-team-owned', why: "decides through the same approvableRun as the approvals route: approver of the rule's team (test/api/teams.test.ts attacks it)" },
  'GET /api/environments': { kind: 'list', path: '/api/environments', contains: (f, items) => items.some((e) => e.name === f.env) },
  'GET /api/environments/:name': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/environments/${f.env}` }), own: { who: 'alphaViewer', status: 200 } },
  'POST /api/environments': { kind: 'create', request: (f) => ({ method: 'POST', path: '/api/environments', body: { name: `alpha-new-env-${f.suffix}`, team: 'alpha' } }), own: { who: 'alphaEditor', status: 201 } },
  'PUT /api/environments/:name': {
    kind: 'object',
    request: (f) => ({ method: 'PUT', path: `/api/environments/${f.env}`, body: { labels: { changed: 'yes' } } }),
    own: { who: 'alphaEditor', status: 200 },
    alsoRefused: ['alphaViewer'],
  },
  'DELETE /api/environments/:name': {
    kind: 'object',
    request: (f) => ({ method: 'DELETE', path: `/api/environments/${f.env}` }),
    own: { who: 'alphaEditor', status: 204 },
    alsoRefused: ['alphaViewer'],
    // The fixture's job targets it, and an environment a live job names is not deleted (409).
    beforeOwn: (f) => ({ method: 'DELETE', path: `/api/jobs/${f.job}`, status: 204 }),
  },
  'POST /api/environments/:name/check': { kind: 'object', request: (f) => ({ method: 'POST', path: `/api/environments/${f.env}/check` }), own: { who: 'alphaEditor', status: 200 }, alsoRefused: ['alphaViewer'] },
  'GET /api/jobs': { kind: 'list', path: '/api/jobs', contains: (f, items) => items.some((j) => j.id === f.job) },
  'POST /api/jobs': { kind: 'create', request: (f) => ({ method: 'POST', path: '/api/jobs', body: jobBody({ suffix: `n${f.suffix}`, env: f.env }, 'alpha') }), own: { who: 'alphaEditor', status: 201 } },
  'GET /api/jobs/:id': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/jobs/${f.job}` }), own: { who: 'alphaViewer', status: 200 } },
  'PUT /api/jobs/:id': {
    kind: 'object',
    request: (f) => ({ method: 'PUT', path: `/api/jobs/${f.job}`, body: { ...jobBody(f), description: 'changed' } }),
    own: { who: 'alphaEditor', status: 200 },
    alsoRefused: ['alphaViewer'],
  },
  'DELETE /api/jobs/:id': { kind: 'object', request: (f) => ({ method: 'DELETE', path: `/api/jobs/${f.job}` }), own: { who: 'alphaEditor', status: 204 }, alsoRefused: ['alphaViewer'] },
  'POST /api/jobs/:id/pause': { kind: 'object', request: (f) => ({ method: 'POST', path: `/api/jobs/${f.job}/pause` }), own: { who: 'alphaEditor', status: 200 }, alsoRefused: ['alphaViewer'] },
  'POST /api/jobs/:id/resume': { kind: 'object', request: (f) => ({ method: 'POST', path: `/api/jobs/${f.job}/resume` }), own: { who: 'alphaEditor', status: 200 }, alsoRefused: ['alphaViewer'] },
  'POST /api/jobs/:id/trigger': { kind: 'object', request: (f) => ({ method: 'POST', path: `/api/jobs/${f.job}/trigger` }), own: { who: 'alphaEditor', status: 202 }, alsoRefused: ['alphaViewer'] },
  'POST /api/jobs/:id/backfill': {
    kind: 'object',
    request: (f) => ({ method: 'POST', path: `/api/jobs/${f.job}/backfill`, body: { start: hourAgo(), end: new Date().toISOString() } }),
    own: { who: 'alphaEditor', status: 202 },
    alsoRefused: ['alphaViewer'],
  },
  'GET /api/jobs/:id/runs': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/jobs/${f.job}/runs` }), own: { who: 'alphaViewer', status: 200 } },
  'GET /api/jobs/:id/runs/:runId/targets': { kind: 'object', request: (f) => ({ method: 'GET', path: `/api/jobs/${f.job}/runs/${f.jobRun}/targets` }), own: { who: 'alphaViewer', status: 200 } },
  'GET /auth/config': { kind: 'not-team-owned', why: 'public sign-in configuration' },
  'GET /auth/login': { kind: 'not-team-owned', why: 'single sign-on flow' },
  'GET /auth/callback': { kind: 'not-team-owned', why: 'single sign-on flow' },
  'GET /auth/session': { kind: 'not-team-owned', why: "the caller's own session (with its team roles)" },
  'POST /auth/logout': { kind: 'not-team-owned', why: "the caller's own session" },
  'GET /': { kind: 'not-team-owned', why: 'redirect to the dashboard' },
  'GET /ui': { kind: 'not-team-owned', why: 'dashboard page' },
  'GET /ui/': { kind: 'not-team-owned', why: 'dashboard page' },
  'GET /ui/assets/:name': { kind: 'not-team-owned', why: 'dashboard assets' },
  'GET /ui/config.json': { kind: 'not-team-owned', why: 'dashboard configuration' },
  'POST /ui/convert': { kind: 'not-team-owned', why: 'converts a body, touches no stored object' },
  'GET /openapi.json': { kind: 'not-team-owned', why: 'API document' },
  'GET /docs': { kind: 'not-team-owned', why: 'API explorer' },
};

describe('security: teams — cross-team access on every route', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const tokens = {} as Record<Who, string>;
  const tokenIds = {} as Record<Who, string>;

  const call = async (token: string, r: Req): Promise<{ status: number; body: Doc }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(r.headers ?? {}) };
    if (r.body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(r.path, { method: r.method, headers, ...(r.body === undefined ? {} : { body: JSON.stringify(r.body) }) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Doc) : {} };
  };
  const admin = async (r: Req, expected: number) => {
    const res = await call(ADMIN, r);
    assert.equal(res.status, expected, `${r.method} ${r.path} as admin: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const issue = async (name: string, body: Doc) => (await admin({ method: 'POST', path: '/api/tokens', body: { name, ...body } }, 201)) as { id: string; token: string };

  /** Team alpha's objects, fresh for each case: a rule at version 2, an environment, a job on it, a gated action run, a member token. */
  async function seed(): Promise<Fixture> {
    const suffix = randomUUID().slice(0, 8);
    const env = `env-${suffix}`;
    await admin({ method: 'POST', path: '/api/environments', body: { name: env, team: 'alpha' } }, 201);
    const rule = (await admin({ method: 'POST', path: '/api/rules', body: ruleBody(`rule-${suffix}`, 'alpha') }, 201)).id as string;
    await admin({ method: 'PUT', path: `/api/rules/${rule}`, body: { ...ruleBody(`rule-${suffix}`), description: 'v2' }, headers: { 'if-match': '"1"' } }, 200);
    const job = (await admin({ method: 'POST', path: '/api/jobs', body: jobBody({ suffix, env }, 'alpha') }, 201)).id as string;
    const incident = `Q${suffix.toUpperCase()}`;
    await db.db.insertInto('incidents').values({ id: incident, status: 'triggered', assignees: '[]', environment: '{}', workflow_id: `incident-${incident}` }).execute();
    const actionRun = `${incident}:${rule}:gate`;
    await db.db
      .insertInto('action_runs')
      .values({ id: actionRun, idempotency_key: actionRun, incident_id: incident, rule_id: rule, rule_version: 2, action_index: 0, action_id: 'gate', action_type: 'pagerduty.note', status: 'awaiting_approval' })
      .execute();
    const jobRun = `jobrun-${job}-fixture`;
    await db.db.insertInto('job_runs').values({ id: jobRun, job_id: job, trigger: 'manual', status: 'failed' }).execute();
    await db.db.insertInto('job_target_results').values({ job_run_id: jobRun, environment: env, via: 'agent', status: 'failed', exit_code: 1, output_excerpt: 'out', error: 'err' }).execute();
    const member = (await issue(`member-${suffix}`, { teams: ['alpha:viewer', 'beta:viewer'] })).id;
    return { rule, env, job, incident, actionRun, jobRun, member, suffix };
  }

  /** What an outsider could have changed: the stored rows of the fixture. */
  async function state(f: Fixture) {
    return {
      rule: await db.db.selectFrom('rules').select(['version', 'team', 'deleted_at', 'breaker_state']).where('id', '=', f.rule).executeTakeFirst(),
      versions: (await db.db.selectFrom('rule_versions').select('version').where('rule_id', '=', f.rule).execute()).length,
      backtests: (await db.db.selectFrom('rule_backtests').select('id').where('rule_id', '=', f.rule).execute()).length,
      env: await db.db.selectFrom('environments').select(['labels', 'team', 'updated_at']).where('name', '=', f.env).executeTakeFirst(),
      job: await db.db.selectFrom('jobs').select(['enabled', 'team', 'updated_at', 'deleted_at']).where('id', '=', f.job).executeTakeFirst(),
      run: await db.db.selectFrom('action_runs').select(['approval', 'status']).where('id', '=', f.actionRun).executeTakeFirst(),
      member: await db.db.selectFrom('team_memberships').select(['team', 'role']).where('token_id', '=', f.member).orderBy('team').orderBy('role').execute(),
      audit: (await db.db.selectFrom('audit_log').select('id').execute()).length,
    };
  }

  before(async function () {
    const temporal = await testTemporal();
    db = await createTestDatabase();
    // Every route times every principal, set up by the admin in bursts: the request budget is not what this
    // tests (test/security/caller-budget.test.ts does), so it is set past them.
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_TASK_QUEUE: `teams-${randomUUID().slice(0, 8)}`, SELFHEAL_RATE_LIMIT_BURST: '100000' });
    app = createApp({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    for (const name of ['alpha', 'beta']) await admin({ method: 'POST', path: '/api/teams', body: { name } }, 201);
    const grants: Record<Who, Doc> = {
      alphaViewer: { teams: ['alpha:viewer'] },
      alphaEditor: { teams: ['alpha:editor'] },
      alphaApprover: { teams: ['alpha:approver'] },
      alphaAdmin: { teams: ['alpha:admin'] },
      betaAdmin: { teams: ['beta:viewer', 'beta:editor', 'beta:approver', 'beta:admin'], scopes: ['write'] },
      legacyWriter: { scopes: ['write'] },
    };
    for (const [who, grant] of Object.entries(grants) as [Who, Doc][]) {
      const t = await issue(who, grant);
      tokens[who] = t.token;
      tokenIds[who] = t.id;
    }
  });
  after(async () => db?.close());

  it('the table names every route the app serves, and only those', () => {
    const served = [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))].sort();
    assert.deepEqual(served, Object.keys(CASES).sort(), 'a route without an entry in CASES (or an entry for a route that is gone)');
  });

  for (const [route, c] of Object.entries(CASES)) {
    if (c.kind === 'object') {
      const reads = route.startsWith('GET') || c.reads === true;
      it(`${route}: another team's principal is refused (${reads ? 404 : 403}), the object unchanged; alpha's ${c.own.who} succeeds`, async () => {
        const f = await seed();
        const req = c.request(f);
        const before = await state(f);
        for (const who of [...OUTSIDERS, ...(c.alsoRefused ?? [])]) {
          const insideAlpha = who.startsWith('alpha');
          // An alpha member without the role gets 403 (it may read the object); an outsider's read is 404.
          const expected = reads && !insideAlpha ? 404 : 403;
          const res = await call(tokens[who], req);
          assert.equal(res.status, expected, `${route} as ${who}: ${JSON.stringify(res.body)}`);
          if (expected === 404) assert.match(res.body.detail, / is not known$/, 'a 404 reads like an unknown id, naming no team or role');
          else assert.equal(res.body.status, 403);
        }
        assert.deepEqual(await state(f), before, `${route}: a refused call changed nothing (rows, versions, audit)`);
        if (c.beforeOwn) {
          const { status, ...first } = c.beforeOwn(f);
          await admin(first, status);
        }
        const res = await call(tokens[c.own.who], req);
        assert.equal(res.status, c.own.status, `${route} as ${c.own.who}: ${JSON.stringify(res.body)}`);
      });
    } else if (c.kind === 'create') {
      it(`${route}: creating in team alpha is refused (403) to another team's principals and to alpha's viewer; alpha's editor creates`, async () => {
        const f = await seed();
        const req = c.request(f);
        const before = await state(f);
        const count = async () => Number((await db.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
        const audits = await count();
        for (const who of [...OUTSIDERS, 'alphaViewer', 'alphaApprover'] as Who[]) {
          const res = await call(tokens[who], req);
          assert.equal(res.status, 403, `${route} as ${who}: ${JSON.stringify(res.body)}`);
        }
        assert.equal(await count(), audits, 'nothing was created');
        assert.deepEqual(await state(f), before);
        const res = await call(tokens[c.own.who], req);
        assert.equal(res.status, c.own.status, `${route} as ${c.own.who}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.team, 'alpha');
      });
    } else if (c.kind === 'list') {
      it(`${route}: lists leave out another team's objects; alpha's viewer sees them`, async () => {
        const f = await seed();
        await c.prepare?.(db, f);
        const items = c.items ?? ((body: Doc) => body.items as Doc[]);
        for (const who of OUTSIDERS) {
          const res = await call(tokens[who], { method: 'GET', path: c.path });
          assert.equal(res.status, 200);
          assert.ok(!c.contains(f, items(res.body)), `${route} as ${who} lists alpha's object`);
        }
        const res = await call(tokens.alphaViewer, { method: 'GET', path: c.path });
        assert.ok(c.contains(f, items(res.body)), `${route} as alphaViewer lists alpha's object`);
        assert.ok(c.contains(f, items((await call(ADMIN, { method: 'GET', path: c.path })).body)), 'a global admin lists every team');
      });
    } else if (c.kind === 'global-admin') {
      it(`${route}: global admin only — no team role reaches it (403)`, async () => {
        const [method, path] = route.split(' ') as [string, string];
        const req: Req = { method, path: path.replace(':id', tokenIds.alphaViewer), ...(method === 'POST' ? { body: { name: `x-${randomUUID().slice(0, 6)}`, scopes: ['read'] } } : {}) };
        for (const who of ['alphaAdmin', 'betaAdmin', 'legacyWriter'] as Who[]) {
          const res = await call(tokens[who], req);
          assert.equal(res.status, 403, `${route} as ${who}: ${JSON.stringify(res.body)}`);
        }
      });
    }
  }

  it('GET /api/automation: a fleet-wide pause, and a pause of an environment of no team (not registered), are shown to every team', async () => {
    const unregistered = `unregistered-${randomUUID().slice(0, 8)}`;
    await db.db.insertInto('automation_pauses').values({ scope: 'environment', environment: unregistered, guard: 'environment.maxTargetPercent', reason: `paused ${unregistered}` }).execute();
    await db.db.insertInto('automation_pauses').values({ scope: 'fleet', guard: 'fleet.maxTargets', reason: 'paused fleet-wide' }).execute();
    try {
      for (const who of ['alphaViewer', 'betaAdmin', 'legacyWriter'] as Who[]) {
        const body = (await call(tokens[who], { method: 'GET', path: '/api/automation' })).body;
        assert.equal(body.paused, true, `${who}: paused fleet-wide`);
        assert.ok((body.pauses as Doc[]).some((p) => p.environment === unregistered), `${who} sees the pause of an environment of no team`);
        assert.ok((body.pauses as Doc[]).some((p) => p.scope === 'fleet'), `${who} sees the fleet-wide pause`);
      }
    } finally {
      await db.db.updateTable('automation_pauses').set({ resumed_at: new Date(), resumed_by: 'test' }).where('resumed_at', 'is', null).execute();
    }
  });

  it('incidents span teams: a principal of any team reads them (the approval is what is team-gated)', async () => {
    const f = await seed();
    const res = await call(tokens.betaAdmin, { method: 'GET', path: `/api/incidents/${f.incident}` });
    assert.equal(res.status, 200);
  });
});
