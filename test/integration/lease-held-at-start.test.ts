// A target lease is sized when its run is planned (policies.ts leaseSeconds). Whatever delays an action past
// that (an approval-timeout notice retried through a channel outage, a claim held up by Postgres) left it
// running after its lease expired, and the planner let a second run onto the host. Now the claim of an
// action, and the start of an approved one, hold the lease on, in their own transaction under the target's
// lock, until now plus what the rest of the run may take (leaseSecondsFrom); a lease that expired and whose
// host another run holds by then stops the remediation instead (skipped, concurrency named), never overlapping.
// The activities as the rule run calls them, on one clock the test moves.
import assert from 'node:assert/strict';
import { createActionRunActivities } from '../../activities/action-runs.js';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { leaseSeconds, leaseSecondsFrom } from '../../src/domain/policies.js';
import type { Action } from '../../src/domain/rules/schema.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

const logger = createLogger({ level: 'silent' });

describe('a target lease is held on when an action starts', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  let clock = new Date();
  const now = () => clock;
  const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] };
  const acts = () => createActionRunActivities({ db: db.db, logger, now });

  const actionsOf = (gated: boolean): Action[] => [
    {
      id: 'fix',
      type: 'notify.webhook',
      url: 'https://fix.example/hook',
      body: '{}',
      timeoutSeconds: 20,
      retry: { maximumAttempts: 1 },
      ...(gated ? { approval: { required: true, timeoutMinutes: 60, onTimeout: 'approve' as const } } : {}),
    } as Action,
    { id: 'after', type: 'notify.webhook', url: 'https://fix.example/after', body: '{}', timeoutSeconds: 10, retry: { maximumAttempts: 2 } } as Action,
  ];

  async function rule(gated: boolean): Promise<string> {
    const svc = newServiceId();
    await insertRule(db.db, { name: `lease-${svc.toLowerCase()}`, services: [svc], policies: { concurrencyPerTarget: 1 }, actions: actionsOf(gated) } as never);
    return svc;
  }

  /** An incident on `host` planned at the clock's time. */
  async function planned(host: string, svc: string) {
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const triage = createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger, now }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    const id = newIncidentId();
    const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: clock.toISOString(), data: { title: `[${host}] disk full`, urgency: 'high', service: { id: svc, type: 'service_reference', summary: 'T' } } });
    const r = await triage({ incidentId: id, message: messageFor(body), takenBy: `run-${id}` });
    const plan = r.plans[0]!;
    const actionRunId = `${id}:${plan.ruleId}:fix:${body.event.id}`;
    const claim = (awaitingApproval: boolean) => acts().claimAction({ actionRunId, incidentId: id, plan, action: plan.actions[0]!, owner: 'wf/run', workflowId: 'wf', reason: 'test', awaitingApproval });
    const start = () => acts().startApprovedAction({ actionRunId, owner: 'wf/run', incidentId: id, cancelIfResolved: true, action: { id: 'fix', type: 'notify.webhook' } });
    const lease = async () => db.db.selectFrom('target_leases').selectAll().where('incident_id', '=', id).executeTakeFirstOrThrow();
    const run = async () => db.db.selectFrom('action_runs').select(['status', 'started_at', 'error']).where('id', '=', actionRunId).executeTakeFirstOrThrow();
    return { id, plan, actionRunId, claim, start, lease, run };
  }

  const host = () => `web-${newServiceId().toLowerCase()}`;
  const later = (seconds: number) => {
    clock = new Date(clock.getTime() + seconds * 1000);
  };

  it('a gated fix approved after its lease expired, the host free: starts, its lease held from then for the rest of the run, and a second incident there is skipped', async function () {
    clock = new Date();
    const h = host();
    const first = await planned(h, await rule(true));
    assert.equal(first.plan.decision, 'run');
    const planned0 = await first.lease();
    assert.equal(planned0.expires_at.getTime(), clock.getTime() + leaseSeconds({ actions: actionsOf(true) }) * 1000);
    assert.ok((await first.claim(true)).owned);
    await acts().settleApproval({ actionRunId: first.actionRunId, onTimeout: 'approve' });
    // Past the lease: the approval wait, then a notice slower than the margin.
    later(leaseSeconds({ actions: actionsOf(true) }) + 60);
    const started = await first.start();
    assert.equal(started.status, 'running');
    const held = await first.lease();
    assert.equal(held.expires_at.getTime(), clock.getTime() + leaseSecondsFrom({ actions: actionsOf(true) }, 0, { approved: true }) * 1000, 'held on for the fix (no approval wait any more), the action after it and the margin');
    assert.equal(leaseSecondsFrom({ actions: actionsOf(true) }, 0, { approved: true }), 300 + 25 + (15 * 2 + 60));

    later(60);
    const second = await planned(h, await rule(false));
    assert.equal(second.plan.decision, 'skipped');
    assert.match(second.plan.skipReason ?? '', /^concurrency: 1 remediation\(s\) already running on /);
  });

  it('a gated fix approved after its lease expired and another run took the host: not started, recorded skipped saying so; the other lease untouched', async function () {
    clock = new Date();
    const h = host();
    const first = await planned(h, await rule(true));
    assert.ok((await first.claim(true)).owned);
    await acts().settleApproval({ actionRunId: first.actionRunId, onTimeout: 'approve' });
    later(leaseSeconds({ actions: actionsOf(true) }) + 60);
    const other = await planned(h, await rule(false));
    assert.equal(other.plan.decision, 'run', 'the expired lease does not count: the host is free for the planner');
    const otherLease = await other.lease();
    later(30);
    const started = await first.start();
    assert.equal(started.status, 'skipped');
    const expired = (await first.lease()).expires_at;
    const reason = `not run when approved: concurrency: this run's lease on ${h} expired at ${expired.toISOString()} before the action started, and 1 other run(s) hold the host now (max 1)`;
    assert.equal(started.finished?.error, reason);
    assert.deepEqual(await first.run(), { status: 'skipped', started_at: null, error: reason });
    assert.ok(expired < clock, 'the expired lease is not taken on again');
    assert.deepEqual(await other.lease(), otherLease);
  });

  it('an ungated fix claimed after its lease expired: runs holding its lease on when the host is free; skipped (concurrency) when another run holds it', async function () {
    clock = new Date();
    const h = host();
    const first = await planned(h, await rule(false));
    later(leaseSeconds({ actions: actionsOf(false) }) + 1);
    const claim = await first.claim(false);
    assert.deepEqual([claim.owned, claim.status, 'finished' in claim ? claim.finished : undefined], [true, 'running', undefined]);
    assert.equal((await first.lease()).expires_at.getTime(), clock.getTime() + leaseSecondsFrom({ actions: actionsOf(false) }, 0, { approved: false }) * 1000);

    clock = new Date();
    const h2 = host();
    const late = await planned(h2, await rule(false));
    later(leaseSeconds({ actions: actionsOf(false) }) + 1);
    const other = await planned(h2, await rule(false));
    assert.equal(other.plan.decision, 'run');
    const refused = await late.claim(false);
    assert.ok(refused.owned);
    assert.equal(refused.status, 'skipped');
    assert.match(refused.finished?.error ?? '', new RegExp(`^not run: concurrency: this run's lease on ${h2} expired at .* before the action started, and 1 other run\\(s\\) hold the host now \\(max 1\\)$`));
    assert.deepEqual(await late.run(), { status: 'skipped', started_at: null, error: refused.finished?.error });
    // Claimed again (a retried step): the same answer, nothing started.
    const again = await late.claim(false);
    assert.equal(again.owned && again.finished?.status, 'skipped');
  });

  it('a fix whose claim runs again after its worker died (no side effect asked yet), its lease expired meanwhile and another run holding the host: skipped (concurrency), never started', async function () {
    clock = new Date();
    const h = host();
    const first = await planned(h, await rule(false));
    const claim = await first.claim(false);
    assert.deepEqual([claim.owned, claim.status, 'finished' in claim ? claim.finished : undefined], [true, 'running', undefined]);
    // No worker runs the rule run past its lease; meanwhile another incident's run takes the host.
    later(leaseSeconds({ actions: actionsOf(false) }) + 1);
    const other = await planned(h, await rule(false));
    assert.equal(other.plan.decision, 'run');
    // A worker back replays the task the claim ran in: the claim runs again.
    const again = await first.claim(false);
    assert.ok(again.owned);
    assert.equal(again.status, 'skipped');
    assert.match(again.finished?.error ?? '', new RegExp(`^not run: concurrency: this run's lease on ${h} expired at .* before the action started, and 1 other run\\(s\\) hold the host now \\(max 1\\)$`));
    assert.deepEqual(await first.run(), { status: 'skipped', started_at: null, error: again.finished?.error });
    const otherLease = await other.lease();
    assert.equal(otherLease.released_at, null, 'the other run keeps the host');
  });

  it('an approved fix whose start step runs again after its worker died (no side effect asked yet), its lease expired meanwhile and another run holding the host: skipped (concurrency), never started', async function () {
    clock = new Date();
    const h = host();
    const first = await planned(h, await rule(true));
    assert.ok((await first.claim(true)).owned);
    await acts().settleApproval({ actionRunId: first.actionRunId, onTimeout: 'approve' });
    const started = await first.start();
    assert.equal(started.status, 'running');
    // No worker runs the rule run past its lease (held from the claim, its approval wait included); meanwhile
    // another incident's run takes the host.
    later(leaseSeconds({ actions: actionsOf(true) }) + 1);
    const other = await planned(h, await rule(false));
    assert.equal(other.plan.decision, 'run');
    const otherLease = await other.lease();
    const again = await first.start();
    assert.equal(again.status, 'skipped');
    const expired = (await first.lease()).expires_at;
    const reason = `not run when approved: concurrency: this run's lease on ${h} expired at ${expired.toISOString()} before the action started, and 1 other run(s) hold the host now (max 1)`;
    assert.equal(again.finished?.error, reason);
    assert.deepEqual(await first.run(), { status: 'skipped', started_at: null, error: reason });
    assert.deepEqual(await other.lease(), otherLease);
  });
});
