// Each job is one Temporal Schedule (id `job-<jobId>`) whose action starts `jobWorkflow` on the main
// task queue. Schedules are kept in step with the jobs table: by the API on every change, and by
// reconcileSchedules at worker start.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
} from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { jobDefinitionSchema, overlapToTemporal, scheduleSpecOf, type JobDefinition, type OverlapPolicy } from '../domain/jobs.js';
import type { Logger } from '../logger.js';
import { jobScheduleId, searchAttributes } from './names.js';

export const JOB_WORKFLOW_TYPE = 'jobWorkflow';
/** Workflow ids of a job's runs: `jobrun-<jobId>-<scheduled time>` (Temporal appends the time). */
export const jobRunWorkflowIdPrefix = (jobId: string): string => `jobrun-${jobId}`;
const SCHEDULE_PREFIX = jobScheduleId('');

export interface ScheduleTarget {
  /** The main worker's task queue, where jobWorkflow runs. */
  taskQueue: string;
}


function action(job: JobDefinition, target: ScheduleTarget): ScheduleOptions['action'] {
  return {
    type: 'startWorkflow' as const,
    workflowType: JOB_WORKFLOW_TYPE,
    workflowId: jobRunWorkflowIdPrefix(job.id),
    taskQueue: target.taskQueue,
    args: [{ jobId: job.id }],
    memo: { jobId: job.id, jobName: job.name },
    typedSearchAttributes: [{ key: searchAttributes.jobId, value: job.id }],
    // One run should never last longer than a day; a stuck run must not block the schedule forever.
    workflowRunTimeout: '24 hours',
  };
}

function spec(job: JobDefinition) {
  const s = scheduleSpecOf(job.schedule);
  return {
    ...(s.intervals ? { intervals: s.intervals } : {}),
    ...(s.cronExpressions ? { cronExpressions: s.cronExpressions } : {}),
    timezone: s.timezone,
  };
}

function policies(job: JobDefinition) {
  return { overlap: overlapToTemporal[job.schedule.overlap as OverlapPolicy], catchupWindow: job.schedule.catchupWindow };
}

export function jobScheduleOptions(job: JobDefinition, target: ScheduleTarget): ScheduleOptions {
  return {
    scheduleId: jobScheduleId(job.id),
    spec: spec(job),
    action: action(job, target),
    policies: policies(job),
    memo: { jobId: job.id, jobName: job.name },
    typedSearchAttributes: [{ key: searchAttributes.jobId, value: job.id }],
    state: { paused: !job.enabled, note: job.enabled ? `job ${job.id}` : 'disabled' },
  };
}

/** Create the job's schedule; if one already exists (left over), update it to match instead. */
export async function createJobSchedule(client: Client, job: JobDefinition, target: ScheduleTarget): Promise<void> {
  try {
    await client.schedule.create(jobScheduleOptions(job, target));
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await updateJobSchedule(client, job, target);
  }
}

/** Update the job's schedule to match its definition (`enabled` decides paused); create it when missing. */
export async function updateJobSchedule(client: Client, job: JobDefinition, target: ScheduleTarget): Promise<void> {
  try {
    await client.schedule.getHandle(jobScheduleId(job.id)).update((prev) => ({
      spec: spec(job),
      action: action(job, target),
      policies: { ...policies(job), pauseOnFailure: prev.policies.pauseOnFailure },
      state: { paused: !job.enabled, note: job.enabled ? `job ${job.id}` : 'disabled' },
    }));
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    await client.schedule.create(jobScheduleOptions(job, target));
  }
}

/** Delete the job's schedule; a schedule already gone is fine. */
export async function deleteJobSchedule(client: Client, jobId: string): Promise<void> {
  try {
    await client.schedule.getHandle(jobScheduleId(jobId)).delete();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

export async function pauseJobSchedule(client: Client, jobId: string, note = 'paused through the API'): Promise<void> {
  await client.schedule.getHandle(jobScheduleId(jobId)).pause(note);
}

export async function resumeJobSchedule(client: Client, jobId: string, note = 'resumed through the API'): Promise<void> {
  await client.schedule.getHandle(jobScheduleId(jobId)).unpause(note);
}

/** Start one run now; the job's overlap policy still applies. */
export async function triggerJobSchedule(client: Client, jobId: string, overlap?: OverlapPolicy): Promise<void> {
  await client.schedule.getHandle(jobScheduleId(jobId)).trigger(overlap ? overlapToTemporal[overlap] : undefined);
}

/** Take the actions the schedule would have taken between start and end. */
export async function backfillJobSchedule(client: Client, jobId: string, start: Date, end: Date, overlap?: OverlapPolicy): Promise<void> {
  await client.schedule.getHandle(jobScheduleId(jobId)).backfill({ start, end, ...(overlap ? { overlap: overlapToTemporal[overlap] } : {}) });
}

export interface JobScheduleState {
  paused: boolean;
  note: string | null;
  nextRunTimes: string[];
  recentRuns: { scheduledAt: string; takenAt: string; workflowId: string }[];
  runningWorkflowIds: string[];
  actionsTaken: number;
  skippedOverlap: number;
  missedCatchupWindow: number;
}

export function scheduleState(d: ScheduleDescription): JobScheduleState {
  return {
    paused: d.state.paused,
    note: d.state.note ?? null,
    nextRunTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentRuns: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
    runningWorkflowIds: d.info.runningActions.map((a) => a.workflow.workflowId),
    actionsTaken: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
  };
}

/** The schedule's state, or null when it does not exist. */
export async function describeJobSchedule(client: Client, jobId: string): Promise<JobScheduleState | null> {
  try {
    return scheduleState(await client.schedule.getHandle(jobScheduleId(jobId)).describe());
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

/**
 * At worker start: every live job gets its schedule (created when missing, paused when the job is
 * disabled) and every `job-*` schedule without a live job is deleted. Each change is logged.
 */
export async function reconcileSchedules(
  client: Client,
  db: Kysely<Database>,
  logger: Logger,
  target: ScheduleTarget,
): Promise<{ created: string[]; deleted: string[]; invalid: string[] }> {
  const log = logger.child({ component: 'schedules' });
  const rows = await db.selectFrom('jobs').select(['id', 'definition', 'enabled']).where('deleted_at', 'is', null).execute();
  const live = new Set(rows.map((r) => r.id));
  const created: string[] = [];
  const deleted: string[] = [];
  const invalid: string[] = [];

  for (const row of rows) {
    const scheduleId = jobScheduleId(row.id);
    try {
      await client.schedule.getHandle(scheduleId).describe();
      continue;
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    const parsed = jobDefinitionSchema.safeParse(row.definition);
    if (!parsed.success) {
      invalid.push(row.id);
      log.error({ jobId: row.id, scheduleId, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'job definition invalid; schedule not created');
      continue;
    }
    await createJobSchedule(client, { ...parsed.data, id: row.id, enabled: row.enabled } as JobDefinition, target);
    created.push(row.id);
    log.info({ jobId: row.id, scheduleId }, 'created missing job schedule');
  }

  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(SCHEDULE_PREFIX)) continue;
    const jobId = s.scheduleId.slice(SCHEDULE_PREFIX.length);
    if (live.has(jobId)) continue;
    await deleteJobSchedule(client, jobId);
    deleted.push(jobId);
    log.info({ jobId, scheduleId: s.scheduleId }, 'deleted orphaned job schedule');
  }
  return { created, deleted, invalid };
}
