// The history retention schedule: one system Temporal Schedule per deployment that starts
// `retentionWorkflow` every hour on the deployment's main task queue, where its worker purges its own
// database. The worker creates it at start, or updates it to the current SELFHEAL_RETENTION_DAYS; job
// schedule reconciliation (`job-*`) never touches it. Deployments sharing a Temporal namespace have
// their own task queues, so the id carries the task queue (the default one keeps the original id): one
// fixed id would be taken over by whichever worker started last, and the other database never purged.
import { encodeScheduleOverlapPolicy, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import proto from '@temporalio/proto';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../logger.js';

/** Names Temporal stores are forever. */
export const RETENTION_SCHEDULE_ID = 'selfheal-history-retention';
export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';
const DEFAULT_TASK_QUEUE = 'selfheal';

/** The retention schedule (and its runs' workflow id) of the deployment polling `taskQueue`. */
export function retentionScheduleId(taskQueue: string): string {
  return taskQueue === DEFAULT_TASK_QUEUE ? RETENTION_SCHEDULE_ID : `${RETENTION_SCHEDULE_ID}-${taskQueue}`;
}

export interface RetentionScheduleOptions {
  taskQueue: string;
  retentionDays: number;
  /** Rows per table per batch, and batches per run (the next run goes on). */
  batchSize?: number;
  maxBatches?: number;
}

const HOUR_MS = 3_600_000;

function action(o: RetentionScheduleOptions): ScheduleOptions['action'] {
  return {
    type: 'startWorkflow' as const,
    workflowType: RETENTION_WORKFLOW_TYPE,
    workflowId: retentionScheduleId(o.taskQueue),
    taskQueue: o.taskQueue,
    args: [{ retentionDays: o.retentionDays, batchSize: o.batchSize ?? 5000, maxBatches: o.maxBatches ?? 200 }],
    workflowRunTimeout: HOUR_MS,
  };
}

const spec = { intervals: [{ every: HOUR_MS }] };
const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: HOUR_MS };
const note = (o: RetentionScheduleOptions) => `purges incident history older than ${o.retentionDays} days (SELFHEAL_RETENTION_DAYS)`;

/** How long a worker's start goes on bringing the schedule in line before it gives up and says why. */
const ENSURE_DEADLINE_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Creates the retention schedule, or brings it in line with the configuration; says which. A schedule
 * already in line is left alone ('unchanged'): every worker start calls this, and nothing is written.
 * A changed configuration is written with the conflict token of the read it was made from, so it lands
 * only on the schedule as read: an operator's pause (or any other change) that reaches Temporal between
 * the read and the write makes Temporal drop the write, and it is made again from a new read, which
 * carries the pause and the operator's note over (a paused schedule's note is the operator's reason).
 * The SDK's `update` sends no conflict token, hence the request made here (`writeInLine`).
 */
export async function ensureRetentionSchedule(client: Client, o: RetentionScheduleOptions, logger?: Logger): Promise<'created' | 'updated' | 'unchanged'> {
  const scheduleId = retentionScheduleId(o.taskQueue);
  const handle = client.schedule.getHandle(scheduleId);
  const deadline = Date.now() + ENSURE_DEADLINE_MS;
  /** The conflict token our last write was made against, until Temporal has taken it or dropped it. */
  let written: Uint8Array | undefined;
  for (;;) {
    let current: ScheduleDescription;
    try {
      current = await handle.describe();
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
      break;
    }
    if (inLine(current, o)) {
      if (written) logger?.info({ scheduleId, retentionDays: o.retentionDays }, 'retention schedule updated');
      return written ? 'updated' : 'unchanged';
    }
    if (Date.now() > deadline) throw new Error(`retention schedule ${scheduleId} could not be brought in line with the configuration within ${ENSURE_DEADLINE_MS / 1000} s`);
    const token = current.raw.conflictToken ?? undefined;
    if (written && token && Buffer.from(token).equals(Buffer.from(written))) {
      // Temporal applies a write to the schedule's own workflow; ours has not been taken or dropped yet.
      await sleep(100);
      continue;
    }
    if (written) logger?.info({ scheduleId }, 'retention schedule changed while it was being updated; updating again from what it is now');
    await writeInLine(client, scheduleId, current, o, token);
    written = token ?? new Uint8Array();
  }
  try {
    await client.schedule.create({ scheduleId, spec, action: action(o), policies, state: { note: note(o) } });
  } catch (err) {
    // Another worker created it at the same moment: make it ours.
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    return ensureRetentionSchedule(client, o, logger);
  }
  logger?.info({ scheduleId, retentionDays: o.retentionDays }, 'retention schedule created');
  return 'created';
}

/**
 * Write the configuration over `current`, valid only while the schedule's conflict token is still
 * `token`. The action keeps what the read holds besides what we set (the SDK's headers and defaults).
 */
async function writeInLine(client: Client, scheduleId: string, current: ScheduleDescription, o: RetentionScheduleOptions, token: Uint8Array | undefined): Promise<void> {
  const want = action(o);
  if (want.type !== 'startWorkflow') throw new Error('the retention schedule starts a workflow');
  const converter = client.options.loadedDataConverter;
  let payloads = want.args?.map((a) => converter.payloadConverter.toPayload(a)) ?? [];
  for (const codec of converter.payloadCodecs) payloads = await codec.encode(payloads);
  const paused = current.state.paused;
  await client.workflowService.updateSchedule({
    namespace: client.options.namespace,
    scheduleId,
    conflictToken: token ?? null,
    identity: client.options.identity,
    requestId: randomUUID(),
    schedule: {
      spec: { interval: [{ interval: msToTs(HOUR_MS) }] },
      action: {
        startWorkflow: {
          ...current.raw.schedule?.action?.startWorkflow,
          workflowId: want.workflowId,
          workflowType: { name: RETENTION_WORKFLOW_TYPE },
          taskQueue: { name: o.taskQueue, kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          input: { payloads },
          workflowRunTimeout: msToTs(HOUR_MS),
        },
      },
      policies: { overlapPolicy: encodeScheduleOverlapPolicy(policies.overlap), catchupWindow: msToTs(HOUR_MS), pauseOnFailure: false },
      state: { paused, notes: paused ? (current.state.note ?? '') : note(o) },
    },
  });
}

/** Whether a described schedule already runs what `o` configures, every hour, with our policies. */
function inLine(d: ScheduleDescription, o: RetentionScheduleOptions): boolean {
  const want = action(o);
  if (d.action.type !== 'startWorkflow' || want.type !== 'startWorkflow') return false;
  return (
    d.action.workflowType === want.workflowType &&
    d.action.workflowId === want.workflowId &&
    d.action.taskQueue === want.taskQueue &&
    d.action.workflowRunTimeout === HOUR_MS &&
    isDeepStrictEqual(d.action.args, want.args) &&
    isDeepStrictEqual(d.spec.intervals?.map((i) => [i.every, i.offset ?? 0]), [[HOUR_MS, 0]]) &&
    !d.spec.calendars?.length &&
    d.policies.overlap === policies.overlap &&
    d.policies.catchupWindow === HOUR_MS &&
    d.policies.pauseOnFailure === false
  );
}
