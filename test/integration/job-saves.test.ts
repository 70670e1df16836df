// Saving a job against a real Temporal: what the schema accepts, Temporal is given in a form it takes, and
// two saves racing for one name end as a job and a 409, never a 500. Found in review: a catch-up window of
// two units ("1h30m", which the schema accepts as it accepts such an interval) reached the SDK as text its
// duration parser refuses, and every save of it answered 503 "Temporal is unavailable" while Temporal was
// up; and the name's clash check runs under the job id's lock, so two creates with one name and two ids
// both passed it, and the loser hit the unique index as a 500.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ScheduleNotFoundError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { jobDefinitionSchema } from '../../src/domain/jobs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { startManualJobRun } from '../../src/temporal/schedules.js';
import { adminApi, type AdminApi } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testTemporal } from '../helpers/temporal.js';

const TASK_QUEUE = 'job-saves';

describe('jobs API against Temporal: what is saved is scheduled, and races end in a 409', function () {
  this.timeout(120_000);
  let client: Client;
  let t: TestDatabase;
  let api: AdminApi;
  const sfx = randomBytes(3).toString('hex');
  const made: string[] = [];
  const job = (id: string, schedule: Record<string, unknown>, name = id) => ({ id, name, schedule, targets: { all: true }, script: 'probe.sh' });

  before(async function () {
    const temporal = await testTemporal();
    client = temporal.client;
    t = await createTestDatabase();
    // The API's own client (native, lazyTemporalClient): Temporal's refusals reach it in another shape than
    // through grpc-js, and a check that matched only one of them missed the API's.
    api = adminApi(t, temporal.apiClient, TASK_QUEUE);
  });
  after(async function () {
    for (const id of made) await client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    await t?.close();
  });

  it('a catch-up window of several units ("1h30m") is scheduled as such, on create and on update', async function () {
    const id = `catchup-${sfx}`;
    made.push(id);
    const created = await api('POST', '/api/jobs', job(id, { interval: '1h', catchupWindow: '1h30m' }));
    assert.equal(created.status, 201, await created.clone().text());
    const h = client.schedule.getHandle(jobScheduleId(id));
    assert.equal((await h.describe()).policies.catchupWindow, 90 * 60_000);
    const updated = await api('PUT', `/api/jobs/${id}`, job(id, { interval: '1h', catchupWindow: '2h15m30s' }));
    assert.equal(updated.status, 200, await updated.clone().text());
    assert.equal((await h.describe()).policies.catchupWindow, (2 * 3600 + 15 * 60 + 30) * 1000);
  });

  it('two jobs created at once with one name: one job, the other a 409 naming name, and no schedule for it', async function () {
    for (let i = 0; i < 8; i++) {
      const name = `same-name-${sfx}-${i}`;
      const ids = [`race-a-${sfx}-${i}`, `race-b-${sfx}-${i}`];
      made.push(...ids);
      const answers = await Promise.all(ids.map((id) => api('POST', '/api/jobs', job(id, { interval: '1h' }, name))));
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [201, 409], `attempt ${i}: ${statuses.join(', ')}`);
      const loser = answers.findIndex((a) => a.status === 409);
      const problem = (await answers[loser]!.json()) as { detail: string };
      assert.match(problem.detail, new RegExp(`a job named "${name}" already exists`));
      const rows = await t.db.selectFrom('jobs').select('id').where('name', '=', name).where('deleted_at', 'is', null).execute();
      assert.deepEqual(rows.map((r) => r.id), [ids[1 - loser]]);
      await assert.rejects(client.schedule.getHandle(jobScheduleId(ids[loser]!)).describe(), ScheduleNotFoundError);
    }
  });

  it('a time zone the runtime knows and Temporal does not is a 400 naming schedule.timezone, and nothing is saved', async function () {
    // Node's Intl takes "gmt" and the retired "US/Pacific-New"; Temporal's zone database does not, and the
    // SDK turns its refusal into a plain TypeError: every save of such a job answered 500.
    for (const [i, timezone] of ['gmt', 'US/Pacific-New'].entries()) {
      const id = `zone-${sfx}-${i}`;
      made.push(id);
      const res = await api('POST', '/api/jobs', job(id, { cron: '0 6 * * *', timezone }));
      const body = await res.text();
      assert.equal(res.status, 400, body);
      const problem = JSON.parse(body) as { errors: { path: string; message: string }[] };
      assert.deepEqual(problem.errors.map((e) => e.path), ['schedule.timezone'], body);
      assert.equal((await api('GET', `/api/jobs/${id}`)).status, 404, 'no job row was kept');
      await assert.rejects(client.schedule.getHandle(jobScheduleId(id)).describe(), ScheduleNotFoundError);
    }
    // A zone Intl takes in another case is refused before Temporal is asked, naming the spelling.
    const lower = await api('POST', '/api/jobs', job(`zone-${sfx}-case`, { cron: '0 6 * * *', timezone: 'europe/paris' }));
    const lowerBody = await lower.text();
    assert.equal(lower.status, 400, lowerBody);
    assert.deepEqual((JSON.parse(lowerBody) as { errors: { path: string; message: string }[] }).errors, [{ path: 'schedule.timezone', message: 'must be written as the time zone database does: "Europe/Paris"' }]);
    const id = `zone-${sfx}-put`;
    made.push(id);
    assert.equal((await api('POST', '/api/jobs', job(id, { cron: '0 6 * * *', timezone: 'Europe/Paris' }))).status, 201);
    for (const timezone of ['gmt', 'EUROPE/PARIS']) {
      const res = await api('PUT', `/api/jobs/${id}`, job(id, { cron: '0 6 * * *', timezone }));
      assert.equal(res.status, 400, await res.clone().text());
    }
    const kept = (await (await api('GET', `/api/jobs/${id}`)).json()) as { schedule: { timezone: string } };
    assert.equal(kept.schedule.timezone, 'Europe/Paris', 'the refused update changed nothing');
    assert.equal((await client.schedule.getHandle(jobScheduleId(id)).describe()).spec.timezone, 'Europe/Paris');
  });

  it('two runs asked for by hand in one millisecond are two runs, not a refusal from Temporal', async function () {
    // A paused job's run by hand is started by us, its workflow id named by the millisecond: a second in the
    // same millisecond had the same id, Temporal refused it as already started, and the API answered 503.
    const id = `same-ms-${sfx}`;
    const def = { ...jobDefinitionSchema.parse({ ...job(id, { interval: '1h', overlap: 'allow_all' }) }), id };
    const at = new Date();
    const target = { taskQueue: `${TASK_QUEUE}-nobody`, deploymentId: 'test' };
    const runs = await Promise.all([startManualJobRun(client, def, target, at), startManualJobRun(client, def, target, at)]);
    try {
      assert.notEqual(runs[0], runs[1]);
      for (const r of runs) assert.ok(r.startsWith(`jobrun-${id}-manual-${at.toISOString()}-`), r);
      for (const r of runs) assert.equal((await client.workflow.getHandle(r).describe()).status.name, 'RUNNING');
    } finally {
      for (const r of runs) await client.workflow.getHandle(r).terminate('test over').catch((e: unknown) => assert.ok(e instanceof WorkflowNotFoundError));
    }
  });

  it('renaming two jobs to one name at once: one rename, the other a 409', async function () {
    const ids = [`rename-a-${sfx}`, `rename-b-${sfx}`];
    made.push(...ids);
    for (const id of ids) assert.equal((await api('POST', '/api/jobs', job(id, { interval: '1h' }))).status, 201);
    for (let i = 0; i < 8; i++) {
      const name = `renamed-${sfx}-${i}`;
      const answers = await Promise.all(ids.map((id) => api('PUT', `/api/jobs/${id}`, job(id, { interval: '1h' }, name))));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409], `attempt ${i}`);
    }
  });
});
