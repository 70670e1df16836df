import assert from 'node:assert/strict';
import { ScheduleNotFoundError } from '@temporalio/client';
import { sql } from 'kysely';
import { HISTORY_WATERMARK } from '../../src/db/repositories/backtests.js';
import { ruleRunWorkflowId } from '../../src/temporal/names.js';
import { ensureRetentionSchedule, retentionScheduleId } from '../../src/temporal/retention.js';
import { buildHistory, eventsOf, storeHistory, storeRecordedMatch, type SeededEvent, type SeededIncident } from '../helpers/history.js';
import { startHttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// Retention: the worker's system schedule purges incident events, rule matches and action runs older than
// SELFHEAL_RETENTION_DAYS in bounded batches, never a run still going, and records how far back the
// history is whole — which the backtest then says.
describe('history retention (Temporal Schedule selfheal-history-retention)', function () {
  this.timeout(300_000);
  let stack: Stack;
  const DAY = 86_400_000;
  let old: SeededIncident[];
  let recent: SeededIncident[];
  /** The old events given a finished run. */
  let finishedOld: SeededEvent[];
  let ruleId: string;
  /** This stack's retention schedule (its task queue names it). */
  const scheduleId = () => retentionScheduleId(stack.taskQueue);

  before(async function () {
    stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' } });
  });
  after(async function () {
    await stack.temporal.client.schedule
      .getHandle(scheduleId())
      .delete()
      .catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
    await stack?.stop();
  });

  async function seed(prefix: string): Promise<void> {
    await stack.db.truncate();
    old = buildHistory({ incidents: 30, from: new Date(Date.now() - 120 * DAY), hours: 5 * 24, prefix: `${prefix}O`, seed: 7 });
    recent = buildHistory({ incidents: 20, from: new Date(Date.now() - 10 * DAY), hours: 24, prefix: `${prefix}N`, seed: 8 });
    await storeHistory(stack.db.db, [...old, ...recent]);
    const created = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify({ name: `r-${prefix.toLowerCase()}`, actions: [{ type: 'pagerduty.note', content: 'x' }] }) });
    assert.equal(created.status, 201);
    ruleId = ((await created.json()) as { id: string }).id;
    const finishedRun = (e: { incidentId: string; eventId: string; at: Date }, finished: boolean) =>
      storeRecordedMatch(stack.db.db, { incidentId: e.incidentId, eventId: e.eventId, ruleId, decision: 'run', matchedAt: e.at, actions: [{ status: finished ? 'succeeded' : 'running', finishedAt: finished ? new Date(e.at.getTime() + 1000) : null }] });
    const oldEvents = eventsOf(old);
    // The first 12 old events, and two later ones of incidents still open (kept whole, their runs included).
    const open = new Set(old.filter((i) => i.status !== 'resolved').map((i) => i.id));
    finishedOld = [...oldEvents.slice(0, 12), ...oldEvents.slice(21).filter((e) => open.has(e.incidentId)).slice(0, 2)];
    for (const e of finishedOld) await finishedRun(e, true);
    await finishedRun(oldEvents[20]!, false); // still running: kept, with its match and incident
    for (const e of eventsOf(recent).slice(0, 5)) await finishedRun(e, true);
  }

  /**
   * Of the old history, what the purge takes: the events of resolved incidents, and the finished runs (with
   * their matches) of theirs; the old incidents it keeps: those not resolved (whole, their matches and runs
   * included), and the one whose run still goes.
   */
  const purgeable = () => {
    const running = eventsOf(old)[20]!.incidentId;
    const resolved = new Set(old.filter((i) => i.status === 'resolved').map((i) => i.id));
    return {
      purgedEvents: eventsOf(old.filter((i) => i.status === 'resolved')).length,
      purgedRuns: finishedOld.filter((e) => resolved.has(e.incidentId)).length,
      keptOld: old.filter((i) => i.status !== 'resolved' || i.id === running),
    };
  };

  const counts = async () => {
    const q = (table: string) => sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(stack.db.db).then((r) => r.rows[0]!.n);
    return { events: await q('incident_events'), matches: await q('rule_matches'), actionRuns: await q('action_runs'), incidents: await q('incidents') };
  };

  it('the worker’s schedule is created once, then updated to the configuration, with its paused state and note kept', async function () {
    const client = stack.temporal.client;
    const handle = client.schedule.getHandle(scheduleId());
    const first = await ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 90, batchSize: 7 });
    assert.ok(first === 'created' || first === 'updated' || first === 'unchanged');
    // A restart with the same configuration writes nothing.
    assert.equal(await ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 90, batchSize: 7 }), 'unchanged');
    // An operator pauses it while workers restart: no restart may undo the pause or its note. Temporal
    // applies both to the schedule's own workflow, and an update (a whole-schedule write from an earlier
    // read) sent around the pause would carry `paused: false` over it; a schedule already in line is not
    // written at all. Five rounds of a pause racing two restarts.
    for (let round = 0; round < 5; round++) {
      await handle.unpause('round');
      await eventually(async () => !(await handle.describe()).state.paused, 20_000, 'unpaused');
      const ensured = await Promise.all([
        ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 90, batchSize: 7 }),
        handle.pause(`maintenance ${round}`),
        ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 90, batchSize: 7 }),
      ]);
      assert.deepEqual([ensured[0], ensured[2]], ['unchanged', 'unchanged']);
      await new Promise((r) => setTimeout(r, 300));
      const d = await handle.describe();
      assert.equal(d.state.paused, true, `round ${round}: the pause was undone`);
      assert.equal(d.state.note, `maintenance ${round}`, `round ${round}: the operator's note`);
    }
    // What makes that hold whatever the timing: a restart with the same configuration writes nothing at
    // all (the time of the schedule's last update, none since its creation or the last change, stays).
    const stamp = (await handle.describe()).info.lastUpdatedAt?.getTime();
    assert.equal(await ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 90, batchSize: 7 }), 'unchanged');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await handle.describe()).info.lastUpdatedAt?.getTime(), stamp, 'a restart wrote the schedule');
    // A changed configuration is written, and carries the pause and the operator's note over.
    assert.equal(await ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 30, batchSize: 7 }), 'updated');
    const d = await handle.describe();
    assert.equal(d.state.paused, true, 'a paused schedule stays paused');
    assert.equal(d.state.note, 'maintenance 4', "the operator's reason for the pause is kept");
    assert.equal(d.action.type, 'startWorkflow');
    assert.equal(d.action.workflowType, 'retentionWorkflow');
    assert.equal(d.action.taskQueue, stack.taskQueue);
    assert.deepEqual(d.action.args, [{ retentionDays: 30, batchSize: 7, maxBatches: 200 }]);
    assert.deepEqual(d.spec.intervals?.map((i) => i.every), [3_600_000]);
    assert.equal(await ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 30, batchSize: 7 }), 'unchanged');
    const ids: string[] = [];
    for await (const s of client.schedule.list()) if (s.scheduleId === scheduleId()) ids.push(s.scheduleId);
    assert.deepEqual(ids, [scheduleId()]);
    // Unpaused, an update writes the configuration's own note.
    await handle.unpause();
    await eventually(async () => !(await handle.describe()).state.paused, 20_000, 'unpaused');
    assert.equal(await ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 31, batchSize: 7 }), 'updated');
    await eventually(async () => (await handle.describe()).state.note === 'purges incident history older than 31 days (SELFHEAL_RETENTION_DAYS)', 20_000, 'the configuration’s note');
  });

  it('a pause that reaches Temporal between the read and the write of a changed configuration is kept, with its note, and the configuration still lands', async function () {
    const client = stack.temporal.client;
    const handle = client.schedule.getHandle(scheduleId());
    await ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 40, batchSize: 7 });
    await handle.unpause('race');
    await eventually(async () => !(await handle.describe()).state.paused, 20_000, 'unpaused');
    // The operator's pause lands exactly there: after the worker read the schedule, before its first write.
    let writes = 0;
    const service = new Proxy(client.workflowService, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'updateSchedule' || typeof value !== 'function') return value;
        return async (req: unknown) => {
          if (writes++ === 0) {
            await handle.pause('operator: disk migration');
            await eventually(async () => (await handle.describe()).state.paused, 20_000, 'the pause applied');
          }
          return (value as (r: unknown) => Promise<unknown>).call(target, req);
        };
      },
    });
    const racing = Object.create(client, { workflowService: { value: service } }) as typeof client;
    assert.equal(await ensureRetentionSchedule(racing, { taskQueue: stack.taskQueue, retentionDays: 41, batchSize: 7 }), 'updated');
    assert.equal(writes, 2, 'the write made from the stale read was dropped, and made again from a new read');
    const d = await handle.describe();
    assert.equal(d.state.paused, true, 'the pause was undone');
    assert.equal(d.state.note, 'operator: disk migration');
    assert.equal(d.action.type, 'startWorkflow');
    assert.deepEqual(d.action.args, [{ retentionDays: 41, batchSize: 7, maxBatches: 200 }]);
    assert.equal(await ensureRetentionSchedule(client, { taskQueue: stack.taskQueue, retentionDays: 41, batchSize: 7 }), 'unchanged', 'what it wrote is in line');
    await handle.unpause('done');
  });

  it('a run of the schedule purges what is older than the retention in batches, keeps runs still going, and sets the watermark', async function () {
    await seed('S');
    const before = await counts();
    await ensureRetentionSchedule(stack.temporal.client, { taskQueue: stack.taskQueue, retentionDays: 90, batchSize: 7 });
    const started = Date.now();
    await stack.temporal.client.schedule.getHandle(scheduleId()).trigger();
    const { purgedEvents, purgedRuns, keptOld } = purgeable();
    assert.ok(keptOld.length > 1 && purgedEvents > 0, 'the seed has old incidents both open and resolved');
    assert.ok(purgedRuns > 0 && purgedRuns < finishedOld.length, 'the seed has finished old runs of incidents both open and resolved');
    const after = await eventually(async () => {
      const c = await counts();
      return c.events === before.events - purgedEvents ? c : undefined;
    }, 120_000, 'old events purged');
    // An old incident not resolved is kept whole (its workflow still waits for the resolve), as is the one
    // whose run still goes.
    await eventually(async () => (await counts()).incidents === recent.length + keptOld.length, 60_000, 'old incidents purged');
    assert.equal(after.events, eventsOf(recent).length + eventsOf(old.filter((i) => i.status !== 'resolved')).length);
    // Of the old matches and runs only the one still running and those of incidents still open are left;
    // every recent one is kept.
    const keptRuns = finishedOld.length - purgedRuns + 1 + 5;
    await eventually(async () => (await counts()).matches === keptRuns, 60_000, 'old matches purged');
    assert.equal((await counts()).actionRuns, keptRuns);
    const kept = await stack.db.db.selectFrom('action_runs').select(['status', 'incident_id']).where('status', '=', 'running').executeTakeFirstOrThrow();
    assert.equal((await stack.db.db.selectFrom('incidents').select('id').where('id', '=', kept.incident_id).executeTakeFirst())?.id, kept.incident_id);
    // Every batch moves the watermark, the last one (which finds nothing more) included: read it once the
    // run has finished, or the backtest below may see a later one.
    await eventually(async () => ((await stack.temporal.client.schedule.getHandle(scheduleId()).describe()).info.runningActions.length === 0 ? true : undefined), 60_000, 'the retention run finished');
    const mark = await stack.db.db.selectFrom('retention_watermarks').selectAll().where('name', '=', HISTORY_WATERMARK).executeTakeFirstOrThrow();
    const expected = started - 90 * DAY;
    assert.ok(Math.abs(mark.purged_before.getTime() - expected) < 120_000, `watermark ${mark.purged_before.toISOString()}`);

    // The backtest says what it no longer has.
    const bt = await stack.api('/api/rules/backtest', { method: 'POST', body: JSON.stringify({ ruleId, since: '120d', limit: 1 }) });
    assert.equal(bt.status, 200);
    const summary = ((await bt.json()) as { summary: { retention: { clamped: boolean; purgedBefore: string; note: string } } }).summary;
    assert.equal(summary.retention.clamped, true);
    assert.equal(summary.retention.purgedBefore, mark.purged_before.toISOString());
  });

  it('deletes in bounded batches: each batch at most batchSize rows per table', async function () {
    // The schedule's run of the test before may still be going (a later batch, slow under load): it purged
    // this test's seed too, and the counts below came out one incident short. Paused, and none going.
    const client = stack.temporal.client;
    await client.schedule.getHandle(scheduleId()).pause('test: runs started by hand here').catch((err: unknown) => {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    });
    await eventually(
      async () => {
        for await (const _ of client.workflow.list({ query: `WorkflowType = 'retentionWorkflow' AND TaskQueue = '${stack.taskQueue}' AND ExecutionStatus = 'Running'` })) return undefined;
        return true;
      },
      60_000,
      'no retention run going',
    );
    await seed('B');
    const result = (await stack.temporal.client.workflow.execute('retentionWorkflow', {
      taskQueue: stack.taskQueue,
      workflowId: `retention-test-${Date.now()}`,
      args: [{ retentionDays: 90, batchSize: 3, maxBatches: 100 }],
    })) as { batches: number; deleted: { events: number; matches: number; actionRuns: number; incidents: number }; more: boolean };
    const { purgedEvents, purgedRuns, keptOld } = purgeable();
    assert.deepEqual(result.deleted, { events: purgedEvents, parkedEvents: 0, matches: purgedRuns, actionRuns: purgedRuns, incidents: old.length - keptOld.length, remediations: 0, alerts: 0, approvalLinks: 0, jobRuns: 0, sideEffects: 0, pagerDutyWrites: 0, leases: 0, backtests: 0 });
    assert.equal(result.more, false);
    assert.ok(result.batches >= Math.ceil(purgedEvents / 3), `${result.batches} batches for ${purgedEvents} events`);
    // maxBatches bounds a run: the next scheduled run goes on.
    await seed('M');
    const bounded = (await stack.temporal.client.workflow.execute('retentionWorkflow', {
      taskQueue: stack.taskQueue,
      workflowId: `retention-test-bounded-${Date.now()}`,
      args: [{ retentionDays: 90, batchSize: 3, maxBatches: 2 }],
    })) as { batches: number; deleted: { events: number }; more: boolean };
    assert.deepEqual([bounded.batches, bounded.deleted.events, bounded.more], [2, 6, true]);
  });

  it('purges the guards’ bookkeeping, expired approval links, finished job runs, the side-effect ledger and the PagerDuty writes log too, never within a guard window, a run going, a page still owed nor a side effect in flight', async function () {
    const db = stack.db.db;
    const at = (days: number) => new Date(Date.now() - days * DAY);
    const key = `bk-${Date.now()}`;
    await db
      .insertInto('remediations')
      .values([
        { match_id: `${Date.now()}1`, rule_id: key, incident_id: 'old', target: 'h1', environment: null, actions: 1, at: at(100) },
        { match_id: `${Date.now()}2`, rule_id: key, incident_id: 'recent', target: 'h2', environment: null, actions: 1, at: at(3) },
      ])
      .execute();
    await db
      .insertInto('automation_alerts')
      .values([
        { kind: 'guard', incident_id: 'old', target: key, text: 'sent long ago', page: true, created_at: at(100), sent_at: at(100) },
        { kind: 'guard', incident_id: 'old', target: key, text: 'still owed', page: true, created_at: at(100) },
      ])
      .execute();
    await db
      .insertInto('approval_links')
      .values([
        { token_hash: `${key}-old`, action_run_id: key, decision: 'approve', created_at: at(100), expires_at: at(100) },
        { token_hash: `${key}-live`, action_run_id: key, decision: 'reject', expires_at: new Date(Date.now() + DAY) },
      ])
      .execute();
    // Job runs (with their per-target results), the side-effect ledger and the PagerDuty writes log used to
    // grow forever: one row per action, notice and write.
    await db
      .insertInto('job_runs')
      .values([
        { id: `${key}-old`, job_id: key, trigger: 'schedule', status: 'succeeded', started_at: at(100), finished_at: at(100) },
        { id: `${key}-stuck`, job_id: key, trigger: 'schedule', status: 'running', started_at: at(100) },
        { id: `${key}-recent`, job_id: key, trigger: 'manual', status: 'failed', started_at: at(0.5), finished_at: at(0.5) },
      ])
      .execute();
    await db
      .insertInto('job_target_results')
      .values(['old', 'stuck', 'recent'].flatMap((r) => ['env-a', 'env-b'].map((environment) => ({ job_run_id: `${key}-${r}`, environment, via: 'agent', status: 'succeeded' }))))
      .execute();
    await db
      .insertInto('side_effects')
      .values([
        { key: `${key}-old`, incident_id: null, kind: 'notify.slack', state: 'done', first_attempt_at: at(100), updated_at: at(100) },
        { key: `${key}-in-flight`, incident_id: null, kind: 'notify.slack', state: 'attempting', first_attempt_at: at(100), updated_at: at(100), in_flight_until: new Date(Date.now() + DAY) },
        { key: `${key}-week`, incident_id: null, kind: 'notify.slack', state: 'done', first_attempt_at: at(3), updated_at: at(3) },
      ])
      .execute();
    await db
      .insertInto('pagerduty_writes')
      .values([
        { incident_id: `${key}-old`, kind: 'status', event_type: 'incident.resolved', value: 'resolved', state: 'done', started_at: at(100) },
        { incident_id: `${key}-week`, kind: 'status', event_type: 'incident.resolved', value: 'resolved', state: 'done', started_at: at(3) },
      ])
      .execute();
    // Per-target leases (what cooldown and concurrency count) grew forever too: one per run on a target.
    await db
      .insertInto('target_leases')
      .values([
        { target: 'released-long-ago', rule_id: key, match_id: `${Date.now()}11`, incident_id: 'old', acquired_at: at(100), expires_at: at(99), released_at: at(100) },
        { target: 'expired-long-ago', rule_id: key, match_id: `${Date.now()}12`, incident_id: 'old', acquired_at: at(100), expires_at: at(99) },
        { target: 'still-held', rule_id: key, match_id: `${Date.now()}13`, incident_id: 'old', acquired_at: at(100), expires_at: new Date(Date.now() + DAY) },
        { target: 'in-cooldown-window', rule_id: key, match_id: `${Date.now()}14`, incident_id: 'recent', acquired_at: at(3), expires_at: at(3), released_at: at(3) },
      ])
      .execute();
    // Backtests attached to rule versions: summaries of the history purged with them.
    const btRule = await insertRule(db, { name: `bt-${key}`, actions: [{ id: 'note', type: 'pagerduty.note', content: 'x' }] });
    await db
      .insertInto('rule_backtests')
      .values([
        { rule_id: btRule, version: 1, actor: 'old', window_from: at(130), window_to: at(100), summary: JSON.stringify({}), created_at: at(100) },
        { rule_id: btRule, version: 1, actor: 'recent', window_from: at(30), window_to: at(0.1), summary: JSON.stringify({}), created_at: at(0.1) },
      ])
      .execute();
    // A retention of one day still keeps the guards' last week: their windows reach back that far.
    const result = (await stack.temporal.client.workflow.execute('retentionWorkflow', {
      taskQueue: stack.taskQueue,
      workflowId: `retention-test-bookkeeping-${Date.now()}`,
      args: [{ retentionDays: 1, batchSize: 50, maxBatches: 100 }],
    })) as { deleted: { remediations: number; alerts: number; approvalLinks: number; jobRuns: number; sideEffects: number; pagerDutyWrites: number; leases: number; backtests: number } };
    assert.deepEqual([result.deleted.remediations, result.deleted.alerts, result.deleted.approvalLinks, result.deleted.leases, result.deleted.backtests], [1, 1, 1, 2, 1]);
    assert.ok(result.deleted.jobRuns >= 1 && result.deleted.sideEffects >= 1 && result.deleted.pagerDutyWrites >= 1, JSON.stringify(result.deleted));
    assert.deepEqual((await db.selectFrom('job_runs').select('id').where('job_id', '=', key).orderBy('id').execute()).map((r) => r.id), [`${key}-recent`, `${key}-stuck`], 'a run still going is kept');
    assert.deepEqual(
      (await db.selectFrom('job_target_results').select('job_run_id').where('job_run_id', 'like', `${key}-%`).orderBy('job_run_id').execute()).map((r) => r.job_run_id),
      [`${key}-recent`, `${key}-recent`, `${key}-stuck`, `${key}-stuck`],
      'the purged run takes its per-target results with it',
    );
    assert.deepEqual((await db.selectFrom('side_effects').select('key').where('key', 'like', `${key}-%`).orderBy('key').execute()).map((r) => r.key), [`${key}-in-flight`, `${key}-week`]);
    assert.deepEqual((await db.selectFrom('pagerduty_writes').select('incident_id').where('incident_id', 'like', `${key}-%`).execute()).map((r) => r.incident_id), [`${key}-week`]);
    assert.deepEqual((await db.selectFrom('remediations').select('target').where('rule_id', '=', key).execute()).map((r) => r.target), ['h2']);
    assert.deepEqual((await db.selectFrom('automation_alerts').select('text').where('target', '=', key).execute()).map((r) => r.text), ['still owed']);
    assert.deepEqual((await db.selectFrom('approval_links').select('token_hash').where('action_run_id', '=', key).execute()).map((r) => r.token_hash), [`${key}-live`]);
    assert.deepEqual((await db.selectFrom('rule_backtests').select('actor').where('rule_id', '=', btRule).execute()).map((r) => r.actor), ['recent']);
    assert.deepEqual((await db.selectFrom('target_leases').select('target').where('rule_id', '=', key).orderBy('target').execute()).map((r) => r.target), ['in-cooldown-window', 'still-held']);
  });

  it('a retention shorter than a rule’s rate-limit window keeps the runs the limit counts: the next incident is still held back', async function () {
    // Before, the purge took the `run` matches past the retention, and a rule limited to one run a week ran
    // again two days later, once a retention of one day had passed over its first run.
    const hook = await startHttpPeer([{ method: 'POST', path: /^\/fix$/, handle: () => ({ status: 204 }) }]);
    try {
      const svc = newServiceId();
      const ruleId = await insertRule(stack.db.db, {
        name: `weekly-${svc.toLowerCase()}`,
        services: [svc],
        policies: { rateLimit: { max: 1, windowSeconds: 7 * 24 * 3600 } },
        actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/fix`, body: '{"incident": "{{ incident.id }}"}' }],
      });
      const incident = async () => {
        const id = newIncidentId();
        const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { service: { id: svc, type: 'service_reference', summary: 's' } } });
        assert.equal((await stack.deliver(body)).status, 202);
        return eventually(async () => (await stack.db.db.selectFrom('rule_matches').select(['decision', 'skip_reason']).where('incident_id', '=', id).where('rule_id', '=', ruleId).executeTakeFirst()) ?? false, 60_000, `${id} matched`).then((m) => ({ id, eventId: body.event.id, ...m }));
      };
      const first = await incident();
      assert.equal(first.decision, 'run');
      // The rule run is over (started after its match is recorded): nothing of it is written after the purge.
      const ruleRun = stack.temporal.client.workflow.getHandle(ruleRunWorkflowId(first.id, ruleId, first.eventId));
      await eventually(async () => (await ruleRun.describe().catch(() => undefined))?.status.name === 'COMPLETED', 60_000, 'the first rule run completed');
      assert.ok((await stack.db.db.selectFrom('action_runs').select('finished_at').where('incident_id', '=', first.id).executeTakeFirstOrThrow()).finished_at);
      // The incident is resolved (an open one is kept whole, its runs included); two days pass; the retention
      // of one day purges what it may.
      const resolve = sampleFor('v3-incident.resolved-01.json', first.id, { occurredAt: new Date().toISOString(), data: { service: { id: svc, type: 'service_reference', summary: 's' } } });
      assert.equal((await stack.deliver(resolve)).status, 202);
      await eventually(async () => (await stack.db.db.selectFrom('incidents').select('status').where('id', '=', first.id).executeTakeFirst())?.status === 'resolved', 60_000, 'the first incident resolved');
      const twoDaysAgo = new Date(Date.now() - 2 * DAY);
      await stack.db.db.updateTable('rule_matches').set({ matched_at: twoDaysAgo }).where('incident_id', '=', first.id).execute();
      await stack.db.db.updateTable('action_runs').set({ created_at: twoDaysAgo }).where('incident_id', '=', first.id).execute();
      await stack.db.db.updateTable('incident_events').set({ received_at: twoDaysAgo, occurred_at: twoDaysAgo }).where('incident_id', '=', first.id).execute();
      await stack.temporal.client.workflow.execute('retentionWorkflow', { taskQueue: stack.taskQueue, workflowId: `retention-test-rate-${Date.now()}`, args: [{ retentionDays: 1, batchSize: 50, maxBatches: 100 }] });
      const left = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', first.id).execute();
      assert.deepEqual(left, [], 'the purge took the first run');

      const second = await incident();
      assert.deepEqual([second.decision, second.skip_reason?.startsWith('rate limit')], ['skipped', true], JSON.stringify(second));
      await new Promise((r) => setTimeout(r, 2000));
      assert.deepEqual(
        hook.requests.map((r) => (r.json as { incident: string }).incident),
        [first.id],
        'the fix ran once in the week',
      );
    } finally {
      await hook.close();
    }
  });
});
