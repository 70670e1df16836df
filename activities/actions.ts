import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import type { Database, EnvironmentSsh } from '../src/db/database.js';
import { SCRIPT_DEFAULT_TIMEOUT_SECONDS } from '../src/domain/attempt-slack.js';
import { saasRetryPauses } from '../src/domain/retry-pause.js';
import { slackEscape } from '../src/domain/template.js';
import { environmentSsh, teamServesAgentQueue } from '../src/db/repositories/environment-settings.js';
import { findIncidentEnvironment } from '../src/db/repositories/incidents.js';
import { findRule } from '../src/db/repositories/rules.js';
import { findRuleStopped } from '../src/db/repositories/action-runs.js';
import { whilePostgresUnavailable } from '../src/db/unavailable.js';
import { ExecutorError } from '../src/executors/errors.js';
import { resolveUserSecretRef } from '../src/executors/secrets.js';
import type { Logger } from '../src/logger.js';
import type { WorkItemProvider } from '../src/executors/work-items.js';
import type { PagerDutyClient } from '../src/pagerduty/rest-client.js';
import { PagerDutyApiError } from '../src/pagerduty/rest-client.js';
import { mintApprovalLinks } from '../src/services/approvals.js';
import { commandDataProblem } from '../src/domain/shell-words.js';
import { ensureOwnWrites, type OwnWritesClient } from './own-writes.js';
import { remoteScriptPath, runOnManagementVm, type ScriptActionResult } from './script-result.js';
import { sendEmailInRounds, type EmailSender } from './email-rounds.js';
import { afterAskedPause, createSideEffects, usesRetryPauses, type EffectResult } from './side-effects.js';
import type { RunActionInput } from './types.js';

export interface ActionDeps {
  db: Kysely<Database>;
  logger: Logger;
  pagerduty?: PagerDutyClient | undefined;
  /** Notifications and work items; absent in processes that do not send them. */
  integrations?: Integrations | undefined;
  env?: NodeJS.ProcessEnv;
  /**
   * Outside an activity (tests): the time one attempt may spend calling providers (inside one it follows
   * the start-to-close timeout), and how long a Jira search miss may still be index lag.
   */
  sideEffects?: { budgetMs?: number; settleMs?: number } | undefined;
  /** SELFHEAL_PUBLIC_URL: approval notices carry approve/reject links under it (none without it). */
  publicUrl?: string | undefined;
  /** SELFHEAL_APPROVAL_LINK_TTL_MINUTES (default 60). */
  approvalLinkTtlMinutes?: number | undefined;
}

/**
 * The SaaS side effects, behind one seam so the worker wires real clients and tests wire local peers.
 * `signal` aborts a call at its attempt's deadline.
 */
export interface Integrations {
  /**
   * `setting` names where the hook's URL is configured (`the secret env:X (the action's webhookUrlRef)`): an
   * error that only a change there fixes (a redirect) says so. Never the URL itself, a secret.
   */
  slack(input: { webhookUrl: string; text: string; setting?: string | undefined; signal?: AbortSignal | undefined }): Promise<void>;
  email: EmailSender['email'];
  webhook(input: { url: string; body: string; secret?: string | undefined; idempotencyKey: string; signal?: AbortSignal | undefined }): Promise<void>;
  /** The provider of an action's work items; the activity creates and (after a lost answer) looks up. */
  workItems(target: { provider: 'ewm' | 'jira' | 'github'; project?: string | undefined; repo?: string | undefined }): WorkItemProvider;
  /** Find-then-create in one call, for callers outside an activity. */
  workItem(input: {
    provider: 'ewm' | 'jira' | 'github';
    idempotencyKey: string;
    project?: string | undefined;
    repo?: string | undefined;
    title: string;
    description: string;
    type?: string | undefined;
    filedAgainst?: string | undefined;
  }): Promise<{ id: string; url: string }>;
}

/**
 * Run one rule action that is not an agent script. Results are recorded by the workflow. Every external
 * side effect is keyed by the action run id (incident, rule, action and event) and goes through
 * side_effects (activities/side-effects.ts): a retry after a lost answer never makes a second ticket,
 * note or message; what each type guarantees is in docs/guarantees.md.
 */
