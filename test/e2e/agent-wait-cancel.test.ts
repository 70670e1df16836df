import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { HOST_ENVIRONMENT_TITLE, registerEnvironment } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// An agent script is queued only once an agent on its queue has answered (rule-run revision 4): until then
// it waits, up to minutes, with its claim's start time already written. A resolve landing in that wait
// cancels a fix that was never queued: it is recorded with no start time and stops counting in the fleet
// guards and host flapping. Before, it kept its start and counted as a fix that ran for the whole window.
describe('a fix cancelled while it waits for its Doctor agent', function () {
  let stack: Stack;
  const env = `wait-${randomUUID().slice(0, 6)}`;

  before(async function () {
    stack = await startStack({ extractors: HOST_ENVIRONMENT_TITLE });
    // The environment's agent never polls its queue: the script waits for one to answer.
    await registerEnvironment(stack, env);
  });
  after(async function () {
    await stack?.stop();
  });

  it('is recorded cancelled with no start time, never reached a queue, and no longer counts in the guards', async function () {
    const svc = newServiceId();
    await insertRule(stack.db.db, { name: `wait-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh' }] } as RuleInputDocument);
    const id = newIncidentId();
    const data = { title: `[web-1] ${env}: down`, service: { id: svc, type: 'service_reference', summary: 's' } };
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data, occurredAt: '2026-08-01T10:00:00Z' }))).status, 202);
    const runsOf = () => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).execute();
    const claimed = await eventually(async () => (await runsOf()).find((r) => r.status === 'running'), 30_000, 'the fix claimed, waiting for its agent');
    assert.notEqual(claimed.started_at, null, 'the claim wrote a start time');
    // Still waiting: the rule run asks the queue whether an agent is there, and nobody answers.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await runsOf())[0]!.status, 'running');
    assert.equal((await stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { data: { service: data.service }, occurredAt: '2026-08-01T10:05:00Z' }))).status, 202);
    const [run] = await eventually(async () => {
      const r = await runsOf();
      return r.length === 1 && r[0]!.finished_at ? r : undefined;
    }, 30_000, 'the fix recorded');
    assert.deepEqual([run!.status, run!.started_at], ['cancelled', null], 'cancelled before it was queued: it never started');
    const counted = await stack.db.db.selectFrom('remediations').select(['released_at']).where('incident_id', '=', id).execute();
    assert.equal(counted.length, 1, 'the fix was counted when planned');
    assert.notEqual(counted[0]!.released_at, null, 'a fix that never reached its host no longer counts in the guards');
  });
});
