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
 * the refusal is kept on the action run, and an incident's action runs are read by every team. A task naming
 * no team was queued by a release from before tasks carried theirs (a rule run, job run or check in flight
 * across the upgrade): it fails at once, saying so and that a run started now carries its team, never
 * retried (the same task would be refused again). Exported for the agent's tests.
 */
export function checkAgentTeam(teams: readonly string[] | undefined, team: string | undefined, script: string): void {
  const refusal = agentTeamRefusal(teams, team);
  if (refusal === 'no team') {
    throw ApplicationFailure.nonRetryable(
      `${script} was not run: the task names no team (it was queued before the upgrade that made every task carry its team), and this Doctor agent runs only the tasks of the teams its SELFHEAL_AGENT_TEAMS lists; start the run again: a run started now carries its team`,
      'AgentTeamRefusedError',
    );
  }
  if (refusal === 'other team') {
    throw ApplicationFailure.nonRetryable(`${script} was not run: this Doctor agent does not serve the team the task was sent for (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it)`, 'AgentTeamRefusedError');
  }
}

/** Why a task of `team` is refused by an agent serving `teams` (undefined: every team), or undefined when it is not. */
function agentTeamRefusal(teams: readonly string[] | undefined, team: string | undefined): 'no team' | 'other team' | undefined {
  if (teams === undefined) return undefined;
  if (team === undefined) return 'no team';
  return teams.includes(team) ? undefined : 'other team';
}

/** What `agentPresent` is asked: the team the script that follows will be sent for (absent from runs started before it was). */
export interface AgentPresentInput {
  team?: string | undefined;
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

  /**
   * A refused task is said in the agent's own log too, for the host's operator: with the task's team (the
   * refusal kept on the run names none) and the run it came from, so a task queued before the upgrade
   * (no team) is told apart from a team this host does not serve.
   */
  function refuseOnHost(ctx: Context, team: string | undefined, what: string): void {
    const refusal = agentTeamRefusal(deps.teams, team);
    if (refusal === undefined) return;
    const { workflowExecution, activityType } = ctx.info;
    ctx.log.warn(
      refusal === 'no team'
        ? `${what} refused: the task names no team (queued before the upgrade that made every task carry its team); it fails, not retried, and a run started again carries its team`
        : `${what} refused: its team is not one of SELFHEAL_AGENT_TEAMS`,
      { team: team ?? null, teams: deps.teams ?? '*', activityType, workflowId: workflowExecution?.workflowId, runId: workflowExecution?.runId },
    );
  }

  async function runAgentScript(input: AgentScriptInput): Promise<ScriptActionResult> {
    const ctx = Context.current();
    refuseOnHost(ctx, input.team, input.script);
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
   * (workflows/job.ts, AGENT_CLAIM_PATCH). Asked for a team this agent does not serve, it is not present for
   * that team: it fails non-retryable (AgentTeamRefusedError, naming no team) and logs it on the host; the
   * run (workflows/agent-pickup.ts, PRESENCE_REFUSAL_ENDS_RUN_PATCH) then ends that target failed, saying
   * why, without queueing the script (a run recorded before it queued the script, which this agent refused at
   * once). Asked without a team (a run started before the presence check carried one), it answers: the
   * script's own check decides.
   */
  async function agentPresent(input?: AgentPresentInput): Promise<{ present: true }> {
    const team = input?.team;
    if (team !== undefined && agentTeamRefusal(deps.teams, team) !== undefined) {
      refuseOnHost(Context.current(), team, 'presence check');
      throw ApplicationFailure.nonRetryable(
        'this Doctor agent is not present for the team the presence check was sent for: its SELFHEAL_AGENT_TEAMS, set on its host, does not list it, and it would refuse the script',
        'AgentTeamRefusedError',
      );
    }
    return { present: true };
  }
  return { runAgentScript, agentPresent };
}
