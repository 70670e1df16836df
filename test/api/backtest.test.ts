import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { backtestRoutes } from '../../src/api/routes/backtest.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { HISTORY_WATERMARK } from '../../src/db/repositories/backtests.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { buildHistory, eventsOf, storeHistory, storeRecordedMatch, TITLE_EXTRACTORS, type SeededIncident } from '../helpers/history.js';

// POST /api/rules/backtest over a seeded history of 460 incidents (four services, thirteen hosts in four
// environments across time zones, an alert storm), checked against counts computed from the seeded
// events themselves.

const ADMIN = 'backtest-admin-token-0123456789';
const HOUR = 3_600_000;

describe('API: rule backtests', function () {
  let db: TestDatabase;
  let history: SeededIncident[];
  let base: Date;
  let storm: Date;
  let to: Date;
  type Call = (method: string, path: string, body?: unknown, token?: string) => Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  let call: Call;
  // Hundreds of admin requests in bursts (paging, refusals): the request budget is not what this tests
  // (test/security/caller-budget.test.ts does), so it is set past them.
  const config = () => loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
  function harness(routes = allRoutes): Call {
    const app = createApp({ config: config(), db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, routes);
    return async (method, path, body, token = ADMIN) => {
      const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    };
  }

  before(async function () {
    db = await createTestDatabase();
    const now = Date.now();
    base = new Date(Math.floor(now / HOUR) * HOUR - 30 * 24 * HOUR);
    storm = new Date(base.getTime() + 26 * 24 * HOUR);
    to = new Date(base.getTime() + 30 * 24 * HOUR);
    history = buildHistory({ incidents: 400, from: base, hours: 29 * 24, storm: { at: storm, incidents: 60 } });
    await storeHistory(db.db, history);
    call = harness();
  });
  after(async () => db?.close());
  afterEach(async () => {
    await db.db.deleteFrom('retention_watermarks').execute();
    await db.db.deleteFrom('environments').execute();
  });

  const disk = (extra: Record<string, unknown> = {}) => ({
    name: 'disk-full',
    services: ['PSTORAGE1'],
    conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' },
    actions: [{ id: 'clean', type: 'pagerduty.note', content: 'cleaning {{ environment.host }}' }],
    ...extra,
  });
  const window = () => ({ from: base.toISOString(), to: to.toISOString() });
  /** The triggers of storage incidents whose title contains `text`, from the seeded events. */
  const triggers = (text: string) => eventsOf(history).filter((e) => e.eventType === 'incident.triggered' && history.find((i) => i.id === e.incidentId)!.serviceId === 'PSTORAGE1' && String(e.body.event.data.title).includes(text));
  const hourOf = (d: Date) => new Date(Math.floor(d.getTime() / HOUR) * HOUR).toISOString();

  it('a new rule over the history: what it would have matched and launched, by hour, service and environment', async function () {
    const res = await call('POST', '/api/rules/backtest', { rule: disk(), ...window(), limit: 5 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const s = res.body.summary;
    const expected = triggers('Disk full');
    assert.equal(s.candidate.matched, expected.length);
    assert.equal(s.candidate.decisions.run, expected.length, 'no policy: every match runs');
    assert.equal(s.candidate.firings, expected.length);
    // The alert storm is the peak hour.
    const perHour = new Map<string, number>();
    for (const e of expected) perHour.set(hourOf(e.at), (perHour.get(hourOf(e.at)) ?? 0) + 1);
    const peak = Math.max(...perHour.values());
    assert.ok(peak >= 60, `the storm's hour has ${peak} triggers`);
    assert.deepEqual(s.candidate.peakPerHour, { hour: hourOf(storm), firings: peak, actions: peak });
    assert.deepEqual(
      s.candidate.perHour.map((h: { hour: string; firings: number }) => [h.hour, h.firings]),
      [...perHour.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    const byEnv = Object.fromEntries(s.candidate.byEnvironment.map((g: { key: string; matched: number }) => [g.key, g.matched]));
    for (const env of ['prod-eu', 'prod-us', 'prod-apac', 'staging']) {
      assert.equal(byEnv[env], expected.filter((e) => String(e.body.event.data.title).includes(` ${env}:`)).length, env);
    }
    assert.deepEqual(s.candidate.byService.map((g: { key: string; matched: number }) => [g.key, g.matched]), [['PSTORAGE1', expected.length]]);
    assert.equal(res.body.totalItems, expected.length);
    assert.equal(res.body.items.length, 5);
    const first = res.body.items[0];
    assert.equal(first.eventId, expected[0]!.eventId);
    assert.deepEqual(first.candidate.actions, [{ id: 'clean', type: 'pagerduty.note', when: 'success', params: { content: `cleaning ${first.environment.host}` } }]);
    assert.equal(first.candidate.explanation.text.includes('Disk full'), true);
    assert.deepEqual(s.retention, { days: 90, purgedBefore: null, oldestEvent: eventsOf(history)[0]!.at.toISOString(), clamped: false });
  });

  it('a rate limit caps the storm at its maximum per hour; the suppressed matches are counted by policy', async function () {
    const res = await call('POST', '/api/rules/backtest', { rule: disk({ policies: { rateLimit: { max: 10, windowSeconds: 3600 } } }), ...window(), limit: 1 });
    assert.equal(res.status, 200);
    const s = res.body.summary.candidate;
    // The same sliding window, computed here from the seeded times.
    const runs: number[] = [];
    for (const e of triggers('Disk full')) {
      const t = e.at.getTime();
      if (runs.filter((r) => r >= t - HOUR).length < 10) runs.push(t);
    }
    assert.equal(s.decisions.run, runs.length);
    assert.equal(s.suppressedBy.rate_limit, triggers('Disk full').length - runs.length);
    assert.ok(s.peakPerHour.firings <= 10, `peak ${s.peakPerHour.firings}`);
  });

  it('maintenance windows of an environment suppress its matches', async function () {
    const created = await call('POST', '/api/environments', { name: 'staging', maintenanceWindows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', end: '24:00', timezone: 'Asia/Tokyo' }] });
    assert.equal(created.status, 201);
    const res = await call('POST', '/api/rules/backtest', { rule: disk(), ...window(), environments: ['staging'], limit: 500 });
    const staging = triggers('Disk full').filter((e) => String(e.body.event.data.title).includes(' staging:'));
    assert.equal(res.body.summary.candidate.matched, staging.length, 'only staging is reported');
    assert.equal(res.body.summary.candidate.suppressedBy.maintenance_window, staging.length);
    assert.ok(res.body.items.every((i: { candidate: { reason: string } }) => i.candidate.reason === 'maintenance window'));
  });

  it("a rule's scripts are skipped on another team's environment, as the live planner skips them", async function () {
    assert.equal((await call('POST', '/api/teams', { name: 'bt-infra' })).status, 201);
    assert.equal((await call('POST', '/api/environments', { name: 'staging', team: 'bt-infra' })).status, 201);
    // A script rule of the default team: the live planner skips it on staging (team bt-infra); a note rule runs.
    const script = disk({ name: 'disk-script', actions: [{ id: 'clean', type: 'script.agent', script: 'disk/clean.sh' }] });
    const res = await call('POST', '/api/rules/backtest', { rule: script, ...window(), environments: ['staging'], limit: 500 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const staging = triggers('Disk full').filter((e) => String(e.body.event.data.title).includes(' staging:'));
    assert.ok(staging.length > 0);
    assert.equal(res.body.summary.candidate.matched, staging.length);
    assert.equal(res.body.summary.candidate.decisions.run ?? 0, 0, 'no run on another team\'s environment');
    assert.ok(res.body.items.every((i: { candidate: { reason: string } }) => /^environment staging belongs to team bt-infra: a rule of team default may not run scripts there/.test(i.candidate.reason)), JSON.stringify(res.body.items[0]?.candidate));
    const notes = await call('POST', '/api/rules/backtest', { rule: disk(), ...window(), environments: ['staging'], limit: 500 });
    assert.equal(notes.body.summary.candidate.decisions.run, staging.length, 'a rule without scripts runs there');
    // The same script rule naming the environment's team runs there, as it would once saved in that team
    // (before, the team it named was ignored and the backtest simulated it as the default team's).
    const own = await call('POST', '/api/rules/backtest', { rule: { ...script, team: 'bt-infra' }, ...window(), environments: ['staging'], limit: 500 });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal(own.body.summary.candidate.decisions.run, staging.length, 'its own team: the scripts run');
    // Attached to a stored version (what the audit log keeps), the rule's team applies too: before, the
    // stored definition carried none and the attached summary counted runs the live planner skips.
    const stored = await call('POST', '/api/rules', { ...script, name: 'disk-script-stored' });
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    const attached = await call('POST', `/api/rules/${stored.body.id as string}/backtest`, { ...window(), environments: ['staging'], asLive: true });
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    assert.equal(attached.body.summary.candidate.matched, staging.length);
    assert.equal(attached.body.summary.candidate.decisions.run ?? 0, 0, "the attached summary skips another team's environment too");
  });

  it('the diff of an edited rule: against the current version and the decisions recorded at the time, with the incidents behind each change', async function () {
    const created = await call('POST', '/api/rules', disk({ name: 'disk-diff' }));
    assert.equal(created.status, 201);
    const ruleId = created.body.id as string;
    // What the current version decided at the time, for its first ten matches: runs.
    const recorded = triggers('Disk full').slice(0, 10);
    for (const e of recorded) {
      const inc = history.find((i) => i.id === e.incidentId)!;
      await storeRecordedMatch(db.db, { incidentId: e.incidentId, eventId: e.eventId, ruleId, decision: 'run', target: inc.host, matchedAt: e.at, actions: [{ status: 'succeeded', finishedAt: new Date(e.at.getTime() + 20_000) }] });
    }
    // Edited: every disk problem, but at most once per host per day.
    const edited = disk({ name: 'disk-diff', conditions: { field: 'incident.title', op: 'contains', value: 'Disk' }, policies: { cooldownSeconds: 86_400 } });
    const res = await call('POST', '/api/rules/backtest', { ruleId, rule: edited, ...window(), only: 'matched', limit: 500 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const s = res.body.summary;
    const usage = triggers('Disk usage');
    // Newly matched: the "Disk usage" triggers that the cooldown lets through; no longer matched: none.
    assert.equal(s.vsCurrent.counts.no_longer_matched, 0);
    assert.equal(s.baseline.matched, triggers('Disk full').length);
    assert.equal(s.candidate.matched, triggers('Disk').length);
    const newlyMatchedUsage = res.body.items.filter((i: { changes: { vsCurrent?: string } }) => i.changes.vsCurrent === 'newly_matched');
    assert.equal(newlyMatchedUsage.length, s.vsCurrent.counts.newly_matched);
    assert.ok(newlyMatchedUsage.every((i: { incident: { title: string } }) => i.incident.title.includes('Disk usage')));
    assert.equal(s.vsCurrent.counts.newly_matched, usage.length);
    // The cooldown suppresses repeat "Disk full" runs on the same host within a day.
    const suppressed = res.body.items.filter((i: { changes: { vsCurrent?: string } }) => i.changes.vsCurrent === 'newly_suppressed');
    assert.equal(suppressed.length, s.vsCurrent.counts.newly_suppressed);
    assert.ok(suppressed.length > 0);
    assert.ok(suppressed.every((i: { candidate: { policy: string }; baseline: { decision: string } }) => i.candidate.policy === 'cooldown' && i.baseline.decision === 'run'));
    assert.deepEqual(s.vsCurrent.incidents.newly_suppressed, [...new Set(suppressed.map((i: { incident: { id: string } }) => i.incident.id))].slice(0, 100));
    // Against what was recorded: the first ten ran then; the candidate runs the ones the cooldown allows.
    const recordedItems = res.body.items.filter((i: { recorded: unknown }) => i.recorded);
    assert.equal(recordedItems.length, 10);
    assert.equal(s.vsRecorded.agreement.of, s.candidate.matched);
    assert.equal(s.vsRecorded.agreement.same, recordedItems.filter((i: { candidate: { decision: string } }) => i.candidate.decision === 'run').length);
  });

  it('reads a recorded run as the live breaker scored it: on its remediation, not on the notifications beside it', async function () {
    const created = await call('POST', '/api/rules', disk({ name: 'disk-scored', actions: [{ id: 'fix', type: 'script.agent', script: 'clean.sh' }, { id: 'tell', type: 'notify.webhook', url: 'https://hooks.example.com/x', body: 'cleaned' }] }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ruleId = created.body.id as string;
    const [fixedButSlackFailed, rejectedButNoteSent, fixFailed] = triggers('Disk full').slice(0, 3);
    const seed = async (e: typeof fixedButSlackFailed, actions: { type: string; status: string }[]) =>
      storeRecordedMatch(db.db, { incidentId: e!.incidentId, eventId: e!.eventId, ruleId, decision: 'run', target: history.find((i) => i.id === e!.incidentId)!.host, matchedAt: e!.at, actions: actions.map((a) => ({ ...a, finishedAt: new Date(e!.at.getTime() + 20_000) })) });
    await seed(fixedButSlackFailed, [{ type: 'script.agent', status: 'succeeded' }, { type: 'notify.slack', status: 'failed' }]);
    await seed(rejectedButNoteSent, [{ type: 'script.agent', status: 'rejected' }, { type: 'pagerduty.note', status: 'succeeded' }]);
    await seed(fixFailed, [{ type: 'script.agent', status: 'failed' }, { type: 'notify.slack', status: 'succeeded' }]);
    const res = await call('POST', '/api/rules/backtest', { ruleId, ...window(), only: 'matched', limit: 500 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const outcomeOf = (e: typeof fixedButSlackFailed) => res.body.items.find((i: { eventId: string }) => i.eventId === e!.eventId)?.candidate.outcome;
    // Before, every action counted: the failed Slack post made a working fix a failure (and fed the
    // breaker), and the note made a rejected fix a success.
    assert.deepEqual([outcomeOf(fixedButSlackFailed), outcomeOf(rejectedButNoteSent), outcomeOf(fixFailed)], ['succeeded', 'inconclusive', 'failed']);
  });

  it('pages with a cursor that pins the window; a cursor only fits its own request', async function () {
    const request = { rule: disk(), ...window(), only: 'matched' };
    const all = await call('POST', '/api/rules/backtest', { ...request, limit: 500 });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await call('POST', '/api/rules/backtest', { ...request, limit: 25, ...(cursor ? { cursor } : {}) });
      assert.equal(page.status, 200);
      seen.push(...page.body.items.map((i: { eventId: string }) => i.eventId));
      cursor = page.body.nextCursor ?? undefined;
      pages += 1;
    } while (cursor);
    assert.equal(pages, Math.ceil(all.body.totalItems / 25));
    assert.deepEqual(seen, all.body.items.map((i: { eventId: string }) => i.eventId));
    const first = await call('POST', '/api/rules/backtest', { ...request, limit: 25 });
    const other = await call('POST', '/api/rules/backtest', { ...request, rule: disk({ dryRun: true }), cursor: first.body.nextCursor });
    assert.equal(other.status, 400);
    assert.match(other.body.detail, /cursor belongs to another request/);
    // A cursor is not signed and anyone can write one: dates that are not dates, a huge offset or junk
    // are a 400 naming the cursor, never a 500 from Postgres.
    const decoded = JSON.parse(Buffer.from(first.body.nextCursor as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forge = (over: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...decoded, ...over })).toString('base64url');
    for (const cursor of [forge({ from: 'x', to: 'y' }), forge({ to: 'not a date' }), forge({ from: '2026-13-45T99:99:99Z' }), forge({ offset: 1e300 }), forge({ offset: -1 }), 'not-base64-json']) {
      const res = await call('POST', '/api/rules/backtest', { ...request, limit: 25, cursor });
      assert.equal(res.status, 400, `${Buffer.from(cursor, 'base64url').toString('utf8')}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body.errors.map((e: { path: string }) => e.path), ['cursor']);
    }
  });

  it('a window over the event cap is refused before it runs, saying how far back fits', async function () {
    const res = await call('POST', '/api/rules/backtest', { rule: disk(), ...window(), maxEvents: 200 });
    assert.equal(res.status, 400);
    assert.match(res.body.detail, /^the window holds \d+ events \(warm-up included\), more than the cap of 200: narrow it, e\.g\. since \d+[dhm]/);
    assert.ok(res.body.events > 200);
    assert.match(res.body.suggestedSince, /^\d+[dhm]$/);
    assert.deepEqual(res.body.errors.map((e: { path: string }) => e.path), ['from']);
    const narrow = await call('POST', '/api/rules/backtest', { rule: disk(), since: '12h', to: to.toISOString(), maxEvents: 200 });
    assert.equal(narrow.status, 200);
  });

  // Found in review: the clock was looked at every 256 events, and one event's cost has no bound but the
  // rule's: a 30 s budget answered 200 after 69 s. Now at every event: the backtest stops at the first one
  // past its deadline.
  it('a backtest that runs out of its time budget is refused at the first event past it, saying how far it got and what fits', async function () {
    let now = 0;
    const slow = harness([(deps) => backtestRoutes(deps, { clock: () => (now += 1_000) })]); // a second per look at the clock
    const res = await slow('POST', '/api/rules/backtest', { rule: disk(), ...window(), timeBudgetSeconds: 5 });
    assert.equal(res.status, 400);
    assert.equal(res.body.limit, 'time');
    assert.match(res.body.detail, /^the backtest did not finish within its time budget of 5 s: it had replayed \d of \d+ events \(up to 20\d\d-.+\); narrow the window, e\.g\. since \d+[dhm]$/);
    assert.ok(res.body.processed >= 1 && res.body.processed <= 4, `stopped after ${res.body.processed} events`);
  });

  it('is honest about retention: a window reaching past the purged history is clamped and says so; one wholly before it is a 400', async function () {
    const purgedBefore = new Date(base.getTime() + 20 * 24 * HOUR);
    await db.db.insertInto('retention_watermarks').values({ name: HISTORY_WATERMARK, purged_before: purgedBefore }).execute();
    const res = await call('POST', '/api/rules/backtest', { rule: disk(), ...window(), limit: 1 });
    assert.equal(res.status, 200);
    const r = res.body.summary.retention;
    assert.equal(r.clamped, true);
    assert.equal(r.purgedBefore, purgedBefore.toISOString());
    assert.match(r.note, /^events before .+ were purged \(retention 90 days\): the backtest covers .+, not the 30d asked for$/);
    assert.equal(res.body.summary.window.from, purgedBefore.toISOString());
    assert.equal(res.body.summary.requestedWindow.from, base.toISOString());
    const gone = await call('POST', '/api/rules/backtest', { rule: disk(), from: base.toISOString(), to: new Date(base.getTime() + 5 * 24 * HOUR).toISOString() });
    assert.equal(gone.status, 400);
    assert.equal(gone.body.detail, `no history in this window: events before ${purgedBefore.toISOString()} were purged (SELFHEAL_RETENTION_DAYS=90); the history goes back to ${purgedBefore.toISOString()}`);
  });

  it('renders actions with secret references left as references', async function () {
    process.env.BACKTEST_HOOK_SECRET = 'do-not-show-this-secret-value';
    try {
      const rule = disk({
        actions: [
          { id: 'hook', type: 'notify.webhook', url: 'https://hooks.example.com/x', secretRef: 'env:BACKTEST_HOOK_SECRET', body: '{"host": "{{ environment.host }}"}' },
          { id: 'slack', type: 'notify.slack', webhookUrlRef: 'env:BACKTEST_HOOK_SECRET', text: 'disk full on {{ environment.host }}: {{ results.hook.status }}' },
        ],
      });
      const res = await call('POST', '/api/rules/backtest', { rule, ...window(), limit: 3 });
      assert.equal(res.status, 200);
      const [hook, slack] = res.body.items[0].candidate.actions;
      assert.equal(hook.params.secretRef, 'env:BACKTEST_HOOK_SECRET');
      assert.equal(slack.params.webhookUrlRef, 'env:BACKTEST_HOOK_SECRET');
      // As Slack receives it: templated values have &, < and > escaped (Slack shows them as typed).
      assert.equal(slack.params.text, `disk full on ${res.body.items[0].environment.host}: &lt;hook.status at run time&gt;`);
      assert.ok(!JSON.stringify(res.body).includes('do-not-show-this-secret-value'));
    } finally {
      delete process.env.BACKTEST_HOOK_SECRET;
    }
  });

  it('attaches a backtest to a disabled dry-run rule version: stored, listed and in the audit log', async function () {
    const created = await call('POST', '/api/rules', disk({ name: 'disk-attach', enabled: false, dryRun: true }));
    const ruleId = created.body.id as string;
    const res = await call('POST', `/api/rules/${ruleId}/backtest`, { from: base.toISOString(), to: to.toISOString(), asLive: true });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.version, 1);
    assert.equal(res.body.summary.candidate.decisions.run, triggers('Disk full').length, 'asLive: simulated as if it ran for real');
    const listed = await call('GET', `/api/rules/${ruleId}/backtests`);
    assert.deepEqual(listed.body.items.map((b: { id: string; version: number }) => [b.id, b.version]), [[res.body.id, 1]]);
    const audit = await db.db.selectFrom('audit_log').selectAll().where('action', '=', 'rule.backtest').where('entity_id', '=', ruleId).execute();
    assert.equal(audit.length, 1);
    const after = audit[0]!.after as { version: number; enabled: boolean; dryRun: boolean; peakPerHour: { firings: number } };
    assert.deepEqual([after.version, after.enabled, after.dryRun, after.peakPerHour.firings], [1, false, true, res.body.summary.candidate.peakPerHour.firings]);
  });

  it('needs a token with read to backtest and write to attach; refuses bad requests naming the field', async function () {
    assert.equal((await call('POST', '/api/rules/backtest', { rule: disk() }, 'not-a-token-at-all')).status, 401);
    const token = await call('POST', '/api/tokens', { name: 'reader', scopes: ['read'] });
    const reader = token.body.token as string;
    assert.equal((await call('POST', '/api/rules/backtest', { rule: disk(), since: '1d' }, reader)).status, 200);
    const created = await call('POST', '/api/rules', disk({ name: 'disk-scope' }));
    assert.equal((await call('POST', `/api/rules/${created.body.id}/backtest`, { since: '1d' }, reader)).status, 403);

    const cases: [unknown, string, RegExp][] = [
      [{ rule: { ...disk(), actions: [] } }, 'rule.actions', /./],
      [{ rule: disk(), since: 'a month' }, 'since', /duration/],
      [{ rule: disk(), since: '1d', from: base.toISOString() }, 'since', /not both/],
      [{ rule: disk(), from: to.toISOString(), to: base.toISOString() }, 'from', /empty/],
      [{}, 'rule', /give the rule/],
      [{ rule: disk(), limit: 100_000 }, 'limit', /./],
      [{ rule: disk(), surprise: true }, 'surprise', /unknown field/],
      // What only the whole rule shows, refused as a save refuses it: a rule resolving the incident itself
      // cannot verify by that resolve.
      [{ rule: { ...disk(), actions: [...disk().actions, { type: 'pagerduty.resolve' }], verify: { within: '10m' } } }, 'rule.verify.check', /resolves the incident itself/],
    ];
    for (const [body, path, detail] of cases) {
      const res = await call('POST', '/api/rules/backtest', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(res.body.errors.some((e: { path: string }) => e.path === path || e.path.startsWith(`${path}.`)), `${JSON.stringify(res.body.errors)} names ${path}`);
      assert.match(`${res.body.detail} ${JSON.stringify(res.body.errors)}`, detail);
    }
    assert.equal((await call('POST', '/api/rules/backtest', { ruleId: 'no-such-rule' })).status, 404);
  });
});