export function createActionActivities(deps: ActionDeps) {
  const env = deps.env ?? process.env;
  const effects = createSideEffects({ db: deps.db, logger: deps.logger, ...(deps.sideEffects?.budgetMs ? { budgetMs: deps.sideEffects.budgetMs } : {}) });
  const settleMs = deps.sideEffects?.settleMs;
  const pagerduty = deps.pagerduty ? ensureOwnWrites(deps.pagerduty, { db: deps.db, logger: deps.logger, sideEffects: effects }) : undefined;

  async function executeAction(input: RunActionInput): Promise<ScriptActionResult> {
    const { action } = input;
    const p = action.params;
    const key = input.actionRunId;
    const once = { key, incidentId: input.incidentId };
    // Heartbeats carry a cancellation (a resolve) to the activity: the side effect is then not started, or
    // its call aborted (activities/side-effects.ts). An SSH script heartbeats on its own.
    const stopBeating = action.type === 'script.ssh' ? () => undefined : heartbeat();
    // The pauses of this action's retry policy, as the rule run built them (workflows/options.ts): a
    // provider's asked pause never shortens them (activities/side-effects.ts afterAskedPause).
    if (!action.type.startsWith('script.')) usesRetryPauses(saasRetryPauses(action.retry));
    try {
      switch (action.type) {
        case 'script.ssh':
          return await sshScript(input);
        case 'pagerduty.note': {
          const note = await pd().addNote(input.incidentId, String(p.content), { key });
          return ok(`note added${note.id ? ` (${note.id})` : ''}${how(note)}`);
        }
        case 'pagerduty.acknowledge':
          return ok(`acknowledged${how(await pd().updateIncident(input.incidentId, { status: 'acknowledged' }, { key, mayCall: ruleStillLive(input) }))}`);
        case 'pagerduty.resolve': {
          const r = await pd().updateIncident(input.incidentId, { status: 'resolved', ...(p.resolution ? { resolution: String(p.resolution) } : {}) }, { key, mayCall: ruleStillLive(input) });
          return ok(`resolved${how(r)}`);
        }
        case 'pagerduty.priority':
          return ok(`priority set to ${String(p.priorityId)}${how(await pd().updateIncident(input.incidentId, { priorityId: String(p.priorityId) }, { key, mayCall: ruleStillLive(input) }))}`);
        case 'pagerduty.escalate':
          return ok(`escalated to level ${String(p.level)}${how(await pd().updateIncident(input.incidentId, { escalationLevel: Number(p.level) }, { key }))}`);
        case 'notify.slack': {
          const webhookUrl = await resolveUserSecretRef(String(p.webhookUrlRef), env);
          const r = await effects.run({
            ...once,
            kind: 'notify.slack',
            // An incoming webhook gives no id, takes no key and cannot be read back: at most once.
            onUncertain: 'refuse',
            perform: async (ctx) => {
              // The links' `&` written as Slack asks for it (&amp;); the rule's text was rendered for Slack already.
              await integrations().slack({
                webhookUrl,
                text: String(p.text) + slackEscape(await approvalLinks(input)),
                setting: `the secret ${String(p.webhookUrlRef)} (the action's webhookUrlRef)`,
                signal: ctx.signal,
              });
              return {};
            },
          });
          return ok(`slack message sent${how(r)}`);
        }
        case 'notify.email': {
          const text = String(p.body ?? '') + (await approvalLinks(input));
          const r = await sendEmailInRounds({ effects, integrations: integrations(), key, kind: 'notify.email', incidentId: input.incidentId, to: p.to as string[], subject: String(p.subject), text });
          const later = r.laterRounds > 0 ? `; ${r.laterRounds === 1 ? 'one more round' : `${r.laterRounds} more rounds`} after the relay deferred some recipients` : '';
          return ok(`email sent${r.externalId ? ` (${r.externalId})` : ''}${later}${how(r)}`);
        }
        case 'notify.webhook': {
          const body = p.body !== undefined ? String(p.body) : JSON.stringify({ incidentId: input.incidentId, ruleId: input.ruleId, ruleVersion: input.ruleVersion, previous: input.previous });
          const secret = p.secretRef ? await resolveUserSecretRef(String(p.secretRef), env) : undefined;
          const r = await effects.run({
            ...once,
            kind: 'notify.webhook',
            // Every delivery carries the same Idempotency-Key: the receiver deduplicates a resend.
            onUncertain: 'resend',
            perform: async (ctx) => {
              await integrations().webhook({ url: String(p.url), body, secret, idempotencyKey: key, signal: ctx.signal });
              return {};
            },
          });
          return ok(`webhook delivered${how(r)}`);
        }
        case 'workitem': {
          const kind = p.provider as 'ewm' | 'jira' | 'github';
          const provider = integrations().workItems({ provider: kind, project: p.project as string | undefined, repo: p.repo as string | undefined });
          const item = {
            idempotencyKey: key,
            title: String(p.title),
            description: String(p.description ?? ''),
            ...(p.itemType !== undefined ? { type: String(p.itemType) } : {}),
            ...(p.filedAgainst !== undefined ? { filedAgainst: String(p.filedAgainst) } : {}),
            ...(p.project !== undefined ? { project: String(p.project) } : {}),
          };
          const r = await effects.run({
            ...once,
            kind: `workitem.${kind}`,
            // EWM and GitHub read the items themselves; Jira's search lags, so a miss there is only trusted
            // after the index had time, and then nothing is created blindly.
            onUncertain: kind === 'jira' ? 'lookup-settle' : 'lookup',
            ...(settleMs !== undefined ? { settleMs } : {}),
            find: async (ctx) => {
              const found = await provider.findByIdempotencyKey(key, { signal: ctx.signal, createdAfter: ctx.firstAttemptAt });
              return found ? { externalId: found.id, url: found.url } : null;
            },
            perform: async (ctx) => {
              const created = await provider.create(item, { signal: ctx.signal });
              return { externalId: created.id, url: created.url };
            },
          });
          return { exitCode: null, outputExcerpt: `work item ${r.externalId ?? ''}${how(r)}`, link: r.url };
        }
        default:
          throw ApplicationFailure.nonRetryable(`action type ${action.type} cannot run on the main worker`, 'ValidationError');
      }
    } catch (err) {
      throw toFailure(err);
    } finally {
      stopBeating();
    }
  }

  /**
   * The approve/reject lines of an approval notice, minted as the message goes out (inside the side
   * effect's attempt, after its claim): the tokens live only in the message, their hashes in Postgres.
   * Nothing without SELFHEAL_PUBLIC_URL, or once the approval's deadline has passed.
   */
  async function approvalLinks(input: RunActionInput): Promise<string> {
    const wanted = input.approvalLinks;
    const publicUrl = deps.publicUrl;
    if (!wanted || !publicUrl) return '';
    const ttlMs = (deps.approvalLinkTtlMinutes ?? 60) * 60_000;
    const deadline = Date.parse(wanted.deadline);
    const expiresAt = new Date(Math.min(Number.isNaN(deadline) ? Date.now() + ttlMs : deadline, Date.now() + ttlMs));
    if (expiresAt.getTime() <= Date.now()) return '';
    const links = await whilePostgresUnavailable(() => mintApprovalLinks(deps.db, { actionRunId: wanted.actionRunId, publicUrl, expiresAt }));
    return `\nApprove: ${links.approve}\nReject: ${links.reject}\n(each link works once, until ${expiresAt.toISOString()}, for someone signed in other than the rule's author)`;
  }

  /**
   * For a retry of an SSH script or a PagerDuty state change (after its retry policy's pause): a start of its
   * own, which an admin who disabled or deleted the rule meanwhile stopped, as its claim stops a remediation
   * not started yet. The SSH script asks before it connects; a PagerDuty write asks right before the write
   * (activities/side-effects.ts mayCall), so a retry that finds the first attempt's write recorded, or in
   * place at PagerDuty, still reports it done. The first attempt's claim checked the rule in its transaction.
   */
  function ruleStillLive(input: RunActionInput): (() => Promise<string | undefined>) | undefined {
    const attempt = attemptNumber();
    if (attempt <= 1) return undefined;
    return async () => {
      const stopped = await findRuleStopped(deps.db, input.ruleId);
      return stopped === undefined ? undefined : `attempt ${attempt} not run: its rule was ${stopped} while the run went on`;
    };
  }

  function pd(): OwnWritesClient {
    if (!pagerduty) throw ApplicationFailure.nonRetryable('PagerDuty write-back is off: set PAGERDUTY_API_TOKEN and PAGERDUTY_FROM_EMAIL', 'ValidationError');
    return pagerduty;
  }

  function integrations(): Integrations {
    if (!deps.integrations) throw ApplicationFailure.nonRetryable('notifications and work items are not configured on this worker', 'ValidationError');
    return deps.integrations;
  }

  async function sshScript(input: RunActionInput): Promise<ScriptActionResult> {
    const p = input.action.params;
    // A shell command runs only behind its approval (the planner gives it one whatever the stored rule
    // says); a command reaching here without one (a verification check, a row written around the API) never runs.
    if (p.command !== undefined && !input.action.approval) {
      throw ApplicationFailure.nonRetryable('a shell command runs only as an approved rule action, never as a check or unapproved', 'ValidationError');
    }
    const args = (p.args as string[] | undefined) ?? [];
    // A rule saved before the save refused it: incident data unquoted in a shell command is split and globbed,
    // handed to eval or sh -c it is code. Asked when the stored values are templated (the planner read them
    // before rendering); a plan made before it said so is asked whenever there are args or an environment.
    const templated = input.action.commandTakesData ?? (args.length > 0 || Object.keys((p.environment as Record<string, string> | undefined) ?? {}).length > 0);
    const split = p.command !== undefined && templated ? commandDataProblem(String(p.command)) : undefined;
    if (split) throw ApplicationFailure.nonRetryable(`not run: ${split}`, 'ValidationError');
    // A retry (an idempotent script's, after a pause up to a hundred times the first) is a start of its own:
    // an admin who disabled or deleted the rule meanwhile stopped it, as its claim stops a remediation not
    // started yet. The first attempt's claim checked the rule in its transaction.
    const stillLive = ruleStillLive(input);
    const stopped = stillLive && (await whilePostgresUnavailable(stillLive));
    if (stopped !== undefined) throw ApplicationFailure.nonRetryable(stopped, 'RuleStoppedError');
    const ssh = await managementVm(input);
    // A script runs as argv from the operator's scripts directory; a fixed command line (admin-only, always
    // approved first) runs under sh -c with the rendered args as $1, $2…, so templated values stay data.
    const command = p.script ? [remoteScriptPath(String(p.script), env), ...args] : ['sh', '-c', String(p.command), 'selfheal', ...args];
    return runOnManagementVm(ssh, command, (input.action.timeoutSeconds ?? SCRIPT_DEFAULT_TIMEOUT_SECONDS) * 1000, env, p.environment as Record<string, string> | undefined);
  }

  async function managementVm(input: RunActionInput): Promise<EnvironmentSsh> {
    // The environment the planner pinned (with the policies, the team check and the approval notice). Plans
    // made before the pin existed name none: those read the incident's environment as it is now.
    const pinned = input.action.params.sshEnvironment;
    // Read before anything runs: a Postgres blip here waits rather than spending the script's one attempt.
    const name = pinned !== undefined ? pinned || undefined : (await whilePostgresUnavailable(() => findIncidentEnvironment(deps.db, input.incidentId)))?.environment;
    if (typeof name !== 'string') throw ApplicationFailure.nonRetryable('no environment was extracted for this incident, so there is no management VM to reach', 'ValidationError');
    // The rule's own team's environment of that name only (the planner's team check): one deleted while the
    // action waited (an approval can take days) and registered again by another team is not where it runs.
    const ssh = await whilePostgresUnavailable(async () => {
      const team = (await findRule(deps.db, input.ruleId, { includeDeleted: true }))?.team;
      return team === undefined ? undefined : environmentSsh(deps.db, name, team);
    });
    if (!ssh) throw ApplicationFailure.nonRetryable(`environment ${name} has no management VM configured in the rule's team`, 'ValidationError');
    return ssh;
  }

  /**
   * Before a rule run queues an agent script (workflows/rule-run.ts, revision 4), once an agent answered on
   * the queue the planner pinned: the rule's team must still have an environment served there. One deleted
   * while the script waited and registered again by another team (whose agent polls that queue now) is not
   * where it runs: `refused` says so and the action fails without running.
   */
  async function agentTargetCheck(input: {
    ruleId: string;
    taskQueue: string;
    retrying?: boolean | undefined;
    firstAttempt?: { ruleVersion: number } | undefined;
  }): Promise<{ refused?: string; stopped?: string }> {
    // The planner pins '' when the incident had no registered environment: no agent is this rule's.
    if (input.taskQueue === '') return { refused: 'not run: the incident has no registered environment, so no Doctor agent to run the script on' };
    // A first attempt was claimed (its rule checked) before it waited for its agent, up to five minutes: an
    // admin who disabled or deleted the rule meanwhile stopped it, as the claim would have. `stopped`: the
    // script never started (the rule run records it skipped, workflows/rule-run.ts AGENT_WAIT_STOP_PATCH).
    if (input.firstAttempt) {
      const stoppedFirst = await findRuleStopped(deps.db, input.ruleId);
      if (stoppedFirst !== undefined) return { stopped: `not run: its rule was ${stoppedFirst} while the run went on (version ${input.firstAttempt.ruleVersion} planned it)` };
    }
    // A retry (revision 5) is a start of its own, after a pause up to a hundred times the first: an admin who
    // disabled or deleted the rule meanwhile stopped it, as its claim stops a remediation not started yet.
    const stopped = input.retrying ? await findRuleStopped(deps.db, input.ruleId) : undefined;
    if (stopped !== undefined) return { refused: `not run: its rule was ${stopped} while the run went on` };
    const team = (await findRule(deps.db, input.ruleId, { includeDeleted: true }))?.team;
    if (team !== undefined && (await teamServesAgentQueue(deps.db, team, input.taskQueue))) return {};
    // Not the team's name: this is the action run's error, which GET /api/incidents/{id} shows every reader
    // (incidents span teams, team names do not; the new holder of the queue's environment reads it too).
    return {
      refused: `not run: no environment of the rule's team${team === undefined ? ' (the rule is gone)' : ''} is served on agent queue ${input.taskQueue} any more (deleted, or registered again by another team, while the script waited for its agent)`,
    };
  }

  return { executeAction, agentTargetCheck };
}

