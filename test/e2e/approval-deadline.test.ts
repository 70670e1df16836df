import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Worker } from '@temporalio/worker';
import { createLogger } from '../../src/logger.js';
import { buildMainWorker } from '../../src/worker.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

// The deadline of an approval is Postgres', not only a timer in the rule run. With the workers down (or far
// behind) at the deadline, the run has not recorded its onTimeout yet; before, the API still took an
// approval then (202), and the action ran when the run woke, though its notice said decisions stopped at
// the deadline and the rule said reject. Now a decision after the deadline is refused 409, saying what
// onTimeout does, and the run, woken, records its onTimeout: nothing reaches the action's peer.
describe('an approval after its deadline, the workers down', function () {
  this.timeout(240_000);
  let stack: Stack;
  let hook: HttpPeer;
  let bob: string;
  let restarted: { worker: Worker; running: Promise<void> } | undefined;

  before(async function () {
    hook = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: () => ({ status: 204 }) }]);
    stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' }, extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] } });
    bob = await issueToken(stack, 'bob', ['write']);
  });
  after(async function () {
    if (restarted?.worker.getState() === 'RUNNING') restarted.worker.shutdown();
    await restarted?.running.catch(() => undefined);
    await stack?.stop();
    await hook?.close();
  });

  const hits = (name: string) => hook.requests.filter((r) => r.path === `/hook/${name}`).length;
  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).execute();

  it('is refused 409 saying the approval expired and onTimeout: reject; the run, woken, rejects and the action never reaches its peer', async function () {
    const svc = newServiceId();
    await insertRule(
      stack.db.db,
      {
        name: `deadline-${randomUUID().slice(0, 6)}`,
        services: [svc],
        actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/deadline`, body: '{}', approval: { required: true, timeoutMinutes: 1, onTimeout: 'reject' } }],
      },
      { author: 'token:alice' },
    );
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: '[db-1] replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } }))).status, 202);
    const run = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, 'the action awaiting approval');
    // The rule run waits on its deadline timer; then every worker goes down.
    await eventually(
      async () => ((await stack.temporal.client.workflow.getHandle(run.workflow_id!).fetchHistory()).events ?? []).some((e) => e.timerStartedEventAttributes),
      30_000,
      'the rule run waiting on its deadline',
    );
    stack.worker.shutdown();
    await eventually(async () => stack.worker.getState() === 'STOPPED', 30_000, 'the worker stopped');

    const { rows } = await sql<{ left: number }>`select extract(epoch from approval_deadline - now()) * 1000 as left from action_runs where id = ${run.id}`.execute(stack.db.db);
    await new Promise((r) => setTimeout(r, Math.max(0, Number(rows[0]?.left ?? 60_000)) + 1500));

    const approve = await stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(run.id)}`, { method: 'POST', headers: { authorization: `Bearer ${bob}` }, body: JSON.stringify({ decision: 'approve' }) });
    assert.equal(approve.status, 409, 'an approval after the deadline is refused');
    assert.equal(approve.headers.get('content-type'), 'application/problem+json');
    const problem = (await approve.json()) as { detail: string; onTimeout: string; status: unknown; actionRunStatus: string };
    // The problem's own status stays the HTTP one; the run's is an extension member beside it.
    assert.deepEqual([problem.status, problem.actionRunStatus], [409, 'awaiting_approval']);
    assert.match(problem.detail, /^the approval of action run .* expired at .*: it can no longer be approved or rejected; its rule says onTimeout: reject, recorded when its rule run wakes, so it does not run$/);
    assert.equal(problem.onTimeout, 'reject');
    assert.equal((await runsOf(id))[0]!.approval, null, 'nothing recorded');

    // The workers come back: the run records its onTimeout and the action never runs.
    const worker = await buildMainWorker({ config: stack.config, db: stack.db.db, logger: createLogger({ level: 'silent' }), connection: stack.temporal.nativeConnection, extractors: {} });
    restarted = { worker, running: worker.run() };
    const rejected = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'rejected'), 60_000, 'the run to record its onTimeout');
    assert.deepEqual(rejected.approval && { decision: (rejected.approval as { decision: string }).decision, actor: (rejected.approval as { actor: string }).actor }, { decision: 'reject', actor: 'timeout' });
    assert.equal(hits('deadline'), 0, 'the action never reached its peer');
  });
});
