import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { runScript } from '../src/executors/script-runner.js';
import { ScriptNotAllowedError } from '../src/executors/errors.js';
import { tailText } from '../src/domain/agent-result.js';
import { scriptResult, type ScriptActionResult } from './script-result.js';

export interface AgentDeps {
  scriptsDir: string;
  /** Upper bound on any script's run time, whatever the rule asks. */
  maxTimeoutSeconds: number;
}

export interface AgentScriptInput {
  script: string;
  args: string[];
  /** The rule's `environment` for the script (rendered); refused names fail the run (ScriptNotAllowedError). */
  env?: Record<string, string> | undefined;
  timeoutSeconds: number;
  context?: Record<string, string>;
  /** Answer only the end of the output, this many characters (a job's target: its history holds them all). */
  maxOutputChars?: number | undefined;
}

export type { ScriptActionResult };

/** Activities of the Doctor agent: run allow-listed scripts on this environment's task queue. */
export function createAgentActivities(deps: AgentDeps) {
  async function runAgentScript(input: AgentScriptInput): Promise<ScriptActionResult> {
    const ctx = Context.current();
    const timeoutMs = Math.min(input.timeoutSeconds, deps.maxTimeoutSeconds) * 1000;
    try {
      const r = await runScript({
        scriptsDir: deps.scriptsDir,
        script: input.script,
        args: input.args,
        env: input.env ?? {},
        context: input.context ?? {},
        timeoutMs,
        signal: ctx.cancellationSignal,
        onProgress: (p) => ctx.heartbeat(p),
      });
      const result = scriptResult(r, timeoutMs);
      return input.maxOutputChars ? { ...result, outputExcerpt: tailText(result.outputExcerpt, input.maxOutputChars) } : result;
    } catch (err) {
      if (err instanceof ScriptNotAllowedError) throw ApplicationFailure.nonRetryable(err.message, 'ScriptNotAllowedError');
      throw err;
    }
  }
  /**
   * Answers at once and does nothing: a job's target waits for its agent on this activity, not on the
   * script, so the run can check the target again once an agent is there and before the script is queued
   * (workflows/job.ts, AGENT_CLAIM_PATCH).
   */
  async function agentPresent(): Promise<{ present: true }> {
    return { present: true };
  }
  return { runAgentScript, agentPresent };
}
