import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { ActionRun, Database } from '../database.js';
import type { Db } from './db.js';
import { pauseCovers } from './guards.js';
import { ownResolveThisCycle } from './pagerduty-writes.js';


export async function findActionRun(db: Db, id: string): Promise<ActionRun | undefined> {
  return db.selectFrom('action_runs').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Who saved a rule version (`rule_versions.actor`) and the other names they were known under then
 * (`actor_aliases`); undefined when the version is not recorded.
 */
export async function ruleVersionAuthor(db: Db, ruleId: string, version: number): Promise<{ actor: string; aliases: string[] } | undefined> {
  const row = await db.selectFrom('rule_versions').select(['actor', 'actor_aliases']).where('rule_id', '=', ruleId).where('version', '=', version).executeTakeFirst();
  return row ? { actor: row.actor, aliases: row.actor_aliases } : undefined;
}

/**
 * What the checks below read of the run they judge: the columns of an action run (`action_runs` of the
 * statement), or given values (a verification's check, which has no row of its own).
 */
interface PlannedBy {
  ruleId: RawBuilder<unknown>;
  ruleVersion: RawBuilder<unknown>;
  matchId: RawBuilder<unknown>;
}

const ACTION_RUN: PlannedBy = { ruleId: sql.ref('action_runs.rule_id'), ruleVersion: sql.ref('action_runs.rule_version'), matchId: sql.ref('action_runs.match_id') };

/**
 * Why the rule that planned the run does not stand as it planned it: `deleted`, `disabled` or `replaced by
 * version N`; null while the rule is live at the planned version (or the run is no rule's).
 */
const ruleNotLiveOf = (run: PlannedBy) => sql<string | null>`(case when ${run.ruleId} is null then null else (
  select case when r.id is null or r.deleted_at is not null then 'deleted' when not r.enabled then 'disabled'
    when r.version <> ${run.ruleVersion} then 'replaced by version ' || r.version end
  from (select 1) one left join rules r on r.id = ${run.ruleId}) end)`;

/** ruleNotLiveOf the action run of the statement. */
const ruleNotLive = ruleNotLiveOf(ACTION_RUN);

/**
 * The environment the run's remediation was planned on (the guards' record of its match), when it is no
 * longer its rule's team's: deleted, or moved, or its name registered again by another team, whose Doctor
 * agent may poll the same default queue. Null otherwise.
 */
const environmentGoneOf = (run: PlannedBy) => sql<string | null>`(
  select r.environment from remediations r
  where r.match_id = ${run.matchId} and r.environment is not null
    and not exists (select 1 from environments e join rules ru on ru.id = ${run.ruleId} where e.name = r.environment and e.team = ru.team)
  limit 1)`;

/**
 * environmentGoneOf a script run (`action_runs` of the statement), gone while it waited for its approval;
 * null for other actions.
 */
const scriptEnvironmentGone = sql<string | null>`(case when action_runs.action_type in ('script.agent', 'script.ssh') then ${environmentGoneOf(ACTION_RUN)} end)`;

/** Whether the deadline of the waiting run (`action_runs` of the statement) has passed, by Postgres' clock. */
const pastDeadline = sql<boolean>`(action_runs.approval_deadline is not null and action_runs.approval_deadline <= now())`;

/**
 * Set the deadline of a run claimed to wait for approval: `minutes` from now, and what its rule run records
 * then (`onTimeout`). Set again when the claim is taken again by its owner while nobody decided (the claim
 * ran again after a crash, and the rule run announces its deadline from then).
 */
export async function setApprovalDeadline(db: Db, id: string, owner: string, a: { minutes: number; onTimeout: 'approve' | 'reject' }): Promise<void> {
  await sql`update action_runs set approval_deadline = now() + make_interval(mins => ${a.minutes}), approval_on_timeout = ${a.onTimeout}
    where id = ${id} and claimed_by = ${owner} and status = 'awaiting_approval' and approval is null`.execute(db);
}

/**
 * What a decision on the run would meet, by Postgres' clock: its deadline (null: none recorded), what is
 * recorded when it passes, whether it passed, and why its rule no longer stands as planned (null: it does).
 */
export async function findDecisionState(db: Db, id: string): Promise<{ deadline: Date | null; onTimeout: string | null; expired: boolean; ruleNotLive: string | null } | undefined> {
  return db
    .selectFrom('action_runs')
    .select([
      sql<Date | null>`approval_deadline`.as('deadline'),
      sql<string | null>`approval_on_timeout`.as('onTimeout'),
      pastDeadline.as('expired'),
      ruleNotLive.as('ruleNotLive'),
    ])
    .where('id', '=', id)
    .executeTakeFirst();
}

/**
 * Record a person's decision on a gated action, and the audit entry, in one transaction: only while the
 * action still waits, nobody (the deadline included) decided and its deadline has not passed, and, for an
 * approval, while the rule that planned it is live at the planned version. False when that was not so.
 */
export async function recordApprovalDecision(
  db: Db,
  actionRunId: string,
  decision: { decision: 'approve' | 'reject'; actor: string; at: string; comment?: string; via?: string },
  team: string | null = null,
): Promise<boolean> {
  const inTransaction = async (trx: Transaction<Database>) => {
    const row = await trx
      .updateTable('action_runs')
      .set({ approval: JSON.stringify(decision) })
      .where('id', '=', actionRunId)
      .where('status', '=', 'awaiting_approval')
      .where(sql<boolean>`approval is null`)
      .where(sql<boolean>`not ${pastDeadline}`)
      .where(decision.decision === 'approve' ? sql<boolean>`${ruleNotLive} is null` : sql<boolean>`true`)
      .returning('id')
      .executeTakeFirst();
    if (!row) return false;
    await trx
      .insertInto('audit_log')
      .values({ actor: decision.actor, action: `approval.${decision.decision}`, entity_type: 'action_run', entity_id: actionRunId, before: null, after: JSON.stringify(decision), team })
      .execute();
    return true;
  };
  // Inside the caller's transaction when given one (an approval link is consumed in the same one).
  return db.isTransaction ? inTransaction(db as Transaction<Database>) : (db as Kysely<Database>).transaction().execute(inTransaction);
}

/** The columns every action run row starts with; the id doubles as its idempotency key. */
export interface ActionRunKey {
  id: string;
  incidentId: string;
  matchId: string;
  ruleId: string;
  ruleVersion: number;
  actionIndex: number;
  actionId: string;
  actionType: string;
  target: string | null;
}

function keyColumns(k: ActionRunKey) {
  return {
    id: k.id,
    idempotency_key: k.id,
    incident_id: k.incidentId,
    match_id: k.matchId,
    rule_id: k.ruleId,
    rule_version: k.ruleVersion,
    action_index: k.actionIndex,
    action_id: k.actionId,
    action_type: k.actionType,
    target: k.target,
  };
}

/** Whether the incident is resolved, and not by Self-healing's own resolve of this cycle (after which a rule's later actions still run). */
const resolvedNotByUs = (incidentId: string) =>
  sql<boolean>`(exists (select 1 from incidents where id = ${incidentId} and status = 'resolved') and not ${ownResolveThisCycle(incidentId)})`;

/** Why a claim taken with `cancelIfResolved` was recorded cancelled. */
export const RESOLVED_BEFORE_START = 'not run: the incident resolved before the action started';

/**
 * Whether remediation is paused, at this moment, where the run acts: a fleet pause, or a pause of the
 * environment its scripts were pinned to when it was planned (the remediation the guards recorded for its
 * match), or of the incident's environment now (automation_pauses, written by a guard or an admin; lifted
 * by a resume). Both: a later event can re-extract another environment (or none) for the incident while
 * the run waits, and the script still runs where it was planned.
 */
const pausedFor = (incidentId: string, actionRunId: string) =>
  sql<boolean>`exists (select 1 from automation_pauses p where ${pauseWhere(incidentId, sql<string | null>`(select r.environment from remediations r join action_runs a on a.match_id = r.match_id where a.id = ${actionRunId})`)})`;

/** Whether the pause `p` of the statement stops remediation where pausedFor says: the incident's environment now, or `planned`. */
const pauseWhere = (incidentId: string, planned: RawBuilder<string | null>) =>
  sql<boolean>`(${pauseCovers(sql<string | null>`(select i.environment->>'environment' from incidents i where i.id = ${incidentId})`)} or ${pauseCovers(planned)})`;

/** Why an approved remediation was recorded skipped: remediation was paused where its incident is while it waited. */
export const PAUSED_BEFORE_START = 'not run: automation was paused (a guard crossed) while this action waited for its approval; resume it, and the next incident runs again';

/**
 * Claims the action run for `owner` unless a row exists (`on conflict do nothing`); the status this call
 * inserted, undefined when a row was there. `cancelIfResolved`: when the incident is resolved at this
 * moment, by anyone but Self-healing itself, the row is inserted `cancelled` instead (one statement, so no
 * resolve lands in between).
 */
export async function insertClaim(
  db: Db,
  k: ActionRunKey,
  c: { status: string; rendered: unknown; startedAt: Date | null; reason: string; owner: string; workflowId: string; cancelIfResolved?: boolean },
): Promise<string | undefined> {
  const resolved = resolvedNotByUs(k.incidentId);
  const inserted = await db
    .insertInto('action_runs')
    .values({
      ...keyColumns(k),
      status: c.cancelIfResolved ? sql<string>`case when ${resolved} then 'cancelled' else ${c.status} end` : c.status,
      rendered: JSON.stringify(c.rendered),
      started_at: c.cancelIfResolved ? sql<Date | null>`case when ${resolved} then null else ${c.startedAt}::timestamptz end` : c.startedAt,
      finished_at: c.cancelIfResolved ? sql<Date | null>`case when ${resolved} then now() end` : null,
      error: c.cancelIfResolved ? sql<string | null>`case when ${resolved} then ${RESOLVED_BEFORE_START} end` : null,
      attempts: 1,
      reason: c.reason,
      claimed_by: c.owner,
      workflow_id: c.workflowId,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('status')
    .executeTakeFirst();
  return inserted?.status;
}

/** Who claimed an action run and how it stands. */
export async function findClaim(db: Db, id: string) {
  return db.selectFrom('action_runs').select(['status', 'claimed_by', 'exit_code', 'output_excerpt', 'link', 'error']).where('id', '=', id).executeTakeFirstOrThrow();
}

export async function countAttempt(db: Db, id: string): Promise<void> {
  await db.updateTable('action_runs').set({ attempts: sql`attempts + 1` }).where('id', '=', id).execute();
}

/**
 * Whether an action of the rule run of `matchId` was decided by a person or its deadline (`approval` set):
 * the run waited for that decision, up to days, and what it starts next starts then, not when it was planned.
 */
export async function runWaitedForApproval(db: Db, matchId: string): Promise<boolean> {
  const row = await db.selectFrom('action_runs').select('id').where('match_id', '=', matchId).where('approval', 'is not', null).limit(1).executeTakeFirst();
  return row !== undefined;
}

/** The decision recorded on a gated action run (`approval`), or null. */
export async function findApproval(db: Db, id: string): Promise<unknown> {
  const row = await db.selectFrom('action_runs').select('approval').where('id', '=', id).executeTakeFirst();
  return row?.approval ?? null;
}

/** Records `decision` unless one was recorded first (the API writes people's decisions the same way). */
export async function recordApprovalIfNone(db: Db, id: string, decision: unknown): Promise<void> {
  await db.updateTable('action_runs').set({ approval: JSON.stringify(decision) }).where('id', '=', id).where('approval', 'is', null).execute();
}

/** What a run stopped at its approved start waited for, in the reason, unless it waited for an earlier action's decision. */
export const APPROVAL_WAITED = 'this action waited for its approval';

/**
 * An approved run starts: `running`, only from `awaiting_approval` and only for its owner; the status it
 * now has and the reason it did not start (undefined when it was not awaiting approval: started already).
 * In one statement it is recorded instead, never started:
 * - `cancelled` when `cancelIfResolvedOf`, that incident, is resolved at this moment (not by Self-healing), as
 *   a claim is: an approval given while the resolve's cancellation has not reached the run yet starts nothing;
 * - `skipped` when remediation is paused where it runs (`stopIfPausedFor`: its incident), when the rule that
 *   planned it is disabled, deleted or at another version now (an approval, or `onTimeout: approve`, of what
 *   an admin stopped), with `breakerStop`, the reason recorded, when the caller found the rule's circuit
 *   breaker stops it (open, or half-open for another run's trial), or with `guardStop`, the reason recorded,
 *   when the caller found (under the guards' lock) that this start would cross a guard.
 */
export async function startApprovedRun(
  db: Db,
  id: string,
  owner: string,
  at: Date,
  o: { cancelIfResolvedOf?: string | undefined; stopIfPausedFor?: string | undefined; breakerStop?: string | undefined; guardStop?: string | undefined; waited?: string | undefined } = {},
): Promise<{ status: string; error: string | null } | undefined> {
  // What the run waited for, in the reasons: its own approval, or (`waited`) an earlier action's.
  const waited = o.waited ?? APPROVAL_WAITED;
  const resolved = o.cancelIfResolvedOf === undefined ? sql<boolean>`false` : resolvedNotByUs(o.cancelIfResolvedOf);
  const paused = o.stopIfPausedFor === undefined ? sql<boolean>`false` : pausedFor(o.stopIfPausedFor, id);
  const gone = sql<boolean>`${ruleNotLive} is not null`;
  const envGone = sql<boolean>`${scriptEnvironmentGone} is not null`;
  const breaker = o.breakerStop === undefined ? sql<boolean>`false` : sql<boolean>`true`;
  const guard = o.guardStop === undefined ? sql<boolean>`false` : sql<boolean>`true`;
  const stopped = sql<boolean>`(${resolved} or ${paused} or ${gone} or ${envGone} or ${breaker} or ${guard})`;
  const updated = await db
    .updateTable('action_runs')
    .set({
      status: sql<string>`case when ${resolved} then 'cancelled' when ${stopped} then 'skipped' else 'running' end`,
      started_at: sql<Date | null>`case when ${stopped} then null else ${at}::timestamptz end`,
      finished_at: sql<Date | null>`case when ${stopped} then now() end`,
      error: sql<string | null>`case when ${resolved} then ${RESOLVED_BEFORE_START} when ${paused} then ${PAUSED_BEFORE_START.replace('this action waited for its approval', waited)}
        when ${gone} then 'not run: its rule was ' || ${ruleNotLive} || ' while ' || ${waited} || ' (version ' || action_runs.rule_version || ' planned it)'
        when ${envGone} then 'not run: environment ' || ${scriptEnvironmentGone} || ' was deleted, or moved out of the rule''s team, while ' || ${waited}
        when ${breaker} then ${o.breakerStop ?? null} when ${guard} then ${o.guardStop ?? null} end`,
    })
    .where('id', '=', id)
    .where('claimed_by', '=', owner)
    .where('status', '=', 'awaiting_approval')
    .returning(['status', 'error'])
    .executeTakeFirst();
  return updated;
}

/** Why a verification's check must not run now (findCheckStop); each null when it does not stop it. */
export interface CheckStop {
  /** The oldest pause in force where the remediation runs. */
  pause: { scope: string; environment: string; guard: string } | null;
  /** The rule is `deleted`, `disabled` or `replaced by version N` since the planned version. */
  ruleNotLive: string | null;
  /** The environment the remediation was planned on, no longer the rule's team's. */
  environmentGone: string | null;
}

/**
 * What stops the check of a verification (workflows/verify.ts) at this moment. The check is a script the
 * rule run runs on the host after each settle, long after its match was planned, with no action run row:
 * it is held to what an approved remediation is held to when it starts (startApprovedRun). A pause in
 * force where its incident is or where its match's remediation was planned; the rule that planned it
 * (`ruleId` at `ruleVersion`) disabled, deleted or replaced; that remediation's environment deleted or no
 * longer the rule's team's.
 */
export async function findCheckStop(db: Db, c: { incidentId: string; matchId: string; ruleId: string; ruleVersion: number }): Promise<CheckStop> {
  const run: PlannedBy = { ruleId: sql`${c.ruleId}::text`, ruleVersion: sql`${c.ruleVersion}::integer`, matchId: sql`${c.matchId}::bigint` };
  const planned = sql<string | null>`(select r.environment from remediations r where r.match_id = ${run.matchId})`;
  const { rows } = await sql<CheckStop>`select
      (select json_build_object('scope', p.scope, 'environment', p.environment, 'guard', p.guard) from automation_pauses p
        where ${pauseWhere(c.incidentId, planned)} order by p.paused_at limit 1) as "pause",
      ${ruleNotLiveOf(run)} as "ruleNotLive",
      ${environmentGoneOf(run)} as "environmentGone"`.execute(db);
  return rows[0]!;
}

/**
 * The remediation the guards recorded for the match of an action run (when it was planned), with the
 * planned rule version's own `guards`; undefined when none was recorded (no remediation, or planned before
 * the guards).
 */
export async function findPlannedRemediation(db: Db, actionRunId: string) {
  return db
    .selectFrom('action_runs as a')
    .innerJoin('remediations as r', 'r.match_id', 'a.match_id')
    .leftJoin('rule_versions as v', (j) => j.onRef('v.rule_id', '=', 'a.rule_id').onRef('v.version', '=', 'a.rule_version'))
    .leftJoin('environments as e', 'e.name', 'r.environment')
    .select(['r.match_id', 'r.rule_id', 'r.incident_id', 'r.target', 'r.environment', 'r.actions', 'r.at', 'r.released_at', 'r.team', 'e.team as environment_team', sql<unknown>`v.definition->'guards'`.as('guards')])
    .where('a.id', '=', actionRunId)
    .executeTakeFirst();
}

/**
 * The remediation of a match counts from `at` (when its approved action started), no longer from its
 * planning; and it counts, released or not (a release never sees a remediation that is about to start, but
 * one that starts counts whatever was found before).
 */
export async function restampRemediation(db: Db, matchId: string, at: Date): Promise<void> {
  await db.updateTable('remediations').set({ at, released_at: null }).where('match_id', '=', matchId).execute();
}

/** The outcome of a claimed run; only its owner writes it. */
export async function recordRunOutcome(
  db: Db,
  id: string,
  owner: string,
  o: { status: string; exitCode: number | null; outputExcerpt: string | null; link: string | null; error: string | null; at: Date; clearStart?: boolean | undefined },
): Promise<boolean> {
  // A finished status is never overwritten (a retried write, a cancellation recorded after the outcome).
  // `clearStart`: the run never started, whatever its claim or approved start wrote (started_at null).
  const updated = await db
    .updateTable('action_runs')
    .set({ status: o.status, exit_code: o.exitCode, output_excerpt: o.outputExcerpt, link: o.link, error: o.error, finished_at: o.at, ...(o.clearStart ? { started_at: null } : {}) })
    .where('id', '=', id)
    .where('claimed_by', '=', owner)
    .where('status', 'not in', FINISHED_RUN_STATUSES)
    .returning('id')
    .executeTakeFirst();
  return updated !== undefined;
}

/**
 * Whether the rule is stopped now: `disabled`, or `deleted` (or gone); undefined while it is enabled, at
 * whatever version (an edit is no stop: a run goes on with the version that planned it).
 */
export async function findRuleStopped(db: Db, ruleId: string): Promise<'disabled' | 'deleted' | undefined> {
  const rule = await db.selectFrom('rules').select(['enabled', 'deleted_at']).where('id', '=', ruleId).executeTakeFirst();
  if (!rule || rule.deleted_at !== null) return 'deleted';
  return rule.enabled ? undefined : 'disabled';
}

/** The statuses an action run ends in; none of them is ever changed again. */
export const FINISHED_RUN_STATUSES: readonly string[] = ['succeeded', 'failed', 'skipped', 'cancelled', 'dry_run', 'rejected'];

/** An action run that was skipped (its `when`, a cancellation), recorded once. */
export async function insertSkippedRun(db: Db, k: ActionRunKey, s: { reason: string; owner: string; at: Date; error?: string | undefined }): Promise<void> {
  await db
    .insertInto('action_runs')
    .values({ ...keyColumns(k), status: 'skipped', reason: s.reason, claimed_by: s.owner, finished_at: s.at, ...(s.error !== undefined ? { error: s.error } : {}) })
    .onConflict((oc) => oc.doNothing())
    .execute();
}
