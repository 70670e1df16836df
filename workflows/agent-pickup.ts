// Waiting for a Doctor agent before its script is queued (job targets, rule actions). A script queued at
// once waits in the agent's task queue for minutes when the agent is offline, and then runs on whatever
// agent polls that queue by then, whatever happened meanwhile. Instead the run waits on the agent's no-op
// `agentPresent`, checks its target again once an agent has answered, and only then queues the script
// with a short pickup wait.
import { ActivityFailure, isCancellation, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import type { createAgentActivities } from '../activities/agent.js';

type AgentActivities = ReturnType<typeof createAgentActivities>;

/** How long a script waits at most for pickup by an agent that has just answered `agentPresent`. */
export const AGENT_CLAIMED_PICKUP_SECONDS = 30;

/** Whether an activity failed because no worker picked its task up in time (schedule-to-start). */
export function pickupTimedOut(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START;
}

/** Whole seconds left until `deadline` (workflow time), 1 at least. */
export const secondsUntil = (deadline: number): number => Math.max(1, Math.ceil((deadline - Date.now()) / 1000));

/**
 * Waits until an agent polling `taskQueue` answers `agentPresent`, until `deadline` (workflow time):
 * 'present', or 'offline' when none picked the question up by then. An agent older than `agentPresent`
 * answers "not registered": having polled the task, it is there all the same. `team` (the one the script
 * will be sent for) is asked about: an agent that does not serve it fails the question (AgentTeamRefusedError,
 * non-retryable) and refuses the script that follows at once, so the run fails saying why instead of
 * waiting. Only the question's input changed, not what the run does with the answer: histories replay.
 */
export async function agentAnswers(taskQueue: string, deadline: number, team?: string): Promise<'present' | 'offline'> {
  try {
    const agent = proxyActivities<AgentActivities>({
      taskQueue,
      scheduleToStartTimeout: `${secondsUntil(deadline)} seconds`,
      startToCloseTimeout: '30 seconds',
      retry: { maximumAttempts: 1 },
    });
    await (team !== undefined ? agent.agentPresent({ team }) : agent.agentPresent());
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (pickupTimedOut(err)) return 'offline';
  }
  return 'present';
}

/** The pickup wait of a script queued once an agent answered: within what is left of `deadline`, 5 s at least. */
export const claimedPickupSeconds = (deadline: number): number => Math.min(AGENT_CLAIMED_PICKUP_SECONDS, Math.max(5, Math.ceil((deadline - Date.now()) / 1000)));
