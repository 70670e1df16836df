// Job fan-out: one run of a job targeting 100 environments, all served by ONE Doctor agent worker
// (the environments share its task queue), running a trivial allow-listed script on each.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildAgentWorker } from '../src/agent.js';
import { jobDefinitionSchema } from '../src/domain/jobs.js';
import { agentTaskQueue, jobScheduleId } from '../src/temporal/names.js';
import type { JobWorkflowResult } from '../workflows/job.js';
import { log, percentile, quick, round } from './lib.js';
import { cloudActions, describeShape, fetchShape, totalCounts, type ShapeCounts } from './shape.js';
import type { BenchStack } from './stack.js';

export interface JobRunMeasure {
  concurrency: number;
  seconds: number;
  status: string;
  succeeded: number;
  failed: number;
}

export interface JobsResults {
  targets: number;
  runs: JobRunMeasure[];
  /** Median wall time of the runs at concurrency 100. */
  medianSeconds: number;
  /** One run's Temporal shape (all its workflows), and per target. */
  shape?: {
    total: ShapeCounts & { workflows: number };
    cloudActions: number;
    perTarget: { events: number; workflowTasks: number; activities: number; localActivities: number; cloudActions: number; historyBytes: number };
  };
}

const TARGETS = 100;

export async function runJobsBench(stack: BenchStack): Promise<JobsResults> {
  const scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-bench-scripts-'));
  await chmod(scriptsDir, 0o755);
  await writeFile(path.join(scriptsDir, 'check.sh'), '#!/bin/sh\necho "ok env=${SELFHEAL_ENVIRONMENT:-none}"\n', { mode: 0o755 });
  const queue = agentTaskQueue('bench-fleet');
  // One agent stands in for the fleet's hundred, so it runs all their scripts at once, as a hundred would.
  const config = { ...stack.config, agent: { ...stack.config.agent, maxConcurrentScripts: TARGETS } };
  const agent = await buildAgentWorker({ config, connection: stack.native, environment: 'bench-fleet', scriptsDir });
  const running = agent.run();
  try {
    await stack.database.db
      .insertInto('environments')
      .values(
        Array.from({ length: TARGETS }, (_, i) => ({
          name: `bench-env-${String(i).padStart(3, '0')}`,
          labels: JSON.stringify({ fleet: 'bench' }),
          agent_task_queue: queue,
          maintenance_windows: '[]',
        })),
      )
      .execute();
    const addJob = async (id: string, concurrency: number): Promise<void> => {
      const job = jobDefinitionSchema.parse({
        id,
        name: id,
        schedule: { interval: '24h' },
        targets: { selector: { fleet: 'bench' } },
        via: 'agent',
        script: 'check.sh',
        concurrency,
        agentPickupTimeoutSeconds: 60,
      });
      await stack.database.db.insertInto('jobs').values({ id, name: id, definition: JSON.stringify(job), enabled: true, schedule_id: jobScheduleId(id) }).execute();
    };
    await addJob('bench-fanout-100', 100);
    await addJob('bench-fanout-5', 5);

    const runs: JobRunMeasure[] = [];
    const plan = [...Array.from({ length: quick ? 1 : 3 }, () => 100), 5];
    for (const [n, concurrency] of plan.entries()) {
      const jobId = `bench-fanout-${concurrency}`;
      const t0 = performance.now();
      const result = await stack.client.workflow.execute<(input: { jobId: string }) => Promise<JobWorkflowResult>>('jobWorkflow', {
        taskQueue: stack.taskQueue,
        workflowId: `jobrun-${jobId}-bench-${n}`,
        args: [{ jobId }],
        workflowExecutionTimeout: '5 minutes',
      });
      const seconds = round((performance.now() - t0) / 1000, 2);
      runs.push({ concurrency, seconds, status: result.status, succeeded: result.summary.succeeded, failed: result.summary.failed });
      log(`jobs: ${TARGETS} targets at concurrency ${concurrency}: ${seconds} s, ${result.status} (${result.summary.succeeded} ok, ${result.summary.failed} failed)`);
    }
    const at100 = runs.filter((r) => r.concurrency === 100).map((r) => r.seconds);
    // The first run's Temporal shape, read from its history (and its children's, if any): per target.
    const workflows = await fetchShape(stack.client, `jobrun-bench-fanout-100-bench-0`);
    const total = totalCounts(workflows);
    const shape = { total, cloudActions: cloudActions(workflows), perTarget: { events: round(total.events / TARGETS, 2), workflowTasks: round(total.workflowTasks / TARGETS, 2), activities: round(total.activities / TARGETS, 2), localActivities: round(total.localActivities / TARGETS, 2), cloudActions: round(cloudActions(workflows) / TARGETS, 2), historyBytes: Math.round(total.historyBytes / TARGETS) } };
    log(`jobs: one run's shape: ${describeShape(workflows).join('; ')}`);
    return { targets: TARGETS, runs, medianSeconds: round(percentile(at100, 50), 2), shape };
  } finally {
    agent.shutdown();
    await running;
    await rm(scriptsDir, { recursive: true, force: true });
  }
}
