import assert from 'node:assert/strict';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { staleEvent } from '../../src/api/routes/webhooks.js';
import { allRoutes } from '../../src/api/routes/index.js';
import type { Config } from '../../src/config.js';
import { HISTORY_WATERMARK } from '../../src/db/repositories/backtests.js';
import { purgeHistoryBefore } from '../../src/db/repositories/retention.js';
import { createLogger } from '../../src/logger.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { incidentWorkflowId, ruleRunWorkflowId } from '../../src/temporal/names.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';

// PagerDuty signs a delivery's body and nothing else: no timestamp, no nonce. A delivery captured once (a
// proxy's log, a mirrored request) verifies forever. What stops its replay is the duplicate record of its
// event id, and the retention purge deletes that record after SELFHEAL_RETENTION_DAYS. So a signed incident
// event that occurred before the history kept is refused: it cannot be told from a replay.
describe('security: a signed delivery replayed after its record is purged', function () {
  this.timeout(240_000);
  const DAY = 86_400_000;
  let stack: Stack;
  let hook: HttpPeer;

  before(async function () {
    hook = await startHttpPeer([{ method: 'POST', path: /^\/fix$/, handle: () => ({ status: 204 }) }]);
    stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' } });
  });
  after(async function () {
    await stack?.stop();
    await hook?.close();
  });

  /** The stack's API as configured with other settings (same database, Temporal and task queue). */
  function apiWith(change: (c: Config) => Config) {
    return createApp({ config: change(stack.config), db: stack.db.db, temporal: stack.temporal.apiClient, logger: createLogger({ level: 'silent' }) }, allRoutes);
  }
  const withRetention = (days: number) => apiWith((c) => ({ ...c, retention: { days } }));
  const post = (app: ReturnType<typeof createApp>, raw: string, signed = true) =>
    Promise.resolve(
      app.request('/webhooks/pagerduty', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(signed ? { 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET) } : {}) },
        body: raw,
      }),
    );

  it('refuses the replay (422 naming event.occurred_at): the remediation endpoint sees the fix once, and nothing is recorded or started', async function () {
    const svc = newServiceId();
    await insertRule(stack.db.db, { name: `replay-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/fix`, body: '{"incident": "{{ incident.id }}"}' }] });
    const id = newIncidentId();
    // Delivered 31 days ago (while its record was kept), handled once.
    const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date(Date.now() - 31 * DAY).toISOString(), data: { service: { id: svc, type: 'service_reference', summary: 's' } } }));
    const eventId = (JSON.parse(raw) as { event: { id: string } }).event.id;
    assert.equal((await post(stack.app, raw)).status, 202);
    await eventually(async () => hook.requests.filter((r) => (r.json as { incident: string }).incident === id).length === 1, 60_000, 'the fix reached the endpoint');
    await eventually(
      async () => (await stack.db.db.selectFrom('action_runs').select('finished_at').where('incident_id', '=', id).executeTakeFirst())?.finished_at,
      30_000,
      'the action run finished',
    );
    // A month on: the incident's workflow closed long ago, and the retention purge (30 days) took its records.
    // Temporal forgets closed workflows after its namespace retention (days): the rule run's id no longer
    // refuses a second start of the same rule for the same event.
    const ruleId = (await stack.db.db.selectFrom('rule_matches').select('rule_id').where('incident_id', '=', id).executeTakeFirstOrThrow()).rule_id;
    const workflow = stack.temporal.client.workflow.getHandle(incidentWorkflowId(id));
    await workflow.terminate('closed long ago');
    const closed = await workflow.describe();
    const ruleRun = stack.temporal.client.workflow.getHandle(ruleRunWorkflowId(id, ruleId, eventId));
    await stack.temporal.client.workflowService.deleteWorkflowExecution({ namespace: stack.temporal.client.options.namespace, workflowExecution: { workflowId: ruleRun.workflowId } });
    await eventually(async () => !(await known(ruleRun)), 60_000, 'Temporal forgot the rule run');
    const monthAgo = new Date(Date.now() - 31 * DAY);
    // Resolved a month ago too (an incident not resolved is kept whole, whatever its age).
    await stack.db.db.updateTable('incidents').set({ status: 'resolved', resolved_at: monthAgo, last_event_at: monthAgo }).where('id', '=', id).execute();
    await stack.db.db.updateTable('incident_events').set({ received_at: monthAgo }).where('incident_id', '=', id).execute();
    await stack.db.db.updateTable('rule_matches').set({ matched_at: monthAgo }).where('incident_id', '=', id).execute();
    await stack.db.db.updateTable('action_runs').set({ created_at: monthAgo }).where('incident_id', '=', id).execute();
    await stack.db.db.updateTable('side_effects').set({ updated_at: monthAgo }).where('incident_id', '=', id).execute();
    await stack.db.db.updateTable('remediations').set({ at: monthAgo }).where('incident_id', '=', id).execute();
    await stack.db.db.transaction().execute((trx) => purgeHistoryBefore(trx, new Date(Date.now() - 30 * DAY), 1000));
    assert.equal(await stack.db.db.selectFrom('incident_events').select('id').where('event_id', '=', eventId).executeTakeFirst(), undefined, 'the purge took the record');
    for (const table of ['action_runs', 'side_effects', 'remediations'] as const) {
      assert.equal(await stack.db.db.selectFrom(table).select('incident_id').where('incident_id', '=', id).executeTakeFirst(), undefined, `the purge took ${table}`);
    }

    // The captured delivery, byte for byte, to the API keeping 30 days.
    const replay = await post(withRetention(30), raw);
    assert.equal(replay.status, 422);
    assert.equal(replay.headers.get('content-type'), 'application/problem+json');
    const problem = (await replay.json()) as { detail: string; errors: { path: string; message: string }[] };
    assert.deepEqual(
      problem.errors.map((e) => e.path),
      ['event.occurred_at'],
    );
    assert.match(problem.detail, /older than the 30 days of history kept \(SELFHEAL_RETENTION_DAYS/);

    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(hook.requests.filter((r) => (r.json as { incident: string }).incident === id).length, 1, 'the fix ran again on the replay');
    const latest = await workflow.describe();
    assert.deepEqual([latest.runId, latest.status.name], [closed.runId, 'TERMINATED'], 'a new incident workflow run was started');
    assert.equal(await stack.db.db.selectFrom('incident_events').select('id').where('event_id', '=', eventId).executeTakeFirst(), undefined);
  });

  it('accepts what is inside the history kept less an hour, refuses what is not, and leaves an unparsable time to the workflow', async function () {
    const app = withRetention(30);
    const deliver = async (ago: number) => {
      const id = newIncidentId();
      const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date(Date.now() - ago).toISOString() }));
      return (await post(app, raw)).status;
    };
    assert.equal(await deliver(30 * DAY - 2 * 3_600_000), 202);
    assert.equal(await deliver(30 * DAY - 30 * 60_000), 422, 'within the hour before the purge');
    assert.equal(await deliver(6 * 365 * DAY), 422);
    const now = Date.UTC(2026, 11, 1);
    assert.equal(staleEvent('2026-11-01T02:00:00Z', 30, now), undefined);
    assert.match(staleEvent('2026-11-01T00:30:00Z', 30, now) ?? '', /older than the 30 days/);
    assert.equal(staleEvent('last tuesday', 30, now), undefined, 'the workflow rejects it and records why');
  });

  it("counts what the worker's purge has taken, when the worker keeps less history than this API is told (a rolling change)", async function () {
    // The API says 3650 days; the worker purged everything received before ten days ago.
    const purgedBefore = new Date(Date.now() - 10 * DAY);
    await stack.db.db
      .insertInto('retention_watermarks')
      .values({ name: HISTORY_WATERMARK, purged_before: purgedBefore, updated_at: new Date() })
      .onConflict((oc) => oc.column('name').doUpdateSet({ purged_before: purgedBefore }))
      .execute();
    const app = withRetention(3650);
    const deliver = async (ago: number) => {
      const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId(), { occurredAt: new Date(Date.now() - ago).toISOString() }));
      return post(app, raw);
    };
    const old = await deliver(11 * DAY);
    assert.equal(old.status, 422);
    assert.match(((await old.json()) as { detail: string }).detail, new RegExp(`events before ${purgedBefore.toISOString()} were purged`));
    assert.equal((await deliver(9 * DAY)).status, 202);
    assert.match(staleEvent('2026-11-20T00:00:00Z', 3650, Date.UTC(2026, 11, 1), new Date('2026-11-21T00:00:00Z')) ?? '', /were purged/);
  });

  it('an API accepting unsigned deliveries (npm start on loopback) has no replay to refuse: an old event is accepted', async function () {
    const app = apiWith((c) => ({ ...c, retention: { days: 30 }, pagerduty: { ...c.pagerduty, webhookSecrets: [], webhookAllowUnsigned: true } }));
    const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId()));
    assert.equal((await post(app, raw, false)).status, 202);
  });

  async function known(handle: WorkflowHandle): Promise<boolean> {
    try {
      await handle.describe();
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }
});
