import assert from 'node:assert/strict';
import { incidentWorkflowId } from '../../src/contracts/index.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, issueToken, stackWithHook } from '../helpers/stack.js';
import { messageOf, signalIncident } from '../helpers/workers.js';

// A 7-day approval under a stream of events must not grow the incident's history without bound: the wait
// lives in the rule run's own workflow, and the incident run continues as new, carrying it, as often as the
// stream needs. Measured: the history length of every run involved.
describe('incident workflow history stays bounded during long waits', function () {
  const peers = stackWithHook();

  it('200 events while an approval waits 7 days: the incident run continues as new, the rule run stays small, the approval still lands', async function () {
    this.timeout(300_000);
    const LIMIT = 100;
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, {
      name: `long-wait-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${peers.hook.url}/hook`, body: '{}', approval: { required: true, timeoutMinutes: 10080, onTimeout: 'reject' } }],
    });
    const id = newIncidentId();
    const service = { id: svc, type: 'service_reference', summary: 's' };
    await signalIncident(peers.stack.temporal, peers.stack.taskQueue, id, messageOf(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-11-01T10:00:00Z', data: { service } })), {
      historyLimit: LIMIT,
      lingerSeconds: 1,
    });
    const run = await eventually(
      () => peers.stack.db.db.selectFrom('action_runs').select(['id', 'workflow_id', 'status']).where('incident_id', '=', id).where('status', '=', 'awaiting_approval').executeTakeFirst(),
      30_000,
      'the approval to wait',
    );
    const ruleRun = peers.stack.temporal.client.workflow.getHandle(run.workflow_id!);
    // The row is written inside the rule run's first workflow task: measure once the run waits (no workflow
    // task or activity pending), not while that task's commands are still being recorded.
    const ruleRunBefore = await eventually(
      async () => {
        const d = await ruleRun.describe();
        return d.raw.pendingWorkflowTask || (d.raw.pendingActivities?.length ?? 0) > 0 ? undefined : d.historyLength;
      },
      30_000,
      'the rule run to wait for the approval',
    );
    const firstRunId = (await peers.stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).runId;

    // A steady stream: batches of 20 annotations, each batch persisted before the next is sent.
    const N = 200;
    const BATCH = 20;
    for (let i = 0; i < N; i += BATCH) {
      await Promise.all(
        Array.from({ length: BATCH }, (_, j) => {
          const minute = String(Math.floor((i + j) / 60)).padStart(2, '0');
          const second = String((i + j) % 60).padStart(2, '0');
          const note = sampleFor('v3-incident.annotated-01.json', id, { occurredAt: `2026-11-01T11:${minute}:${second}Z` });
          return signalIncident(peers.stack.temporal, peers.stack.taskQueue, id, messageOf(note), { historyLimit: LIMIT, lingerSeconds: 1 });
        }),
      );
      await eventually(
        async () => (await peers.stack.db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length === i + BATCH + 1,
        60_000,
        `${i + BATCH} events persisted`,
      );
    }
    await eventually(async () => ((await peers.stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { pendingEvents: number }).pendingEvents === 0, 60_000, 'no events pending');

    // The runs of the incident workflow so far, each measured: the first continued as new while the approval
    // waited, and none grew past the limit by more than one workflow task's worth of events (a batch).
    const runs: { runId: string; status: string; historyLength: number }[] = [];
    for await (const w of peers.stack.temporal.client.workflow.list({ query: `WorkflowId = '${incidentWorkflowId(id)}'` })) {
      const d = await peers.stack.temporal.client.workflow.getHandle(incidentWorkflowId(id), w.runId).describe();
      runs.push({ runId: w.runId, status: d.status.name, historyLength: d.historyLength });
    }
    const first = runs.find((r) => r.runId === firstRunId);
    assert.equal(first?.status, 'CONTINUED_AS_NEW', 'the first run continued as new with the rule run still waiting');
    assert.ok(runs.length >= 3, `${runs.length} runs for ${N} events: ${JSON.stringify(runs)}`);
    for (const r of runs) assert.ok(r.historyLength <= LIMIT + 3 * BATCH, `a run reached ${r.historyLength} events: ${JSON.stringify(runs)}`);
    // Without continue-as-new around the wait, one run would hold every event: about 3 history events each.
    assert.ok(runs.reduce((n, r) => n + r.historyLength, 0) > 2 * N);
    // The rule run did not hear a thing of it.
    const ruleRunAfter = (await ruleRun.describe()).historyLength;
    assert.equal(ruleRunAfter, ruleRunBefore, 'the rule run history did not grow with the events');
    assert.ok(ruleRunAfter < 40, `the waiting rule run has ${ruleRunAfter} events`);
    assert.deepEqual(
      ((await peers.stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { runningRules: string[] }).runningRules,
      [run.workflow_id],
      'the running rule run was carried across every continue-as-new',
    );

    // The approval still lands, the action runs once, and the run that carries it hears that it ended.
    const approver = await issueToken(peers.stack, `approver-${svc.toLowerCase()}`, ['write']);
    const res = await peers.stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(run.id)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${approver}` },
      body: JSON.stringify({ decision: 'approve' }),
    });
    assert.equal(res.status, 202);
    await eventually(async () => (await peers.stack.db.db.selectFrom('action_runs').select('status').where('id', '=', run.id).executeTakeFirstOrThrow()).status === 'succeeded', 30_000, 'the approved action');
    assert.equal(peers.hook.requests.length, 1);
    await eventually(async () => ((await peers.stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { runningRules: string[] }).runningRules.length === 0, 30_000, 'the latest run told');
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-11-01T12:00:00Z', data: { service } });
    await signalIncident(peers.stack.temporal, peers.stack.taskQueue, id, messageOf(resolve), { historyLimit: LIMIT, lingerSeconds: 1 });
    await eventually(async () => (await peers.stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).status.name === 'COMPLETED', 60_000, 'the incident run to complete');
  });
});
