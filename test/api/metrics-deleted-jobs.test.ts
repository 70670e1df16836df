// /metrics labels three job series by job id (selfheal_job_runs_total, selfheal_job_runs_in_progress and the
// selfheal_job_run_duration_seconds histogram: 13 buckets + +Inf + _sum + _count per job). A rule's series
// leave with the rule (src/metrics.ts keeps only offsets of live rules), but job series were read from every
// job_runs row and every metric_offsets row, deleted jobs included, and job ids are never reused: each job
// ever created, run and deleted (POST /api/jobs, a backfill, DELETE, by any `write` token) left its series in
// every scrape for good, carried by the offsets once its runs were purged.
import assert from 'node:assert/strict';
import { purgeHistoryBefore } from '../../src/db/repositories/retention.js';
import { inTransaction } from '../../src/db/repositories/transactions.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const DAY = 86_400_000;

describe('a deleted job leaves /metrics, and its metric offsets with a deleted rule\'s', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  async function job(id: string, deleted: boolean, runs: { status: string; at: Date; seconds?: number }[]): Promise<void> {
    await db.db
      .insertInto('jobs')
      .values({ id, name: id, definition: JSON.stringify({ name: id }), enabled: !deleted, schedule_id: `job-${id}`, deleted_at: deleted ? new Date() : null, created_at: runs[0]!.at, updated_at: new Date() } as never)
      .execute();
    for (const [i, r] of runs.entries()) {
      const finished = r.seconds === undefined ? null : new Date(r.at.getTime() + r.seconds * 1000);
      await db.db.insertInto('job_runs').values({ id: `${id}-run-${i}`, job_id: id, trigger: 'backfill', status: r.status, started_at: r.at, finished_at: finished } as never).execute();
    }
  }

  it('the series of jobs deleted, their runs purged or not, are not rendered; a live job keeps its own, purged runs included', async function () {
    const old = new Date(Date.now() - 100 * DAY);
    const purged = ['churn-1', 'churn-2', 'churn-3'];
    for (const id of purged) await job(id, true, [{ status: 'succeeded', at: old, seconds: 5 }]);
    // Deleted, its runs not yet past the retention (one still going).
    await job('churn-recent', true, [{ status: 'failed', at: new Date(), seconds: 2 }, { status: 'running', at: new Date() }]);
    await job('live', false, [{ status: 'succeeded', at: old, seconds: 5 }, { status: 'succeeded', at: new Date(), seconds: 5 }, { status: 'running', at: new Date() }]);
    // The default retention (90 days) purges the old runs: their counts move to metric_offsets.
    await inTransaction(db.db, (trx) => purgeHistoryBefore(trx, new Date(Date.now() - 90 * DAY), 1000));
    assert.equal((await db.db.selectFrom('job_runs').select('id').where('job_id', 'in', [...purged, 'live']).where('started_at', '<', new Date(Date.now() - DAY)).execute()).length, 0);

    const metrics = createMetrics({ db: db.db, temporal: {} as never, namespace: 'default', logger: createLogger({ level: 'silent' }), processMetrics: false });
    await metrics.render();
    await metrics.settled();
    const text = await metrics.render();
    const deleted = [...purged, 'churn-recent'];
    const lines = text.split('\n').filter((l) => deleted.some((id) => l.includes(`job="${id}"`)));
    assert.equal(lines.length, 0, `${lines.length} series of deleted jobs are still rendered, e.g.\n${lines.slice(0, 4).join('\n')}`);
    assert.match(text, /^selfheal_job_runs_total\{job="live",status="succeeded"\} 2$/m, 'the live job counts its purged run too');
    assert.match(text, /^selfheal_job_run_duration_seconds_count\{job="live"\} 2$/m);
    assert.match(text, /^selfheal_job_runs_in_progress\{job="live"\} 1$/m);
    // The fleet-wide series are not per job: every run still counts there.
    assert.match(text, /^selfheal_workflows_started_total\{kind="job"\} 8$/m);
  });

  it('the purge deletes the metric offsets of deleted rules and jobs; those of live ones and the fleet-wide ones stay', async function () {
    // Before, a deleted rule's or job's offsets stayed in metric_offsets for good: no scrape read them (its
    // series left with it) and ids are never reused, so every rule and job ever deleted kept its rows.
    const rule = async (id: string, deleted: boolean) =>
      db.db.insertInto('rules').values({ id, name: id, version: 1, definition: JSON.stringify({ name: id }), deleted_at: deleted ? new Date() : null } as never).execute();
    await rule('rule-gone', true);
    await rule('rule-live', false);
    await job('job-gone', true, [{ status: 'succeeded', at: new Date(), seconds: 1 }]);
    await job('job-live', false, [{ status: 'succeeded', at: new Date(), seconds: 1 }]);
    const offsets: { metric: string; labels: Record<string, string> }[] = [
      { metric: 'selfheal_rule_runs_total', labels: { rule_id: 'rule-gone' } },
      { metric: 'selfheal_rule_runs_verified_total', labels: { rule_id: 'rule-gone' } },
      { metric: 'selfheal_rule_runs_total', labels: { rule_id: 'rule-live' } },
      { metric: 'selfheal_rule_runs_total', labels: { rule_id: 'rule-never-stored' } },
      { metric: 'selfheal_job_runs_total', labels: { job: 'job-gone', status: 'succeeded' } },
      { metric: 'selfheal_job_run_duration_seconds_bucket', labels: { job: 'job-gone', le: '5' } },
      { metric: 'selfheal_job_runs_total', labels: { job: 'job-live', status: 'succeeded' } },
      { metric: 'selfheal_rule_matches_total', labels: { decision: 'run' } },
    ];
    for (const o of offsets) {
      await db.db
        .insertInto('metric_offsets')
        .values({ metric: o.metric, labels: JSON.stringify(o.labels), value: 3 } as never)
        .onConflict((oc) => oc.columns(['metric', 'labels']).doUpdateSet({ value: 3 }))
        .execute();
    }
    await inTransaction(db.db, (trx) => purgeHistoryBefore(trx, new Date(Date.now() - 90 * DAY), 1000));
    const left = await db.db.selectFrom('metric_offsets').select(['metric', 'labels']).execute();
    const key = (labels: unknown) => JSON.stringify(Object.entries(labels as Record<string, string>).sort());
    const has = (o: { metric: string; labels: Record<string, string> }) => left.some((r) => r.metric === o.metric && key(r.labels) === key(o.labels));
    assert.deepEqual(
      offsets.filter(has).map((o) => `${o.metric} ${JSON.stringify(o.labels)}`),
      [
        'selfheal_rule_runs_total {"rule_id":"rule-live"}',
        'selfheal_job_runs_total {"job":"job-live","status":"succeeded"}',
        'selfheal_rule_matches_total {"decision":"run"}',
      ],
    );
    // What the first case left for its deleted jobs went too; the live job's own offsets stay.
    assert.ok(!left.some((r) => ['churn-1', 'churn-2', 'churn-3'].includes((r.labels as Record<string, string>).job ?? '')), JSON.stringify(left));
    assert.ok(left.some((r) => (r.labels as Record<string, string>).job === 'live'));
  });
});
