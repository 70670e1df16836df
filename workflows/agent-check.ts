// `selfheal environments check`: run the allow-listed health-check script once on an environment's
// Doctor agent, end to end through its task queue. A short schedule-to-start timeout turns "no agent
// is polling" into a quick, clear answer instead of a task that waits for minutes.
import { ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import type { createAgentActivities } from '../activities/agent.js';
import { agentOutcome, errorText } from '../src/domain/agent-result.js';
import { AGENT_CHECK_SCRIPT, type AgentCheckInput, type AgentCheckResult } from '../src/contracts/jobs.js';

type AgentActivities = ReturnType<typeof createAgentActivities>;

export type { AgentCheckInput, AgentCheckResult };

export async function agentCheckWorkflow(input: AgentCheckInput): Promise<AgentCheckResult> {
  const script = input.script ?? AGENT_CHECK_SCRIPT;
  const timeoutSeconds = input.timeoutSeconds ?? 60;
  const agent = proxyActivities<AgentActivities>({
    taskQueue: input.taskQueue,
    scheduleToStartTimeout: `${input.scheduleToStartSeconds ?? 15} seconds`,
    startToCloseTimeout: `${timeoutSeconds + 15} seconds`,
    retry: { maximumAttempts: 1 },
  });
  const base = { environment: input.environment, taskQueue: input.taskQueue, script };
  try {
    // The agent's answer is untrusted: reduced to the documented shape before it is reported.
    const r = agentOutcome(await agent.runAgentScript({ script, args: [], timeoutSeconds, ...(input.team !== undefined ? { team: input.team } : {}) }));
    return {
      ...base,
      healthy: r.exitCode === 0 && !r.timedOut,
      reached: true,
      exitCode: r.exitCode,
      output: r.outputExcerpt,
      ...(r.error ? { error: r.error } : {}),
      ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
    };
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const cause = err.cause;
    if (cause instanceof TimeoutFailure && cause.timeoutType === TimeoutType.SCHEDULE_TO_START) {
      return { ...base, healthy: false, reached: false, exitCode: null, output: '', error: `no Doctor agent picked the check up from ${input.taskQueue} within ${input.scheduleToStartSeconds ?? 15} s` };
    }
    // Whatever the agent (or whoever holds its queue) failed with, bounded as a rule run's or job's error.
    const message = cause instanceof ApplicationFailure ? `${cause.type ?? 'error'}: ${cause.message}` : (cause?.message ?? err.message);
    return { ...base, healthy: false, reached: true, exitCode: null, output: '', error: errorText(message) };
  }
}
