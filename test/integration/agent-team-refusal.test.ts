// The Doctor agent's own check of a task's team (SELFHEAL_AGENT_TEAMS), on the activity itself with real
// scripts: what the host sees is asserted (the marker a script leaves). A task naming no team is one queued
// before tasks carried it: an agent told its teams refuses it too; one told none runs every team's.
import assert from 'node:assert/strict';
import { access, rm } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities, type AgentScriptInput, type ScriptActionResult } from '../../activities/agent.js';
import { makeAgentHost, type AgentHost } from '../helpers/agent-host.js';

const exists = (p: string) => access(p).then(() => true, () => false);

describe('Doctor agent: the team of each task (SELFHEAL_AGENT_TEAMS)', function () {
  let host: AgentHost;
  const ran = () => path.join(host.markerDir, 'ran');

  before(async function () {
    host = await makeAgentHost('agent-team');
    await host.script('touch.sh', `touch "${host.markerDir}/ran"`);
  });
  after(async () => host?.close());
  beforeEach(async () => rm(ran(), { force: true }));

  const run = (teams: string[] | undefined, team: string | undefined) => {
    const { runAgentScript } = createAgentActivities({ scriptsDir: host.scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 1, teams });
    const input: AgentScriptInput = { script: 'touch.sh', args: [], timeoutSeconds: 60, ...(team !== undefined ? { team } : {}) };
    return new MockActivityEnvironment().run(runAgentScript, input) as Promise<ScriptActionResult>;
  };
  const refused = (message: string) => (err: unknown) => err instanceof ApplicationFailure && err.nonRetryable && err.type === 'AgentTeamRefusedError' && err.message === message;

  it("refuses another team's task, not retried, naming only that team; the script never starts", async function () {
    await assert.rejects(run(['ops', 'db'], 'payments'), refused('touch.sh was not run: this Doctor agent does not serve the team the task was sent for (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it)'));
    assert.equal(await exists(ran()), false);
  });

  it('refuses a task naming no team when it lists its teams', async function () {
    // Before: "the task names no team, and this Doctor agent runs only the tasks of the teams its
    // SELFHEAL_AGENT_TEAMS lists": nothing said that the task came from before the upgrade, nor what to do.
    await assert.rejects(
      run(['ops'], undefined),
      refused(
        'touch.sh was not run: the task names no team (it was queued before the upgrade that made every task carry its team), and this Doctor agent runs only the tasks of the teams its SELFHEAL_AGENT_TEAMS lists; start the run again: a run started now carries its team',
      ),
    );
    assert.equal(await exists(ran()), false);
  });

  it('runs a task of a team it lists', async function () {
    assert.equal((await run(['ops', 'db'], 'db')).exitCode, 0);
    assert.equal(await exists(ran()), true);
  });

  const present = (teams: string[] | undefined, input?: { team?: string }) => {
    const { agentPresent } = createAgentActivities({ scriptsDir: host.scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 1, teams });
    return new MockActivityEnvironment().run(agentPresent, input) as Promise<{ present: true }>;
  };

  it('is not present for a team it does not serve: its presence check refuses it, not retried, naming no team', async function () {
    // Before: { present: true } for every team, and the run went on to queue a script this agent refuses.
    await assert.rejects(
      present(['ops', 'db'], { team: 'payments' }),
      refused('this Doctor agent is not present for the team the presence check was sent for: its SELFHEAL_AGENT_TEAMS, set on its host, does not list it, and it would refuse the script'),
    );
    assert.deepEqual(await present(['ops', 'db'], { team: 'db' }), { present: true });
    // Asked without a team (a run started before the question carried one): the script's own check decides.
    assert.deepEqual(await present(['ops'], undefined), { present: true });
    assert.deepEqual(await present(['ops'], {}), { present: true });
    assert.deepEqual(await present(undefined, { team: 'payments' }), { present: true });
  });

  it('runs every task, with a team or without, when it lists none', async function () {
    assert.equal((await run(undefined, 'payments')).exitCode, 0);
    await rm(ran());
    assert.equal((await run(undefined, undefined)).exitCode, 0);
    assert.equal(await exists(ran()), true);
  });
});
