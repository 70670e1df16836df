// An environment moved to another team while jobs of its old team name it (docs/security.md, "Environments
// of another team are out of reach"), and how an environment's row is held against a job save: a label edit
// does not wait for a save's Temporal call, a team move does, and then sees the job it saved.
import assert from 'node:assert/strict';
import type { ScheduleOptions } from '@temporalio/client';
import { sql } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { stubScheduleClient } from '../helpers/schedule-stub.js';

const ADMIN = 'environment-team-move-admin-token-0123456789';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('environments API: a team move while jobs of the old team name the environment', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const { temporal } = stubScheduleClient();
  const schedules = (temporal as unknown as { schedule: { create: (o: ScheduleOptions) => Promise<unknown> } }).schedule;
  const create = schedules.create;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
    for (const name of ['move-alpha', 'move-beta']) assert.equal((await call('POST', '/api/teams', { name })).status, 201);
  });
  afterEach(() => {
    schedules.create = create;
  });
  after(async () => db?.close());

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: (text ? JSON.parse(text) : {}) as Doc };
  };
  const job = (name: string, environments: string[], team = 'move-alpha') => ({ name, team, schedule: { interval: '1h' }, targets: { environments }, script: 'probe.sh' });
  const env = (name: string) => db.db.selectFrom('environments').select(['name', 'team', 'labels']).where('name', '=', name).executeTakeFirstOrThrow();
  const auditCount = async (name: string) =>
    (await db.db.selectFrom('audit_log').select('id').where('entity_type', '=', 'environment').where('entity_id', '=', name).execute()).length;

  /**
   * Starts a job save whose last step, the schedule's creation in Temporal, waits until `release` is called:
   * its transaction is open, holding its targets' rows as a save does (FOR KEY SHARE).
   */
  async function heldSave(body: unknown) {
    let entered!: () => void;
    const inSave = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    schedules.create = async (o) => {
      entered();
      await gate;
      return create(o);
    };
    const saving = call('POST', '/api/jobs', body);
    await inSave;
    return { saving, release };
  }

  /** Whether `request` ends by itself ('ended') or some query of this database waits on a lock first ('waiting'). */
  async function endsOrWaits(request: Promise<unknown>): Promise<'ended' | 'waiting'> {
    let settled = false;
    const waiting = (async () => {
      while (!settled) {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`.execute(db.db);
        if (rows[0]!.n > 0) return 'waiting' as const;
        await new Promise((r) => setTimeout(r, 20));
      }
      return 'ended' as const;
    })();
    const first = await Promise.race([request.then(() => 'ended' as const), waiting]);
    settled = true;
    await waiting;
    return first;
  }

  // Before: 200, and job "nightly probe" of alpha named an environment of beta; each of its runs skipped it.
  it('a team move of an environment a job of its team names is refused (409 naming the job), nothing changed; once the job drops it, the move succeeds', async function () {
    assert.equal((await call('POST', '/api/environments', { name: 'move-x', team: 'move-alpha', labels: { tier: 'batch' } })).status, 201);
    assert.equal((await call('POST', '/api/environments', { name: 'move-y', team: 'move-alpha' })).status, 201);
    const saved = await call('POST', '/api/jobs', job('nightly probe', ['move-x', 'move-y']));
    assert.equal(saved.status, 201, JSON.stringify(saved.body));
    const jobId = String(saved.body.id);
    const audits = await auditCount('move-x');

    const moved = await call('PUT', '/api/environments/move-x', { team: 'move-beta', labels: { tier: 'batch' } });
    assert.equal(moved.status, 409, JSON.stringify(moved.body));
    assert.equal(moved.type, 'application/problem+json');
    assert.deepEqual(moved.body.jobs, [jobId]);
    assert.equal(moved.body.jobsTotal, 1);
    assert.equal(moved.body.detail, `environment move-x is a target of job ${jobId} of team move-alpha: change or delete it first, then move it to team move-beta; nothing was changed`);
    assert.deepEqual(await env('move-x'), { name: 'move-x', team: 'move-alpha', labels: { tier: 'batch' } }, 'still in alpha, unchanged');
    assert.equal(await auditCount('move-x'), audits, 'no audit entry for a refused move');
    // The job still reads it as one of its team's: as a user sees it, nothing happened.
    assert.equal((await call('GET', '/api/environments/move-x')).body.team, 'move-alpha');

    // A change within the team is not a move: still allowed.
    assert.equal((await call('PUT', '/api/environments/move-x', { team: 'move-alpha', labels: { tier: 'batch', edited: 'yes' } })).status, 200);

    const edited = await call('PUT', `/api/jobs/${jobId}`, job('nightly probe', ['move-y']));
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    const movedNow = await call('PUT', '/api/environments/move-x', { team: 'move-beta', labels: { tier: 'batch' } });
    assert.equal(movedNow.status, 200, JSON.stringify(movedNow.body));
    assert.equal((await env('move-x')).team, 'move-beta');
  });

  it('the refusal names the first ten jobs and counts them all, for a delete too; once none names it, the move succeeds', async function () {
    for (const name of ['move-many', 'move-many-rest']) assert.equal((await call('POST', '/api/environments', { name, team: 'move-alpha' })).status, 201);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await call('POST', '/api/jobs', job(`many ${String(i).padStart(2, '0')}`, ['move-many']));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids.push(String(res.body.id));
    }
    const moved = await call('PUT', '/api/environments/move-many', { team: 'move-beta' });
    assert.equal(moved.status, 409, JSON.stringify(moved.body));
    assert.equal(moved.body.jobs.length, 10);
    assert.equal(moved.body.jobsTotal, 12);
    assert.match(moved.body.detail, / and 2 more of team move-alpha: /);
    // Delete answers the same way.
    const deleted = await call('DELETE', '/api/environments/move-many');
    assert.equal(deleted.status, 409, JSON.stringify(deleted.body));
    assert.deepEqual(deleted.body.jobs, moved.body.jobs);
    for (const [i, id] of ids.entries()) assert.equal((await call('PUT', `/api/jobs/${id}`, job(`many ${String(i).padStart(2, '0')}`, ['move-many-rest']))).status, 200);
    assert.equal((await call('PUT', '/api/environments/move-many', { team: 'move-beta' })).status, 200);
  });

  // Before: the label edit took FOR UPDATE, which waits for the FOR KEY SHARE a job save holds across its
  // Temporal call (up to 10 s).
  it('a label edit of an environment does not wait for a job save that names it', async function () {
    assert.equal((await call('POST', '/api/environments', { name: 'move-labels', team: 'move-alpha' })).status, 201);
    const { saving, release } = await heldSave(job('held while labels change', ['move-labels']));
    const editing = call('PUT', '/api/environments/move-labels', { team: 'move-alpha', labels: { tier: 'edited' } });
    const first = await endsOrWaits(editing);
    release();
    const [saved, edited] = await Promise.all([saving, editing]);
    assert.equal(first, 'ended', 'the label edit waited on a lock the job save holds');
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(saved.status, 201, JSON.stringify(saved.body));
    assert.deepEqual((await env('move-labels')).labels, { tier: 'edited' });
  });

  // The guarantee the save's lock gives stays: a move waits for the save, then sees its job.
  it('a team move while a job naming the environment is being saved waits for the save, then is refused (409); the job keeps a target of its team', async function () {
    assert.equal((await call('POST', '/api/environments', { name: 'move-racing', team: 'move-alpha' })).status, 201);
    const { saving, release } = await heldSave(job('races a move', ['move-racing']));
    const moving = call('PUT', '/api/environments/move-racing', { team: 'move-beta' });
    const first = await endsOrWaits(moving);
    release();
    const [saved, moved] = await Promise.all([saving, moving]);
    assert.equal(first, 'waiting', 'the move waits for the save holding its environment');
    assert.equal(saved.status, 201, JSON.stringify(saved.body));
    assert.equal(moved.status, 409, JSON.stringify(moved.body));
    assert.deepEqual(moved.body.jobs, [String(saved.body.id)]);
    assert.equal((await env('move-racing')).team, 'move-alpha');
  });
});
