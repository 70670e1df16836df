// A refused presence check ends the run's agent target there (workflows/agent-pickup.ts,
// PRESENCE_REFUSAL_ENDS_RUN_PATCH): no script task is queued on the agent's queue. Before, the run went on
// as if the agent had answered and queued the script with a short pickup wait; the refusing agent mostly
// refused it too, but the task sat in the queue meanwhile, and any agent polling that queue by then (here:
// one of every team started after the refusing one stopped) took it and ran the script. The refusing agent
// is the real activity of an agent serving team ops; the job and its environment are the default team's.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { createAgentActivities, type AgentPresentInput, type AgentScriptInput } from '../../activities/agent.js';
import { WORKFLOW_TYPES } from '../../src/contracts/index.js';
import { jobDefinitionSchema } from '../../src/domain/jobs.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { startStack, type Stack } from '../helpers/stack.js';

describe('e2e: a presence check refused for the run\'s team queues no script task', function () {
  this.timeout(120_000);
  let stack: Stack;
  const env = `refused-${randomUUID().slice(0, 8)}`;
  const queue = agentTaskQueue(env);

  before(async function () {
    stack = await startStack();
    await stack.db.db.insertInto('environments').values({ name: env, labels: '{}', agent_task_queue: queue, maintenance_windows: '[]', ssh: null }).execute();
  });
  after(async function () {
    await stack?.stop();
  });

  it('a job target fails naming why, and an agent of any team started afterwards on that queue receives no task (before: it received the script and ran it)', async function () {
    // The agent of team ops answers the presence check (asked for team default) and stops polling as it does:
    // whatever is queued after its answer waits for the next agent on the queue.
    const opsAgent = createAgentActivities({ scriptsDir: '.', maxTimeoutSeconds: 60, maxConcurrentScripts: 1, teams: ['ops'] });
    const asked: (string | undefined)[] = [];
    const refusing: Worker = await Worker.create({
      connection: stack.temporal.nativeConnection,
      namespace: stack.config.temporal.namespace,
      taskQueue: queue,
      shutdownGraceTime: '10 seconds',
      activities: {
        agentPresent: async (input?: AgentPresentInput) => {
          asked.push(input?.team);
          refusing.shutdown();
          return opsAgent.agentPresent(input);
        },
      },
    });
    const refusingRun = refusing.run();

    const jobId = `refused-job-${randomUUID().slice(0, 8)}`;
    const job = jobDefinitionSchema.parse({ id: jobId, name: jobId, schedule: { interval: '6h' }, targets: { environments: [env] }, script: 'probe.sh', agentPickupTimeoutSeconds: 60 });
    await stack.db.db.insertInto('jobs').values({ id: jobId, name: job.name, definition: JSON.stringify(job), schedule_id: `job-${jobId}` }).execute();
    const handle = await stack.temporal.client.workflow.start(WORKFLOW_TYPES.job, { workflowId: `job-${jobId}-manual`, taskQueue: stack.taskQueue, args: [{ jobId }] });
    await refusingRun;
    assert.deepEqual(asked, ['default'], 'the presence check was asked for the job\'s team and refused');

    // An agent started later on the same queue, serving every team: it records what it is handed.
    const received: AgentScriptInput[] = [];
    const later = await Worker.create({
      connection: stack.temporal.nativeConnection,
      namespace: stack.config.temporal.namespace,
      taskQueue: queue,
      activities: {
        agentPresent: async () => ({ present: true }),
        runAgentScript: async (input: AgentScriptInput) => {
          received.push(input);
          return { exitCode: 0, outputExcerpt: 'ran', durationMs: 1, timedOut: false };
        },
      },
    });
    const laterRun = later.run();
    try {
      const result = (await handle.result()) as { status: string };
      // Give a task queued late every chance to reach the later agent.
      await new Promise((r) => setTimeout(r, 2000));
      assert.deepEqual(received, [], `the later agent was handed the script: ${JSON.stringify(received)}`);
      assert.equal(result.status, 'failed');
      const target = await stack.db.db.selectFrom('job_target_results').selectAll().where('job_run_id', '=', `job-${jobId}-manual`).executeTakeFirstOrThrow();
      assert.equal(target.status, 'failed');
      assert.equal(
        target.error,
        `probe.sh was not run: the Doctor agent on ${queue} refused the presence check: it does not serve the team the task is for (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it), so no script task was queued`,
      );
      const history = await handle.fetchHistory();
      const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter((n) => n !== undefined);
      assert.ok(!scheduled.includes('runAgentScript'), `no script task was scheduled: ${scheduled.join(', ')}`);
    } finally {
      later.shutdown();
      await laterRun;
    }
  });
});
