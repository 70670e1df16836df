// The SQL of fleet guards, pauses, flapping and their alerts (issue 22). Plain functions taking db first;
// the planner calls them inside the match's transaction, after lockGuards, so check and record are one
// atomic step across every worker replica.
import { sql, type ExpressionBuilder, type RawBuilder, type Transaction } from 'kysely';
import type { AutomationAlertTable, AutomationPauseTable, Database } from '../database.js';
import type { Selectable } from 'kysely';
import { NOTIFY_ONLY_TYPES } from '../../domain/rules/action-kinds.js';
import type { Db } from './db.js';
import { fixedLockKey, type FixedLock } from './transactions.js';

export type AutomationPause = Selectable<AutomationPauseTable>;
export type AutomationAlert = Selectable<AutomationAlertTable>;

const GUARDS_LOCK: FixedLock = { fixed: 2 };

/**
 * Serialise every guard decision (all replicas, all rules) until the transaction ends: a FixedLock, which no
 * name from outside (a host, a job id) takes.
 */
export async function lockGuards(db: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(${fixedLockKey(GUARDS_LOCK)})`.execute(db);
}

/**
 * The pauses a reader of `teams` may see (undefined: every pause, a global admin's): fleet-wide ones, and
 * those of an environment registered in one of `teams` or not registered at all (an environment of no team,
 * whose name any reader of incidents already sees). Another team's environment pause is left out.
 */
const seenBy = (teams: readonly string[] | undefined) => (eb: ExpressionBuilder<Database, 'automation_pauses'>) =>
  teams === undefined
    ? eb.lit(true)
    : eb.or([
        eb('automation_pauses.scope', '<>', 'environment'),
        eb.not(
          eb.exists(
            eb
              .selectFrom('environments as e')
              .select('e.name')
              .whereRef('e.name', '=', 'automation_pauses.environment')
              .where(sql<boolean>`not (e.team = any(${[...teams]}::text[]))`),
          ),
        ),
      ]);

/** Pauses in force (not resumed), oldest first; with `teams`, only those {@link seenBy} a reader of them. */
export async function activePauses(db: Db, teams?: readonly string[]): Promise<AutomationPause[]> {
  return db.selectFrom('automation_pauses').selectAll().where('resumed_at', 'is', null).where(seenBy(teams)).orderBy('paused_at').execute();
}

/**
 * Whether the pause row `p` stops remediation in `environment` (null when the incident names none): in force,
 * and fleet-wide or of that environment. The one rule, for the planner's check and the approved action's claim.
 */
export function pauseCovers(environment: RawBuilder<string | null> | string | null): RawBuilder<boolean> {
  return sql<boolean>`(p.resumed_at is null and (p.scope = 'fleet' or (p.scope = 'environment' and p.environment = ${environment})))`;
}

/** The oldest pause in force that stops remediation in `environment`, if any. */
export async function pauseCovering(db: Db, environment: string | undefined): Promise<AutomationPause | undefined> {
  return db
    .selectFrom('automation_pauses as p')
    .selectAll()
    .where(pauseCovers(environment ?? null))
    .orderBy('p.paused_at')
    .limit(1)
    .executeTakeFirst();
}

/** Pauses in force and the most recent resumed ones, newest first; with `teams`, only those {@link seenBy} a reader of them. */
export async function recentPauses(db: Db, limit: number, teams?: readonly string[]): Promise<AutomationPause[]> {
  return db.selectFrom('automation_pauses').selectAll().where(seenBy(teams)).orderBy('id', 'desc').limit(limit).execute();
}

/** When the scope was last resumed: windows count from there at the earliest (a resume starts afresh). */
export async function lastResumedAt(db: Db, scope: string, environment: string): Promise<Date | null> {
  const row = await db
    .selectFrom('automation_pauses')
    .select(sql<Date | null>`max(resumed_at)`.as('at'))
    .where('scope', '=', scope)
    .where('environment', '=', environment)
    .executeTakeFirst();
  return row?.at ?? null;
}

/**
 * Distinct targets remediated since `since` (of one rule, in one environment, when given), and whether
 * `target` is one. Released remediations (settled without starting) are not counted, here as below.
 */
export async function countTargets(
  db: Db,
  q: { since: Date; ruleId?: string | undefined; environment?: string | undefined; target?: string | undefined; team?: string | undefined },
): Promise<{ count: number; includesTarget: boolean }> {
  let query = db
    .selectFrom('remediations')
    .select([
      sql<string>`count(distinct target)::text`.as('n'),
      sql<boolean>`coalesce(bool_or(target = ${q.target ?? null}), false)`.as('has'),
    ])
    .where('at', '>', q.since)
    .where('released_at', 'is', null)
    .where('target', 'is not', null);
  if (q.ruleId) query = query.where('rule_id', '=', q.ruleId);
  if (q.environment) query = query.where('environment', '=', q.environment);
  if (q.team !== undefined) query = query.where(ofTeam(q.team));
  const row = await query.executeTakeFirstOrThrow();
  return { count: Number(row.n), includesTarget: Boolean(row.has) };
}

/** Remediation actions since `since` (of one rule when given; released remediations not counted). */
export async function countActions(db: Db, q: { since: Date; ruleId?: string | undefined }): Promise<number> {
  let query = db.selectFrom('remediations').select(sql<string>`coalesce(sum(actions), 0)::text`.as('n')).where('at', '>', q.since).where('released_at', 'is', null);
  if (q.ruleId) query = query.where('rule_id', '=', q.ruleId);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

/** Remediations of one target by any rule (of `team`'s rules, when given) since `since` (released ones not counted). */
export async function countTargetRemediations(db: Db, target: string, since: Date, team?: string): Promise<number> {
  let query = db.selectFrom('remediations').select(sql<string>`count(*)::text`.as('n')).where('target', '=', target).where('at', '>', since).where('released_at', 'is', null);
  if (team !== undefined) query = query.where(ofTeam(team));
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Remediations of `team`'s rules, and those recorded before teams (no team: they count for everyone). */
const ofTeam = (team: string) => (eb: ExpressionBuilder<Database, 'remediations'>) => eb.or([eb('team', '=', team), eb('team', 'is', null)]);

/** Hosts the environment is known to have: the distinct hosts of its incidents. */
export async function knownHosts(db: Db, environment: string): Promise<number> {
  const row = await db
    .selectFrom('incidents')
    .select(sql<string>`count(distinct environment->>'host')::text`.as('n'))
    .where(sql<string>`environment->>'environment'`, '=', environment)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertRemediation(
  db: Db,
  r: { matchId: string; ruleId: string; incidentId: string; target: string | undefined; environment: string | undefined; actions: number; at: Date; team: string | undefined },
): Promise<void> {
  await db
    .insertInto('remediations')
    .values({ match_id: r.matchId, rule_id: r.ruleId, incident_id: r.incidentId, target: r.target ?? null, environment: r.environment ?? null, actions: r.actions, at: r.at, team: r.team ?? null })
    .onConflict((oc) => oc.column('match_id').doNothing())
    .execute();
}

/**
 * The statuses an action run ends in without having started (a subset of FINISHED_RUN_STATUSES in
 * ./action-runs.ts): rejected (by a person or by `onTimeout: reject`), skipped (its `when`, or at its
 * approved start), cancelled (a resolve before it started). A run that has a `started_at` started, whatever
 * its status says (an action cancelled while in flight may have touched its host).
 */
export const NOT_STARTED_RUN_STATUSES: readonly string[] = ['rejected', 'skipped', 'cancelled'];

/**
 * Release the remediation of a match (`matchId`, or the match of the action run `actionRunId`): it stops
 * counting in the guards' and flapping windows (`released_at`), kept for the audit trail. Only when none of
 * its remediation actions started or may still start: every remediation action run of the match ended
 * rejected, skipped or cancelled without a `started_at`, and (unless `runEnded`: its rule run is over, so
 * an action with no row never ran) every one of its `actions` has its row, so none is still to come. A
 * dry run, a remediation that ran (and failed), or one whose verification waited (its check may have run)
 * keeps counting. Under the guards' lock (taken here; an
 * approved start takes it too, before it records its start), so a remediation whose start is being
 * recorded at the same moment is either seen started (and kept) or seen waiting (and kept). True when
 * this call released it.
 */
export async function releaseUnstartedRemediation(
  trx: Transaction<Database>,
  m: ({ matchId: string; actionRunId?: undefined } | { actionRunId: string; matchId?: undefined }) & { at: Date; runEnded?: boolean | undefined },
): Promise<boolean> {
  const notifyOnly = [...NOTIFY_ONLY_TYPES];
  const match = m.matchId !== undefined ? sql<string>`${m.matchId}::bigint` : sql<string>`(select a.match_id from action_runs a where a.id = ${m.actionRunId})`;
  const fix = sql<boolean>`a.match_id = r.match_id and a.action_type <> all(${notifyOnly}::text[])`;
  // A verification that waited may have run the rule's check script on the host (it has no action run):
  // its remediation keeps counting. One settled at once (not_applicable) ran nothing.
  const releasable = sql<boolean>`(r.released_at is null
    and not exists (select 1 from action_runs a where ${fix} and (a.started_at is not null or a.status <> all(${[...NOT_STARTED_RUN_STATUSES]}::text[])))
    and not exists (select 1 from rule_matches m where m.id = r.match_id and m.verification is not null and m.verification <> 'not_applicable')
    and (${Boolean(m.runEnded)}::boolean or (select count(*) from action_runs a where ${fix}) >= r.actions))`;
  // Most calls find nothing to release (a remediation that ran, or none): they do not take the lock.
  const candidate = await sql<{ id: string }>`select r.id from remediations r where r.match_id = ${match} and ${releasable}`.execute(trx);
  if (candidate.rows.length === 0) return false;
  await lockGuards(trx);
  // A statement of its own, after the lock: it sees what an approved start committed before it.
  const released = await sql<{ id: string }>`update remediations r set released_at = ${m.at} where r.match_id = ${match} and ${releasable} returning r.id`.execute(trx);
  return released.rows.length > 0;
}

/** Pause a scope; null when a pause of it is already in force (the one that exists keeps its page). */
export async function insertPause(
  db: Db,
  p: { scope: string; environment: string; guard: string; reason: string; incidentId: string; at: Date },
): Promise<AutomationPause | null> {
  const row = await db
    .insertInto('automation_pauses')
    .values({ scope: p.scope, environment: p.environment, guard: p.guard, reason: p.reason, incident_id: p.incidentId, paused_at: p.at })
    .onConflict((oc) => oc.columns(['scope', 'environment']).where('resumed_at', 'is', null).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

/** Lift the pauses in force of a scope; returns those lifted. */
export async function resumePauses(db: Db, q: { scope: string; environment: string; actor: string; at: Date }): Promise<AutomationPause[]> {
  return db
    .updateTable('automation_pauses')
    .set({ resumed_at: q.at, resumed_by: q.actor })
    .where('scope', '=', q.scope)
    .where('environment', '=', q.environment)
    .where('resumed_at', 'is', null)
    .returningAll()
    .execute();
}

export async function insertAlert(db: Db, a: { kind: string; incidentId: string; target?: string | undefined; text: string; page: boolean; at: Date }): Promise<void> {
  await db.insertInto('automation_alerts').values({ kind: a.kind, incident_id: a.incidentId, target: a.target ?? null, text: a.text, page: a.page, created_at: a.at }).execute();
}

/** Whether a flapping page for `target` went out (or is owed) since `since`: one page per episode. */
export async function flappingPagedSince(db: Db, target: string, since: Date): Promise<boolean> {
  const row = await db.selectFrom('automation_alerts').select('id').where('kind', '=', 'flapping').where('target', '=', target).where('page', '=', true).where('created_at', '>', since).executeTakeFirst();
  return Boolean(row);
}

/**
 * Claim alerts not yet sent (never claimed, or claimed more than `reclaimAfterSeconds` ago by a worker that
 * died), each by one caller: `for update skip locked`. With `incidentId`, only that incident's.
 */
export async function claimAlerts(db: Db, q: { limit: number; reclaimAfterSeconds: number; incidentId?: string | undefined }): Promise<AutomationAlert[]> {
  const ofIncident = q.incidentId === undefined ? sql`` : sql`and incident_id = ${q.incidentId}`;
  const rows = await sql<AutomationAlert>`
    update automation_alerts set claimed_at = now()
    where id in (
      select id from automation_alerts
      where sent_at is null and (claimed_at is null or claimed_at < now() - make_interval(secs => ${q.reclaimAfterSeconds})) ${ofIncident}
      order by id limit ${q.limit}
      for update skip locked)
    returning *`.execute(db);
  return rows.rows;
}

/** An alert still owed: what failed is kept, and its claim (the time it was taken) runs out as usual. */
export async function markAlertOwed(db: Db, id: string, error: string): Promise<void> {
  await db.updateTable('automation_alerts').set({ error }).where('id', '=', id).where('sent_at', 'is', null).execute();
}

export async function markAlertSent(db: Db, id: string, error: string | null): Promise<void> {
  await db.updateTable('automation_alerts').set({ sent_at: new Date(), error }).where('id', '=', id).execute();
}
