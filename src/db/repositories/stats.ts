// The SQL of the effectiveness statistics (issue 22): matches and their action runs in a time range, the
// rows an incident's label is computed from, and the incidents automation is compared against. Plain
// functions taking the database first; the arithmetic lives in src/domain/effectiveness.ts and the
// composition in src/services/stats.ts.
import { sql, type RawBuilder } from 'kysely';
import type { Db } from './db.js';

export interface Range {
  since: Date;
  until: Date;
}

/** Incidents asked about in one statement at most (bounded IN lists). */
const CHUNK = 1000;

async function chunked<T, R>(items: readonly T[], fn: (part: T[]) => Promise<R[]>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(...(await fn(items.slice(i, i + CHUNK))));
  return out;
}

export interface MatchRow {
  id: string;
  incident_id: string;
  rule_id: string;
  decision: string;
  skip_reason: string | null;
  target: string | null;
  matched_at: Date;
  verification: string | null;
  /** Action runs of this match by outcome (rule actions only; notices are not action runs). */
  ran: number;
  succeeded: number;
  failed: number;
  unfinished: number;
}

/**
 * Rule matches in the range (of one rule, or all), each with its action runs counted by outcome; at most
 * `limit`. The matches are cut to `limit` first and their runs counted after: grouped before the limit,
 * Postgres counted the runs of every match in the range (a year of a busy fleet) to keep the first 50,000.
 */
export async function matchesInRange(db: Db, q: Range & { ruleId?: string | undefined; limit: number }): Promise<MatchRow[]> {
  let inRange = db
    .selectFrom('rule_matches as m')
    .select(['m.id', 'm.incident_id', 'm.rule_id', 'm.decision', 'm.skip_reason', 'm.target', 'm.matched_at', 'm.verification'])
    .where('m.matched_at', '>=', q.since)
    .where('m.matched_at', '<', q.until);
  if (q.ruleId !== undefined) inRange = inRange.where('m.rule_id', '=', q.ruleId);
  const rows = await db
    .selectFrom(inRange.orderBy('m.matched_at', 'asc').orderBy('m.id', 'asc').limit(q.limit).as('m'))
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('action_runs as a')
          .select([
            sql<string>`count(*) filter (where a.status in ('succeeded', 'failed'))`.as('ran'),
            sql<string>`count(*) filter (where a.status = 'succeeded')`.as('succeeded'),
            sql<string>`count(*) filter (where a.status in ('failed', 'rejected'))`.as('failed'),
            sql<string>`count(*) filter (where a.status in ('pending', 'awaiting_approval', 'running'))`.as('unfinished'),
          ])
          .whereRef('a.match_id', '=', 'm.id')
          .as('c'),
      (join) => join.onTrue(),
    )
    .selectAll('m')
    .select(['c.ran', 'c.succeeded', 'c.failed', 'c.unfinished'])
    .orderBy('m.matched_at', 'asc')
    .orderBy('m.id', 'asc')
    .execute();
  return rows.map((r) => ({ ...r, id: String(r.id), ran: Number(r.ran), succeeded: Number(r.succeeded), failed: Number(r.failed), unfinished: Number(r.unfinished) }));
}

export interface IncidentTimes {
  id: string;
  status: string;
  service_id: string | null;
  opened_at: Date;
  resolved_at: Date | null;
}

const opened = sql<Date>`coalesce(pd_created_at, created_at)`;

export async function incidentTimes(db: Db, ids: readonly string[]): Promise<IncidentTimes[]> {
  return chunked(ids, (part) =>
    db.selectFrom('incidents').select(['id', 'status', 'service_id', opened.as('opened_at'), 'resolved_at']).where('id', 'in', part).execute(),
  );
}

/** Incidents opened in the range (of some services, or all when `services` is '*'), oldest first, at most `limit`. */
export async function incidentsOpenedIn(db: Db, q: Range & { services: readonly string[] | '*'; limit: number }): Promise<IncidentTimes[]> {
  if (q.services !== '*' && q.services.length === 0) return [];
  let query = db
    .selectFrom('incidents')
    .select(['id', 'status', 'service_id', opened.as('opened_at'), 'resolved_at'])
    .where(opened, '>=', q.since)
    .where(opened, '<', q.until);
  if (q.services !== '*') query = query.where('service_id', 'in', [...q.services]);
  return query.orderBy(opened, 'asc').orderBy('id', 'asc').limit(q.limit).execute();
}

/** When the rule first ran for real: its earliest version saved enabled and not in dry run; null if never. */
export async function ruleLiveSince(db: Db, ruleId: string): Promise<Date | null> {
  const row = await db
    .selectFrom('rule_versions')
    .select((eb) => eb.fn.min('created_at').as('at'))
    .where('rule_id', '=', ruleId)
    .where(sql<boolean>`coalesce((definition->>'enabled')::boolean, true) and not coalesce((definition->>'dryRun')::boolean, false)`)
    .executeTakeFirst();
  return (row?.at as Date | null | undefined) ?? null;
}

export interface LabelEventRow {
  incident_id: string;
  event_type: string;
  occurred_at: Date | null;
  received_at: Date;
  payload: unknown;
  own_write: boolean;
}

