import { sql, type Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import type { Logger } from '../src/logger.js';
import type { ActionOutcome, ActionStatus, MatchPlan, PlannedAction } from './types.js';

export interface ActionRunDeps {
  db: Kysely<Database>;
  logger: Logger;
  /** Present when PAGERDUTY_API_TOKEN is set: write-back of notes. */
  pagerduty?: { addNote(incidentId: string, content: string): Promise<unknown> } | undefined;
}

const EXCERPT = 4000;
const FINISHED: readonly ActionStatus[] = ['succeeded', 'failed', 'skipped', 'cancelled', 'dry_run', 'rejected'];

/** Consecutive failures that open a rule's circuit breaker when its policy does not say. */
export const DEFAULT_BREAKER_THRESHOLD = 3;

export function excerpt(s: string | undefined | null, max = EXCERPT): string | null {
  if (!s) return null;
  return s.length <= max ? s : `${s.slice(0, max)}\n…[${s.length - max} more characters]`;
}

/** The columns every action run row starts with; the id doubles as its idempotency key. */
function runRow(actionRunId: string, incidentId: string, plan: MatchPlan, action: PlannedAction) {
  return {
    id: actionRunId,
    idempotency_key: actionRunId,
    incident_id: incidentId,
    match_id: plan.matchId,
    rule_id: plan.ruleId,
    rule_version: plan.ruleVersion,
    action_index: action.index,
    action_id: action.id,
    action_type: action.type,
    target: plan.target ?? null,
  };
}

/** What a claim found: this run owns the action (maybe finished already), or another run does. */
export type Claim =
  | { owned: true; status: string; finished?: ActionOutcome | undefined }
  | { owned: false; status: string; claimedBy: string | null };

/** The decision recorded for a gated action run, as read back from Postgres. */
export interface RecordedApproval {
  decision: 'approve' | 'reject';
  actor: string;
  at: string;
  comment?: string | undefined;
}

/** The actor of a decision taken because nobody answered in time. */
export const TIMEOUT_ACTOR = 'timeout';

export function createActionRunActivities(deps: ActionRunDeps) {
  const { db } = deps;

  const outcomeOf = (actionRunId: string, action: { id: string; type: string }, row: { status: string; exit_code: number | null; output_excerpt: string | null; link: string | null; error: string | null }): ActionOutcome => ({
    actionRunId,
    actionId: action.id,
    type: action.type,
    status: row.status as ActionStatus,
    exitCode: row.exit_code,
    outputExcerpt: row.output_excerpt ?? undefined,
    link: row.link ?? undefined,
    error: row.error ?? undefined,
  });

  /**
   * Claim an action run before any side effect: `insert … on conflict do nothing returning`. The row's
   * `claimed_by` names the claiming run (`<workflowId>/<runId>`); a claim found taken by another run is
   * never executed by this one. Finding its own claim (a retried step, a replayed task after a crash
   * between the claim and the side effect) the run goes on: nothing of it was recorded past the claim.
   */
  async function claimAction(input: {
    actionRunId: string;
    incidentId: string;
    plan: MatchPlan;
    action: PlannedAction;
    owner: string;
    workflowId: string;
    reason: string;
    awaitingApproval: boolean;
  }): Promise<Claim> {
    const { plan, action } = input;
    const status = input.awaitingApproval ? 'awaiting_approval' : 'running';
    const inserted = await db
      .insertInto('action_runs')
      .values({
        ...runRow(input.actionRunId, input.incidentId, plan, action),
        status,
        rendered: JSON.stringify(action.params),
        started_at: input.awaitingApproval ? null : new Date(),
        attempts: 1,
        reason: input.reason,
        claimed_by: input.owner,
        workflow_id: input.workflowId,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted) return { owned: true, status };
    const row = await db
      .selectFrom('action_runs')
      .select(['status', 'claimed_by', 'exit_code', 'output_excerpt', 'link', 'error'])
      .where('id', '=', input.actionRunId)
      .executeTakeFirstOrThrow();
    if (row.claimed_by !== input.owner) {
      deps.logger.warn({ actionRunId: input.actionRunId, claimedBy: row.claimed_by, owner: input.owner }, 'action run claimed by another run; not executed here');
      return { owned: false, status: row.status, claimedBy: row.claimed_by };
    }
    await db.updateTable('action_runs').set({ attempts: sql`attempts + 1` }).where('id', '=', input.actionRunId).execute();
    return { owned: true, status: row.status, ...(FINISHED.includes(row.status as ActionStatus) ? { finished: outcomeOf(input.actionRunId, action, row) } : {}) };
  }

  /** The decision recorded for a gated action run (by the API, with the authenticated actor), if any. */
  async function readApproval(input: { actionRunId: string }): Promise<RecordedApproval | null> {
    const row = await db.selectFrom('action_runs').select(['approval', 'status']).where('id', '=', input.actionRunId).executeTakeFirst();
    return (row?.approval as RecordedApproval | null | undefined) ?? null;
  }

  /**
   * At the approval deadline: record the rule's `onTimeout` decision unless a person's decision was
   * recorded first (atomically, against the API's own conditional write), and return whichever holds.
   */
  async function settleApproval(input: { actionRunId: string; onTimeout: 'approve' | 'reject' }): Promise<RecordedApproval> {
    const timeout: RecordedApproval = { decision: input.onTimeout, actor: TIMEOUT_ACTOR, at: new Date().toISOString() };
    await db
      .updateTable('action_runs')
      .set({ approval: JSON.stringify(timeout) })
      .where('id', '=', input.actionRunId)
      .where('approval', 'is', null)
      .execute();
    const recorded = await readApproval(input);
    return recorded ?? timeout;
  }

  /** The gate opened: the action runs now (status `running`). A rejection is recorded as its outcome. */
  async function startApprovedAction(input: { actionRunId: string; owner: string }): Promise<void> {
    await db
      .updateTable('action_runs')
      .set({ status: 'running', started_at: new Date() })
      .where('id', '=', input.actionRunId)
      .where('claimed_by', '=', input.owner)
      .where('status', '=', 'awaiting_approval')
      .execute();
  }

  /** The outcome of a claimed action; only its owner writes it. */
  async function recordActionOutcome(input: ActionOutcome & { owner: string }): Promise<ActionOutcome> {
    const { owner, ...outcome } = input;
    await db
      .updateTable('action_runs')
      .set({
        status: outcome.status,
        exit_code: outcome.exitCode ?? null,
        output_excerpt: excerpt(outcome.outputExcerpt),
        link: outcome.link ?? null,
        error: excerpt(outcome.error, 2000),
        finished_at: new Date(),
      })
      .where('id', '=', outcome.actionRunId)
      .where('claimed_by', '=', owner)
      .execute();
    return outcome;
  }

  /** An action its `when` (or the rule's cancellation) skipped, with the reason. */
  async function recordActionSkipped(input: {
    actionRunId: string;
    incidentId: string;
    plan: MatchPlan;
    action: PlannedAction;
    reason: string;
    owner: string;
  }): Promise<ActionOutcome> {
    const { plan, action } = input;
    await db
      .insertInto('action_runs')
      .values({
        ...runRow(input.actionRunId, input.incidentId, plan, action),
        status: 'skipped',
        reason: input.reason,
        claimed_by: input.owner,
        finished_at: new Date(),
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return { actionRunId: input.actionRunId, actionId: action.id, type: action.type, status: 'skipped', error: input.reason };
  }

  /**
   * Circuit breaker bookkeeping: K consecutive failed runs open the breaker; a success resets the count,
   * and a half-open trial's success closes it (its failure re-opens it). An inconclusive run (nothing ran:
   * cancelled, rejected, skipped) changes nothing, except that a trial ending so leaves the breaker open for
   * the next match to try again. Says whether this outcome opened the breaker.
   */
  async function recordRuleOutcome(input: { ruleId: string; outcome: 'succeeded' | 'failed' | 'inconclusive'; trial?: boolean | undefined }): Promise<RuleOutcomeResult> {
    return db.transaction().execute(async (trx) => {
      const rule = await trx.selectFrom('rules').select(['consecutive_failures', 'breaker_state', 'definition']).where('id', '=', input.ruleId).forUpdate().executeTakeFirst();
      if (!rule) return { breaker: 'closed', opened: false, failures: 0, threshold: DEFAULT_BREAKER_THRESHOLD };
      const def = rule.definition as { policies?: { circuitBreaker?: { failureThreshold?: number } } };
      const threshold = def.policies?.circuitBreaker?.failureThreshold ?? DEFAULT_BREAKER_THRESHOLD;
      const trial = Boolean(input.trial) && rule.breaker_state === 'half_open';
      if (input.outcome === 'inconclusive') {
        if (trial) await trx.updateTable('rules').set({ breaker_state: 'open' }).where('id', '=', input.ruleId).execute();
        return { breaker: trial ? 'open' : rule.breaker_state, opened: false, failures: rule.consecutive_failures, threshold };
      }
      if (input.outcome === 'succeeded') {
        await trx
          .updateTable('rules')
          .set({ consecutive_failures: 0, ...(trial ? { breaker_state: 'closed', breaker_opened_at: null } : {}) })
          .where('id', '=', input.ruleId)
          .execute();
        if (trial) deps.logger.info({ ruleId: input.ruleId }, 'circuit breaker closed after a successful trial');
        return { breaker: trial ? 'closed' : rule.breaker_state, opened: false, failures: 0, threshold };
      }
      const failures = rule.consecutive_failures + 1;
      const open = trial || (rule.breaker_state === 'closed' && failures >= threshold);
      await trx
        .updateTable('rules')
        .set({ consecutive_failures: failures, ...(open ? { breaker_state: 'open', breaker_opened_at: new Date() } : {}) })
        .where('id', '=', input.ruleId)
        .execute();
      if (open) deps.logger.warn({ ruleId: input.ruleId, failures, trial }, 'circuit breaker opened');
      return { breaker: open ? 'open' : rule.breaker_state, opened: open, failures, threshold };
    });
  }

  /** The run ended: its lease stops counting for concurrency (cooldown counts from the lease's start). */
  async function releaseLease(input: { leaseId: string }): Promise<void> {
    await db.updateTable('target_leases').set({ released_at: new Date() }).where('id', '=', input.leaseId).where('released_at', 'is', null).execute();
  }

  /** A note on the PagerDuty incident saying what ran and how it went. */
  async function writeBackNote(input: {
    incidentId: string;
    plan: MatchPlan;
    outcomes: ActionOutcome[];
    cancelled?: boolean | undefined;
    verification?: { status: string; detail: string } | undefined;
  }): Promise<{ posted: boolean }> {
    if (!deps.pagerduty || input.outcomes.length === 0) return { posted: false };
    const verification = input.verification ? `\n- verification: ${input.verification.status} — ${input.verification.detail}` : '';
    await deps.pagerduty.addNote(input.incidentId, summariseRun(input.plan, input.outcomes, input.cancelled) + verification);
    return { posted: true };
  }

  return {
    claimAction,
    readApproval,
    settleApproval,
    startApprovedAction,
    recordActionOutcome,
    recordActionSkipped,
    recordRuleOutcome,
    releaseLease,
    writeBackNote,
  };
}

export interface RuleOutcomeResult {
  breaker: string;
  /** True when this outcome opened (or re-opened) the breaker. */
  opened: boolean;
  failures: number;
  threshold: number;
}

/** The note text; it starts with a marker so the resulting `incident.annotated` event is never acted on. */
export const NOTE_MARKER = '[self-healing]';

export function summariseRun(plan: MatchPlan, outcomes: ActionOutcome[], cancelled = false): string {
  const lines = [
    `${NOTE_MARKER} Rule "${plan.ruleName}" (v${plan.ruleVersion})${plan.decision === 'dry_run' ? ' [dry-run]' : ''}${plan.target ? ` on ${plan.target}` : ''}${cancelled ? ' was cancelled when the incident resolved' : ''}:`,
  ];
  for (const o of outcomes) {
    const bits = [`${o.actionId} (${o.type}): ${o.status}`];
    if (o.exitCode !== undefined && o.exitCode !== null) bits.push(`exit ${o.exitCode}`);
    if (o.link) bits.push(o.link);
    if (o.error && o.status !== 'succeeded') bits.push(o.error.split('\n')[0]!.slice(0, 200));
    lines.push(`- ${bits.join(' — ')}`);
  }
  return lines.join('\n').slice(0, 25_000);
}
