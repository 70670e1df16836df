// Verified remediation (issue 22): what the planner hands the rule run from the rule's `verify`, and the
// Postgres steps of the rule run's verification (recording the outcome on the rule match, reading whether
// the incident resolved, whether its check may still run). The waiting itself is the workflow's
// (workflows/verify.ts): durable timers.
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import { findCheckStop } from '../src/db/repositories/action-runs.js';
import { findIncidentResolution, findMergedInto } from '../src/db/repositories/incidents.js';
import { hasOwnResolve } from '../src/db/repositories/pagerduty-writes.js';
import { recordMatchVerification } from '../src/db/repositories/rule-matches.js';
import { parseDuration, settleSeconds } from '../src/domain/guards.js';
import type { Action, Rule, Verify } from '../src/domain/rules/schema.js';
import type { Logger } from '../src/logger.js';
import type { MatchDecision, PlannedAction } from './types.js';
import type { VerificationStatus, VerifyPlan } from '../src/contracts/plan.js';

/** Where a planned script runs, decided with the match: the agent's task queue, the management VM's environment. */
export interface TargetPins {
  agentQueue: string | undefined;
  sshEnvironment: string | undefined;
  /** The rule's team: an agent runs only its SELFHEAL_AGENT_TEAMS' tasks. */
  team: string;
}

/**
 * An action's parameters with its script's target pinned (`agentTaskQueue`, `sshEnvironment`; '' when none),
 * and for an agent the team it runs for (`agentTeam`, the rule's, which the agent checks).
 */
export function pinnedParams(type: string, params: Record<string, unknown>, pins: TargetPins): Record<string, unknown> {
  if (type === 'script.agent') return { ...params, agentTaskQueue: pins.agentQueue ?? '', agentTeam: pins.team };
  if (type === 'script.ssh') return { ...params, sshEnvironment: pins.sshEnvironment ?? '' };
  return params;
}

/** The rule's `verify` as the rule run needs it; only a run that remediates verifies. */
export function verifyPlanOf(rule: Rule, decision: MatchDecision, pins: TargetPins): { verify?: VerifyPlan } {
  const verify = (rule as Rule & { verify?: Verify }).verify;
  if (!verify || decision !== 'run') return {};
  const within = parseDuration(verify.within) ?? 600;
  const settle = settleSeconds(within, verify.settle !== undefined ? parseDuration(verify.settle) : undefined);
  return {
    verify: {
      withinSeconds: within,
      settleSeconds: settle,
      ...(verify.check ? { check: planned({ ...verify.check, id: verify.check.id ?? 'check' } as Action, 0, pins) } : {}),
      onUnverified: verify.onUnverified.map((a, i) => planned({ ...a, id: `unverified-${a.id ?? `u${i}`}` } as Action, 100 + i, pins)),
    },
  };
}

/** An action as the rule run takes it (the same shape activities/plan.ts gives the rule's actions). */
function planned(action: Action, index: number, pins: TargetPins): PlannedAction {
  const { id, type, when, timeoutSeconds, retry, approval: _approval, ...params } = action as Action & Record<string, unknown>;
  return {
    index,
    id,
    type,
    when: when ?? 'always',
    params: pinnedParams(type, params, pins),
    timeoutSeconds,
    retry,
    idempotent: 'idempotent' in action ? Boolean(action.idempotent) : undefined,
  };
}

/** What the rule run's verification reads of the incident's resolution. */
export interface IncidentResolution {
  resolved: boolean;
  at?: string | undefined;
  /** Resolved by Self-healing's own write-back: not counted as proof (absent in results recorded before it existed). */
  ownWrite?: boolean | undefined;
  /**
   * Resolved by a merge into another incident (PagerDuty's `resolve_reason`): its id ('' when unnamed). Not
   * counted as proof either: the problem goes on in that incident (absent in results recorded before it existed).
   */
  merged?: string | undefined;
}

/** A verification outcome for a rule match, as the rule run records it. */
export interface MatchVerification {
  matchId: string;
  status: VerificationStatus;
  detail: string;
}

export function createVerificationActivities(deps: { db: Kysely<Database>; logger: Logger }) {
  const { db } = deps;

  /**
   * Record the verification outcome of a remediation on its rule match. A final outcome is written once:
   * a replayed or retried step finds it and keeps it. Recording `pending` (the wait begins) answers the
   * incident's resolution as it stands then: a resolve from before the wait cannot prove the remediation.
   * (Runs recorded before this answer replay with none: resolved or not, as they ran.)
   */
  async function recordVerification(input: MatchVerification & { incidentId?: string | undefined }): Promise<IncidentResolution | undefined> {
    await recordMatchVerification(db, input.matchId, { status: input.status, detail: input.detail, at: new Date() });
    if (input.status === 'pending' && input.incidentId) return incidentResolution({ incidentId: input.incidentId });
    deps.logger.info({ matchId: input.matchId, verification: input.status }, 'remediation verification recorded');
    return undefined;
  }

  /**
   * Whether the incident is resolved in Postgres, and since when; `ownWrite` when Self-healing itself asked
   * PagerDuty to resolve it (a rule's `pagerduty.resolve`), `merged` when a person merged it into another
   * incident: neither proves anything about the remediation.
   */
  async function incidentResolution(input: { incidentId: string }): Promise<IncidentResolution> {
    const r = await findIncidentResolution(db, input.incidentId);
    if (!r.resolved) return r;
    if (await hasOwnResolve(db, input.incidentId)) return { ...r, ownWrite: true };
    const merged = await findMergedInto(db, input.incidentId);
    return merged !== undefined ? { ...r, merged } : r;
  }

  /**
   * Before each run of the verification's check (workflows/verify.ts, rule-run revision 6): `refused` says
   * why it must not run any more, as an approved remediation would not start: automation paused where the
   * incident is (or where its remediation was planned), the rule disabled, deleted or replaced since
   * `ruleVersion` planned it, or the environment the remediation was planned on deleted or no longer the
   * rule's team's. The check runs for minutes after the fix, and nothing else stopped it.
   */
  async function verifyCheckMayRun(input: { incidentId: string; matchId: string; ruleId: string; ruleVersion: number }): Promise<{ refused?: string }> {
    const stop = await findCheckStop(db, input);
    if (stop.pause) {
      const where = stop.pause.scope === 'fleet' ? 'fleet-wide' : `in environment ${stop.pause.environment}`;
      return { refused: `automation was paused ${where} (${stop.pause.guard})` };
    }
    if (stop.ruleNotLive !== null) return { refused: `its rule was ${stop.ruleNotLive} (version ${input.ruleVersion} planned it)` };
    if (stop.environmentGone !== null) return { refused: `environment ${stop.environmentGone} was deleted, or moved out of the rule's team` };
    return {};
  }

  return { recordVerification, incidentResolution, verifyCheckMayRun };
}