/** The accepted events of some incidents, each marked when it is the echo of a write Self-healing made. */
export async function labelEvents(db: Db, incidentIds: readonly string[]): Promise<LabelEventRow[]> {
  return chunked(incidentIds, (part) =>
    db
      .selectFrom('incident_events as e')
      .select([
        'e.incident_id',
        'e.event_type',
        'e.occurred_at',
        'e.received_at',
        // Only what the label needs from the payload, never the rest of it.
        sql<unknown>`jsonb_build_object('event', jsonb_build_object('event_type', e.payload->'event'->'event_type', 'occurred_at', e.payload->'event'->'occurred_at', 'agent', jsonb_build_object('type', e.payload->'event'->'agent'->'type')))`.as('payload'),
        sql<boolean>`exists (select 1 from pagerduty_writes w where w.incident_id = e.incident_id and w.matched_event_id = e.event_id)`.as('own_write'),
      ])
      .where('e.incident_id', 'in', part)
      .where('e.disposition', '=', 'accepted')
      .orderBy('e.id')
      .execute(),
  ) as Promise<LabelEventRow[]>;
}

export interface LabelActionRow {
  incident_id: string;
  match_id: string;
  rule_id: string;
  action_type: string;
  status: string;
  started_at: Date | null;
  finished_at: Date | null;
  verification: string | null;
  within: unknown;
}

/** The rule action runs of some incidents, with their match's verification and their rule version's verify.within. */
export async function labelActions(db: Db, incidentIds: readonly string[]): Promise<LabelActionRow[]> {
  const rows = await chunked(incidentIds, (part) =>
    db
      .selectFrom('action_runs as a')
      .innerJoin('rule_matches as m', 'm.id', 'a.match_id')
      .leftJoin('rule_versions as v', (j) => j.onRef('v.rule_id', '=', 'm.rule_id').onRef('v.version', '=', 'm.rule_version'))
      .select(['m.incident_id', 'a.match_id', 'm.rule_id', 'a.action_type', 'a.status', 'a.started_at', 'a.finished_at', 'm.verification', sql<unknown>`v.definition->'verify'->'within'`.as('within')])
      .where('m.incident_id', 'in', part)
      .orderBy('a.match_id')
      .orderBy('a.action_index')
      .execute(),
  );
  return rows.map((r) => ({ ...r, match_id: String(r.match_id) }));
}

/** Runs and verified runs of a rule (or all) per UTC day in the range. */
export async function runsPerDay(db: Db, q: Range & { ruleId?: string | undefined }): Promise<{ day: string; runs: number; verified: number }[]> {
  const day = sql<string>`to_char(date_trunc('day', matched_at at time zone 'UTC'), 'YYYY-MM-DD')`;
  let query = db
    .selectFrom('rule_matches')
    .select([day.as('day'), sql<string>`count(*)`.as('runs'), sql<string>`count(*) filter (where verification = 'verified')`.as('verified')])
    .where('decision', '=', 'run')
    .where('matched_at', '>=', q.since)
    .where('matched_at', '<', q.until);
  if (q.ruleId !== undefined) query = query.where('rule_id', '=', q.ruleId);
  const rows = await query.groupBy(day).orderBy(day).execute();
  return rows.map((r) => ({ day: r.day, runs: Number(r.runs), verified: Number(r.verified) }));
}

export interface RuleTotalsRow {
  rule_id: string;
  runs: number;
  succeeded: number;
  verified: number;
  unverified: number;
  suppressed: number;
}

/**
 * A succeeded run of match `m`, for selfheal_rule_runs_succeeded_total: an action succeeded and none failed or
 * was rejected, judged once the run has ended (its outcome counted for the breaker, `breaker_outcome`, the
 * last thing a run writes). Judged while it went, a run counted after its first action dropped out of the
 * counter when a later action failed or was rejected, and Prometheus read the drop as a reset. `a` is the
 * alias the action runs take (the purge narrows them to the ones it keeps).
 */
export const succeededRun = (kept: RawBuilder<unknown> = sql`true`): RawBuilder<unknown> => sql`m.decision = 'run' and m.breaker_outcome is not null
  and exists (select 1 from action_runs a where a.match_id = m.id and a.status = 'succeeded' and ${kept})
  and not exists (select 1 from action_runs a where a.match_id = m.id and a.status in ('failed', 'rejected') and ${kept})`;
const SUCCEEDED_RUN = succeededRun();

/** Totals per live rule over all time, for the Prometheus series (one row per rule: bounded by the rules). */
export async function ruleTotals(db: Db): Promise<RuleTotalsRow[]> {
  const rows = await db
    .selectFrom('rules as r')
    .leftJoin('rule_matches as m', 'm.rule_id', 'r.id')
    .select([
      'r.id as rule_id',
      sql<string>`count(m.id) filter (where m.decision = 'run')`.as('runs'),
      sql<string>`count(m.id) filter (where ${SUCCEEDED_RUN})`.as('succeeded'),
      sql<string>`count(m.id) filter (where m.verification = 'verified')`.as('verified'),
      sql<string>`count(m.id) filter (where m.verification = 'unverified')`.as('unverified'),
      sql<string>`count(m.id) filter (where m.decision = 'skipped')`.as('suppressed'),
    ])
    .where('r.deleted_at', 'is', null)
    .groupBy('r.id')
    .orderBy('r.id')
    .execute();
  return rows.map((r) => ({ rule_id: r.rule_id, runs: Number(r.runs), succeeded: Number(r.succeeded), verified: Number(r.verified), unverified: Number(r.unverified), suppressed: Number(r.suppressed) }));
}

/** Names of some rules (deleted ones included). */
export async function ruleNames(db: Db, ids: readonly string[]): Promise<{ id: string; name: string; team: string }[]> {
  return chunked(ids, (part) => db.selectFrom('rules').select(['id', 'name', 'team']).where('id', 'in', part).execute());
}
