import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { runScript } from '../src/executors/script-runner.js';
import { ScriptNotAllowedError } from '../src/executors/errors.js';

export interface AgentDeps {
  scriptsDir: string;
  /** Upper bound on any script's run time, whatever the rule asks. */
  maxTimeoutSeconds: number;
}

export interface AgentScriptInput {
  script: string;
  args: string[];
  timeoutSeconds: number;
  context?: Record<string, string>;
}

export interface ScriptActionResult {
  exitCode: number | null;
  outputExcerpt: string;
  error?: string | undefined;
  link?: string | undefined;
  timedOut?: boolean;
  durationMs?: number;
}

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
        context: input.context ?? {},
        timeoutMs,
        signal: ctx.cancellationSignal,
        onProgress: (p) => ctx.heartbeat(p),
      });
      const output = [r.stdout, r.stderr ? `--- stderr ---\n${r.stderr}` : ''].filter(Boolean).join('\n');
      return {
        exitCode: r.exitCode,
        outputExcerpt: output,
        timedOut: r.timedOut,
        durationMs: r.durationMs,
        ...(r.timedOut ? { error: `timed out after ${timeoutMs / 1000} s; process group killed` } : r.exitCode !== 0 ? { error: `exit code ${r.exitCode ?? r.signal}` } : {}),
      };
    } catch (err) {
      if (err instanceof ScriptNotAllowedError) throw ApplicationFailure.nonRetryable(err.message, 'ScriptNotAllowedError');
      throw err;
    }
  }
  return { runAgentScript };
}
