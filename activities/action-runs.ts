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

export function createActionRunActivities(deps: ActionRunDeps) {
  const { db } = deps;

  async function recordActionStart(input: {
    actionRunId: string;
    incidentId: string;
    eventId: string;
    plan: MatchPlan;
    action: PlannedAction;
    dryRun: boolean;
    awaitingApproval: boolean;
  }): Promise<ActionOutcome | null> {
    const { plan, action } = input;
    // A run that already finished (an earlier attempt of this workflow got that far) is never run again.
    const done = await db
      .selectFrom('action_runs')
      .select(['status', 'exit_code', 'output_excerpt', 'link', 'error'])
      .where('id', '=', input.actionRunId)
      .where('status', 'in', [...FINISHED])
      .executeTakeFirst();
    if (done) {
      return {
        actionRunId: input.actionRunId,
        actionId: action.id,
        type: action.type,
        status: done.status as ActionStatus,
        exitCode: done.exit_code,
        outputExcerpt: done.output_excerpt ?? undefined,
        link: done.link ?? undefined,
        error: done.error ?? undefined,
      };
    }
    await db
      .insertInto('action_runs')
      .values({
        ...runRow(input.actionRunId, input.incidentId, plan, action),
        status: input.awaitingApproval ? 'awaiting_approval' : 'running',
        rendered: JSON.stringify(action.params),
        started_at: input.awaitingApproval ? null : new Date(),
        attempts: 1,
      })
      .onConflict((oc) =>
        // A retried start (activity retry, worker crash) counts an attempt; it never duplicates the run.
        oc.column('id').doUpdateSet({ attempts: sql`action_runs.attempts + 1` }),
      )
      .execute();
    return null;
  }

  async function recordApproval(input: { actionRunId: string; decision: 'approve' | 'reject'; actor: string }): Promise<void> {
    await db
      .updateTable('action_runs')
      .set({
        approval: JSON.stringify({ decision: input.decision, actor: input.actor, at: new Date().toISOString() }),
        status: input.decision === 'approve' ? 'running' : 'rejected',
        started_at: input.decision === 'approve' ? new Date() : null,
      })
      .where('id', '=', input.actionRunId)
      .execute();
  }

  async function recordActionOutcome(input: ActionOutcome): Promise<ActionOutcome> {
    await db
      .updateTable('action_runs')
      .set({
        status: input.status,
        exit_code: input.exitCode ?? null,
        output_excerpt: excerpt(input.outputExcerpt),
        link: input.link ?? null,
        error: excerpt(input.error, 2000),
        finished_at: new Date(),
      })
      .where('id', '=', input.actionRunId)
      .execute();
    return { ...input };
  }

  async function recordActionSkipped(input: {
    actionRunId: string;
    incidentId: string;
    plan: MatchPlan;
    action: PlannedAction;
    reason: string;
  }): Promise<ActionOutcome> {
    const { plan, action } = input;
    await db
      .insertInto('action_runs')
      .values({
        ...runRow(input.actionRunId, input.incidentId, plan, action),
        status: 'skipped',
        error: input.reason,
        finished_at: new Date(),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    return { actionRunId: input.actionRunId, actionId: action.id, type: action.type, status: 'skipped', error: input.reason };
  }

  /** Circuit breaker bookkeeping: K consecutive failed runs open the breaker; a success closes the count. */
  async function recordRuleOutcome(input: { ruleId: string; succeeded: boolean }): Promise<{ breaker: string }> {
    return db.transaction().execute(async (trx) => {
      const rule = await trx.selectFrom('rules').select(['consecutive_failures', 'breaker_state', 'definition']).where('id', '=', input.ruleId).forUpdate().executeTakeFirst();
      if (!rule) return { breaker: 'closed' };
      if (input.succeeded) {
        await trx.updateTable('rules').set({ consecutive_failures: 0 }).where('id', '=', input.ruleId).execute();
        return { breaker: rule.breaker_state };
      }
      const failures = rule.consecutive_failures + 1;
      const def = rule.definition as { policies?: { circuitBreaker?: { failureThreshold?: number } } };
      const threshold = def.policies?.circuitBreaker?.failureThreshold ?? DEFAULT_BREAKER_THRESHOLD;
      const open = failures >= threshold;
      await trx
        .updateTable('rules')
        .set({
          consecutive_failures: failures,
          ...(open && rule.breaker_state !== 'open' ? { breaker_state: 'open', breaker_opened_at: new Date() } : {}),
        })
        .where('id', '=', input.ruleId)
        .execute();
      if (open && rule.breaker_state !== 'open') deps.logger.warn({ ruleId: input.ruleId, failures }, 'circuit breaker opened');
      return { breaker: open ? 'open' : rule.breaker_state };
    });
  }

  /** A note on the PagerDuty incident saying what ran and how it went. */
  async function writeBackNote(input: { incidentId: string; plan: MatchPlan; outcomes: ActionOutcome[] }): Promise<{ posted: boolean }> {
    if (!deps.pagerduty || input.outcomes.length === 0) return { posted: false };
    await deps.pagerduty.addNote(input.incidentId, summariseRun(input.plan, input.outcomes));
    return { posted: true };
  }

  return { recordActionStart, recordApproval, recordActionOutcome, recordActionSkipped, recordRuleOutcome, writeBackNote };
}

/** The note text; it starts with a marker so the resulting `incident.annotated` event is never acted on. */
export const NOTE_MARKER = '[self-healing]';

export function summariseRun(plan: MatchPlan, outcomes: ActionOutcome[]): string {
  const lines = [
    `${NOTE_MARKER} Rule "${plan.ruleName}" (v${plan.ruleVersion})${plan.decision === 'dry_run' ? ' [dry-run]' : ''}${plan.target ? ` on ${plan.target}` : ''}:`,
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
