// `selfheal apply` against the real API on real Temporal and Postgres, with a change by someone else landing
// between the plan (the lists apply reads) and the request that carries it out. The runbook promises that
// another team's objects are never deleted and never moved without --allow-move, "whatever the token sees";
// an admin token (the one a folder of management VMs needs) sees every team, so the promise must hold at the
// server, for the object as it is when the request lands, not as the plan read it. A forwarding proxy in
// front of the API lets the other change land just before apply's own request.
import assert from 'node:assert/strict';
import type { ApiServer } from '../../src/server.js';
import { startForwardingProxy, type ForwardingProxy } from '../helpers/forward-proxy.js';
import { apiServerOn, scratchFolders, type ScratchFolders } from '../helpers/gitops.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';
import { selfheal } from '../helpers/cli.js';

const envDoc = (name: string, extra = '') => `kind: Environment\nname: ${name}\nlabels: { tier: staging }\n${extra}`;
const jobBody = (id: string, env: string) => ({ id, name: `${id} check`, schedule: { interval: '12h' }, targets: { environments: [env] }, script: 'health-check.sh' });

describe('selfheal apply: a team change landing between the plan and its request', function () {
  let stack: Stack;
  let server: ApiServer;
  let proxy: ForwardingProxy;
  let work: ScratchFolders;
  /** Runs once, just before the proxy forwards the first request whose `METHOD path` is the key. */
  const hooks = new Map<string, () => Promise<void>>();
  const folder = (files: Record<string, string>) => work.folder(files);
  const call = async (p: string, init: RequestInit = {}, status?: number) => {
    const res = await stack.api(p, init);
    if (status !== undefined) assert.equal(res.status, status, `${init.method ?? 'GET'} ${p}: ${res.status} ${await res.clone().text()}`);
    return res;
  };
  const apply = (dir: string, ...args: string[]) => selfheal(['apply', '-f', dir, '--team', 'default', ...args], { SELFHEAL_URL: proxy.url, SELFHEAL_TOKEN: ADMIN_TOKEN });

  before(async function () {
    stack = await startStack();
    server = await apiServerOn(stack);
    proxy = await startForwardingProxy(server.url, {
      async before(req) {
        const key = `${req.method} ${new URL(req.url, 'http://x').pathname}`;
        const hook = hooks.get(key);
        hooks.delete(key);
        if (hook) await hook();
      },
    });
    work = await scratchFolders('selfheal-gitops-race-');
    await call('/api/teams', { method: 'POST', body: JSON.stringify({ name: 'blue' }) }, 201);
  });

  afterEach(() => hooks.clear());

  after(async () => {
    await proxy?.close();
    for (const j of ((await (await stack.api('/api/jobs')).json()) as { items: { id: string }[] }).items) await stack.api(`/api/jobs/${j.id}`, { method: 'DELETE' });
    await server?.close();
    await stack?.stop();
    await stack?.db.close();
    await work?.remove();
  });

  it("--prune does not delete another team's environment that took the name after the plan was read (409, kept)", async () => {
    await call('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'kept-env' }) }, 201);
    await call('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'taken-env' }) }, 201);
    // Team default deletes its environment, and team blue registers the name for itself.
    hooks.set('DELETE /api/environments/taken-env', async () => {
      await call('/api/environments/taken-env', { method: 'DELETE' }, 204);
      await call('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'taken-env', team: 'blue', description: "blue's own" }) }, 201);
    });
    const run = await apply(await folder({ 'env.yaml': envDoc('kept-env') }), '--prune', 'environment');
    assert.equal(run.code, 2, `${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /✗ delete environment taken-env failed: 409 Conflict: environment taken-env is in team blue now, not in team default as the request expects; nothing was changed/);
    const blue = (await (await call('/api/environments/taken-env', {}, 200)).json()) as { team: string; description: string };
    assert.deepEqual([blue.team, blue.description], ['blue', "blue's own"], "team blue's environment is still there");
  });

  it("--prune does not delete a job moved to another team after the plan was read (409, kept with its schedule)", async () => {
    await call('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'job-env' }) }, 201);
    await call('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'blue-env', team: 'blue' }) }, 201);
    await call('/api/jobs', { method: 'POST', body: JSON.stringify(jobBody('moving-job', 'job-env')) }, 201);
    hooks.set('DELETE /api/jobs/moving-job', async () => {
      await call('/api/jobs/moving-job', { method: 'PUT', body: JSON.stringify({ ...jobBody('moving-job', 'blue-env'), team: 'blue' }) }, 200);
    });
    const run = await apply(await folder({ 'env.yaml': `${envDoc('job-env')}---\n${envDoc('kept-env')}` }), '--prune', 'job');
    assert.equal(run.code, 2, `${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /✗ delete job moving-job failed: 409 Conflict: job moving-job is in team blue now, not in team default as the request expects; nothing was changed/);
    // The answer says `unavailable` when Temporal's describe misses its deadline (a loaded machine): ask again.
    const job = await eventually(
      async () => {
        const read = (await (await call('/api/jobs/moving-job', {}, 200)).json()) as { team: string; scheduleStatus: string };
        return read.scheduleStatus === 'unavailable' ? undefined : read;
      },
      30_000,
      'the job with its schedule status',
    );
    assert.deepEqual([job.team, job.scheduleStatus], ['blue', 'active'], "team blue's job and its schedule are still there");
  });

  it('an update does not move back an environment moved to another team after the plan was read, without --allow-move (409)', async () => {
    await call('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'moved-env', description: 'old' }) }, 201);
    hooks.set('PUT /api/environments/moved-env', async () => {
      await call('/api/environments/moved-env', { method: 'PUT', body: JSON.stringify({ team: 'blue', description: 'moved to blue', labels: {} }) }, 200);
    });
    const run = await apply(await folder({ 'env.yaml': `${envDoc('moved-env', 'description: new\n')}---\n${envDoc('kept-env')}` }));
    assert.equal(run.code, 2, `${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /✗ update environment moved-env failed \(.*\): 409 Conflict: environment moved-env is in team blue now, not in team default as the request expects; nothing was changed/);
    const env = (await (await call('/api/environments/moved-env', {}, 200)).json()) as { team: string; description: string };
    assert.deepEqual([env.team, env.description], ['blue', 'moved to blue'], 'it stays as team blue has it');
  });

  // Before: the move was made, and a job of team default named an environment of team blue.
  it('--allow-move of an environment a job of its team names is refused: by the plan, and by the server (409) when the job came after the plan', async () => {
    await call('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'named-env' }) }, 201);
    await call('/api/jobs', { method: 'POST', body: JSON.stringify(jobBody('named-job', 'named-env')) }, 201);
    const allowMove = (dir: string) => selfheal(['apply', '-f', dir, '--allow-move'], { SELFHEAL_URL: proxy.url, SELFHEAL_TOKEN: ADMIN_TOKEN });
    const planned = await allowMove(await folder({ 'env.yaml': envDoc('named-env', 'team: blue\n') }));
    assert.equal(planned.code, 2, `${planned.stdout}${planned.stderr}`);
    assert.match(planned.stderr, /environment "named-env" would move from team default to team blue, but job "named-job" of team default on the server names it \(the server refuses the move\)/);
    assert.equal(((await (await call('/api/environments/named-env', {}, 200)).json()) as { team: string }).team, 'default', 'not moved');

    // A job naming it saved between the plan and the move's request: the server refuses the move.
    await call('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'raced-env' }) }, 201);
    hooks.set('PUT /api/environments/raced-env', async () => {
      await call('/api/jobs', { method: 'POST', body: JSON.stringify(jobBody('raced-job', 'raced-env')) }, 201);
    });
    const served = await allowMove(await folder({ 'env.yaml': envDoc('raced-env', 'team: blue\n') }));
    assert.equal(served.code, 2, `${served.stdout}${served.stderr}`);
    assert.match(served.stderr, /✗ update environment raced-env failed \(.*\): 409 Conflict: environment raced-env is a target of job raced-job of team default: change or delete it first, then move it to team blue; nothing was changed/);
    assert.equal(((await (await call('/api/environments/raced-env', {}, 200)).json()) as { team: string }).team, 'default', 'not moved');
  });
});
