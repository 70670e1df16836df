// The blast-radius guard of a trigger: a job's runs in progress (its schedule's and those started by hand)
// are counted in Temporal, and a trigger that would start one past MAX_TRIGGER_RUNS_IN_PROGRESS is answered
// 409 and starts nothing. Before, an allow_all job's trigger started a run each time, ~100 at once for an
// editor at the per-caller rate limit's burst, each on up to 500 targets.
import assert from 'node:assert/strict';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../../src/db/database.js';
import { MAX_TRIGGER_RUNS_IN_PROGRESS } from '../../src/domain/jobs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { adminApi } from '../helpers/admin-api.js';
import { jobRunsSuite } from '../helpers/job-runs-suite.js';

// Nothing polls this queue: a run started on it stays open (in progress) until terminated.
const TASK_QUEUE = 'job-trigger-cap';

describe('a trigger starts no run past the cap of runs in progress per job', function () {
  this.timeout(60_000);
  const suite = jobRunsSuite(TASK_QUEUE);

  /** The job's workflows Temporal lists as running, once it lists `want` (its list lags the starts a little). */
  const runningInTemporal = async (jobId: string, want: number): Promise<string[]> => {
    let ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      ids = [];
      for await (const w of suite.client.workflow.list({ query: `SelfhealJobId = '${jobId}' AND ExecutionStatus = 'Running'` })) ids.push(w.workflowId);
      if (ids.length >= want) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return ids;
  };

  it(`of ${MAX_TRIGGER_RUNS_IN_PROGRESS + 3} triggers at once of an allow_all job with a scheduled run going, ${MAX_TRIGGER_RUNS_IN_PROGRESS - 1} start a run and the rest are answered 409 naming the cap`, async function () {
    const id = await suite.createJob('cap', 'allow_all');
    // A run the schedule started counts too.
    await suite.client.schedule.getHandle(jobScheduleId(id)).trigger();
    const [scheduled] = await runningInTemporal(id, 1);
    assert.ok(scheduled, 'the schedule started a run');
    suite.open.push(scheduled);

    // Bursts of triggers at once, until a burst starts nothing and is refused at the cap: a trigger that finds
    // another one counting is refused at once (409, retry) instead of waiting on the lock with a connection.
    type Answer = { status: number; body: { runId?: string; detail?: string; maxRunsInProgress?: number; runsInProgress?: string[]; retryable?: boolean } };
    const bodies: Answer[] = [];
    for (let burst = 0; burst < 10; burst++) {
      const answers = await Promise.all(Array.from({ length: MAX_TRIGGER_RUNS_IN_PROGRESS + 3 }, () => suite.api('POST', `/api/jobs/${id}/trigger`)));
      const round: Answer[] = await Promise.all(answers.map(async (r) => ({ status: r.status, body: (await r.json()) as Answer['body'] })));
      for (const b of round) if (b.body.runId) suite.open.push(b.body.runId);
      bodies.push(...round);
      if (round.every((b) => b.status === 409) && round.some((b) => b.body.maxRunsInProgress !== undefined)) break;
    }
    const started = bodies.filter((b) => b.status === 202);
    const refused = bodies.filter((b) => b.status === 409 && b.body.maxRunsInProgress !== undefined);
    const busy = bodies.filter((b) => b.status === 409 && b.body.maxRunsInProgress === undefined);
    assert.equal(started.length, MAX_TRIGGER_RUNS_IN_PROGRESS - 1, JSON.stringify(bodies.map((b) => b.status)));
    assert.equal(started.length + refused.length + busy.length, bodies.length, JSON.stringify(bodies));
    assert.ok(refused.length > 0, 'some triggers were refused at the cap');
    for (const b of busy) assert.match(b.body.detail!, /being triggered or changed by another request right now: no run was started; retry/);
    for (const r of refused) {
      assert.match(r.body.detail!, new RegExp(`at most ${MAX_TRIGGER_RUNS_IN_PROGRESS} runs in progress`));
      assert.equal(r.body.maxRunsInProgress, MAX_TRIGGER_RUNS_IN_PROGRESS);
      assert.equal(r.body.runsInProgress!.length, MAX_TRIGGER_RUNS_IN_PROGRESS);
      assert.ok(r.body.runsInProgress!.includes(scheduled), JSON.stringify(r.body));
    }

    // As Temporal sees it: the scheduled run and the ones started, nothing more (waited for, as its list lags).
    await new Promise((r) => setTimeout(r, 1500));
    const running = await runningInTemporal(id, MAX_TRIGGER_RUNS_IN_PROGRESS);
    for (const w of running) if (!suite.open.includes(w)) suite.open.push(w);
    assert.deepEqual([...running].sort(), [scheduled, ...started.map((b) => b.body.runId!)].sort());

    // The refused triggers left no job.trigger entry: the audit names the runs started.
    const audit = await suite.t.db.selectFrom('audit_log').select('after').where('entity_id', '=', id).where('action', '=', 'job.trigger').execute();
    assert.deepEqual(audit.map((a) => (a.after as { runId: string }).runId).sort(), started.map((b) => b.body.runId!).sort());

    // One run ending frees one place.
    await suite.client.workflow.getHandle(started[0]!.body.runId!).terminate('test: a run ends');
    const again = await suite.api('POST', `/api/jobs/${id}/trigger`);
    assert.equal(again.status, 202, await again.clone().text());
    suite.open.push(((await again.json()) as { runId: string }).runId);
    const past = await suite.api('POST', `/api/jobs/${id}/trigger`);
    assert.equal(past.status, 409, await past.clone().text());
  });

  it('on a database pool of one connection (the embedded database of npm start), a trigger is answered 202, not left waiting for a second connection', async function () {
    // The count and the audit entry go through the trigger's own transaction: a second connection taken
    // while it holds the only one would wait for the pool until its timeout.
    const pool = new pg.Pool({ connectionString: suite.t.url, max: 1, connectionTimeoutMillis: 5_000 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    try {
      const api = adminApi({ ...suite.t, db }, suite.client, TASK_QUEUE);
      const id = await suite.createJob('one-pool', 'allow_all');
      const res = await api('POST', `/api/jobs/${id}/trigger`);
      const text = await res.clone().text();
      assert.equal(res.status, 202, text);
      suite.open.push(((await res.json()) as { runId: string }).runId);
    } finally {
      await db.destroy();
    }
  });
});
