// An environment moved to another team while jobs of its old team name it (docs/security.md, "Environments
// of another team are out of reach"), and how an environment's row is held against a job save: a label edit
// does not wait for a save's Temporal call, a team move does, and then sees the job it saved.
import assert from 'node:assert/strict';
import { heldSaveApi } from '../helpers/held-save.js';

const ADMIN = 'environment-team-move-admin-token-0123456789';

describe('environments API: a team move while jobs of the old team name the environment', function () {
  const api = heldSaveApi(ADMIN);
  const { call, heldSave, endsOrWaits } = api;

  before(async function () {
    for (const name of ['move-alpha', 'move-beta']) assert.equal((await call('POST', '/api/teams', { name })).status, 201);
  });

  const job = (name: string, environments: string[], team = 'move-alpha') => ({ name, team, schedule: { interval: '1h' }, targets: { environments }, script: 'probe.sh' });
  const env = (name: string) => api.db.db.selectFrom('environments').select(['name', 'team', 'labels']).where('name', '=', name).executeTakeFirstOrThrow();
  const auditCount = async (name: string) =>
    (await api.db.db.selectFrom('audit_log').select('id').where('entity_type', '=', 'environment').where('entity_id', '=', name).execute()).length;

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
