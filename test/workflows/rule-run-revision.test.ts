import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { RULE_RUN_REVISION, WORKFLOW_TYPES, type RuleRunInput } from '../../src/contracts/index.js';
import { workflowBundle } from '../../src/temporal/worker.js';
import { VERIFY_PATCH } from '../../workflows/verify.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, stackWithHook } from '../helpers/stack.js';

// The rule run's revision (RULE_RUN_REVISION): a run started by the incident workflow carries it, verifies
// without the patch marker (no marker, no search attribute upsert) and records a verification settled at
// once in the rule outcome's transaction, one local activity fewer. A run started without a revision (by
// older code) keeps the marker and the separate local activity, and its history replays with this code.
describe('rule run revision', function () {
  const peers = stackWithHook();

  type Event = temporal.api.history.v1.IHistoryEvent;
  const typeOf = (e: Event) => temporal.api.enums.v1.EventType[e.eventType ?? 0];
  const markers = (events: Event[], name: string) => events.filter((e) => e.markerRecordedEventAttributes?.markerName === name);
  /** Every string a marker's details carry (a patch marker carries its patch id). */
  const detailsOf = (e: Event) =>
    JSON.stringify(Object.values(e.markerRecordedEventAttributes?.details ?? {}).flatMap((p) => (p.payloads ?? []).map((x) => defaultPayloadConverter.fromPayload(x))));
  const mentionsPatch = (e: Event) => detailsOf(e).includes(VERIFY_PATCH);
  const matchRow = (matchId: string) => peers.stack.db.db.selectFrom('rule_matches').select(['verification', 'verification_detail', 'verified_at']).where('id', '=', matchId).executeTakeFirstOrThrow();

  it('a new run has no patch marker and one local activity fewer; a run without revision keeps both and replays', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await insertRule(peers.stack.db.db, { name: `rev-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'ping', type: 'notify.webhook', url: `${peers.hook.url}/hook`, body: '{}' }] });
    const id = newIncidentId();
    assert.equal((await peers.stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-10-01T10:00:00Z', data: { service: { id: svc, type: 'service_reference', summary: 's' } } }))).status, 202);

    // The run the incident workflow started: it carries the revision.
    const actionRun = await eventually(
      () => peers.stack.db.db.selectFrom('action_runs').select(['workflow_id', 'status']).where('incident_id', '=', id).where('status', '=', 'succeeded').executeTakeFirst(),
      30_000,
      'the action to run',
    );
    const current = peers.stack.temporal.client.workflow.getHandle(actionRun.workflow_id!);
    await current.result();
    const currentEvents = (await current.fetchHistory()).events ?? [];
    const input = defaultPayloadConverter.fromPayload<RuleRunInput>(currentEvents[0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!);
    assert.equal(input.revision, RULE_RUN_REVISION);
    assert.equal(typeOf(currentEvents[0]!), 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    assert.deepEqual(markers(currentEvents, 'core_patch'), [], 'no patch marker');
    assert.equal(currentEvents.filter(mentionsPatch).length, 0, 'the patch id appears nowhere');
    assert.deepEqual(currentEvents.filter((e) => typeOf(e) === 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES'), [], 'no search attribute upsert');
    // The verification is recorded all the same, by the rule outcome's local activity, and the breaker too.
    const recorded = await matchRow(input.plan.matchId);
    assert.equal(recorded.verification, 'not_applicable');
    assert.equal(recorded.verification_detail, 'the rule declares no verify');
    assert.ok(recorded.verified_at);
    const breaker = await peers.stack.db.db.selectFrom('rules').select(['consecutive_failures', 'breaker_state']).where('id', '=', ruleId).executeTakeFirstOrThrow();
    assert.deepEqual(breaker, { consecutive_failures: 0, breaker_state: 'closed' });

    // The same run as older code started it: no revision. It asks for the patch (marker) and records the
    // verification with its own local activity (the row is cleared first, so that write is seen).
    await peers.stack.db.db.updateTable('rule_matches').set({ verification: null, verification_detail: null, verified_at: null }).where('id', '=', input.plan.matchId).execute();
    const { revision: _revision, ...withoutRevision } = input;
    const older = await peers.stack.temporal.client.workflow.start(WORKFLOW_TYPES.ruleRun, {
      workflowId: `rule-run-without-revision-${randomUUID()}`,
      taskQueue: peers.stack.taskQueue,
      // Same parent: it hears of an id it does not hold (a no-op), and both histories end alike.
      args: [{ ...withoutRevision, eventId: `${input.eventId}-older` }],
    });
    await older.result();
    const olderEvents = (await older.fetchHistory()).events ?? [];
    const patch = markers(olderEvents, 'core_patch');
    assert.equal(patch.length, 1, 'the run without revision records the patch marker');
    assert.ok(mentionsPatch(patch[0]!), 'the marker is the verify patch');
    assert.equal(olderEvents.filter((e) => typeOf(e) === 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES').length, 1, 'the patch upserts TemporalChangeVersion');
    const again = await matchRow(input.plan.matchId);
    assert.equal(again.verification, 'not_applicable');
    assert.equal(again.verification_detail, 'the rule declares no verify');
    assert.equal(peers.hook.requests.length, 2, 'each run ran its action once');

    // One local activity fewer (the separate recordVerification), everything else alike.
    const las = (events: Event[]) =>
      markers(events, 'core_local_activity').map((e) => defaultPayloadConverter.fromPayload<{ activity_type: string }>(e.markerRecordedEventAttributes!.details!.data!.payloads![0]!).activity_type);
    assert.deepEqual(las(olderEvents), ['claimAction', 'recordActionOutcome', 'recordVerification', 'recordRuleOutcome']);
    assert.deepEqual(las(currentEvents), ['claimAction', 'recordActionOutcome', 'recordRuleOutcome']);
    assert.equal(currentEvents.length, olderEvents.length - 3, 'three history events fewer: the patch marker, its upsert, a local activity marker');

    // Both histories replay with the current code: the run without revision takes the patched path again.
    const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, [
      { workflowId: current.workflowId, history: { events: currentEvents } },
      { workflowId: older.workflowId, history: { events: olderEvents } },
    ]);
    let n = 0;
    for await (const r of results) {
      n += 1;
      assert.equal(r.error, undefined, `${r.workflowId}: ${r.error?.message}`);
    }
    assert.equal(n, 2);
  });
});
