// Fleet blast radius and flapping in the planner (issue 22). `checkGuards` runs inside the match's
// transaction, after the rule's own policies said "run": under one advisory lock shared by every worker
// replica it reads the pauses in force, the target's recent remediations and each guard's window, and
// either lets the remediation through (recording it, so the next decision counts it) or turns the match
// into notifications only, pausing automation when a guard is crossed. Check and record are one
// transaction: no check-then-act race (docs/guarantees.md). The pages and notes this owes are rows in
// automation_alerts, delivered once after the transaction commits by `deliverAutomationAlerts`. An approved
// remediation is checked again when it starts (`checkApprovedStart`, for activities/action-runs.ts), for
// flapping and the guards: the windows count it from when it runs, not from when it was planned, possibly
// days before. A remediation settled without any of its remediation actions starting (rejected, timed out
// to reject, skipped at its approved start, cancelled before it started) stops counting: released
// (`releaseUnstartedRemediation`, under the same lock) by the activities that record those outcomes
// (activities/action-runs.ts), at the latest when its rule run records its outcome.
import { ApplicationFailure } from '@temporalio/common';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../src/db/database.js';
import {
  claimAlerts,
  countActions,
  countTargetRemediations,
  countTargets,
  flappingPagedSince,
  insertAlert,
  insertPause,
  insertRemediation,
  knownHosts,
  lastResumedAt,
  lockGuards,
  markAlertOwed,
  markAlertSent,
  pauseCovering,
} from '../src/db/repositories/guards.js';
import { resolveSecretRef } from '../src/executors/secrets.js';
import {
  flappingLimit,
  flappingViolation,
  guardSpecs,
  guardViolation,
  isRemediationType,
  pausedReason,
  type GuardConfig,
  type GuardScope,
  type GuardViolation,
  type RuleGuards,
} from '../src/domain/guards.js';
import { restampRemediation } from '../src/db/repositories/action-runs.js';
import { NOTIFY_ONLY_TYPES } from '../src/domain/policies.js';
import type { Rule } from '../src/domain/rules/schema.js';
import { slackEscape } from '../src/domain/template.js';
import type { Logger } from '../src/logger.js';
import type { Integrations } from './actions.js';
import type { OwnWritesClient } from './own-writes.js';
import { sendEmailInRounds } from './email-rounds.js';
import { createSideEffects } from './side-effects.js';
import type { MatchDecision } from './types.js';

