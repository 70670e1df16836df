import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { ScheduleOptions } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { stubScheduleClient } from '../helpers/schedule-stub.js';

const ADMIN = 'job-targets-registered-admin-token-0123456789';

describe('jobs API: an explicit target must be a registered environment of the job\'s team', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const { temporal } = stubScheduleClient();
  const schedules = (temporal as unknown as { schedule: { create: (o: ScheduleOptions) => Promise<unknown> } }).schedule;
  const create = schedules.create;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  afterEach(() => {
    schedules.create = create;
  });
  after(async () => db?.close());

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> & { detail?: string; errors?: { path: string; message: string }[] } };
  };
  const job = (name: string, environments: string[]) => ({ name, schedule: { interval: '1h' }, targets: { environments }, script: 'probe.sh' });
  const liveJobsNaming = async (env: string) =>
    (await db.db.selectFrom('jobs').select('id').where('deleted_at', 'is', null).where(sql<boolean>`definition->'targets'->'environments' ? ${env}`).execute()).map((r) => r.id);

  // `selfheal apply` refused it, the API stored it: every run then failed that target as "not registered".
  it('a job naming an environment that is not registered is refused (400 naming it), and no job is stored', async function () {
    assert.equal((await call('POST', '/api/environments', { name: 'reg-known' })).status, 201);
    const res = await call('POST', '/api/jobs', job('names a ghost', ['reg-known', 'reg-ghost']));
    assert.equal(res.status, 400, JSON.stringify(res.body));
    const entry = res.body.errors?.find((e) => e.path === 'targets.environments');
    assert.ok(entry && /reg-ghost is not registered/.test(entry.message), JSON.stringify(res.body));
    assert.ok(!entry.message.includes('reg-known'), entry.message);
    assert.deepEqual(await liveJobsNaming('reg-ghost'), []);

    const ok = await call('POST', '/api/jobs', job('names a ghost', ['reg-known']));
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const put = await call('PUT', `/api/jobs/${String(ok.body.id)}`, job('names a ghost', ['reg-known', 'reg-ghost']));
    assert.equal(put.status, 400, JSON.stringify(put.body));
  });

  // A job saved while its environment was being deleted: the delete looked for jobs naming it before the
  // job committed, and the job was stored naming an environment that no longer existed.
  it('an environment deleted while a job naming it is being saved is either kept (409) or the job refused, never both', async function () {
    assert.equal((await call('POST', '/api/environments', { name: 'reg-racing' })).status, 201);
    // The job save's last step is the schedule's creation in Temporal: hold it there, its transaction open.
    let entered!: () => void;
    const inSave = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    schedules.create = async (o) => {
      entered();
      await gate;
      return create(o);
    };
    const saving = call('POST', '/api/jobs', job('races a delete', ['reg-racing']));
    await inSave;
    const deleting = call('DELETE', '/api/environments/reg-racing');
    // Either the delete ends while the save is held, or it waits on a lock the save holds.
    let settled = false;
    const waiting = (async () => {
      while (!settled) {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`.execute(db.db);
        if (rows[0]!.n > 0) return 'waiting' as const;
        await new Promise((r) => setTimeout(r, 20));
      }
      return 'deleted' as const;
    })();
    const first = await Promise.race([deleting.then(() => 'deleted' as const), waiting]);
    settled = true;
    await waiting;
    release();
    const [saved, deleted] = await Promise.all([saving, deleting]);
    const envLeft = await db.db.selectFrom('environments').select('name').where('name', '=', 'reg-racing').executeTakeFirst();
    const naming = await liveJobsNaming('reg-racing');
    assert.ok(!(naming.length > 0 && envLeft === undefined), `a live job (${naming.join(', ')}) names the deleted environment; save ${saved.status}, delete ${deleted.status}, the delete ${first} first`);
    assert.equal(first, 'waiting', 'the delete waits for the save holding its environment');
    assert.equal(saved.status, 201, JSON.stringify(saved.body));
    assert.equal(deleted.status, 409, JSON.stringify(deleted.body));
    assert.match(deleted.body.detail ?? '', /target of job races-a-delete/);
  });
});
