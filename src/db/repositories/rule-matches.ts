// Rule matches: one row per incident event and rule, with the policy decision taken for it and the
// verification of its remediation.
import { sql } from 'kysely';
import type { RuleMatch } from '../database.js';
import type { Db } from './db.js';

export async function findMatch(db: Db, key: { incidentId: string; eventId: string; ruleId: string }): Promise<RuleMatch | undefined> {
  return db
    .selectFrom('rule_matches')
    .selectAll()
    .where('incident_id', '=', key.incidentId)
    .where('event_id', '=', key.eventId)
    .where('rule_id', '=', key.ruleId)
    .executeTakeFirst();
}

export interface NewMatch {
  incidentId: string;
  eventId: string;
  ruleId: string;
  ruleVersion: number;
  ruleName: string;
  explanation: unknown;
  decision: string;
  skipReason: string | null;
  target: string | null;
}

/** Records a match; returns its id. */
export async function insertMatch(db: Db, m: NewMatch): Promise<string> {
  const row = await db
    .insertInto('rule_matches')
    .values({
      incident_id: m.incidentId,
      event_id: m.eventId,
      rule_id: m.ruleId,
      rule_version: m.ruleVersion,
      rule_name: m.ruleName,
      explanation: JSON.stringify(m.explanation),
      decision: m.decision,
      skip_reason: m.skipReason,
      target: m.target,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return String(row.id);
}

/** Matches of the rule (any version) decided `run` at or after `since`: what its rate limit counts. */
export async function countRunDecisionsSince(db: Db, ruleId: string, since: Date): Promise<number> {
  const row = await db
    .selectFrom('rule_matches')
    .select(sql<string>`count(*)::text`.as('n'))
    .where('rule_id', '=', ruleId)
    .where('decision', '=', 'run')
    .where('matched_at', '>=', since)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Records the verification outcome of a remediation on its match. A final outcome (anything but pending)
 * is written once: a replayed or retried step finds it and keeps it.
 */
export async function recordMatchVerification(db: Db, matchId: string, v: { status: string; detail: string; at: Date }): Promise<void> {
  const final = v.status !== 'pending';
  await db
    .updateTable('rule_matches')
    .set({ verification: v.status, verification_detail: v.detail.slice(0, 1000), verified_at: final ? v.at : null })
    .where('id', '=', matchId)
    .where((eb) => eb.or([eb('verification', 'is', null), eb('verification', '=', 'pending')]))
    .execute();
}

/**
 * A match decided to run whose rule run could not be started (its plan past what Temporal carries): its
 * decision becomes `failed`, with why in `skip_reason`. Once: a retried triage finds it failed.
 */
export async function recordMatchNotStarted(db: Db, matchId: string, reason: string): Promise<void> {
  await db.updateTable('rule_matches').set({ decision: 'failed', skip_reason: reason }).where('id', '=', matchId).execute();
}

/**
 * A match planned as a plain run whose run became its rule's half-open trial when its remediation started
 * (activities/action-runs.ts): `reason` says so where the match's reason is read (GET /api/incidents/{id}),
 * as a match planned as the trial carries the planner's. A match that already has a reason keeps it.
 */
export async function recordMatchTrialBegun(db: Db, matchId: string, reason: string): Promise<void> {
  await db.updateTable('rule_matches').set({ skip_reason: reason }).where('id', '=', matchId).where('decision', '=', 'run').where('skip_reason', 'is', null).execute();
}

/** What a match's run outcome did to its rule's breaker, when it was counted already. */
export async function findBreakerOutcome(db: Db, matchId: string): Promise<RuleMatch['breaker_outcome'] | undefined> {
  return (await db.selectFrom('rule_matches').select('breaker_outcome').where('id', '=', matchId).executeTakeFirst())?.breaker_outcome ?? undefined;
}

/** Keep what the match's run outcome did to the breaker, so it is counted once. */
export async function recordBreakerOutcome(db: Db, matchId: string, outcome: NonNullable<RuleMatch['breaker_outcome']>): Promise<void> {
  await db.updateTable('rule_matches').set({ breaker_outcome: JSON.stringify(outcome) }).where('id', '=', matchId).execute();
}

/** A match recorded for an event, with the definition of the rule version it was decided for. */
export interface RecordedMatchRule {
  matchId: string;
  ruleId: string;
  version: number;
  team: string | null;
  /** The version's definition (`rule_versions`), else the rule's own when it is still at that version; null when neither is kept. */
  definition: unknown;
}

/**
 * The matches already recorded for one incident event (a retried triage finds what its earlier attempt
 * decided), each with the rule as it stood when it was decided.
 */
export async function listRecordedMatchRules(db: Db, key: { incidentId: string; eventId: string }): Promise<RecordedMatchRule[]> {
  const rows = await db
    .selectFrom('rule_matches as m')
    .leftJoin('rule_versions as v', (j) => j.onRef('v.rule_id', '=', 'm.rule_id').onRef('v.version', '=', 'm.rule_version'))
    .leftJoin('rules as r', 'r.id', 'm.rule_id')
    .select(['m.id', 'm.rule_id', 'm.rule_version', 'r.team', 'v.definition as versionDefinition', 'r.definition as ruleDefinition', 'r.version as ruleVersion'])
    .where('m.incident_id', '=', key.incidentId)
    .where('m.event_id', '=', key.eventId)
    .orderBy('m.id')
    .execute();
  return rows.map((r) => ({
    matchId: String(r.id),
    ruleId: r.rule_id,
    version: r.rule_version,
    team: r.team ?? null,
    definition: r.versionDefinition ?? (r.ruleVersion === r.rule_version ? r.ruleDefinition : null) ?? null,
  }));
}