/** How often a running action heartbeats; Temporal throttles what it sends to 80 % of the heartbeat timeout. */
export const ACTION_HEARTBEAT_MS = 1_000;

/**
 * Heartbeat while an action runs inside an activity (nothing outside one, e.g. in tests); returns the stop.
 * The first beat comes after ACTION_HEARTBEAT_MS, not at once: an action done sooner (most are) costs the
 * server no heartbeat, and a cancel that reaches no beat finds it ended, which the run records as it ended.
 */
function heartbeat(): () => void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return () => undefined;
  }
  const beat = setInterval(() => ctx.heartbeat(), ACTION_HEARTBEAT_MS);
  return () => clearInterval(beat);
}

/** The current activity's attempt (1 for the first); 1 outside an activity (tests). */
function attemptNumber(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

function ok(message: string): ScriptActionResult {
  return { exitCode: null, outputExcerpt: message };
}

/** How the result was obtained, when not by this attempt's own call. */
function how(r: { via?: EffectResult['via'] | undefined }): string {
  return r.via === 'found' ? ' (found after an unanswered attempt; not created again)' : r.via === 'recorded' ? ' (recorded by an earlier attempt)' : '';
}

/** Executor and API errors that will never succeed become non-retryable failures, named for the retry policy. */
export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ExecutorError && !err.retryable) return ApplicationFailure.nonRetryable(err.message, err.name);
  if (err instanceof PagerDutyApiError && !err.retryable) return ApplicationFailure.nonRetryable(err.message, 'NonRetryableError');
  // A 429 (or 503, or GitHub's rate-limit 403) with Retry-After: retried, not before the pause the provider
  // asked for (capped) nor before the retry policy's own.
  return afterAskedPause(err);
}
