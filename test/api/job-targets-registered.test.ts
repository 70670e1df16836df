import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { heldSaveApi } from '../helpers/held-save.js';

const ADMIN = 'job-targets-registered-admin-token-0123456789';

describe('jobs API: an explicit target must be a registered environment of the job\'s team', function () {
  const api = heldSaveApi(ADMIN);
  const { call, heldSave, endsOrWaits } = api;

  const job = (name: string, environments: string[]) => ({ name, schedule: { interval: '1h' }, targets: { environments }, script: 'probe.sh' });
  const liveJobsNaming = async (env: string) =>
    (await api.db.db.selectFrom('jobs').select('id').where('deleted_at', 'is', null).where(sql<boolean>`definition->'targets'->'environments' ? ${env}`).execute()).map((r) => r.id);

  // `selfheal apply` refused it, the API stored it: every run then failed that target as "not registered".
  it('a job naming an environment that is not registered is refused (400 naming it), and no job is stored', async function () {
    assert.equal((await call('POST', '/api/environments', { name: 'reg-known' })).status, 201);
    const res = await call('POST', '/api/jobs', job('names a ghost', ['reg-known', 'reg-ghost']));
    assert.equal(res.status, 400, JSON.stringify(res.body));
    const entry = res.body.errors?.find((e: { path: string; message: string }) => e.path === 'targets.environments');
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
    const { saving, release } = await heldSave(job('races a delete', ['reg-racing']));
    const deleting = call('DELETE', '/api/environments/reg-racing');
    // Either the delete ends while the save is held, or it waits on a lock the save holds.
    const first = await endsOrWaits(deleting);
    release();
    const [saved, deleted] = await Promise.all([saving, deleting]);
    const envLeft = await api.db.db.selectFrom('environments').select('name').where('name', '=', 'reg-racing').executeTakeFirst();
    const naming = await liveJobsNaming('reg-racing');
    assert.ok(!(naming.length > 0 && envLeft === undefined), `a live job (${naming.join(', ')}) names the deleted environment; save ${saved.status}, delete ${deleted.status}, the delete ${first} first`);
    assert.equal(first, 'waiting', 'the delete waits for the save holding its environment');
    assert.equal(saved.status, 201, JSON.stringify(saved.body));
    assert.equal(deleted.status, 409, JSON.stringify(deleted.body));
    assert.match(deleted.body.detail ?? '', /target of job races-a-delete/);
  });
});
