import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { runScript } from '../src/executors/script-runner.js';
import { ScriptNotAllowedError } from '../src/executors/errors.js';
import { tailText } from '../src/domain/agent-result.js';
import { createTurns } from '../src/domain/turns.js';
import { scriptResult, type ScriptActionResult } from './script-result.js';

export interface AgentDeps {
  scriptsDir: string;
  /** Upper bound on any script's run time, whatever the rule asks. */
  maxTimeoutSeconds: number;
  /** Scripts run at once on this host; more wait in line on the agent (SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS). */
  maxConcurrentScripts: number;
  /**
   * The teams whose tasks this agent runs (SELFHEAL_AGENT_TEAMS), decided by whoever installed it on the
   * host; a task for any other team, or naming none, is refused before its script is looked at. Undefined:
   * every team's (the agent warns at start-up).
   */
  teams?: readonly string[] | undefined;
}

/** How often a script waiting for its turn heartbeats (scripts' heartbeat timeout is 30 s). */
const WAITING_HEARTBEAT_MS = 5_000;

export interface AgentScriptInput {
  script: string;
  args: string[];
  /** The rule's `environment` for the script (rendered); refused names fail the run (ScriptNotAllowedError). */
  env?: Record<string, string> | undefined;
  timeoutSeconds: number;
  context?: Record<string, string>;
  /** Answer only the end of the output, this many characters (a job's target: its history holds them all). */
  maxOutputChars?: number | undefined;
  /**
   * The team the task was dispatched for, from Postgres (the rule's, the job's, the environment's): never
   * from the incident. Absent in tasks queued before agents checked it: refused by an agent with teams set.
   */
  team?: string | undefined;
}

/**
 * Refuses a task whose team this agent does not serve (SELFHEAL_AGENT_TEAMS): non-retryable, naming no team:
 * the refusal is kept on the action run, and an incident's action runs are read by every team. Exported for the agent's tests.
 */
export function checkAgentTeam(teams: readonly string[] | undefined, team: string | undefined, script: string): void {
  if (teams === undefined) return;
  if (team === undefined) {
    throw ApplicationFailure.nonRetryable(`${script} was not run: the task names no team, and this Doctor agent runs only the tasks of the teams its SELFHEAL_AGENT_TEAMS lists`, 'AgentTeamRefusedError');
  }
  if (!teams.includes(team)) {
    throw ApplicationFailure.nonRetryable(`${script} was not run: this Doctor agent does not serve the team the task was sent for (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it)`, 'AgentTeamRefusedError');
  }
}

export type { ScriptActionResult };

/** Activities of the Doctor agent: run allow-listed scripts on this environment's task queue. */
export function createAgentActivities(deps: AgentDeps) {
  // Scripts wait for a turn here, not in the task queue: the agent picks every task up at once (so a
  // pickup wait never fails because the host is busy, and `agentPresent` is answered), and runs at most
  // `maxConcurrentScripts` of them. In a storm, a hundred fix scripts at once on one VM would be the
  // automation adding to the outage.
  const turns = createTurns({ running: deps.maxConcurrentScripts, waiting: Number.POSITIVE_INFINITY });

  /**
   * A turn for a script, within its run time: the wait counts against `timeoutMs` (the workflow's
   * start-to-close timeout is the run time and a few seconds). Heartbeats while in line, so a
   * cancellation reaches it and it leaves the line. Throws AgentBusyError when the run time was spent
   * waiting: the script was not run.
   */
  async function turnWithin(ctx: Context, script: string, timeoutMs: number): Promise<number> {
    const start = Date.now();
    const waited = AbortSignal.any([ctx.cancellationSignal, AbortSignal.timeout(timeoutMs)]);
    if (turns.counts.running >= deps.maxConcurrentScripts) ctx.log.info('script waits for a turn', { script, ...turns.counts, maxConcurrentScripts: deps.maxConcurrentScripts });
    const beat = setInterval(() => ctx.heartbeat({ waitingForTurn: true, ...turns.counts }), WAITING_HEARTBEAT_MS);
    try {
      if (await turns.take(waited)) return Date.now() - start;
    } finally {
      clearInterval(beat);
    }
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
    throw ApplicationFailure.retryable(
      `${script} was not run: this agent ran ${deps.maxConcurrentScripts} script(s) at once (SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS) for the whole of its ${Math.round(timeoutMs / 1000)} s run time`,
      'AgentBusyError',
    );
  }

  async function runAgentScript(input: AgentScriptInput): Promise<ScriptActionResult> {
    const ctx = Context.current();
    checkAgentTeam(deps.teams, input.team, input.script);
    const limitMs = Math.min(input.timeoutSeconds, deps.maxTimeoutSeconds) * 1000;
    const waitedMs = await turnWithin(ctx, input.script, limitMs);
    const timeoutMs = Math.max(1, limitMs - waitedMs);
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
    } finally {
      turns.release();
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
