import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Worker } from '@temporalio/worker';
import { MAX_WEBHOOK_BYTES } from '../../src/api/body.js';
import { createLogger } from '../../src/logger.js';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import { buildMainWorker } from '../../src/worker.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// Events for one incident that arrive while no worker takes them (a worker restart, a deploy, an outage;
// PagerDuty redelivering after one) reach the incident workflow's next task together, and the run takes
// them one after the other, each triage a local activity. Before, all of them went into that one workflow
// task: each event's triage result (a marker) and its rule runs' starts carry the rule's template context
// (up to 256 KiB each, the event in it), and a dozen events of the webhook's 256 KiB made the task's
// completion past Temporal's 4 MB ("GRPC Message too large"): the task failed, was tried again the same
// way for ever, and the incident took none of them, nor any later event.
describe('fault: a burst of large events for one incident delivered while the worker is down', function () {
  this.timeout(300_000);
  let stack: Stack;
  let hook: HttpPeer;
  let restarted: { worker: Worker; running: Promise<void> } | undefined;

  before(async function () {
    hook = await startHttpPeer([{ method: 'POST', path: '/hook', handle: () => ({ status: 204 }) }]);
    stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' } });
  });
  after(async function () {
    if (restarted?.worker.getState() === 'RUNNING') restarted.worker.shutdown();
    await restarted?.running.catch(() => undefined);
    await stack?.stop();
    await hook?.close();
  });

  /** A PagerDuty event for the incident of about `bytes` (the padding in strings a template field holds whole). */
  function largeEvent(sample: string, id: string, serviceId: string, occurredAt: Date, bytes: number) {
    const padding: Record<string, string> = {};
    const chunk = 60 * 1024;
    for (let i = 0; i * chunk < bytes; i++) padding[`part${i}`] = `${i}`.padEnd(Math.min(chunk, bytes - i * chunk), 'x');
    return sampleFor(sample, id, { occurredAt: occurredAt.toISOString(), data: { service: { id: serviceId, type: 'service_reference', summary: 'svc' }, padding } });
  }

  it('takes every event, runs the rule for each, and fails no workflow task (a trigger and 11 priority updates of 240 KiB)', async function () {
    const serviceId = newServiceId();
    const ruleId = await insertRule(stack.db.db, {
      name: `burst-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      eventTypes: ['incident.triggered', 'incident.priority_updated'],
      actions: [{ id: 'hook', type: 'notify.webhook', url: `${hook.url}/hook`, body: '{"incident": "{{ incident.id }}", "event": "{{ event.id }}"}' }],
    });
    const id = newIncidentId();

    stack.worker.shutdown();
    await eventually(async () => stack.worker.getState() === 'STOPPED', 60_000, 'the worker stopped');

    const start = Date.now() - 60_000;
    const bodies = [largeEvent('v3-incident.triggered-01.json', id, serviceId, new Date(start), 240 * 1024)];
    for (let i = 1; i < 12; i++) bodies.push(largeEvent('v3-incident.priority_updated-01.json', id, serviceId, new Date(start + i * 1000), 240 * 1024));
    for (const body of bodies) {
      const bytes = Buffer.byteLength(JSON.stringify(body));
      assert.ok(bytes <= MAX_WEBHOOK_BYTES && bytes > 200 * 1024, `${bytes} bytes: large, within the webhook's bound`);
      assert.equal((await stack.deliver(body)).status, 202);
    }

    const worker = await buildMainWorker({ config: stack.config, db: stack.db.db, logger: createLogger({ level: 'silent' }), connection: stack.temporal.nativeConnection, extractors: {} });
    restarted = { worker, running: worker.run() };

    const handle = stack.temporal.client.workflow.getHandle(incidentWorkflowId(id));
    const failedTasks = async () => {
      const history = await handle.fetchHistory();
      return (history.events ?? [])
        .filter((e) => e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes)
        .map((e) => e.workflowTaskFailedEventAttributes?.failure?.message ?? 'workflow task timed out');
    };
    const eventIds = bodies.map((b) => b.event.id);
    const called = () => new Set(hook.requests.filter((r) => r.rawBody.includes(id)).map((r) => (JSON.parse(r.rawBody) as { event: string }).event));
    // Either every event's rule run called the hook, or a workflow task of the incident failed (it then fails for ever).
    await eventually(async () => called().size === eventIds.length || (await failedTasks()).length > 0, 180_000, 'every event acted on, or a failed workflow task');

    assert.deepEqual(await failedTasks(), [], 'no workflow task of the incident failed');
    const stored = await stack.db.db.selectFrom('incident_events').select('event_id').where('incident_id', '=', id).execute();
    assert.deepEqual(stored.map((e) => e.event_id).sort(), [...eventIds].sort(), 'every accepted event stored');
    assert.deepEqual([...called()].sort(), [...eventIds].sort(), 'the rule ran once for each event');
    const matches = await stack.db.db.selectFrom('rule_matches').select('decision').where('incident_id', '=', id).where('rule_id', '=', ruleId).execute();
    assert.deepEqual(matches.map((m) => m.decision), Array(eventIds.length).fill('run'));
  });
});
