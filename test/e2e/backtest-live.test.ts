// Over ~400 lines on purpose: one scenario (live incidents through the real pipeline, then the same history
// backtested) whose setup, run and comparison share one stack and one recorded history; split, each part
// would need the others' state.
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { createLogger } from '../../src/logger.js';
import { NOTIFY_ONLY_TYPES, policyOfRecorded } from '../../src/domain/policies.js';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { WEEKDAYS, localTime } from '../../src/domain/rules/time-window.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { TITLE_EXTRACTORS } from '../helpers/history.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

// The backtest's simulated policies against the live pipeline, decision by decision: a history of incidents
// across three services, hosts in four environments (one in a maintenance window) and several time zones
// goes through the real webhook, the real workflow on the Temporal dev server and Postgres; then each rule
// is backtested over that very history, replaying every event with the version that was live then, and
// every recorded decision (rule_matches.decision and the policy behind skip_reason) must be what the
// backtest decided for that event — no more matches, no fewer.
//
// Events are sent one at a time, and the next goes only once the pipeline has decided the previous one and
// its runs have ended (except the runs held at an approval gate, which hold their host on purpose), so the
// order the pipeline decided in is the order received. Policy windows are either far longer than the test
// (cooldown, breaker reset) or crossed by a pause far longer than the skew between receipt and decision
// (the rate limit), so a decision never sits on a boundary.
describe('backtest: the simulated policies decide what the live pipeline decided', function () {
  this.timeout(600_000);
  const PD_TOKEN = 'pd-backtest-live-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let hook: HttpPeer;
  let api: (path: string, init?: RequestInit) => Promise<Response>;
  const S1 = 'PLIVEST1';
  const S2 = 'PLIVEWEB';
  const S3 = 'PLIVEDB1';
  const ruleIds: Record<string, string> = {};
  const ruleDefs: Record<string, { actions: { type: string }[] }> = {};
  const started = new Date(Date.now() - 1000);
  let finished: Date;

  const HOSTS: Record<string, { host: string; env: string }[]> = {
    [S1]: [
      { host: 'web-1', env: 'prod-eu' },
      { host: 'web-2', env: 'prod-eu' },
      { host: 'web-3', env: 'prod-eu' },
      { host: 'stg-1', env: 'staging' },
    ],
    [S2]: [
      { host: 'web-11', env: 'prod-us' },
      { host: 'web-12', env: 'prod-us' },
      { host: 'stg-2', env: 'staging' },
    ],
    [S3]: [
      { host: 'db-21', env: 'prod-apac' },
      { host: 'db-1', env: 'prod-eu' },
      { host: 'db-bad', env: 'prod-eu' },
    ],
  };

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    hook = await startHttpPeer([
      { method: 'POST', path: '/hook', handle: (req) => (req.rawBody.includes('db-bad') ? { status: 500, text: 'downstream failed' } : { status: 200, json: { ok: true } }) },
    ]);
    stack = await startStack({
      // Backtests event by event as the admin, in bursts: the request budget is not what this tests
      // (test/security/caller-budget.test.ts does), so it is set past them.
      env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com', SELFHEAL_RATE_LIMIT_BURST: '100000' },
      extractors: TITLE_EXTRACTORS,
    });
    // The API answering backtests extracts as the worker does.
    const app = createApp({ config: stack.config, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    api = async (path, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${ADMIN_TOKEN}`);
      if (init.body) headers.set('content-type', 'application/json');
      return app.request(path, { ...init, headers });
    };
  });
  after(async function () {
    await stack?.stop();
    await pd?.close();
    await hook?.close();
  });

  async function createRule(key: string, doc: RuleInputDocument): Promise<void> {
    const res = await api('/api/rules', { method: 'POST', body: JSON.stringify(doc) });
    assert.equal(res.status, 201, await res.clone().text());
    const body = (await res.json()) as { id: string; actions: { type: string }[] };
    ruleIds[key] = body.id;
    ruleDefs[key] = body;
  }

  async function createEnvironment(body: Record<string, unknown>): Promise<void> {
    const res = await api('/api/environments', { method: 'POST', body: JSON.stringify(body) });
    assert.equal(res.status, 201, await res.clone().text());
  }

  /** The weekday `days` from now in `timezone`. */
  const weekdayIn = (timezone: string, days: number) => localTime(new Date(Date.now() + days * 86_400_000), timezone).weekday;

  // ---- the pipeline, one event at a time -------------------------------------------------------------

  interface Incident {
    id: string;
    service: string;
    host: string;
    env: string;
    title: string;
    urgency: string;
    triggeredAt: Date;
    resolved: boolean;
  }
  /** Approval-gated runs holding their host: action run id → incident. */
  const held = new Map<string, string>();
  const db = () => stack.db.db;
  const hasLeases = async () => (await sql`select 1 from information_schema.tables where table_name = 'target_leases'`.execute(db())).rows.length > 0;
  let leases = false;

  /** Waits until the pipeline decided `eventId` (the catch-all rule, or the rule that stops matching, recorded it) and its runs ended. */
  async function settle(eventId: string): Promise<void> {
    await eventually(
      async () => (await db().selectFrom('rule_matches').select('id').where('event_id', '=', eventId).where('rule_id', 'in', [ruleIds.sentinel!, ruleIds.stop!]).executeTakeFirst()) !== undefined,
      60_000,
      `the decision of ${eventId}`,
    );
    const matches = await db().selectFrom('rule_matches').selectAll().where('event_id', '=', eventId).execute();
    for (const m of matches) {
      if (m.decision === 'skipped') continue;
      const key = Object.keys(ruleIds).find((k) => ruleIds[k] === m.rule_id)!;
      const planned = ruleDefs[key]!.actions.filter((a) => m.decision !== 'notify_only' || NOTIFY_ONLY_TYPES.has(a.type)).length;
      const runs = await eventually(
        async () => {
          const r = await db().selectFrom('action_runs').selectAll().where('match_id', '=', m.id).execute();
          return r.length === planned && r.every((x) => x.finished_at !== null || x.status === 'awaiting_approval') ? r : undefined;
        },
        60_000,
        `the actions of ${key} for ${eventId}`,
      );
      for (const r of runs) if (r.status === 'awaiting_approval') held.set(r.id, m.incident_id);
      if (key === 'breaker' && m.decision === 'run') {
        // The breaker is updated after the last action: wait for the count this outcome gives.
        const failed = runs.some((r) => r.status === 'failed');
        await eventually(
          async () => {
            const row = await db().selectFrom('rules').select(['consecutive_failures', 'breaker_state']).where('id', '=', m.rule_id).executeTakeFirstOrThrow();
            return failed ? row.consecutive_failures > 0 && row.consecutive_failures === breakerFailures + 1 : row.consecutive_failures === 0;
          },
          60_000,
          'the breaker update',
        );
        breakerFailures = failed ? breakerFailures + 1 : 0;
      }
    }
    await leasesReleased();
  }
  let breakerFailures = 0;

  /** With issue 19's leases, a run's lease is released after its actions: wait for it (except the held runs'). */
  async function leasesReleased(): Promise<void> {
    if (!leases) return;
    const heldIncidents = new Set(held.values());
    await eventually(
      async () => {
        const open = await sql<{ incident_id: string }>`select incident_id from target_leases where released_at is null`.execute(db());
        return open.rows.every((l) => heldIncidents.has(l.incident_id));
      },
      60_000,
      'leases released',
    );
  }

  async function send(incident: Incident, sample: string, type: string, opts: { data?: Record<string, unknown>; occurredAt?: Date; stale?: boolean } = {}): Promise<void> {
    const data =
      type === 'incident.annotated'
        ? (opts.data ?? {})
        : {
            title: incident.title,
            urgency: incident.urgency,
            html_url: `https://example.pagerduty.com/incidents/${incident.id}`,
            service: { id: incident.service, type: 'service_reference', summary: incident.service },
            ...(opts.data ?? {}),
          };
    const body = sampleFor(sample, incident.id, { occurredAt: (opts.occurredAt ?? new Date()).toISOString(), data });
    const res = await stack.deliver(body);
    assert.equal(res.status, 202, await res.text());
    if (opts.stale) {
      // Older than what the incident holds: stored, never matched; nothing to wait for but its storage.
      await eventually(async () => (await db().selectFrom('incident_events').select('id').where('event_id', '=', body.event.id).executeTakeFirst()) !== undefined, 60_000, 'stale event stored');
      return;
    }
    await settle(body.event.id);
    if (type === 'incident.resolved') {
      // A resolve cancels the runs of the incident waiting at their approval gate.
      for (const [runId, incidentId] of [...held]) {
        if (incidentId !== incident.id) continue;
        await eventually(async () => (await db().selectFrom('action_runs').select('finished_at').where('id', '=', runId).executeTakeFirstOrThrow()).finished_at !== null, 60_000, 'cancelled on resolve');
        held.delete(runId);
      }
      await leasesReleased();
    }
  }

  let approver: string | undefined;
  async function approveHeld(): Promise<void> {
    // The rules were written with the admin token; their author may not approve them.
    approver ??= await issueToken(stack, 'approver', ['write']);
    for (const [runId, incidentId] of [...held]) {
      const res = await stack.api(`/api/incidents/${incidentId}/approvals/${encodeURIComponent(runId)}`, {
        method: 'POST',
        body: JSON.stringify({ decision: 'approve' }),
        headers: { authorization: `Bearer ${approver}` },
      });
      assert.equal(res.status, 202, await res.text());
      await eventually(async () => (await db().selectFrom('action_runs').select('finished_at').where('id', '=', runId).executeTakeFirstOrThrow()).finished_at !== null, 60_000, 'approved run finished');
      held.delete(runId);
    }
    await leasesReleased();
  }

  function incident(service: string, problem: string, urgency: string, hostIndex: number): Incident {
    const { host, env } = HOSTS[service]![hostIndex % HOSTS[service]!.length]!;
    return { id: newIncidentId(), service, host, env, title: `[${host}] ${env}: ${problem}`, urgency, triggeredAt: new Date(), resolved: false };
  }

  async function trigger(i: Incident): Promise<Incident> {
    i.triggeredAt = new Date();
    await send(i, 'v3-incident.triggered-01.json', 'incident.triggered', { data: { status: 'triggered' }, occurredAt: i.triggeredAt });
    return i;
  }
  const ack = (i: Incident) => send(i, 'v3-incident.acknowledged-01.json', 'incident.acknowledged', { data: { status: 'acknowledged' } });
  const annotate = (i: Incident, content: string) => send(i, 'v3-incident.annotated-01.json', 'incident.annotated', { data: { content } });
  async function resolve(i: Incident): Promise<void> {
    i.resolved = true;
    await send(i, 'v3-incident.resolved-01.json', 'incident.resolved', { data: { status: 'resolved' } });
  }

  it('sends a history of incidents through the real pipeline', async function () {
    leases = await hasLeases();
    const everyDay = [...WEEKDAYS];
    await createEnvironment({ name: 'staging', maintenanceWindows: [{ days: everyDay, start: '00:00', end: '24:00', timezone: 'UTC' }] });
    // A window on a day that is not today (nor yesterday, nor tomorrow) in New York: never in effect here.
    await createEnvironment({ name: 'prod-apac', maintenanceWindows: [{ days: [weekdayIn('America/New_York', 3)], start: '00:00', end: '24:00', timezone: 'America/New_York' }] });
    await createEnvironment({ name: 'prod-us' });

    const note = (content: string) => [{ id: 'note', type: 'pagerduty.note' as const, content }];
    await createRule('stop', {
      name: 'zz-replication-first',
      priority: 1,
      stopOnMatch: true,
      services: [S3],
      conditions: { field: 'incident.title', op: 'contains', value: 'Replication' },
      actions: note('replication on {{ environment.host }}'),
    });
    await createRule('rateLimit', {
      name: 'queue-drain',
      services: [S1],
      conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }, { field: 'incident.title', op: 'contains', value: 'Queue depth' }] },
      actions: note('draining {{ environment.host }}'),
      policies: { rateLimit: { max: 3, windowSeconds: 25 } },
    });
    await createRule('concurrency', {
      name: 'cc-web-restart',
      services: [S2],
      conditions: { all: [{ field: 'environment.host', op: 'exists' }, { field: 'incident.title', op: 'contains', value: '5xx' }] },
      actions: [{ id: 'gated', type: 'pagerduty.note', content: 'restart {{ environment.host }}', approval: { required: true, timeoutMinutes: 60, onTimeout: 'reject' } }],
      policies: { concurrencyPerTarget: 1 },
    });
    await createRule('cooldown', {
      name: 'cd-disk-cleanup',
      services: [S1, S2],
      conditions: { all: [{ field: 'environment.host', op: 'exists' }, { field: 'incident.title', op: 'matches', value: 'Disk|Latency' }] },
      actions: note('cleanup on {{ environment.host }}'),
      policies: { cooldownSeconds: 3600 },
    });
    await createRule('breaker', {
      name: 'slow-query-kill',
      services: [S3],
      conditions: { field: 'incident.title', op: 'contains', value: 'Slow queries' },
      actions: [
        { id: 'hook', type: 'notify.webhook', url: `${hook.url}/hook`, body: '{"host": "{{ environment.host }}"}', retry: { maximumAttempts: 1 } },
        { id: 'tell', type: 'pagerduty.note', when: 'always', content: 'slow queries on {{ environment.host }}' },
      ],
      policies: { circuitBreaker: { failureThreshold: 2, resetSeconds: 86_400 } },
    });
    await createRule('window', {
      name: 'connections-tokyo-window',
      services: [S3],
      eventTypes: ['incident.triggered', 'incident.acknowledged'],
      conditions: { field: 'incident.title', op: 'contains', value: 'Connections' },
      actions: note('connections on {{ environment.host }}'),
      // Today and tomorrow in Tokyo, all day: in effect for the whole test.
      policies: { maintenanceWindows: [{ days: [weekdayIn('Asia/Tokyo', 0), weekdayIn('Asia/Tokyo', 1)], start: '00:00', end: '24:00', timezone: 'Asia/Tokyo' }] },
    });
    await createRule('resolved', {
      name: 'kill-on-request',
      eventTypes: ['incident.annotated'],
      conditions: { field: 'event.data.content', op: 'contains', value: 'KILL' },
      actions: note('killing as asked'),
    });
    await createRule('dryRun', {
      name: 'low-urgency-rehearsal',
      dryRun: true,
      conditions: { field: 'incident.urgency', op: 'equals', value: 'low' },
      actions: note('would look at {{ incident.title }}'),
    });
    await createRule('sentinel', { name: 'zzz-every-event', priority: 1_000_000, eventTypes: ['*'], dryRun: true, actions: note('seen') });

    // Phase 1: a mixed history, with approvals granted now and then.
    const problems: [string, string, string][] = [
      [S1, 'Disk usage above 95%', 'high'],
      [S1, 'Latency p99 above 2s', 'low'],
      [S2, 'HTTP 5xx rate above 5%', 'high'],
      [S2, 'Disk full', 'high'],
      [S2, 'Latency p99 above 2s', 'low'],
      [S3, 'Replication lag above 300s', 'high'],
      [S3, 'Connections near max_connections', 'low'],
    ];
    const open: Incident[] = [];
    let n = 0;
    const breakerHosts = [1, 2, 1, 2, 2, 1, 2, 0];
    for (let round = 0; round < 70; round++) {
      const [service, problem, urgency] = problems[round % problems.length]!;
      const inc = await trigger(incident(service, problem, urgency, n++));
      open.push(inc);
      if (round === 3) {
        // Arrives after the trigger but says it happened before it: stale, never matched.
        await send(inc, 'v3-incident.acknowledged-01.json', 'incident.acknowledged', { data: { status: 'acknowledged' }, occurredAt: new Date(inc.triggeredAt.getTime() - 60_000), stale: true });
      }
      if (round % 9 === 4) await trigger(incident(S3, 'Slow queries', 'high', breakerHosts[Math.floor(round / 9)] ?? 0));
      if (round % 3 === 1) await ack(open[open.length - 2]!);
      if (round % 5 === 2) await annotate(open[open.length - 1]!, round % 2 === 0 ? 'KILL the runaway job' : 'looking');
      if (round % 4 === 3) {
        const done = open.shift()!;
        await resolve(done);
        if (round % 8 === 7) await annotate(done, 'KILL it again please'); // after the resolve
      }
      if (round % 10 === 9) await approveHeld();
    }

    // Rate limit: a burst over the limit, the rule edited (max 3 → 2), a pause longer than the window,
    // and a second burst under the new version.
    for (let i = 0; i < 5; i++) await trigger(incident(S1, 'Queue depth above 10000', 'high', i));
    const current = (await (await api(`/api/rules/${ruleIds.rateLimit}`)).json()) as Record<string, unknown>;
    const edited = await api(`/api/rules/${ruleIds.rateLimit}`, {
      method: 'PUT',
      headers: { 'if-match': `"${String(current.version)}"` },
      body: JSON.stringify({ ...current, policies: { rateLimit: { max: 2, windowSeconds: 25 } } }),
    });
    assert.equal(edited.status, 200, await edited.text());
    await new Promise((r) => setTimeout(r, 30_000));
    for (let i = 0; i < 3; i++) await trigger(incident(S1, 'Queue depth above 10000', 'high', i));

    // Phase 2: more of the mix, then everything resolved.
    for (let round = 0; round < 30; round++) {
      const [service, problem, urgency] = problems[(round * 3) % problems.length]!;
      open.push(await trigger(incident(service, problem, urgency, n++)));
      if (round % 6 === 5) await trigger(incident(S3, 'Slow queries', 'high', round));
      if (round % 3 === 2) await resolve(open.shift()!);
    }
    await approveHeld();
    while (open.length > 0) await resolve(open.shift()!);
    finished = new Date(Date.now() + 1000);
    const events = await db().selectFrom('incident_events').select(({ fn }) => fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    assert.ok(Number(events.n) >= 250, `a history of ${events.n} events`);
  });

  /** Every event the backtest lists for a rule (paging through), replayed with the versions that were live. */
  async function backtestAsRecorded(ruleId: string) {
    const items: { eventId: string; candidate: { matched: boolean; decision?: string; policy?: string; version?: number } }[] = [];
    let cursor: string | undefined;
    let summary: { vsRecorded: { agreement: { same: number; of: number } }; events: { stale: number } } | undefined;
    do {
      const res = await api('/api/rules/backtest', {
        method: 'POST',
        body: JSON.stringify({ ruleId, replay: 'as-recorded', from: started.toISOString(), to: finished.toISOString(), only: 'matched', limit: 100, ...(cursor ? { cursor } : {}) }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const page = (await res.json()) as { items: typeof items; nextCursor: string | null; summary: NonNullable<typeof summary> };
      items.push(...page.items);
      summary = page.summary;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return { items, summary: summary! };
  }

  const expectations: Record<string, string[]> = {
    rateLimit: ['run', 'skipped/rate_limit'],
    concurrency: ['run', 'skipped/concurrency'],
    cooldown: ['run', 'skipped/cooldown', 'skipped/maintenance_window'],
    breaker: ['run', 'notify_only/breaker_open'],
    window: ['skipped/maintenance_window'],
    resolved: ['run', 'skipped/resolved'],
    dryRun: ['dry_run/dry_run'],
    stop: ['run'],
    sentinel: ['dry_run/dry_run', 'skipped/resolved'],
  };

  for (const key of Object.keys(expectations)) {
    it(`${key}: every recorded decision is the backtest's, event by event`, async function () {
      const recorded = await db().selectFrom('rule_matches').select(['event_id', 'decision', 'skip_reason', 'rule_version']).where('rule_id', '=', ruleIds[key]!).orderBy('id').execute();
      const live = new Map(recorded.map((m) => [m.event_id, `v${m.rule_version} ${m.decision}/${policyOfRecorded(m.decision, m.skip_reason) ?? ''}`]));
      const { items, summary } = await backtestAsRecorded(ruleIds[key]!);
      const simulated = new Map(items.filter((i) => i.candidate.matched).map((i) => [i.eventId, `v${i.candidate.version} ${i.candidate.decision}/${i.candidate.policy ?? ''}`]));
      const differing = [...new Set([...live.keys(), ...simulated.keys()])].filter((e) => live.get(e) !== simulated.get(e)).map((e) => `${e}: live ${live.get(e) ?? 'no match'}, backtest ${simulated.get(e) ?? 'no match'}`);
      assert.deepEqual(differing, [], `decisions that differ for ${key}`);
      assert.deepEqual(summary.vsRecorded.agreement, { same: live.size, of: live.size });
      // Not vacuous: the history drove this rule through the policies it is about.
      const kinds = new Set([...live.values()].map((v) => v.split(' ')[1]!.replace(/\/$/, '')));
      for (const k of expectations[key]!) assert.ok(kinds.has(k), `${key} decided ${k} at least once (saw ${[...kinds].join(', ')})`);
    });
  }

  it('the rate-limited rule was replayed with the version live at each event, and the stale event was never matched', async function () {
    const versions = await db().selectFrom('rule_matches').select('rule_version').distinct().where('rule_id', '=', ruleIds.rateLimit!).execute();
    assert.deepEqual(versions.map((v) => v.rule_version).sort(), [1, 2]);
    const { summary } = await backtestAsRecorded(ruleIds.sentinel!);
    assert.equal(summary.events.stale, 1);
  });
});
