// `selfheal apply|diff` against the real API on real Temporal and Postgres: what the server would refuse in
// a job from the files alone is refused by the CLI before anything is applied (exit 2, naming the file, the
// object and the field), as the runbook promises of an invalid file. Before, the CLI checked the schema only:
// an environment of the same folder was created, then the job was refused (400), a half-applied folder that
// `diff` had shown as a plan (exit 1).
import assert from 'node:assert/strict';
import { gitopsServer } from '../helpers/gitops.js';
import { selfheal } from '../helpers/cli.js';

const envDoc = (name: string, extra = '') => `kind: Environment\nname: ${name}\nlabels: { tier: staging }\n${extra}`;
const jobDoc = (id: string, envs: string[], extra = '', schedule = 'interval: 12h') =>
  `kind: Job\nid: ${id}\nname: ${id} check\nschedule: { ${schedule} }\ntargets: { environments: [${envs.join(', ')}] }\nscript: health-check.sh\n${extra}`;

describe('selfheal apply refuses from the files what the server would refuse, before applying anything', function () {
  const g = gitopsServer('selfheal-gitops-refused-');
  const folder = (files: Record<string, string>) => g.work.folder(files);
  const auditActions = async () => (await g.stack.db.db.selectFrom('audit_log').select(['action', 'entity_id']).orderBy('id').execute()).map((a) => `${a.action} ${a.entity_id}`);


  it('a job with an interval under a minute, a run longer than a day or a miscased time zone: exit 2 naming each, and the environment before it is not created', async () => {
    const dir = await folder({
      'env.yaml': envDoc('fresh-env'),
      'jobs.yaml': [
        jobDoc('too-often', ['fresh-env'], '', 'interval: 30s'),
        jobDoc('too-long', ['fresh-env'], 'timeoutSecondsPerTarget: 86400\n'),
        jobDoc('miscased-zone', ['fresh-env'], '', 'cron: "0 6 * * *", timezone: europe/paris'),
      ].join('---\n'),
    });
    for (const cmd of ['diff', 'apply']) {
      const run = await selfheal([cmd, '-f', dir], g.env);
      assert.equal(run.code, 2, `${cmd}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /jobs\.yaml, object 1 \(Job too-often\) schedule\.interval: must be at least 60s/);
      assert.match(run.stderr, /jobs\.yaml, object 2 \(Job too-long\) timeoutSecondsPerTarget: a run of 1 target, 1 at a time, may take/);
      assert.match(run.stderr, /jobs\.yaml, object 3 \(Job miscased-zone\) schedule\.timezone: must be written as the time zone database does: "Europe\/Paris"/);
    }
    assert.equal((await g.stack.api('/api/environments/fresh-env')).status, 404, 'the environment of the same folder was not created');
    assert.deepEqual(await auditActions(), [], 'nothing applied');
  });
  it('a job with an interval over 366d or a catchupWindow over 7d: exit 2 naming the field and the bound, and nothing is applied', async () => {
    const dir = await folder({
      'env.yaml': envDoc('fresh-env'),
      'jobs.yaml': [jobDoc('never-fires', ['fresh-env'], '', 'interval: 106752d'), jobDoc('long-catchup', ['fresh-env'], '', 'interval: 1h, catchupWindow: 100000000d')].join('---\n'),
    });
    for (const cmd of ['diff', 'apply']) {
      const run = await selfheal([cmd, '-f', dir], g.env);
      assert.equal(run.code, 2, `${cmd}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /jobs\.yaml, object 1 \(Job never-fires\) schedule\.interval: must be at most 366d/);
      assert.match(run.stderr, /jobs\.yaml, object 2 \(Job long-catchup\) schedule\.catchupWindow: must be at most 7d/);
    }
    assert.equal((await g.stack.api('/api/environments/fresh-env')).status, 404, 'the environment of the same folder was not created');
    assert.deepEqual(await auditActions(), [], 'nothing applied');
  });
  it('a job naming an environment of another team (in the files or on the server): exit 2 naming the job, the environment and both teams, and nothing is applied', async () => {
    assert.equal((await g.stack.api('/api/teams', { method: 'POST', body: JSON.stringify({ name: 'blue' }) })).status, 201);
    assert.equal((await g.stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'blue-live', team: 'blue' }) })).status, 201);
    const before = await auditActions();
    const dir = await folder({
      'env.yaml': envDoc('blue-new', 'team: blue\n'),
      'jobs.yaml': [jobDoc('cross-files', ['blue-new']), jobDoc('cross-server', ['blue-live'])].join('---\n'),
    });
    for (const cmd of ['diff', 'apply']) {
      const run = await selfheal([cmd, '-f', dir], g.env);
      assert.equal(run.code, 2, `${cmd}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /jobs\.yaml, object 1 \(Job cross-files\): targets environment "blue-new", which is in team blue in the files; a job of team default may target only that team's environments/);
      assert.match(run.stderr, /jobs\.yaml, object 2 \(Job cross-server\): targets environment "blue-live", which is in team blue on the server; a job of team default may target only that team's environments/);
    }
    assert.equal((await g.stack.api('/api/environments/blue-new')).status, 404, 'the environment of the same folder was not created');
    assert.deepEqual(await auditActions(), before, 'nothing applied');
  });
});
