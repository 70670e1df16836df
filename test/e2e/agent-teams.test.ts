import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WORKFLOW_TYPES, type AgentCheckResult } from '../../src/contracts/index.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// The audit's case: team payments registered an environment under the name of a host whose Doctor agent
// did not run yet. The operator then installs the agent on that host for teams ops and db
// (SELFHEAL_AGENT_TEAMS=ops,db): payments' rule reaches the agent, which refuses its presence check, and the
// run ends there without queueing the script (the script leaves no trace on the host); once the environment
// is ops', ops' rule runs there. The agent is a real child process
// (src/agent.ts) polling the environment's default queue.
describe('Doctor agent: runs only the tasks of the teams its host lists (SELFHEAL_AGENT_TEAMS)', function () {
  let stack: Stack;
  let agent: ChildRoot;
  let scriptsDir: string;
  let markers: string;
  const env = `teams-host-${randomUUID().slice(0, 8)}`;
  const paymentsService = newServiceId();
  const opsService = newServiceId();
  const marker = (team: string) => path.join(markers, `${team}.ran`);
  const exists = (file: string) => access(file).then(() => true, () => false);
  /** The agent's output from `since` (a length of agent.output() taken in the test) matches: not what an earlier test made it log. */
  const agentLogged = (pattern: RegExp, since: number) =>
    eventually(async () => pattern.test(agent.output().slice(since)) || undefined, 10_000, `the agent logged ${pattern} since this test began`);

  before(async function () {
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-agent-teams-scripts-'));
    markers = await mkdtemp(path.join(os.tmpdir(), 'selfheal-agent-teams-markers-'));
    await chmod(scriptsDir, 0o755);
    for (const [script, mark] of [['payments-fix.sh', 'payments'], ['ops-fix.sh', 'ops'], ['health-check.sh', 'check']] as const) {
      await writeFile(path.join(scriptsDir, script), `#!/bin/sh\necho ran >> "${marker(mark)}"\necho fixed\n`);
      await chmod(path.join(scriptsDir, script), 0o755);
    }
    stack = await startStack({ extractors: { serviceMap: { [paymentsService]: { environment: env }, [opsService]: { environment: env } } } });
    await stack.db.db
      .insertInto('teams')
      .values([{ name: 'payments', created_by: 'test' }, { name: 'ops', created_by: 'test' }])
      .onConflict((oc) => oc.doNothing())
      .execute();
    // Registered by payments before any agent polled its queue (src/services/environments.ts allows it).
    await stack.db.db.insertInto('environments').values({ name: env, labels: '{}', agent_task_queue: agentTaskQueue(env), maintenance_windows: '[]', ssh: null, team: 'payments' }).execute();
    agent = startChildRoot('src/agent.ts', { TEMPORAL_ADDRESS: stack.temporal.address, SELFHEAL_ENVIRONMENT: env, SELFHEAL_SCRIPTS_DIR: scriptsDir, SELFHEAL_AGENT_TEAMS: 'ops,db' });
    await agent.waitFor(/Doctor agent polling/);
  });

  after(async function () {
    await agent?.stop();
    await stack?.stop();
    if (scriptsDir) await rm(scriptsDir, { recursive: true, force: true });
    if (markers) await rm(markers, { recursive: true, force: true });
  });

  async function fixFor(team: string, serviceId: string) {
    const ruleId = await insertRule(stack.db.db, { name: `${team}-fix-${randomUUID().slice(0, 6)}`, services: [serviceId], actions: [{ id: 'fix', type: 'script.agent', script: `${team}-fix.sh` }] });
    await stack.db.db.updateTable('rules').set({ team, updated_at: new Date() }).where('id', '=', ruleId).execute();
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference' } } }));
    assert.equal(res.status, 202);
    return eventually(async () => {
      const [run] = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).where('rule_id', '=', ruleId).execute();
      return run?.finished_at ? run : undefined;
    }, 60_000, `${team}'s action run settled`);
  }

  /** A job of `team` running `script` on the environment, triggered once: its target's result. */
  async function jobFor(team: string, script: string) {
    const res = await stack.api('/api/jobs', {
      method: 'POST',
      body: JSON.stringify({ name: `${team}-job-${randomUUID().slice(0, 6)}`, team, schedule: { interval: '1h' }, targets: { environments: [env] }, via: 'agent', script }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    assert.equal((await stack.api(`/api/jobs/${id}/trigger`, { method: 'POST' })).status, 202);
    const run = await eventually(async () => {
      const r = await stack.db.db.selectFrom('job_runs').selectAll().where('job_id', '=', id).executeTakeFirst();
      return r && r.status !== 'running' ? r : undefined;
    }, 60_000, `${team}'s job run finished`);
    return stack.db.db.selectFrom('job_target_results').selectAll().where('job_run_id', '=', run.id).where('environment', '=', env).executeTakeFirstOrThrow();
  }

  /** `POST /api/environments/{name}/check`: the health check, dispatched for the environment's team. */
  async function check() {
    const res = await stack.api(`/api/environments/${env}/check`, { method: 'POST' });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { healthy: boolean; check: { error?: string; output: string } | null };
  }

  it("refuses a fix dispatched for team payments: the action fails saying so, and the script never ran on the host", async function () {
    const run = await fixFor('payments', paymentsService);
    assert.equal(run.status, 'failed');
    // Refused at its presence check, the run queued no script (before: it queued it, and the agent refused that).
    assert.match(
      run.error ?? '',
      /^payments-fix\.sh was not run: the Doctor agent on selfheal-agent-\S+ refused the presence check: it does not serve the team the task is for \(its SELFHEAL_AGENT_TEAMS, set on its host, does not list it\), so no script task was queued/,
    );
    assert.doesNotMatch(run.error ?? '', /ops/, 'the refusal does not say which teams the agent serves');
    assert.equal(await exists(marker('payments')), false, 'the payments script left no trace on the host');
  });

  it("refuses a job target and the health check dispatched for team payments: nothing ran on the host", async function () {
    const target = await jobFor('payments', 'payments-fix.sh');
    assert.equal(target.status, 'failed');
    assert.match(target.error ?? '', /^payments-fix\.sh was not run: the Doctor agent on selfheal-agent-\S+ refused the presence check: it does not serve the team the task is for/);
    const checked = await check();
    assert.equal(checked.healthy, false);
    assert.match(checked.check?.error ?? '', /^AgentTeamRefusedError: health-check\.sh was not run: this Doctor agent does not serve the team the task was sent for/);
    assert.equal(await exists(marker('payments')), false, 'the payments script left no trace on the host');
    assert.equal(await exists(marker('check')), false, 'the health check did not run');
  });

  /** GET /api/environments/{name}'s agent, once the agent is listed online. */
  async function agentView() {
    return eventually(async () => {
      const r = (await (await stack.api(`/api/environments/${env}`)).json()) as { agent: { online: boolean; servesTeam: boolean | null; pollers: { identity: string }[] } };
      return r.agent.online ? r.agent : undefined;
    }, 30_000, 'agent listed');
  }

  it("shows team payments the agent as online but not serving it (servesTeam false): it would refuse payments' tasks", async function () {
    // Before: online, and nothing told payments that this agent refuses every task of theirs.
    const view = await agentView();
    assert.equal(view.servesTeam, false, JSON.stringify(view));
    // Its presence check refuses the team too (a job target asks it first), and says so in the host's log:
    // this test sends its own (a payments job target), and reads only what the agent logged since.
    const since = agent.output().length;
    assert.equal((await jobFor('payments', 'payments-fix.sh')).status, 'failed');
    await agentLogged(/presence check refused: its team is not one of SELFHEAL_AGENT_TEAMS/, since);
  });

  it('fails at once, saying why, a check queued before the upgrade (its task names no team): not hung, not retried', async function () {
    // An `environments check` started by the previous release: its input, and so its task, carry no team.
    const since = agent.output().length;
    const started = Date.now();
    const result = (await stack.temporal.client.workflow.execute(WORKFLOW_TYPES.agentCheck, {
      workflowId: `agent-check-${env}-old-${randomUUID().slice(0, 6)}`,
      taskQueue: stack.taskQueue,
      args: [{ environment: env, taskQueue: agentTaskQueue(env), script: 'health-check.sh', scheduleToStartSeconds: 10, timeoutSeconds: 60 }],
      workflowExecutionTimeout: '2 minutes',
    })) as AgentCheckResult;
    assert.ok(Date.now() - started < 30_000, `ended in ${Date.now() - started} ms`);
    assert.equal(result.healthy, false);
    assert.equal(result.reached, true);
    assert.match(
      result.error ?? '',
      /^AgentTeamRefusedError: health-check\.sh was not run: the task names no team \(it was queued before the upgrade that made every task carry its team\), and this Doctor agent runs only the tasks of the teams its SELFHEAL_AGENT_TEAMS lists; start the run again: a run started now carries its team/,
    );
    assert.equal(await exists(marker('check')), false, 'the health check did not run');
    // The host's operator reads it in the agent's log, with the run it came from.
    await agentLogged(/health-check\.sh refused: the task names no team \(queued before the upgrade that made every task carry its team\)/, since);
  });

  it('runs the fix of team ops once the environment is ops', async function () {
    await stack.db.db.updateTable('environments').set({ team: 'ops' }).where('name', '=', env).execute();
    const run = await fixFor('ops', opsService);
    assert.equal(run.status, 'succeeded', run.error ?? '');
    assert.match(run.output_excerpt ?? '', /fixed/);
    assert.equal(await exists(marker('ops')), true, 'the ops script ran on the host');
  });

  it("runs team ops' job target and the health check", async function () {
    const target = await jobFor('ops', 'ops-fix.sh');
    assert.equal(target.status, 'succeeded', target.error ?? '');
    const checked = await check();
    assert.equal(checked.healthy, true, JSON.stringify(checked));
    assert.equal(await exists(marker('check')), true, 'the health check ran on the host');
  });

  it('names the teams it serves in its identity, which GET /api/environments/{name} lists among its pollers', async function () {
    const agent = await agentView();
    assert.ok(agent.pollers.some((p) => p.identity === `doctor-agent@${env} teams=ops,db`), JSON.stringify(agent.pollers));
    assert.equal(agent.servesTeam, true, 'the environment is ops\' now');
  });

  it("shows a reader of team ops only the teams it reads among those the agent names, the others counted; the admin sees them all (before: db named to ops' readers)", async function () {
    const res = await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: `ops-reader-${randomUUID().slice(0, 6)}`, teams: ['ops:viewer'] }) });
    assert.equal(res.status, 201, await res.clone().text());
    const { token } = (await res.json()) as { token: string };
    const seen = (await (await stack.api(`/api/environments/${env}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { agent: { servesTeam: boolean | null; pollers: { identity: string }[] } };
    assert.deepEqual(seen.agent.pollers.map((p) => p.identity), [`doctor-agent@${env} teams=ops,…(+1)`]);
    assert.equal(seen.agent.servesTeam, true);
    assert.deepEqual((await agentView()).pollers.map((p) => p.identity), [`doctor-agent@${env} teams=ops,db`]);
  });
});
