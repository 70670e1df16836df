import assert from 'node:assert/strict';
import { incidentWorkflowId, ruleRunWorkflowId, SIGNALS } from '../../src/contracts/index.js';
import type { TestDatabase } from '../helpers/db.js';
import { createTestDatabase } from '../helpers/db.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { temporal as temporal_ } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../src/temporal/worker.js';
import { startChildRoot } from '../helpers/fault-process.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { deferred, messageOf, signalIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// Each race the incident workflow must survive, injected at a chosen point with the real worker, the real
// Temporal dev server and Postgres, and wrapped activities where the test needs a gate or a crash. What is
// counted is what a peer saw: the requests a rule's webhook action made.
describe('incident workflow races (injected deterministically, side effects counted at the peer)', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let peer: HttpPeer;
  const workers: TestWorker[] = [];
  const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] };

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    peer = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: () => ({ status: 204 }) }]);
  });
  after(async function () {
    for (const w of workers) await w.stop();
    await peer?.close();
  });

  const worker = async (wrap?: Parameters<typeof startTestWorker>[0]['wrap']) => {
    const w = await startTestWorker({ temporal, db, extractors, ...(wrap ? { wrap } : {}) });
    workers.push(w);
    return w;
  };
  const hits = (name: string) => peer.requests.filter((r) => r.path === `/hook/${name}`).length;
  const runsOf = (id: string) => db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
  const finished = (id: string, n: number) =>
    eventually(async () => {
      const r = await runsOf(id);
      return r.length === n && r.every((x) => x.finished_at) ? r : undefined;
    }, 60_000, `${n} finished action runs of ${id}`);
  const rule = (name: string, svc: string) =>
    insertRule(db.db, { name: `race-${name}-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'fix', type: 'notify.webhook', url: `${peer.url}/hook/${name}`, body: '{}' }] });
  const typeOf = (e: { eventType?: number | null }) => temporal_.api.enums.v1.EventType[e.eventType ?? 0];
  const historyOf = async (workflowId: string, runId?: string) => (await temporal.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  const trigger = (id: string, svc: string, host = 'web-1') =>
    sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-07-01T10:00:00Z', data: { title: `[${host}] is down`, service: { id: svc, type: 'service_reference', summary: 's' } } });

  it('a duplicate signal during triage is dropped: one triage, one action, one request at the peer, no row left running', async function () {
    const svc = newServiceId();
    await rule('dup', svc);
    const entered = deferred();
    const release = deferred();
    let triages = 0;
    const w = await worker((real) => ({
      async triageIncidentEvent(input) {
        triages += 1;
        entered.resolve();
        await release.promise;
        return real.triageIncidentEvent(input);
      },
    }));
    const id = newIncidentId();
    const msg = messageOf(trigger(id, svc));
    await signalIncident(temporal, w.taskQueue, id, msg, { lingerSeconds: 1 });
    await entered.promise;
    // PagerDuty redelivers while the first copy is in triage (the API's lookup cannot see it yet).
    await signalIncident(temporal, w.taskQueue, id, msg, { lingerSeconds: 1 });
    await signalIncident(temporal, w.taskQueue, id, msg, { lingerSeconds: 1 });
    release.resolve();
    const [run] = await finished(id, 1);
    assert.equal(run!.status, 'succeeded');
    assert.equal(triages, 1, 'the redeliveries never reached triage');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(hits('dup'), 1, 'one request at the peer');
    assert.deepEqual((await runsOf(id)).map((r) => [r.status, r.attempts]), [['succeeded', 1]]);

    // Once the incident resolved and its run completed (linger 1 s), the same delivery starts a new run:
    // triage stops it as a duplicate.
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:05:00Z' });
    await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), { lingerSeconds: 1 });
    await eventually(async () => (await temporal.client.workflow.getHandle(`incident-${id}`).describe()).status.name === 'COMPLETED', 30_000, 'the run to complete');
    assert.equal(triages, 2);
    await signalIncident(temporal, w.taskQueue, id, msg, { lingerSeconds: 1 });
    await eventually(async () => (await temporal.client.workflow.getHandle(`incident-${id}`).describe()).status.name === 'COMPLETED' && triages === 3, 30_000, 'the second run to triage and complete');
    assert.equal(hits('dup'), 1, 'still one request: the duplicate stopped after triage');
    assert.equal((await runsOf(id)).length, 1);
  });

  it('a worker SIGKILLed between the claim and the side effect: the next worker runs the action once', async function () {
    const svc = newServiceId();
    await rule('crash', svc);
    const taskQueue = `crash-${newServiceId().toLowerCase()}`;
    // A real worker process that claims the action in Postgres and is killed before it goes any further.
    const doomed = startChildRoot('test/helpers/crash-worker.ts', { ACTION_EGRESS_ALLOW: '127.0.0.1/32', TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: db.url, TEMPORAL_TASK_QUEUE: taskQueue });
    await doomed.waitFor(/worker started/);
    const id = newIncidentId();
    await signalIncident(temporal, taskQueue, id, messageOf(trigger(id, svc)), { lingerSeconds: 1 });
    await doomed.waitFor(/claimed /);
    await doomed.kill();
    const row = await db.db.selectFrom('action_runs').select(['status', 'claimed_by']).where('incident_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'running');
    assert.ok(row.claimed_by?.startsWith(`incident-${id}/rule-`), `claimed by the rule run: ${row.claimed_by}`);
    assert.equal(hits('crash'), 0);

    // A fresh worker on the same task queue takes the run over, finds the claim its run made, and goes on.
    workers.push(await startTestWorker({ temporal, db, extractors, taskQueue }));
    const [run] = await finished(id, 1);
    assert.equal(run!.status, 'succeeded');
    assert.equal(run!.attempts, 2, 'claimed twice by the same run: once before the crash, once after');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(hits('crash'), 1, 'the side effect happened exactly once');
  });

  it('a worker SIGKILLed between the claim and the side effect of a fix, its rule disabled before a worker is back: the fix never starts, recorded skipped', async function () {
    const svc = newServiceId();
    const ruleId = await insertRule(db.db, { name: `race-reclaim-disabled-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'fix', type: 'pagerduty.acknowledge' }] });
    const taskQueue = `crash-${newServiceId().toLowerCase()}`;
    const doomed = startChildRoot('test/helpers/crash-worker.ts', { ACTION_EGRESS_ALLOW: '127.0.0.1/32', TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: db.url, TEMPORAL_TASK_QUEUE: taskQueue });
    await doomed.waitFor(/worker started/);
    const id = newIncidentId();
    await signalIncident(temporal, taskQueue, id, messageOf(trigger(id, svc)), { lingerSeconds: 1 });
    await doomed.waitFor(/claimed /);
    await doomed.kill();
    assert.equal((await db.db.selectFrom('action_runs').select('status').where('incident_id', '=', id).executeTakeFirstOrThrow()).status, 'running');
    // No worker runs: an admin disables the rule (its fix found wrong).
    await db.db.updateTable('rules').set({ enabled: false }).where('id', '=', ruleId).execute();

    // The side effect is counted where the next worker would make it (the fix's activity).
    const fixes: string[] = [];
    workers.push(
      await startTestWorker({
        temporal,
        db,
        extractors,
        taskQueue,
        wrap: (real) => ({
          async executeAction(input) {
            if (input.action.type === 'pagerduty.acknowledge') {
              fixes.push(input.actionRunId);
              return { exitCode: null, outputExcerpt: 'acknowledged' };
            }
            return real.executeAction(input);
          },
        }),
      }),
    );
    const [run] = await finished(id, 1);
    assert.deepEqual([run!.status, run!.error, run!.started_at], ['skipped', 'not run: its rule was disabled while the run went on (version 1 planned it)', null]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(fixes, [], 'the fix was never asked for');
  });

  it('an approved fix whose start step runs again (its worker died before the task completed), its rule disabled in between: the fix never starts, recorded skipped', async function () {
    const svc = newServiceId();
    const ruleId = await insertRule(db.db, {
      name: `race-restart-disabled-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'pagerduty.acknowledge', approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } }],
    });
    const fixes: string[] = [];
    // The step's first answer is lost with its worker, and the rule is disabled before it runs again.
    await worker((real) => ({
      startApprovedAction: async (input) => {
        await real.startApprovedAction(input);
        await db.db.updateTable('rules').set({ enabled: false }).where('id', '=', ruleId).execute();
        return real.startApprovedAction(input);
      },
      async executeAction(input) {
        if (input.action.type === 'pagerduty.acknowledge') {
          fixes.push(input.actionRunId);
          return { exitCode: null, outputExcerpt: 'acknowledged' };
        }
        return real.executeAction(input);
      },
    }));
    const id = newIncidentId();
    await signalIncident(temporal, workers.at(-1)!.taskQueue, id, messageOf(trigger(id, svc)), { lingerSeconds: 1 });
    const waiting = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, 'the action awaiting approval');
    await db.db.updateTable('action_runs').set({ approval: JSON.stringify({ decision: 'approve', actor: 'token:approver', at: new Date().toISOString() }) }).where('id', '=', waiting.id).execute();
    await temporal.client.workflow.getHandle(waiting.workflow_id!).signal(SIGNALS.approval, { actionRunId: waiting.id });
    const [run] = await finished(id, 1);
    assert.deepEqual([run!.status, run!.error, run!.started_at], ['skipped', 'not run: its rule was disabled while this action waited for its approval (version 1 planned it)', null]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(fixes, [], 'the fix was never asked for');
  });

  it('an approved action whose start step runs twice (replayed after a crash) keeps its first answer: cancelled on a resolved incident, never run', async function () {
    const svc = newServiceId();
    await insertRule(db.db, {
      name: `race-approved-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${peer.url}/hook/approved-twice`, body: '{}', approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } }],
    });
    // The step's first answer is lost and it runs again, as when the worker dies after the step committed
    // and before its workflow task completed: the workflow sees only the second answer.
    await worker((real) => ({
      startApprovedAction: async (input) => {
        await real.startApprovedAction(input);
        return real.startApprovedAction(input);
      },
    }));
    const id = newIncidentId();
    await signalIncident(temporal, workers.at(-1)!.taskQueue, id, messageOf(trigger(id, svc)), { lingerSeconds: 1 });
    const waiting = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, 'the action awaiting approval');
    // The incident resolved (stored) and its cancellation not at the rule run yet; then someone approves.
    await db.db.updateTable('incidents').set({ status: 'resolved' }).where('id', '=', id).execute();
    await db.db.updateTable('action_runs').set({ approval: JSON.stringify({ decision: 'approve', actor: 'token:approver', at: new Date().toISOString() }) }).where('id', '=', waiting.id).execute();
    await temporal.client.workflow.getHandle(waiting.workflow_id!).signal(SIGNALS.approval, { actionRunId: waiting.id });
    const [run] = await finished(id, 1);
    assert.deepEqual([run!.status, run!.error, run!.started_at], ['cancelled', 'not run: the incident resolved before the action started', null]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(hits('approved-twice'), 0, 'the approved action never reached its peer');
  });

  it('a claim held by another run is never executed by this one', async function () {
    const svc = newServiceId();
    const ruleId = await rule('loser', svc);
    const w = await worker();
    const id = newIncidentId();
    const payload = trigger(id, svc);
    // Another run got there first (as a second run of the same rule would): its claim is in Postgres.
    await db.db
      .insertInto('action_runs')
      .values({
        id: `${id}:${ruleId}:fix:${payload.event.id}`,
        idempotency_key: `${id}:${ruleId}:fix:${payload.event.id}`,
        incident_id: id,
        rule_id: ruleId,
        rule_version: 1,
        action_index: 0,
        action_id: 'fix',
        action_type: 'notify.webhook',
        status: 'running',
        claimed_by: 'incident-elsewhere/rule-x/run-1',
      })
      .execute();
    await signalIncident(temporal, w.taskQueue, id, messageOf(payload), { lingerSeconds: 1 });
    await eventually(async () => (await temporal.client.workflow.getHandle(ruleRunWorkflowId(id, ruleId, payload.event.id)).describe()).status.name === 'COMPLETED', 30_000, 'the rule run to end');
    const result = await temporal.client.workflow.getHandle(ruleRunWorkflowId(id, ruleId, payload.event.id)).result();
    assert.equal((result as { ended: string }).ended, 'claimed_elsewhere');
    assert.equal(hits('loser'), 0, 'the loser never executed');
    assert.deepEqual((await runsOf(id)).map((r) => r.claimed_by), ['incident-elsewhere/rule-x/run-1']);
  });

  /**
   * Starts the incident's run with `payload` on a worker whose first triage is held until the run's history
   * is past `input.historyLimit`: the run continues as new in the task that takes the event (and starts its
   * rule runs). Returns the worker and the first run's id, once that run has continued as new.
   */
  async function continuedAsNewDuringTriage(id: string, payload: ReturnType<typeof trigger>, input: { lingerSeconds: number; historyLimit: number; carriedCheckSeconds?: number }) {
    const grown = deferred();
    let held = false;
    const w = await worker((real) => ({
      async triageIncidentEvent(i) {
        if (!held) {
          held = true;
          await grown.promise;
        }
        return real.triageIncidentEvent(i);
      },
    }));
    await signalIncident(temporal, w.taskQueue, id, messageOf(payload), input);
    const firstRunId = (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).runId;
    const firstRun = temporal.client.workflow.getHandle(incidentWorkflowId(id), firstRunId);
    try {
      await eventually(async () => (await firstRun.describe()).historyLength > input.historyLimit, 60_000, 'the history past the limit during triage');
    } finally {
      grown.resolve();
    }
    await eventually(async () => (await firstRun.describe()).status.name === 'CONTINUED_AS_NEW', 60_000, 'the first run to continue as new');
    return { w, firstRunId };
  }

  // The check before each event passes, triage then outlasts the workflow task's heartbeat (core completes
  // the task and opens the next at 80 % of its 10 s timeout: three history events each time), and the check
  // after the event, in the task that starts the rule run, says continue as new. Triage is held here until
  // the history is seen past the limit, so that is the order every time.
  it('a rule run started in the task that continues as new is started before the switch: it runs, the next run hears it end', async function () {
    const LIMIT = 5;
    const svc = newServiceId();
    const ruleId = await rule('can-start', svc);
    const id = newIncidentId();
    const payload = trigger(id, svc);
    const { w, firstRunId } = await continuedAsNewDuringTriage(id, payload, { lingerSeconds: 1, historyLimit: LIMIT });

    // The first run closed only once the server had started the rule run.
    const childId = ruleRunWorkflowId(id, ruleId, payload.event.id);
    const events = await historyOf(incidentWorkflowId(id), firstRunId);
    const started = events.filter((e) => typeOf(e) === 'EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED').map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId);
    assert.deepEqual(started, [childId], `the first run closed with the rule run started: ${events.map(typeOf).join(', ')}`);
    assert.equal(typeOf(events.at(-1)!), 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
    const result = (await temporal.client.workflow.getHandle(childId).result()) as { ended: string };
    assert.equal(result.ended, 'completed');
    assert.equal(hits('can-start'), 1, 'the rule action ran once');
    assert.deepEqual((await runsOf(id)).map((r) => r.status), ['succeeded']);

    // The run that carries it hears that it ended, and completes once the incident resolves.
    await eventually(async () => ((await temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { runningRules: string[] }).runningRules.length === 0, 30_000, 'the latest run told');
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:05:00Z' });
    await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), { lingerSeconds: 1, historyLimit: LIMIT });
    await eventually(async () => (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).status.name === 'COMPLETED', 60_000, 'the incident run to complete');
  });

  it('a carried rule run terminated from outside never reports its end: once resolved, the run asks Temporal and completes', async function () {
    const LIMIT = 5;
    const svc = newServiceId();
    // Its action waits for an approval: the rule run is still going when the incident's run continues as new.
    const ruleId = await insertRule(db.db, {
      name: `race-carried-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${peer.url}/hook/carried`, body: '{}', approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } }],
    });
    const id = newIncidentId();
    const payload = trigger(id, svc);
    const { w } = await continuedAsNewDuringTriage(id, payload, { lingerSeconds: 1, historyLimit: LIMIT, carriedCheckSeconds: 2 });
    const childId = ruleRunWorkflowId(id, ruleId, payload.event.id);
    await eventually(async () => (await runsOf(id)).some((r) => r.status === 'awaiting_approval'), 30_000, 'the carried rule run waiting');
    const state = async () => (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { runningRules: string[] };
    assert.deepEqual((await state()).runningRules, [childId], 'the new run carries it');

    // Terminated from outside (the Temporal UI, the CLI): it sends no signal that it ended.
    await temporal.client.workflow.getHandle(childId).terminate('terminated by an operator');
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:05:00Z' });
    await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), { lingerSeconds: 1, historyLimit: LIMIT, carriedCheckSeconds: 2 });
    // Before, the run waited for that signal forever: resolved, yet never completed.
    await eventually(async () => (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).status.name === 'COMPLETED', 45_000, 'the incident run to complete');
    assert.equal(hits('carried'), 0, 'the action never ran');
  });

  // The same at a resolve: the task that takes it cancels the rule run going (its rule cancels on resolve)
  // and starts the one on incident.resolved, then continues as new. Annotations bring the history close to
  // the limit first, so that the check before the resolve passes and a heartbeat or two during its held
  // triage pass the limit.
  it('a resolve taken in the task that continues as new: its cancel is delivered and its rule run started before the switch', async function () {
    const LIMIT = 60;
    const svc = newServiceId();
    const service = { id: svc, type: 'service_reference', summary: 's' };
    const waitingRule = await insertRule(db.db, {
      name: `race-can-waits-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${peer.url}/hook/can-waits`, body: '{}', approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } }],
    });
    const onResolveRule = await insertRule(db.db, {
      name: `race-can-onresolve-${svc.toLowerCase()}`,
      services: [svc],
      eventTypes: ['incident.resolved'],
      actions: [{ id: 'tell', type: 'notify.webhook', url: `${peer.url}/hook/can-tell`, body: '{}' }],
    });
    const id = newIncidentId();
    const first = trigger(id, svc);
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:30:00Z', data: { service } });
    const grown = deferred();
    const w = await worker((real) => ({
      async triageIncidentEvent(input) {
        if (input.message.eventId === resolve.event.id) await grown.promise;
        return real.triageIncidentEvent(input);
      },
    }));
    const input = { lingerSeconds: 1, historyLimit: LIMIT };
    await signalIncident(temporal, w.taskQueue, id, messageOf(first), input);
    await eventually(() => db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('status', '=', 'awaiting_approval').executeTakeFirst(), 30_000, 'the approval wait');
    const firstRunId = (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).runId;
    const firstRun = temporal.client.workflow.getHandle(incidentWorkflowId(id), firstRunId);
    /** The run's history length once it waits (no workflow task pending). */
    const settled = () => eventually(async () => {
      const d = await firstRun.describe();
      return d.raw.pendingWorkflowTask ? undefined : d.historyLength;
    }, 30_000, 'the run to wait');
    let length = await settled();
    for (let i = 0; length + 11 <= LIMIT; i++) {
      const note = sampleFor('v3-incident.annotated-01.json', id, { occurredAt: `2026-07-01T10:01:${String(i).padStart(2, '0')}Z` });
      await signalIncident(temporal, w.taskQueue, id, messageOf(note), input);
      await eventually(async () => (await db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length === i + 2, 30_000, 'the note taken');
      length = await settled();
    }
    // The resolve's signal and its task add 3 events: the check before it still passes.
    assert.ok(length + 3 <= LIMIT, `history ${length} too close to the limit ${LIMIT}`);
    assert.equal((await firstRun.describe()).status.name, 'RUNNING');

    await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), input);
    try {
      await eventually(async () => (await firstRun.describe()).historyLength > LIMIT, 60_000, 'the history past the limit during triage');
    } finally {
      grown.resolve();
    }
    await eventually(async () => (await firstRun.describe()).status.name === 'CONTINUED_AS_NEW', 60_000, 'the first run to continue as new');

    // The first run closed only once the cancel was delivered and the new rule run started.
    const waitingRun = ruleRunWorkflowId(id, waitingRule, first.event.id);
    const onResolveRun = ruleRunWorkflowId(id, onResolveRule, resolve.event.id);
    const events = await historyOf(incidentWorkflowId(id), firstRunId);
    const delivered = events.filter((e) => typeOf(e) === 'EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED').map((e) => e.externalWorkflowExecutionCancelRequestedEventAttributes?.workflowExecution?.workflowId);
    const started = events.filter((e) => typeOf(e) === 'EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED').map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId);
    assert.deepEqual(delivered, [waitingRun], `the cancel delivered before the switch: ${events.map(typeOf).join(', ')}`);
    assert.deepEqual(started, [waitingRun, onResolveRun], 'both rule runs started before the switch');
    assert.equal(((await temporal.client.workflow.getHandle(waitingRun).result()) as { ended: string }).ended, 'cancelled');
    assert.equal(((await temporal.client.workflow.getHandle(onResolveRun).result()) as { ended: string }).ended, 'completed');
    assert.equal(hits('can-waits'), 0);
    assert.equal(hits('can-tell'), 1);
    await eventually(async () => (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).status.name === 'COMPLETED', 60_000, 'the incident run to complete');
  });

  // A rule on incident.resolved may run on a resolved incident; the events after the resolve (Self-healing's
  // own summary notes and notices come back as incident.annotated) must not cancel it. A rule run going when
  // the incident resolved is still cancelled.
  it('a resolve cancels the rule runs going then, not the ones it starts: a later event leaves them running', async function () {
    const svc = newServiceId();
    const service = { id: svc, type: 'service_reference', summary: 's' };
    const waitingRule = await insertRule(db.db, {
      name: `race-waits-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${peer.url}/hook/waits`, body: '{}', approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } }],
    });
    const onResolveRule = await insertRule(db.db, {
      name: `race-onresolve-${svc.toLowerCase()}`,
      services: [svc],
      eventTypes: ['incident.resolved'],
      actions: [
        { id: 'postmortem', type: 'notify.webhook', url: `${peer.url}/hook/postmortem`, body: '{}' },
        { id: 'tell', type: 'notify.webhook', url: `${peer.url}/hook/tell`, body: '{}' },
      ],
    });
    const entered = deferred();
    const release = deferred();
    const w = await worker((real) => ({
      async executeAction(input) {
        if (input.actionRunId.includes(':postmortem:')) {
          entered.resolve();
          await release.promise;
        }
        return real.executeAction(input);
      },
    }));
    const id = newIncidentId();
    const first = trigger(id, svc);
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:05:00Z', data: { service } });
    try {
      await signalIncident(temporal, w.taskQueue, id, messageOf(first), { lingerSeconds: 1 });
      await eventually(() => db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('status', '=', 'awaiting_approval').executeTakeFirst(), 30_000, 'the approval wait');
      await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), { lingerSeconds: 1 });
      await entered.promise;
      // A note on the resolved incident, taken while the postmortem is in flight; then the task that took
      // it has completed (its row is written and no task is pending), with whatever it asked for.
      await signalIncident(temporal, w.taskQueue, id, messageOf(sampleFor('v3-incident.annotated-01.json', id, { occurredAt: '2026-07-01T10:06:00Z' })), { lingerSeconds: 1 });
      await eventually(async () => (await db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length === 3, 30_000, 'the note taken');
      await eventually(async () => !(await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).raw.pendingWorkflowTask, 30_000, 'the task that took it to complete');
      const cancels = (await historyOf(incidentWorkflowId(id)))
        .filter((e) => typeOf(e) === 'EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED')
        .map((e) => e.requestCancelExternalWorkflowExecutionInitiatedEventAttributes?.workflowExecution?.workflowId);
      const waitingRun = ruleRunWorkflowId(id, waitingRule, first.event.id);
      assert.deepEqual(cancels, [waitingRun], 'one cancel: the rule run going when the incident resolved');
    } finally {
      release.resolve();
    }
    const onResolve = (await temporal.client.workflow.getHandle(ruleRunWorkflowId(id, onResolveRule, resolve.event.id)).result()) as { ended: string };
    const runs = await runsOf(id);
    assert.equal(onResolve.ended, 'completed', `the run started by the resolve ended '${onResolve.ended}': ${JSON.stringify(runs.map((r) => [r.action_id, r.status]))}`);
    assert.deepEqual(runs.filter((r) => r.rule_id === onResolveRule).map((r) => [r.action_id, r.status]), [['postmortem', 'succeeded'], ['tell', 'succeeded']]);
    assert.equal(runs.find((r) => r.rule_id === waitingRule)?.status, 'cancelled', 'the run going at the resolve was cancelled');
    assert.equal(hits('waits'), 0);
    assert.equal(hits('tell'), 1);
    await eventually(async () => (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).status.name === 'COMPLETED', 60_000, 'the incident run to complete');
  });

  it('a resolve taken in the task that starts the rule run (an alert resolving itself at once): the cancel is sent once the start is confirmed, and reaches the run', async function () {
    const svc = newServiceId();
    const service = { id: svc, type: 'service_reference', summary: 's' };
    const ruleId = await rule('flap', svc);
    const id = newIncidentId();
    const first = trigger(id, svc);
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:00:05Z', data: { service } });
    // Both deliveries are in the history before any worker polls: the first task takes both events, so it
    // starts the rule run and resolves the incident together.
    const taskQueue = `test-flap-${id.toLowerCase()}`;
    await signalIncident(temporal, taskQueue, id, messageOf(first), { lingerSeconds: 1 });
    await signalIncident(temporal, taskQueue, id, messageOf(resolve), { lingerSeconds: 1 });
    workers.push(await startTestWorker({ temporal, db, extractors, taskQueue }));
    const ruleRun = ruleRunWorkflowId(id, ruleId, first.event.id);
    await eventually(async () => (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).status.name === 'COMPLETED', 60_000, 'the incident run to complete');
    const history = await historyOf(incidentWorkflowId(id));
    const at = (type: string) => history.findIndex((e) => typeOf(e) === type);
    // Before: Temporal refused the task ("Start and RequestCancel for child workflow is not allowed in same
    // workflow task"), and the task tried again found both events taken, so no rule run was ever started.
    assert.equal(at('EVENT_TYPE_WORKFLOW_TASK_FAILED'), -1, 'no task was refused');
    const started = at('EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED');
    const cancelSent = at('EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED');
    assert.ok(started >= 0 && cancelSent >= 0, history.map(typeOf).join(' '));
    assert.ok(cancelSent > started, `the cancel was sent before the server confirmed the start: ${history.map(typeOf).join(' ')}`);
    assert.equal(at('EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED'), -1, 'the cancel found the run');
    assert.ok(at('EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED') > cancelSent, 'and was delivered');
    // The run with its patch marker replays against the code (no recorded history can hold this task: the
    // recorder's worker polls before both deliveries are in).
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).fetchHistory()), incidentWorkflowId(id));
    await temporal.client.workflow.getHandle(ruleRun).result();
    // The action may have been done before the cancel reached it (recorded as it ended) or stopped before
    // its call: what the row says is what the peer saw.
    const [fix] = await runsOf(id);
    assert.equal(hits('flap'), fix?.status === 'succeeded' ? 1 : 0, JSON.stringify(fix));
    // Before, the match stayed recorded `run` with the target's lease held until it expired.
    const leases = await db.db.selectFrom('target_leases').select(['released_at']).where('incident_id', '=', id).execute();
    assert.ok(leases.length === 1 && leases[0]!.released_at !== null, `the lease is released: ${JSON.stringify(leases)}`);
  });

  it('a flapping alert: the resolve stored before the first action is claimed, its cancel not landed yet → the action never runs', async function () {
    // The window between the resolve's triage (status stored) and its cancellation reaching the rule run:
    // the resolve's triage is held after it stored the status, and the claim waits for that. Before, the
    // claim took the action and the peer got the call for an alert already gone. A rule that keeps running
    // after a resolve (cancelOnResolve: false) is untouched.
    const svc = newServiceId();
    const cancelled = await rule('flap-claim', svc);
    const kept = await insertRule(db.db, {
      name: `race-flap-keep-${svc.toLowerCase()}`,
      services: [svc],
      policies: { cancelOnResolve: false },
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${peer.url}/hook/flap-keep`, body: '{}' }],
    });
    const stored = deferred();
    const release = deferred();
    const w = await worker((real) => ({
      async triageIncidentEvent(input) {
        const result = await real.triageIncidentEvent(input);
        if (input.message.eventType === 'incident.resolved') {
          stored.resolve();
          await release.promise;
        }
        return result;
      },
      async claimAction(input) {
        await stored.promise;
        return real.claimAction(input);
      },
    }));
    const id = newIncidentId();
    const first = trigger(id, svc);
    await signalIncident(temporal, w.taskQueue, id, messageOf(first), { lingerSeconds: 1 });
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:01:00Z', data: { title: '[web-1] is down', service: { id: svc, type: 'service_reference', summary: 's' } } });
    await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), { lingerSeconds: 1 });
    await stored.promise;
    // Both rule runs finish their action while the cancel is held back.
    const runs = await finished(id, 2);
    release.resolve();
    const of = (ruleId: string) => runs.find((r) => r.rule_id === ruleId);
    assert.equal(hits('flap-claim'), 0, 'the resolved alert was not acted on');
    assert.deepEqual([of(cancelled)?.status, of(cancelled)?.error, of(cancelled)?.started_at], ['cancelled', 'not run: the incident resolved before the action started', null]);
    assert.equal(hits('flap-keep'), 1, 'the rule that outlives a resolve still ran');
    assert.equal(of(kept)?.status, 'succeeded');
  });

  it('a resolve landing while a skip is being recorded: every later action still gets its row, none runs', async function () {
    // The cancellation used to interrupt the skip's local activity, and the run ended there: the actions
    // after it had no row at all. From revision 3 the bookkeeping finishes and the cancel is seen next.
    const svc = newServiceId();
    const ruleId = await insertRule(db.db, {
      name: `race-skip-${svc.toLowerCase()}`,
      services: [svc],
      actions: [
        { id: 'ok', type: 'notify.webhook', url: `${peer.url}/hook/skip-ok`, body: '{}' },
        { id: 'onfail', when: 'failure', type: 'notify.webhook', url: `${peer.url}/hook/skip-onfail`, body: '{}' },
        { id: 'after', when: 'always', type: 'notify.webhook', url: `${peer.url}/hook/skip-after`, body: '{}' },
      ],
    });
    // A rule whose skipped action is its last: the run still ends `cancelled` (nothing left to mark).
    const lastRuleId = await insertRule(db.db, {
      name: `race-skip-last-${svc.toLowerCase()}`,
      services: [svc],
      actions: [
        { id: 'ok', type: 'notify.webhook', url: `${peer.url}/hook/skip-last-ok`, body: '{}' },
        { id: 'onfail', when: 'failure', type: 'notify.webhook', url: `${peer.url}/hook/skip-last-onfail`, body: '{}' },
      ],
    });
    const entered = deferred();
    const release = deferred();
    const w = await worker((real) => ({
      async recordActionSkipped(input) {
        entered.resolve();
        await release.promise;
        return real.recordActionSkipped(input);
      },
    }));
    const id = newIncidentId();
    const first = trigger(id, svc);
    await signalIncident(temporal, w.taskQueue, id, messageOf(first), { lingerSeconds: 1 });
    await entered.promise;
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:01:00Z', data: { title: '[web-1] is down', service: { id: svc, type: 'service_reference', summary: 's' } } });
    await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), { lingerSeconds: 1 });
    // The cancel has reached the rule run while its skip is still being recorded.
    const ruleRun = ruleRunWorkflowId(id, ruleId, first.event.id);
    const lastRun = ruleRunWorkflowId(id, lastRuleId, first.event.id);
    for (const wf of [ruleRun, lastRun]) {
      await eventually(async () => (await historyOf(wf)).some((e) => typeOf(e) === 'EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED') || undefined, 30_000, `the cancel to reach ${wf}`);
    }
    release.resolve();
    const runs = (await finished(id, 5)).filter((r) => r.rule_id === ruleId);
    assert.deepEqual(
      runs.map((r) => [r.action_id, r.status]),
      [
        ['ok', 'succeeded'],
        ['onfail', 'skipped'],
        ['after', 'skipped'],
      ],
    );
    assert.match(runs[2]!.reason ?? '', /cancelled when the incident resolved/);
    assert.deepEqual([hits('skip-ok'), hits('skip-onfail'), hits('skip-after')], [1, 0, 0]);
    const ended = async (wf: string) => ((await temporal.client.workflow.getHandle(wf).result()) as { ended: string }).ended;
    assert.deepEqual([await ended(ruleRun), await ended(lastRun)], ['cancelled', 'cancelled']);
  });

  const resolveDuringStart = (gated: boolean) =>
    async function () {
      // The start step committed (the row running, started at) and the cancel reached the run before its
      // answer did: the side effect is never scheduled in a cancelled scope. Before, the row kept its start,
      // and a fix that never ran counted in the fleet guards and host flapping for their whole window.
      const svc = newServiceId();
      const step = gated ? 'startApprovedAction' : 'claimAction';
      await insertRule(db.db, {
        name: `race-${gated ? 'approved' : 'claimed'}-fix-${svc.toLowerCase()}`,
        services: [svc],
        actions: [
          { id: 'fix', type: 'pagerduty.acknowledge', ...(gated ? { approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' as const } } : {}) },
          { id: 'after', type: 'pagerduty.resolve', when: 'always' },
        ],
      });
      const entered = deferred();
      const release = deferred();
      const w = await worker((real) => ({
        [step]: async (input: { actionRunId: string }) => {
          const answer = await (real[step] as (i: unknown) => Promise<unknown>)(input);
          if (input.actionRunId.includes(':fix:')) {
            entered.resolve();
            await release.promise;
          }
          return answer;
        },
      }));
      const id = newIncidentId();
      const first = trigger(id, svc, `fix-${gated ? 'a' : 'c'}`);
      await signalIncident(temporal, w.taskQueue, id, messageOf(first), { lingerSeconds: 1 });
      if (gated) {
        const waiting = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, 'the fix awaiting approval');
        await db.db.updateTable('action_runs').set({ approval: JSON.stringify({ decision: 'approve', actor: 'token:approver', at: new Date().toISOString() }) }).where('id', '=', waiting.id).execute();
        await temporal.client.workflow.getHandle(waiting.workflow_id!).signal(SIGNALS.approval, { actionRunId: waiting.id });
      }
      await entered.promise;
      const started = (await runsOf(id))[0]!;
      assert.deepEqual([started.status, started.started_at !== null], ['running', true], 'the start step committed');
      const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:01:00Z', data: { title: 'x', service: { id: svc, type: 'service_reference', summary: 's' } } });
      await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), { lingerSeconds: 1 });
      const ruleRun = started.workflow_id!;
      await eventually(async () => (await historyOf(ruleRun)).some((e) => typeOf(e) === 'EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED') || undefined, 30_000, 'the cancel to reach the rule run');
      release.resolve();
      const runs = await finished(id, 2);
      assert.deepEqual(
        runs.map((r) => [r.action_id, r.status, r.started_at]),
        [
          ['fix', 'cancelled', null],
          ['after', 'skipped', null],
        ],
      );
      assert.deepEqual(((await temporal.client.workflow.getHandle(ruleRun).result()) as { ended: string }).ended, 'cancelled');
      const counted = await db.db.selectFrom('remediations').select(['released_at']).where('incident_id', '=', id).execute();
      assert.equal(counted.length, 1, 'the fix was counted when planned');
      assert.notEqual(counted[0]!.released_at, null, 'a fix that never ran no longer counts in the guards');
    };
  it('a resolve landing while a fix is claimed: it never runs, is recorded never started, and stops counting in the guards', resolveDuringStart(false));
  it('a resolve landing while a fix is started after its approval: it never runs, is recorded never started, and stops counting in the guards', resolveDuringStart(true));
});
