// Waiting for a Doctor agent before its script is queued (job targets, rule actions). A script queued at
// once waits in the agent's task queue for minutes when the agent is offline, and then runs on whatever
// agent polls that queue by then, whatever happened meanwhile. Instead the run waits on the agent's no-op
// `agentPresent`, checks its target again once an agent has answered, and only then queues the script
// with a short pickup wait.
import { ActivityFailure, ApplicationFailure, isCancellation, patched, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
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
 * A presence check the agent refused for the run's team (AgentTeamRefusedError) ends the run's target there:
 * failed, saying why, and no script task is queued. Before it, the run went on as if the agent had answered
 * and queued the script with a short pickup wait: the refusing agent mostly refused that too, but the task
 * sat in the agent's queue until then, and any agent polling that queue by then (one started in the
 * meantime, of any team, or whatever holds the queue's Temporal credentials) could take it. Asked only when
 * the check was refused, so every other history replays as it was recorded; one recorded before it queued
 * the script and replays so (test/workflows/histories/agent-refused-unpatched*.json).
 */
export const PRESENCE_REFUSAL_ENDS_RUN_PATCH = 'agent-presence-refusal-ends-run';

/** Why a run's agent target ends without its script when the presence check was refused (naming no team: action runs are read by every team). */
export const presenceRefused = (taskQueue: string): string =>
  `the Doctor agent on ${taskQueue} refused the presence check: it does not serve the team the task is for (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it), so no script task was queued`;

/** Whether an activity failed because the agent refused the run's team. */
const teamRefused = (err: unknown): boolean => err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'AgentTeamRefusedError';

/**
 * Waits until an agent polling `taskQueue` answers `agentPresent`, until `deadline` (workflow time):
 * 'present', or 'offline' when none picked the question up by then. An agent older than `agentPresent`
 * answers "not registered": having polled the task, it is there all the same. `team` (the one the script
 * will be sent for) is asked about: an agent that does not serve it fails the question (AgentTeamRefusedError,
 * non-retryable), answered 'refused' (PRESENCE_REFUSAL_ENDS_RUN_PATCH): the caller ends the target without
 * queueing its script. The refusal is the agent's own word (whoever polls the queue may say anything): it
 * can only stop a run, never make one go on. Two agents of different teams on one queue: whichever takes the
 * question decides, so a refusal by one ends the run although the other would have run it.
 */
export async function agentAnswers(taskQueue: string, deadline: number, team?: string): Promise<'present' | 'offline' | 'refused'> {
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
    if (teamRefused(err) && patched(PRESENCE_REFUSAL_ENDS_RUN_PATCH)) return 'refused';
  }
  return 'present';
}

/** The pickup wait of a script queued once an agent answered: within what is left of `deadline`, 5 s at least. */
export const claimedPickupSeconds = (deadline: number): number => Math.min(AGENT_CLAIMED_PICKUP_SECONDS, Math.max(5, Math.ceil((deadline - Date.now()) / 1000)));
