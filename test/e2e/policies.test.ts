import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { deferred } from '../helpers/workers.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// Safety policies, enforced from Postgres and Temporal state (never process memory): dry-run, rate limit,
// cooldown per target, circuit breaker, maintenance windows, approval gates, cancel on resolve.
describe('rule policies end to end', function () {
  const PD_TOKEN = 'pd-policy-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let hook: HttpPeer;
  const held = new Map<string, Promise<void>>();
  const answers = new Map<string, number[]>();

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    // A remediation endpoint whose answers a test can hold (a run still in progress) or script (500, then 204).
    hook = await startHttpPeer([
      {
        method: 'POST',
        path: /^\/hook\/(?<name>[a-z0-9-]+)$/,
        handle: async (req) => {
          // A body naming a host is held and answered by name/host too (one run of a rule among others).
          const host = (req.json as { host?: unknown } | undefined)?.host;
          const each = typeof host === 'string' ? `${req.params.name!}/${host}` : undefined;
          await held.get(req.params.name!);
          if (each) await held.get(each);
          return { status: (each ? answers.get(each)?.shift() : undefined) ?? answers.get(req.params.name!)?.shift() ?? 204 };
        },
      },
    ]);
    stack = await startStack({
      env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' },
      // The host (the policies' target) comes from the title: "[web-1] is down".
      extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] },
    });
  });
  after(async function () {
    await stack?.stop();
    await pd?.close();
    await hook?.close();
  });
  const hits = (name: string) => hook.requests.filter((r) => r.path === `/hook/${name}`).length;

  const rule = (serviceId: string, extra: Partial<RuleInputDocument>): Promise<string> =>
    insertRule(stack.db.db, {
      name: `policy-${randomUUID().slice(0, 8)}`,
      services: [serviceId],
      actions: [{ id: 'note', type: 'pagerduty.note', content: 'fixing {{ environment.host }}' }],
      ...extra,
    } as RuleInputDocument);

  /** Trigger an incident on the service for `host`; resolves with its id. */
  async function trigger(serviceId: string, host = 'web-1'): Promise<string> {
    const id = newIncidentId();
    const res = await stack.deliver(
      sampleFor('v3-incident.triggered-01.json', id, { data: { title: `[${host}] is down`, service: { id: serviceId, type: 'service_reference', summary: 's' } } }),
    );
    assert.equal(res.status, 202);
    return id;
  }

  const matchOf = (id: string) =>
    eventually(() => stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).executeTakeFirst(), 30_000, `match of ${id}`);
  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
  const finishedRuns = (id: string, n: number) =>
    eventually(async () => {
      const r = await runsOf(id);
      return r.length === n && r.every((x) => x.finished_at) ? r : undefined;
    }, 30_000, `${n} finished runs of ${id}`);
  it('goes on without alerts when PagerDuty refuses them: the environment comes from the event and the rule runs', async function () {
    const svc = newServiceId();
    await rule(svc, {});
    pd.failNext(403, 1, { method: 'GET', pathPrefix: '/incidents/' });
    const id = await trigger(svc, 'web-7');
    const [run] = await finishedRuns(id, 1);
    assert.equal(run!.status, 'succeeded');
    const incident = await stack.db.db.selectFrom('incidents').select(['environment', 'alerts']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal((incident.environment as { host?: string }).host, 'web-7');
    assert.equal(incident.alerts, null);
    // A 403 is not retried: one request for the alerts, then the pipeline went on.
    assert.equal(pd.requests.filter((r) => r.path === `/incidents/${id}/alerts`).length, 1);
    // (Every note Self-healing writes ends with its reference line: how a retry finds it again.)
    assert.ok(pd.notes(id).some((n) => n.content.startsWith('fixing web-7\n\n(self-healing ref ')), 'the note of the rule names the host taken from the title');
  });

  it('dry-run records what would run and touches nothing', async function () {
    const svc = newServiceId();
    await rule(svc, { dryRun: true });
    const id = await trigger(svc);
    const match = await matchOf(id);
    assert.equal(match.decision, 'dry_run');
    const runs = await finishedRuns(id, 1);
    assert.equal(runs[0]!.status, 'dry_run');
    assert.deepEqual(runs[0]!.rendered, { content: 'fixing web-1' });
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(pd.notes(id), []);
  });

  it('rate limit: at most N runs of a rule per window', async function () {
    const svc = newServiceId();
    await rule(svc, { policies: { rateLimit: { max: 1, windowSeconds: 3600 } } });
    const first = await trigger(svc, 'a-1');
    assert.equal((await matchOf(first)).decision, 'run');
    const second = await trigger(svc, 'a-2');
    const m = await matchOf(second);
    assert.equal(m.decision, 'skipped');
    assert.match(m.skip_reason ?? '', /^rate limit: 1 runs in the last 3600 s \(max 1\)/);
    assert.deepEqual(await runsOf(second), []);
  });

  it('cooldown: the same host is not remediated twice within the cooldown', async function () {
    const svc = newServiceId();
    await rule(svc, { policies: { cooldownSeconds: 600 } });
    const first = await trigger(svc, 'db-9');
    assert.equal((await matchOf(first)).decision, 'run');
    assert.equal((await matchOf(first)).target, 'db-9');
    const again = await trigger(svc, 'db-9');
    assert.match((await matchOf(again)).skip_reason ?? '', /^cooldown: db-9/);
    const other = await trigger(svc, 'db-10');
    assert.equal((await matchOf(other)).decision, 'run');
  });

  it('circuit breaker: after K consecutive failures only notifications run until an SRE resets it', async function () {
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      policies: { circuitBreaker: { failureThreshold: 2 } },
      actions: [
        // No management VM is configured, so this fails every time.
        { id: 'fix', type: 'script.ssh', script: 'restart-web.sh' },
        { id: 'tell', type: 'pagerduty.note', when: 'always', content: 'tried to fix {{ environment.host }}' },
      ],
    });
    for (const host of ['b-1', 'b-2']) {
      const id = await trigger(svc, host);
      const runs = await finishedRuns(id, 2);
      assert.equal(runs[0]!.status, 'failed');
      assert.match(runs[0]!.error ?? '', /no management VM|no environment/);
    }
    const state = await eventually(async () => {
      const r = await stack.db.db.selectFrom('rules').select(['breaker_state', 'consecutive_failures']).where('id', '=', ruleId).executeTakeFirstOrThrow();
      return r.breaker_state === 'open' ? r : undefined;
    }, 30_000, 'breaker open');
    assert.equal(state.consecutive_failures, 2);

    const id = await trigger(svc, 'b-3');
    const m = await matchOf(id);
    assert.equal(m.decision, 'notify_only');
    const runs = await finishedRuns(id, 1);
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['tell', 'succeeded']]);
  });

  it('maintenance window: a rule does not run inside its window', async function () {
    const svc = newServiceId();
    await rule(svc, { policies: { maintenanceWindows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', end: '24:00', timezone: 'UTC' }] } });
    const id = await trigger(svc);
    const m = await matchOf(id);
    assert.equal(m.decision, 'skipped');
    assert.equal(m.skip_reason, 'maintenance window');
  });

  it('approval gate: the action waits for an SRE, then runs on approve and not on reject', async function () {
    const svc = newServiceId();
    await rule(svc, {
      actions: [{ id: 'gated', type: 'pagerduty.note', content: 'approved fix', approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } }],
    });
    for (const decision of ['approve', 'reject'] as const) {
      const id = await trigger(svc, `g-${decision}`);
      const waiting = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, 'awaiting approval');
      const detail = (await (await stack.api(`/api/incidents/${id}`)).json()) as { actionRuns: { id: string; status: string }[] };
      assert.equal(detail.actionRuns[0]?.status, 'awaiting_approval');

      const bad = await stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(waiting.id)}`, { method: 'POST', body: JSON.stringify({ decision: 'maybe' }) });
      assert.equal(bad.status, 400);
      const res = await stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(waiting.id)}`, { method: 'POST', body: JSON.stringify({ decision }) });
      assert.equal(res.status, 202);
      const [run] = await finishedRuns(id, 1);
      assert.equal(run!.status, decision === 'approve' ? 'succeeded' : 'rejected');
      assert.equal((run!.approval as { actor: string }).actor, 'admin-token');
      const again = await stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(waiting.id)}`, { method: 'POST', body: JSON.stringify({ decision }) });
      assert.equal(again.status, 409);
    }
  });

  it('a resolve cancels remediation still pending, and the run completes', async function () {
    const svc = newServiceId();
    await rule(svc, {
      actions: [{ id: 'gated', type: 'pagerduty.note', content: 'late fix', approval: { required: true, timeoutMinutes: 30, onTimeout: 'approve' } }],
    });
    const id = newIncidentId();
    const data = { title: '[c-1] down', service: { id: svc, type: 'service_reference', summary: 's' } };
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data, occurredAt: '2026-03-01T10:00:00Z' }));
    await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, 'awaiting approval');
    await stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { data: { service: data.service }, occurredAt: '2026-03-01T10:05:00Z' }));
    const [run] = await finishedRuns(id, 1);
    assert.equal(run!.status, 'cancelled');
    const handle = stack.temporal.client.workflow.getHandle(incidentWorkflowId(id));
    await eventually(async () => {
      const state = (await handle.query('state')) as { status: string; runningRules: string[] };
      return state.status === 'resolved' && state.runningRules.length === 0;
    }, 30_000, 'resolved with no rule run left');
    assert.deepEqual(pd.notes(id).filter((n) => n.content.includes('late fix')), []);
  });

  it('rules react to the event types they name, and never to the notes Self-healing wrote', async function () {
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      eventTypes: ['incident.annotated'],
      conditions: { field: 'event.data.content', op: 'contains', value: 'KILL' },
      actions: [{ id: 'echo', type: 'pagerduty.note', content: 'seen: {{ event.data.content }}' }],
    });
    const id = await trigger(svc, 'n-1');
    await eventually(async () => (await stack.db.db.selectFrom('incidents').select('id').where('id', '=', id).executeTakeFirst()) !== undefined, 30_000, 'incident stored');
    const human = sampleFor('v3-incident.annotated-01.json', id, { data: { content: 'Running KILL on long-running queries' } });
    await stack.deliver(human);
    // PagerDuty's event for the note Self-healing wrote carries that note's id (its text satisfies the rule).
    const written = await eventually(async () => pd.notes(id).find((n) => n.content.startsWith('seen: Running KILL on long-running queries')), 30_000, 'note posted');
    const own = sampleFor('v3-incident.annotated-01.json', id, { data: { id: written.id, content: written.content } });
    await stack.deliver(own);
    const matches = await eventually(async () => {
      const m = await stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).execute();
      const events = await stack.db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute();
      return events.length === 3 && m.length >= 1 ? m : undefined;
    }, 30_000, 'the annotation matched');
    await new Promise((r) => setTimeout(r, 1000));
    const all = await stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).execute();
    assert.deepEqual(all.map((m) => [m.rule_id, m.event_id]), [[ruleId, human.event.id]]);
    assert.equal(matches[0]!.decision, 'run');
    assert.ok(written.content.startsWith('seen: Running KILL on long-running queries\n\n(self-healing ref '));
  });

  it('concurrency per target: two rules, two incidents on one host at once: one runs, the other is skipped, the host frees up when it ends', async function () {
    const gate = deferred();
    held.set('lease-a', gate.promise);
    held.set('lease-b', gate.promise);
    const [svcA, svcB] = [newServiceId(), newServiceId()];
    for (const [svc, name] of [[svcA, 'lease-a'], [svcB, 'lease-b']] as const) {
      await rule(svc, { policies: { concurrencyPerTarget: 1 }, actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/${name}`, body: '{}' }] });
    }
    const [a, b] = await Promise.all([trigger(svcA, 'shared-1'), trigger(svcB, 'shared-1')]);
    const [ma, mb] = await Promise.all([matchOf(a), matchOf(b)]);
    const decisions = [ma.decision, mb.decision].sort();
    assert.deepEqual(decisions, ['run', 'skipped']);
    const skipped = ma.decision === 'skipped' ? ma : mb;
    assert.equal(skipped.skip_reason, 'concurrency: 1 remediation(s) already running on shared-1 (max 1)');
    await eventually(async () => hits('lease-a') + hits('lease-b') === 1, 30_000, 'the one run to reach the host');
    const leases = await stack.db.db.selectFrom('target_leases').selectAll().where('target', '=', 'shared-1').execute();
    assert.equal(leases.length, 1);
    assert.equal(leases[0]!.released_at, null, 'held while the run goes on');

    gate.resolve();
    const winner = ma.decision === 'run' ? a : b;
    await finishedRuns(winner, 1);
    await eventually(async () => (await stack.db.db.selectFrom('target_leases').select('released_at').where('target', '=', 'shared-1').executeTakeFirstOrThrow()).released_at !== null, 30_000, 'the lease released');
    const again = await trigger(ma.decision === 'run' ? svcB : svcA, 'shared-1');
    assert.equal((await matchOf(again)).decision, 'run', 'the host is free again');
    await finishedRuns(again, 1);
    assert.equal(hits('lease-a') + hits('lease-b'), 2, 'two requests in all: the skipped incident never touched the host');
  });

  it('a lease left by a dead run stops counting when it expires', async function () {
    const svc = newServiceId();
    await rule(svc, { policies: { concurrencyPerTarget: 1 } });
    const otherRule = await rule(newServiceId(), {});
    // A run that died (its workflow terminated) never released its lease on dead-1; one on busy-1 is live.
    await stack.db.db
      .insertInto('target_leases')
      .values([
        { target: 'dead-1', rule_id: otherRule, match_id: '9000000001', incident_id: 'QDEAD', acquired_at: new Date(Date.now() - 7_200_000), expires_at: new Date(Date.now() - 1000) },
        { target: 'busy-1', rule_id: otherRule, match_id: '9000000002', incident_id: 'QBUSY', acquired_at: new Date(), expires_at: new Date(Date.now() + 3_600_000) },
      ])
      .execute();
    assert.equal((await matchOf(await trigger(svc, 'dead-1'))).decision, 'run');
    assert.match((await matchOf(await trigger(svc, 'busy-1'))).skip_reason ?? '', /^concurrency: 1 remediation\(s\) already running on busy-1/);
  });

  it('without a target, cooldown and concurrency skip the run and say why, unless the rule says run', async function () {
    const skipSvc = newServiceId();
    await rule(skipSvc, { policies: { cooldownSeconds: 600 } });
    const id = newIncidentId();
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'no host in this title', service: { id: skipSvc, type: 'service_reference', summary: 's' } } }));
    const m = await matchOf(id);
    assert.equal(m.decision, 'skipped');
    assert.equal(m.skip_reason, 'target unknown: no host or environment was extracted, so cooldown and concurrency cannot be applied (policies.unknownTarget: skip)');
    assert.deepEqual(await runsOf(id), []);

    const runSvc = newServiceId();
    await rule(runSvc, { policies: { concurrencyPerTarget: 1, unknownTarget: 'run' } });
    const other = newIncidentId();
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', other, { data: { title: 'no host either', service: { id: runSvc, type: 'service_reference', summary: 's' } } }));
    assert.equal((await matchOf(other)).decision, 'run');
    await finishedRuns(other, 1);
  });

  it('circuit breaker resetSeconds: after it, one half-open trial run; its success closes the breaker', async function () {
    const svc = newServiceId();
    answers.set('trial', [500]);
    const ruleId = await rule(svc, {
      policies: { circuitBreaker: { failureThreshold: 1, resetSeconds: 3600 } },
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/trial`, body: '{}', retry: { maximumAttempts: 1 } }],
    });
    const first = await trigger(svc, 't-1');
    assert.equal((await finishedRuns(first, 1))[0]!.status, 'failed');
    await eventually(async () => (await stack.db.db.selectFrom('rules').select('breaker_state').where('id', '=', ruleId).executeTakeFirstOrThrow()).breaker_state === 'open', 30_000, 'breaker open');
    await eventually(async () => pd.notes(first).some((n) => n.content.startsWith('[self-healing] Circuit breaker opened')), 30_000, 'the breaker announced on the incident');
    const during = await trigger(svc, 't-2');
    const m = await matchOf(during);
    assert.equal(m.decision, 'notify_only');
    assert.match(m.skip_reason ?? '', /^circuit breaker open: only notifications run until a half-open trial at /);
    // A webhook counts as a notification, so it still runs while the breaker is open (notify_only).
    await finishedRuns(during, 1);
    assert.equal(hits('trial'), 2);

    // An hour passes (the breaker's clock is in Postgres; moved back rather than waited for).
    await stack.db.db.updateTable('rules').set({ breaker_opened_at: new Date(Date.now() - 3_601_000) }).where('id', '=', ruleId).execute();
    const trial = await trigger(svc, 't-3');
    const tm = await matchOf(trial);
    assert.equal(tm.decision, 'run');
    assert.match(tm.skip_reason ?? '', /^circuit breaker half-open trial/);
    assert.equal((await finishedRuns(trial, 1))[0]!.status, 'succeeded');
    await eventually(async () => (await stack.db.db.selectFrom('rules').select('breaker_state').where('id', '=', ruleId).executeTakeFirstOrThrow()).breaker_state === 'closed', 30_000, 'closed by the trial');
    assert.equal(hits('trial'), 3);
  });

  it("a trial left running across an admin's reset does not decide the breaker's next trial", async function () {
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      policies: { circuitBreaker: { failureThreshold: 1, resetSeconds: 3600 } },
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/cross`, body: '{"host": "{{ environment.host }}"}', retry: { maximumAttempts: 1 } }],
    });
    const breaker = () => stack.db.db.selectFrom('rules').select(['breaker_state', 'breaker_trial_match']).where('id', '=', ruleId).executeTakeFirstOrThrow();
    const anHourLater = () => stack.db.db.updateTable('rules').set({ breaker_opened_at: new Date(Date.now() - 3_601_000) }).where('id', '=', ruleId).execute();
    const opened = async (host: string) => {
      answers.set(`cross/${host}`, [500]);
      const id = await trigger(svc, host);
      assert.equal((await finishedRuns(id, 1))[0]!.status, 'failed');
      await eventually(async () => (await breaker()).breaker_state === 'open', 30_000, `breaker opened by ${host}`);
    };
    const heldTrial = async (host: string, release: Promise<void>) => {
      held.set(`cross/${host}`, release);
      const id = await trigger(svc, host);
      const m = await matchOf(id);
      assert.equal(m.decision, 'run');
      assert.match(m.skip_reason ?? '', /^circuit breaker half-open trial/);
      await eventually(async () => hook.requests.some((r) => r.path === '/hook/cross' && (r.json as { host?: string }).host === host), 30_000, `${host}'s trial at the peer`);
      return { id, match: String(m.id) };
    };

    await opened('x-1');
    await anHourLater();
    const oldTrialGoes = deferred<void>();
    const oldTrial = await heldTrial('x-2', oldTrialGoes.promise);
    assert.equal((await breaker()).breaker_trial_match, oldTrial.match, 'the trial is named by its match');
    // An SRE closes the breaker while that trial still runs; the rule fails again and opens it, and an
    // hour later a new trial begins.
    assert.equal((await stack.api(`/api/rules/${ruleId}/reset-breaker`, { method: 'POST' })).status, 200);
    await opened('x-3');
    await anHourLater();
    const newTrialGoes = deferred<void>();
    const newTrial = await heldTrial('x-4', newTrialGoes.promise);

    // The old trial ends well: an ordinary success now, not the new trial's.
    oldTrialGoes.resolve();
    assert.equal((await finishedRuns(oldTrial.id, 1))[0]!.status, 'succeeded');
    await eventually(async () => (await stack.db.db.selectFrom('rule_matches').select('breaker_outcome').where('id', '=', oldTrial.match).executeTakeFirstOrThrow()).breaker_outcome, 30_000, 'the old trial counted');
    assert.deepEqual(await breaker(), { breaker_state: 'half_open', breaker_trial_match: newTrial.match }, 'still half-open, waiting on the new trial');
    const meanwhile = await trigger(svc, 'x-5');
    assert.match((await matchOf(meanwhile)).skip_reason ?? '', /^circuit breaker half-open: a trial run is in progress/);

    // The new trial decides: it fails, and the breaker opens again.
    answers.set('cross/x-4', [500]);
    newTrialGoes.resolve();
    assert.equal((await finishedRuns(newTrial.id, 1))[0]!.status, 'failed');
    await eventually(async () => (await breaker()).breaker_state === 'open', 30_000, 'opened by the new trial');
    assert.equal((await breaker()).breaker_trial_match, null);
  });
});
