import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { parseRuleInput, MAX_VERIFY_PASSES, type RuleInputDocument } from '../../src/domain/rules/schema.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { adminApi } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { messageOf, signalIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// Verification waits in the rule run's own history: every pass adds a timer, a workflow task, a Postgres
// read and the check's activity to it, and the run never continues as new. A rule could ask for
// `within: 24h, settle: 1s` (86,400 passes): the run hit Temporal's 51,200-event limit after about 2.4 h
// and was terminated (no onUnverified, verification left pending, the breaker never counting it). Now the
// schema refuses more than MAX_VERIFY_PASSES passes, naming `settle`, and the rule run raises the settle of
// a rule stored before that (or of a default settle) to within / MAX_VERIFY_PASSES.
describe('verification: a bounded number of passes in the rule run history', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let main: TestWorker;
  let agent: Worker;
  let agentRun: Promise<void>;
  const env = `vh-${randomUUID().slice(0, 6)}`;
  const checks: string[] = [];

  before(async function () {
    this.timeout(60_000);
    temporal = await testTemporal();
    db = await createTestDatabase();
    main = await startTestWorker({ temporal, db, extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\] (?<environment>[a-z0-9-]+):' }] } });
    // A local agent peer: the fix succeeds, the check never does (each run of it is counted).
    agent = await Worker.create({
      connection: temporal.nativeConnection,
      namespace: 'default',
      taskQueue: agentTaskQueue(env),
      activities: {
        runAgentScript: async (input: { script: string; context?: { incidentId?: string } }) => {
          if (input.script !== 'check.sh') return { exitCode: 0, outputExcerpt: 'fixed' };
          checks.push(input.context?.incidentId ?? '');
          return { exitCode: 1, outputExcerpt: 'still broken' };
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

  const doc = (svc: string, verify: Record<string, unknown>): RuleInputDocument =>
    ({
      name: `vh-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh' }],
      verify: { check: { type: 'script.agent', script: 'check.sh' }, ...verify },
    }) as RuleInputDocument;

  /** Store a rule as the API would have before the bound: validated with a valid settle, then given `settle`. */
  async function storeBefore(svc: string, within: string, settle: string): Promise<string> {
    const parsed = parseRuleInput(doc(svc, { within }));
    assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.issues));
    const definition = JSON.stringify({ ...parsed.value, verify: { ...(parsed.value as { verify: object }).verify, settle } });
    const id = `r-${randomUUID()}`;
    await db.db.insertInto('rules').values({ id, name: parsed.value.name, version: 1, enabled: true, definition }).execute();
    await db.db.insertInto('rule_versions').values({ rule_id: id, version: 1, definition, change: 'create', actor: 'token:rule-author' }).execute();
    return id;
  }

  async function trigger(svc: string, status: 'triggered' | 'resolved', id = newIncidentId()): Promise<string> {
    const [sample, occurredAt] = status === 'triggered' ? ['v3-incident.triggered-01.json', '2026-09-01T10:00:00Z'] : ['v3-incident.resolved-01.json', '2026-09-01T10:02:00Z'];
    await signalIncident(temporal, main.taskQueue, id, messageOf(sampleFor(sample, id, { occurredAt, data: { title: `[web-1] ${env}: down`, service: { id: svc, type: 'service_reference', summary: 's' } } })), { lingerSeconds: 1 });
    return id;
  }

  const matchOf = (incidentId: string, verification: string) =>
    eventually(async () => {
      const m = await db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', incidentId).executeTakeFirst();
      return m?.verification === verification ? m : undefined;
    }, 60_000, `verification ${verification} of ${incidentId}`);
  const ruleRunOf = async (incidentId: string) =>
    temporal.client.workflow.getHandle(
      (await eventually(() => db.db.selectFrom('action_runs').select('workflow_id').where('incident_id', '=', incidentId).where('workflow_id', 'is not', null).executeTakeFirst(), 60_000, 'the rule run')).workflow_id!,
    );
  const seconds = (d: proto.api.history.v1.ITimerStartedEventAttributes['startToFireTimeout']) => Number(d?.seconds ?? 0) + (d?.nanos ?? 0) / 1e9;

  it('refuses a rule whose within / settle makes more passes than the bound, naming settle (400 from the API)', async function () {
    const issues = (verify: Record<string, unknown>) => {
      const r = parseRuleInput(doc('PVH0001', verify));
      return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
    };
    assert.deepEqual(issues({ within: '24h', settle: '1s' }), [`verify.settle: at most ${MAX_VERIFY_PASSES} checks per verification: settle must be at least within / ${MAX_VERIFY_PASSES} (173 s for 24h)`]);
    assert.deepEqual(issues({ within: '24h', settle: '173s' }), []);
    assert.deepEqual(issues({ within: `${MAX_VERIFY_PASSES}s`, settle: '1s' }), []);
    assert.equal(issues({ within: `${MAX_VERIFY_PASSES + 1}s`, settle: '1s' }).length, 1);
    // Without settle the default applies (a tenth of within, at most 60 s), raised by the run when needed.
    assert.deepEqual(issues({ within: '24h' }), []);

    const res = await adminApi(db, temporal.client, main.taskQueue)('POST', '/api/rules', doc(newServiceId(), { within: '24h', settle: '1s' }));
    assert.equal(res.status, 400);
    const problem = (await res.json()) as { errors?: { path: string; message: string }[] };
    assert.deepEqual(problem.errors?.map((e) => e.path), ['verify.settle']);
  });

  it('a rule stored before the bound (within 24h, settle 1s) waits within / MAX per pass: at most MAX passes', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    await storeBefore(svc, '24h', '1s');
    const id = await trigger(svc, 'triggered');
    await matchOf(id, 'pending');
    const handle = await ruleRunOf(id);
    // The verification's first wait: the rule run's last timer once it waits (its actions are done).
    const timer = await eventually(async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      const last = events.at(-1);
      return last?.timerStartedEventAttributes ? last.timerStartedEventAttributes : undefined;
    }, 30_000, 'the verification timer');
    const settle = seconds(timer.startToFireTimeout);
    assert.ok(Math.ceil(86_400 / settle) <= MAX_VERIFY_PASSES, `each pass waits ${settle} s: ${Math.ceil(86_400 / settle)} passes in 24 h`);
    // The resolve ends it: verified, without a check having run yet.
    await trigger(svc, 'resolved', id);
    const m = await matchOf(id, 'verified');
    assert.match(m.verification_detail ?? '', /^incident\.resolved at /);
    assert.equal(checks.filter((c) => c === id).length, 0);
  });
});