export interface GuardDeps {
  db: Kysely<Database>;
  logger: Logger;
  guards: GuardConfig;
  integrations?: Integrations | undefined;
  pagerduty?: Pick<OwnWritesClient, 'addNote'> | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

interface Decided {
  decision: MatchDecision;
  skipReason?: string | undefined;
  breakerTrial?: boolean | undefined;
}

export interface GuardCheck {
  decided: Decided;
  /** Record the remediation the guards let through (no-op otherwise), once the match has its id. */
  record(matchId: string): Promise<void>;
  /** An alert was written (a page or incident note owed): the caller delivers it after the transaction. */
  alerted: boolean;
}

/** A remediation stopped by a guard or flapping: notifications still run when the rule has some. */
const stopped = (rule: Rule, reason: string): Decided => ({
  decision: rule.actions.some((a) => NOTIFY_ONLY_TYPES.has(a.type)) ? 'notify_only' : 'skipped',
  skipReason: reason,
});

export function createGuards(deps: Pick<GuardDeps, 'guards' | 'logger'>) {
  const config = deps.guards;

  async function checkGuards(
    trx: Transaction<Database>,
    m: {
      rule: Rule;
      decided: Decided;
      incidentId: string;
      target: string | undefined;
      host: string | undefined;
      environment: string | undefined;
      /** The team owning the incident's environment, when it is registered. */
      environmentTeam?: string | undefined;
      at: Date;
    },
  ): Promise<GuardCheck> {
    const pass: GuardCheck = { decided: m.decided, record: async () => undefined, alerted: false };
    // A `verify.check` that runs a script touches the host like a fix (any allow-listed script, after each
    // settle, until `within`): it counts as one more action. Before, a rule of notifications and a check
    // passed here untouched and ran its script on every host while automation was paused, counted by no guard.
    const check = m.rule.verify?.check;
    const actions = m.rule.actions.filter((a) => isRemediationType(a.type)).length + (check !== undefined && isRemediationType(check.type) ? 1 : 0);
    if (m.decided.decision !== 'run' || actions === 0) return pass;
    const ruleGuards = m.rule.guards;
    const team = m.rule.team;
    await lockGuards(trx);

    const pause = await pauseCovering(trx, m.environment);
    if (pause) return { ...pass, decided: stopped(m.rule, pausedReason({ scope: pause.scope as GuardScope, environment: pause.environment, guard: pause.guard, pausedAt: pause.paused_at })) };

    // Flapping is a host's: an environment named as the target (no host extracted) holds many hosts.
    // A host's flapping and an environment's share are its team's: a rule of another team (it runs no
    // script there: policies.ts) counts its own team's remediations and never pauses that environment.
    const flapping = m.host ? await flappingOf(trx, { host: m.host, ruleGuards, at: m.at, team }) : undefined;
    if (flapping) {
      await flappingAlert(trx, flapping, { incidentId: m.incidentId, ruleId: m.rule.id, at: m.at });
      return { ...pass, decided: stopped(m.rule, flapping.reason), alerted: true };
    }

    const crossed = await crossedGuard(trx, { ruleId: m.rule.id, ruleGuards, target: m.target, environment: m.environment, environmentTeam: m.environmentTeam, team, actions, at: m.at });
    if (crossed) {
      const alerted = await pauseFor(trx, crossed, { incidentId: m.incidentId, ruleId: m.rule.id, target: m.target, at: m.at });
      return { ...pass, decided: stopped(m.rule, crossed.reason), alerted };
    }

    return {
      decided: m.decided,
      record: (matchId) => insertRemediation(trx, { matchId, ruleId: m.rule.id, incidentId: m.incidentId, target: m.target, environment: m.environment, actions, at: m.at, team }),
      alerted: false,
    };
  }

  /**
   * The first guard this remediation (its target, its `actions`) would cross at `at`, if any. `own`: its
   * remediation recorded already (an approved action starting), whose actions are then not counted twice.
   * An environment's share counts the remediations of `team`'s rules; a rule of another team than the
   * environment's (`environmentTeam`) checks none of its environment guards.
   */
  async function crossedGuard(
    trx: Transaction<Database>,
    m: {
      ruleId: string;
      ruleGuards: RuleGuards | undefined;
      target: string | undefined;
      environment: string | undefined;
      environmentTeam: string | undefined;
      team: string | undefined;
      actions: number;
      at: Date;
      own?: { at: Date; actions: number } | undefined;
    },
  ): Promise<(GuardViolation & { scopeEnv: string }) | undefined> {
    const foreign = m.team !== undefined && m.environmentTeam !== undefined && m.environmentTeam !== m.team;
    for (const spec of guardSpecs(config, m.ruleGuards, foreign ? undefined : m.environment)) {
      const scopeEnv = spec.scope === 'environment' ? (m.environment ?? '') : '';
      const resumed = await lastResumedAt(trx, spec.scope, scopeEnv);
      const windowStart = new Date(m.at.getTime() - spec.windowSeconds * 1000);
      const since = resumed && resumed > windowStart ? resumed : windowStart;
      const ruleId = spec.ruleOnly ? m.ruleId : undefined;
      let counted;
      if (spec.kind === 'actions_per_minute') {
        const own = m.own && m.own.at > since ? m.own.actions : 0;
        counted = { count: (await countActions(trx, { since, ruleId })) - own, targetAlreadyCounted: false, knownHosts: 0 };
      } else {
        // Its own remediation, when recorded inside the window, counts its target once, as another's would.
        const environment = spec.kind === 'target_percent' ? m.environment : undefined;
        const t = await countTargets(trx, { since, ruleId, environment, target: m.target, team: environment ? m.team : undefined });
        counted = { count: t.count, targetAlreadyCounted: t.includesTarget, knownHosts: environment ? await knownHosts(trx, environment) : 0 };
      }
      const violation = guardViolation(spec, counted, { target: m.target, actions: m.actions, environment: m.environment });
      if (violation) return { ...violation, scopeEnv };
    }
    return undefined;
  }

  /**
   * Whether `host` is flapping at `at`: remediated K times by any rule within the window (the rule's own
   * `guards.flapping`, else SELFHEAL_FLAPPING_*). `own`: its remediation recorded already (an approved action
   * starting), which is not one of them.
   */
  async function flappingOf(
    trx: Transaction<Database>,
    m: { host: string; ruleGuards: RuleGuards | undefined; at: Date; own?: Date | undefined; team: string | undefined },
  ): Promise<{ host: string; since: Date; reason: string } | undefined> {
    const limit = flappingLimit(config, m.ruleGuards);
    if (limit.max <= 0) return undefined;
    const since = new Date(m.at.getTime() - limit.windowSeconds * 1000);
    const own = m.own && m.own > since ? 1 : 0;
    const reason = flappingViolation(limit, m.host, (await countTargetRemediations(trx, m.host, since, m.team)) - own);
    return reason ? { host: m.host, since, reason } : undefined;
  }

  /** A flapping host's remediation stopped: the alert (paged once per window, noted on the incident). */
  async function flappingAlert(trx: Transaction<Database>, f: { host: string; since: Date; reason: string }, m: { incidentId: string; ruleId: string; at: Date }): Promise<void> {
    const page = !(await flappingPagedSince(trx, f.host, f.since));
    await insertAlert(trx, { kind: 'flapping', incidentId: m.incidentId, target: f.host, text: `[self-healing] ${f.reason}`, page, at: m.at });
    deps.logger.warn({ incidentId: m.incidentId, ruleId: m.ruleId, target: f.host, page }, 'flapping target: remediation stopped');
  }

  /**
   * A guard crossed: automation paused for its scope (and a page owed) unless a pause of it is in force.
   * Whether it paused (and so wrote the alert).
   */
  async function pauseFor(trx: Transaction<Database>, v: GuardViolation & { scopeEnv: string }, m: { incidentId: string; ruleId: string; target: string | undefined; at: Date }): Promise<boolean> {
    const paused = await insertPause(trx, { scope: v.scope, environment: v.scopeEnv, guard: v.guard, reason: v.reason, incidentId: m.incidentId, at: m.at });
    if (!paused) return false;
    await insertAlert(trx, { kind: 'guard', incidentId: m.incidentId, target: m.target, text: `[self-healing] Automation paused: ${v.reason}`, page: true, at: m.at });
    deps.logger.warn({ incidentId: m.incidentId, ruleId: m.ruleId, guard: v.guard, scope: v.scope, environment: v.scopeEnv }, 'guard crossed: automation paused');
    return true;
  }

  /**
   * An approved remediation about to start, its remediation recorded when it was planned (possibly long
   * ago): flapping and the guards again, in the planner's order, at `at`, inside the caller's transaction,
   * under the guard lock (taken here). Its target flapping now (remediated K times by others while it
   * waited) or a guard crossed, `crossed` says why, with the planner's words (the start is then recorded
   * skipped), and `pause` does what the planner does then: the flapping alert (its page), or automation
   * paused for the guard; else `record` makes the remediation count from `at`, when it really runs.
   */
  async function checkApprovedStart(
    trx: Transaction<Database>,
    r: {
      matchId: string;
      ruleId: string;
      incidentId: string;
      target: string | null;
      environment: string | null;
      /** The remediating rule's team, and the environment's (when registered): as in checkGuards. */
      team?: string | undefined;
      environmentTeam?: string | undefined;
      actions: number;
      plannedAt: Date;
      /** Its remediation was released (it no longer counts, so it is not subtracted as its own). */
      released?: boolean | undefined;
      ruleGuards: RuleGuards | undefined;
      at: Date;
    },
  ): Promise<{ crossed?: string | undefined; pause(): Promise<void>; record(): Promise<void> }> {
    await lockGuards(trx);
    const m = { ruleId: r.ruleId, incidentId: r.incidentId, target: r.target ?? undefined, environment: r.environment ?? undefined, at: r.at };
    // The planner checked flapping on the incident's host, recorded as the target; a target that is the
    // environment's name (no host extracted) is not one.
    const host = r.target !== null && r.target !== r.environment ? r.target : undefined;
    const own = r.released ? undefined : r.plannedAt;
    const flapping = host ? await flappingOf(trx, { host, ruleGuards: r.ruleGuards, at: r.at, own, team: r.team }) : undefined;
    if (flapping) return { crossed: flapping.reason, pause: () => flappingAlert(trx, flapping, m), record: async () => undefined };
    const crossed = await crossedGuard(trx, { ...m, ruleGuards: r.ruleGuards, environmentTeam: r.environmentTeam, team: r.team, actions: r.actions, own: own ? { at: own, actions: r.actions } : undefined });
    return {
      crossed: crossed?.reason,
      pause: async () => {
        if (crossed) await pauseFor(trx, crossed, m);
      },
      record: () => restampRemediation(trx, r.matchId, r.at),
    };
  }

  return { checkGuards, checkApprovedStart };
}

/**
 * Seconds after which an alert not marked sent is claimed again: one claimed by a worker that died, or one
 * a channel could not take yet (the wait before its next try).
 */
const RECLAIM_AFTER_SECONDS = 120;

/**
 * How long one channel's page may take. Pages go out from a triage and from an approved action's start, whose
 * time is the incident's, and from the worker's sweep, one alert after another: a channel that hangs costs
 * each this long, not the whole budget of the activity they run in (what each call took when every call had
 * a 15-second timeout of its own).
 */
const PAGE_BUDGET_MS = 15_000;
/** How long a page a channel keeps refusing for a reason that may pass (no connection, 429) is tried again. */
const RETRY_PAGES_FOR_MS = 24 * 3_600_000;

/** Whether a channel's failure may pass on a later try (no connection, 429), rather than being final. */
function mayPass(err: unknown): boolean {
  if (err instanceof ApplicationFailure) return !err.nonRetryable;
  return (err as { retryable?: unknown } | null)?.retryable === true;
}

/**
 * Send the pages and incident notes guards and flapping owe: each alert claimed by one caller, paged to
 * the operator's channel (Slack webhook, email) when it is a page, noted on its PagerDuty incident through
 * the write-back path (recorded as our own write, so its webhook event never matches a rule). Never throws:
 * what fails is logged and kept on the row. A channel that failed for a reason that may pass (no
 * connection, 429) leaves the alert owed: it is claimed again after `reclaimAfterSeconds`, by this call's
 * next run or by the worker's sweep (`keepAlertsDelivered`), for 24 hours; the channels that took it are
 * not sent it again (their side-effect records answer). Given an incident, only that incident's alerts:
 * a step that raised an alert sends its own, and a channel's outage does not put the whole backlog's
 * timeouts on that incident's path (the backlog is the sweep's).
 */
export function createAlertDelivery(deps: GuardDeps & { reclaimAfterSeconds?: number | undefined }) {
  const env = deps.env ?? process.env;
  const reclaimAfterSeconds = deps.reclaimAfterSeconds ?? RECLAIM_AFTER_SECONDS;
  // Each channel's page is a side effect of its own, recorded like an action's message: a page that went
  // out before its alert was marked sent (the worker died in between) is not sent again when the alert
  // is claimed again. Slack and SMTP cannot be asked afterwards, so an unanswered page is not resent.
  const effects = createSideEffects({ db: deps.db, logger: deps.logger });
  return async function deliverAutomationAlerts(scope: { incidentId?: string | undefined } = {}): Promise<number> {
    let alerts;
    try {
      alerts = await claimAlerts(deps.db, { limit: 50, reclaimAfterSeconds, incidentId: scope.incidentId });
    } catch (err) {
      deps.logger.warn({ err: { message: (err as Error).message } }, 'automation alerts not claimed');
      return 0;
    }
    for (const a of alerts) {
      const errors: string[] = [];
      let again = false;
      const failed = (channel: string, err: unknown) => {
        errors.push(`${channel}: ${(err as Error).message}`);
        again ||= mayPass(err);
      };
      const key = `automation-alert-${a.id}`;
      if (a.page) {
        const page = deps.guards.page;
        const integrations = deps.integrations;
        const once = { incidentId: a.incident_id ?? undefined, onUncertain: 'refuse' as const, maxBudgetMs: PAGE_BUDGET_MS };
        if (page.slackWebhookRef && integrations) {
          const webhookRef = page.slackWebhookRef;
          try {
            await effects.run({
              ...once,
              key: `${key}:slack`,
              kind: 'notify.slack',
              perform: async (ctx) => {
                // The page is our words around values (a target from an alert's details, a guard's name, an
                // environment) and means no mention or link: Slack gets it escaped, so a target such as
                // `<!channel>` cannot ping the channel. Email and the PagerDuty note keep the plain text.
                await integrations.slack({
                  webhookUrl: await resolveSecretRef(webhookRef, env),
                  text: slackEscape(a.text),
                  setting: `the secret ${webhookRef} (SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF)`,
                  signal: ctx.signal,
                });
                return {};
              },
            });
          } catch (err) {
            failed('slack', err);
          }
        }
        if (page.email.length > 0 && integrations) {
          try {
            await sendEmailInRounds({ effects, integrations, key: `${key}:email`, messageKey: key, kind: 'notify.email', incidentId: once.incidentId, to: page.email, subject: a.text.slice(0, 200), text: a.text, maxBudgetMs: PAGE_BUDGET_MS });
          } catch (err) {
            failed('email', err);
          }
        }
        if (!page.slackWebhookRef && page.email.length === 0) deps.logger.warn({ alertId: a.id, kind: a.kind }, 'no page channel configured (SELFHEAL_GUARD_PAGE_*): the alert is only logged and noted');
      }
      if (a.incident_id && deps.pagerduty) {
        try {
          await deps.pagerduty.addNote(a.incident_id, a.text, { key, maxBudgetMs: PAGE_BUDGET_MS });
        } catch (err) {
          failed('pagerduty', err);
        }
      }
      const error = errors.length > 0 ? errors.join('; ').slice(0, 2000) : null;
      if (again && Date.now() - a.created_at.getTime() < RETRY_PAGES_FOR_MS) {
        deps.logger.warn({ alertId: a.id, kind: a.kind, errors, retryInSeconds: reclaimAfterSeconds }, 'automation alert not delivered everywhere yet; tried again');
        await markAlertOwed(deps.db, a.id, error!).catch((err: unknown) =>
          deps.logger.warn({ alertId: a.id, err: { message: (err as Error).message } }, 'automation alert error not recorded'),
        );
        continue;
      }
      if (errors.length > 0) deps.logger.warn({ alertId: a.id, kind: a.kind, errors }, again ? 'automation alert given up after 24 hours' : 'automation alert partly delivered');
      await markAlertSent(deps.db, a.id, error).catch((err: unknown) =>
        deps.logger.warn({ alertId: a.id, err: { message: (err as Error).message } }, 'automation alert not marked sent'),
      );
    }
    return alerts.length;
  };
}
