// For tests that call the job activities themselves against Postgres and a real Temporal, as a run's
// workflow calls them: a test database with one environment, the API app over it (jobs are saved through
// it, their schedules created in Temporal), and the runs' workflows held in Temporal on a task queue
// nothing polls (a run started on it stays open until terminated).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { jobScheduleId } from '../../src/temporal/names.js';
import { adminApi, type AdminApi } from './admin-api.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { testTemporal } from './temporal.js';

export interface JobRunsSuite {
  /** Set once the suite's `before` ran. */
  readonly client: Client;
  readonly t: TestDatabase;
  readonly api: AdminApi;
  /** Of this suite's names: its environment is `env-<suffix>`, its jobs' names end in `-<suffix>`. */
  readonly suffix: string;
  /** Workflow ids the test started in Temporal: terminated after the suite. */
  readonly open: string[];
  /**
   * Saves job `<name>-<suffix>` through the API (its schedule `schedule` with `overlap`, its one target the
   * suite's environment) and answers its id; with `paused`, its schedule in Temporal starts nothing while
   * the test looks (the job stays enabled). Its schedule is deleted after the suite.
   */
  createJob(name: string, overlap: string, opts?: { schedule?: { interval: string } | { cron: string } | undefined; paused?: boolean }): Promise<string>;
}

/** Sets the suite up in the calling describe block's hooks, its runs on task queue `taskQueue`. */
export function jobRunsSuite(taskQueue: string): JobRunsSuite {
  let client: Client | undefined;
  let t: TestDatabase | undefined;
  let api: AdminApi | undefined;
  const suffix = randomBytes(3).toString('hex');
  const ids: string[] = [];
  const open: string[] = [];
  const ready = <T>(v: T | undefined): T => {
    assert.ok(v !== undefined, 'the suite has not been set up yet');
    return v;
  };

  before(async function () {
    client = (await testTemporal()).client;
    t = await createTestDatabase();
    api = adminApi(t, client, taskQueue);
    await t.db.insertInto('environments').values({ name: `env-${suffix}`, labels: '{}', agent_task_queue: null, maintenance_windows: '[]', ssh: null }).execute();
  });
  after(async function () {
    for (const id of open) await client?.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    for (const id of ids) await client?.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    await t?.close();
  });

  return {
    get client() {
      return ready(client);
    },
    get t() {
      return ready(t);
    },
    get api() {
      return ready(api);
    },
    suffix,
    open,
    async createJob(name, overlap, opts = {}) {
      const res = await ready(api)('POST', '/api/jobs', { name: `${name}-${suffix}`, schedule: { ...(opts.schedule ?? { interval: '1h' }), overlap }, targets: { environments: [`env-${suffix}`] }, script: 'probe.sh' });
      assert.equal(res.status, 201, await res.clone().text());
      const { id } = (await res.json()) as { id: string };
      ids.push(id);
      if (opts.paused) await ready(client).schedule.getHandle(jobScheduleId(id)).pause('test: runs are started by hand');
      return id;
    },
  };
}
