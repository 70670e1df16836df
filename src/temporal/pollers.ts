import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { withTimeout } from '../timeout.js';

const { TaskQueueKind, TaskQueueType } = proto.temporal.api.enums.v1;

/** A poller that polled within this long counts as online (Temporal keeps pollers listed for a while). */
export const ONLINE_WITHIN_MS = 90_000;

export interface Poller {
  identity: string;
  lastAccessTime: string | null;
  ratePerSecond: number;
}

export interface AgentStatus {
  online: boolean;
  pollers: Poller[];
}

/**
 * Who polls an activity task queue (a Doctor agent's queue), and whether any of them did recently.
 * Throws when Temporal cannot be asked within `timeoutMs`.
 */
export async function agentStatus(client: Client, namespace: string, queue: string, timeoutMs = 5000, now = Date.now()): Promise<AgentStatus> {
  const res = await withTimeout(
    client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: queue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    }),
    timeoutMs,
  );
  let online = false;
  const pollers = (res.pollers ?? []).map((p) => {
    const seconds = Number(p.lastAccessTime?.seconds ?? 0);
    const at = seconds > 0 ? seconds * 1000 + Math.floor((p.lastAccessTime?.nanos ?? 0) / 1e6) : 0;
    if (at > 0 && now - at < ONLINE_WITHIN_MS) online = true;
    return { identity: p.identity ?? '', lastAccessTime: at ? new Date(at).toISOString() : null, ratePerSecond: p.ratePerSecond ?? 0 };
  });
  return { online, pollers };
}
