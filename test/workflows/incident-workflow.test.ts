import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import { workflowBundle } from '../../src/temporal/worker.js';
import { SIGNALS, WORKFLOW_TYPES } from '../../src/contracts/index.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const historiesDir = new URL('./histories/', import.meta.url);

describe('incident workflow', function () {
  let stack: Stack;
  before(async function () {
    stack = await startStack();
  });
  after(async function () {
    await stack?.stop();
  });

  it('continues as new before its history grows large, carrying the incident state', async function () {
    const id = newIncidentId();
    const first = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-04-01T10:00:00Z' });
    // Start the run as the webhook would, but with a small history limit.
    const handle = await stack.temporal.client.workflow.signalWithStart('incidentWorkflow', {
      workflowId: incidentWorkflowId(id),
      taskQueue: stack.taskQueue,
      args: [{ incidentId: id, historyLimit: 40 }],
      signal: SIGNALS.incidentEvent,
      signalArgs: [{ eventId: first.event.id, eventType: 'incident.triggered', occurredAt: first.event.occurred_at as string, receivedAt: new Date().toISOString(), event: first.event }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    const firstRunId = handle.signaledRunId;
    // Twenty annotations: each is persisted, which needs more history than the limit allows.
    for (let i = 0; i < 20; i++) {
      const note = sampleFor('v3-incident.annotated-01.json', id, { occurredAt: `2026-04-01T10:${String(i + 1).padStart(2, '0')}:00Z` });
      assert.equal((await stack.deliver(note)).status, 202);
    }
    await eventually(
      async () => (await stack.db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length === 21,
      60_000,
      'all 21 events persisted',
    );
    // The history length a run sees is the one its current workflow task started with (local activities
    // add markers within a task), so the limit is acted on at the latest by the next event's task.
    const ack = sampleFor('v3-incident.acknowledged-01.json', id, { occurredAt: '2026-04-01T10:30:00Z' });
    assert.equal((await stack.deliver(ack)).status, 202);
    await eventually(
      async () => (await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id), firstRunId).describe()).status.name === 'CONTINUED_AS_NEW',
      60_000,
      'the first run to continue as new',
    );
    const latest = await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe();
    assert.notEqual(latest.runId, firstRunId);
    // The new run carries the status and goes on with the events still queued (the acknowledgement).
    await eventually(async () => {
      const state = (await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { status: string; eventsSeen: number };
      return state.status === 'acknowledged' && state.eventsSeen >= 1;
    }, 30_000, 'the new run to carry the incident to acknowledged');
    // A redelivery after the continue-as-new is still a duplicate.
    const again = await stack.deliver(first);
    assert.equal(again.status, 200);
  });

  // One file per workflow run of each scenario of record-history.ts: every branch of the incident, rule-run,
  // job and agent-check workflows. A missing file fails here, so the set cannot shrink unnoticed.
  const REQUIRED = [
    ...['approve', 'reject', 'approval-timeout', 'failure-chain', 'resolve-cancel', 'resolve-cancel-running', 'claimed-elsewhere', 'dry-run'].flatMap((s) => [s, `${s}-rule-run`]),
    'failure-chain-notify-only-rule-run',
    'continue-as-new-first',
    'continue-as-new-last',
    'continue-as-new-rule-run',
    // A note after the resolve leaves the rule run the resolve started (patch incident-cancel-only-at-resolve).
    'resolved-rule',
    'duplicate-first',
    'duplicate-redelivered',
    // Events queued together, the task ended after each (patch incident-slice-workflow-task): after a rule
    // run's start, when the server confirmed it; after a note, on a 1 ms timer.
    'task-slice',
    // A backlog past the carry bound parked in Postgres and taken by the next runs, which continue as new
    // on their history's size carrying how far they got (patch incident-park-backlog).
    'park-backlog-first',
    'park-backlog-middle',
    'park-backlog-last',
    'poison',
    'out-of-order',
    'job',
    // The check before each target as one local activity that also looks at the target's environment
    // (patch job-target-checked-before-start); job.json is a run from before it.
    'job-target-checked',
    // An agent target waits for its agent on agentPresent, is checked again, then its script is queued
    // (patch job-agent-present-before-script).
    'job-agent-present',
    // A job run that cannot finish within its limit: recorded failed, its failure notice sent (patch
    // job-cannot-finish-is-failed).
    'job-cannot-finish',
    // A job run cancelled while its agent script runs (as overlap cancel_other does): the script waited for
    // until it stopped, recorded cancelled, the target not started skipped (patch job-waits-for-script-v1);
    // the unpatched file is a run from before it, closed at once with its script still running.
    'job-cancelled',
    'job-cancelled-unpatched',
    // A job run cancelled while it records its start or resolves its targets (held on a table lock): recorded
    // cancelled, no target started (patch job-cancelled-before-targets-recorded); the unpatched files are runs
    // from before it, closed at once with the activity's cancel and their row left `running`.
    ...['start', 'resolve'].flatMap((p) => [`job-cancelled-early-${p}`, `job-cancelled-early-${p}-unpatched`]),
    'agent-check-healthy',
    'agent-check-offline',
    // Rule runs of RULE_RUN_REVISION 1 (no patch marker, a settled verification in the rule outcome's
    // transaction), recorded beside the older runs' files, which in-flight runs still replay against.
    ...['approve', 'dry-run', 'failure-chain', 'failure-chain-notify-only', 'resolve-cancel'].map((s) => `${s}-rule-run-revision-1`),
    // Revision 3 (claims and skips never cancelled half way; a run's own resolve does not cancel it).
    ...['approve', 'failure-chain', 'failure-chain-notify-only', 'resolve-cancel', 'resolve-cancel-running'].map((s) => `${s}-rule-run-revision-3`),
    // A remediation approved while automation is paused: the rest of the remediation skipped, the run
    // inconclusive, the approval's timer at the announced deadline (three patches, rule-run.ts).
    'pause-at-approval-rule-run',
    // A webhook whose retry asks for a first pause over a minute: recorded failed without a call before
    // (the SDK refused the policy's one-minute cap), called with the cap raised since (patch
    // saas-retry-cap-raised-to-first-pause-v1).
    ...['saas-retry-cap', 'saas-retry-cap-unpatched'].flatMap((s) => [s, `${s}-rule-run`]),
    // Revision 4: an agent script is queued once an agent answered agentPresent and the rule's team still has
    // an environment on that queue (the agentTargetCheck marker).
    'resolve-cancel-running-rule-run-revision-4',
    // Revision 5: an agent script's retries are made by the run, each one waiting for its agent and checked
    // first (a durable timer, agentPresent, the agentTargetCheck marker, one attempt per activity): a retry
    // that succeeds, one refused after its environment was deleted, and a cancelled script.
    'agent-retry',
    'agent-retry-rule-run',
    'agent-retry-refused',
    'agent-retry-refused-rule-run',
    'resolve-cancel-running-rule-run-revision-5',
    // Revision 6: the verification's check asked for before each run (the verifyCheckMayRun marker), run
    // once, then refused on a paused fleet: not_applicable, the run inconclusive.
    'verify-check-stopped',
    'verify-check-stopped-rule-run',
    // A presence check the agent refused for the run's team ends the rule run's action and the job's target
    // there, failed, no script task queued (patch agent-presence-refusal-ends-run); the unpatched files are
    // runs from before it, which queued the script and had the agent refuse that too.
    ...['agent-refused', 'agent-refused-unpatched'].flatMap((s) => [s, `${s}-rule-run`, `${s}-job`]),
    // Verification ended by a person's resolve (verified) and by a merge into another incident, which proves
    // nothing (unverified, the check asked once more); the merge landing while the check runs ends the wait
    // (patch verify-check-cancel-ends-wait-v1; the unpatched files are runs from before it, where the
    // cancelled check was taken as a failed one).
    ...['verify-resolved', 'verify-merged', 'verify-merged-during-check', 'verify-merged-during-check-unpatched'].flatMap((s) => [s, `${s}-rule-run`]),
    // The rule disabled while its agent script waited for its agent: the fix recorded skipped once the agent
    // answered, never queued (patch agent-wait-rule-stopped-skips-v1).
    'agent-wait-stopped',
    'agent-wait-stopped-rule-run',
  ];

  it('replays every recorded history with the current code (no non-determinism), covering every branch', async function () {
    const files = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
    for (const name of REQUIRED) assert.ok(files.includes(`${name}.json`), `test/workflows/histories/${name}.json is missing: npx tsx test/workflows/record-history.ts`);
    const histories = files.map((f) => ({ workflowId: f, history: JSON.parse(readFileSync(new URL(f, historiesDir), 'utf8')) }));
    const types = new Set(histories.map((h) => (h.history as { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] }).events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name));
    assert.deepEqual([...types].sort(), Object.values(WORKFLOW_TYPES).sort(), 'every workflow type has histories');
    const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories);
    let n = 0;
    for await (const r of results) {
      n += 1;
      assert.equal(r.error, undefined, `${r.workflowId}: ${r.error?.message}`);
    }
    assert.equal(n, files.length);
  });
});
