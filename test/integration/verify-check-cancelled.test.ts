import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { messageOf, signalIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// A merge into another incident is no proof (workflows/verify.ts): the resolve it brings cancels the rule
// run, and the check is asked once more. When that cancellation stopped a check while it ran, the check was
// taken as run and failed, and the wait went on to its next delay: after `within`, there was none, so the
// check was never asked again and the run was unverified on a check that never finished (patch
// verify-check-cancel-ends-wait-v1: the cancellation now ends the wait as one during a delay does).
describe('verification: a check stopped by the cancellation is no failed check', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let main: TestWorker;
  let agent: Worker;
  let agentRun: Promise<void>;
  const env = `vcc-${randomUUID().slice(0, 6)}`;
  const checks: string[] = [];

  before(async function () {
    this.timeout(60_000);
    temporal = await testTemporal();
    db = await createTestDatabase();
    main = await startTestWorker({ temporal, db, extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\] (?<environment>[a-z0-9-]+):' }] } });
    // A local agent peer: the fix succeeds; the first check runs until it is cancelled, the next one passes.
    agent = await Worker.create({
      connection: temporal.nativeConnection,
      namespace: 'default',
      taskQueue: agentTaskQueue(env),
      activities: {
        agentPresent: async () => ({ present: true }),
        runAgentScript: async (input: { script: string; context?: { incidentId?: string } }) => {
          if (input.script !== 'check.sh') return { exitCode: 0, outputExcerpt: 'fixed' };
          checks.push(input.context?.incidentId ?? '');
          if (checks.length > 1) return { exitCode: 0, outputExcerpt: 'healthy' };
          const ctx = Context.current();
          const beat = setInterval(() => ctx.heartbeat(), 200);
          try {
            return await ctx.cancelled;
          } finally {
            clearInterval(beat);
          }
        },
      },
    });
    agentRun = agent.run();
    await db.db.insertInto('environments').values({ name: env, labels: '{}', agent_task_queue: agentTaskQueue(env), maintenance_windows: '[]', ssh: null }).execute();
  });

  after(async function () {
    this.timeout(30_000);
    agent?.shutdown();
    await agentRun?.catch(() => undefined);
    await main?.stop();
  });

  it('a merge landing after within while the check runs: the check asked once more decides (before: unverified, the cancelled check taken as failed)', async function () {
    this.timeout(90_000);
    const svc = newServiceId();
    await insertRule(db.db, {
      name: `vcc-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh' }],
      verify: { within: '3s', settle: '1s', check: { type: 'script.agent', script: 'check.sh' } },
    } as RuleInputDocument);
    const id = newIncidentId();
    const data = { title: `[web-1] ${env}: down`, service: { id: svc, type: 'service_reference', summary: 's' } };
    await signalIncident(temporal, main.taskQueue, id, messageOf(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-09-01T10:00:00Z', data })), { lingerSeconds: 1 });
    await eventually(async () => (checks.length === 1 ? true : undefined), 30_000, 'the check running');
    // Past `within` (3 s from the end of the actions), the check still running.
    await new Promise((r) => setTimeout(r, 4000));
    const merge = { ...data, resolve_reason: { type: 'merge_resolve_reason', incident: { id: 'PMERGEDINTO', type: 'incident_reference' } } };
    await signalIncident(temporal, main.taskQueue, id, messageOf(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-09-01T10:02:00Z', data: merge })), { lingerSeconds: 1 });
    const m = await eventually(async () => {
      const row = await db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).executeTakeFirst();
      return row?.verification && row.verification !== 'pending' ? row : undefined;
    }, 60_000, 'the verification settled');
    assert.equal(m.verification, 'verified', `${m.verification}: ${m.verification_detail}`);
    assert.equal(m.verification_detail, 'check check.sh exited 0 (run 2)');
    assert.equal(checks.length, 2);
  });
});
