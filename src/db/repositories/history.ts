// Reading the stored incident history for the backtest: events in the order they were received, each with
// the incident row and every rule's recorded match of it (with how its run ended), paged by keyset so a
// long window is streamed, never held; plus the rule versions a window meets (measured before they are
// read), the small tables the backtest needs whole (environments' maintenance windows, the other rules'
// ordering) and how far back the history goes.
import { sql } from 'kysely';
import { namedService, otherRuleKey, type HistoryEvent, type OtherRule, type RecordedMatch, type StoredVersion } from '../../domain/backtest/index.js';
import type { RunOutcome } from '../../domain/policies.js';
import { NOTIFY_ONLY_TYPES } from '../../domain/rules/action-kinds.js';
import type { IncidentFacts } from '../../domain/rules/incident-context.js';
import type { TimeWindow } from '../../domain/rules/time-window.js';
import { REMEDIATING_EVENT_TYPES } from '../../pagerduty/parse.js';
import type { Db } from './db.js';

export interface HistoryQuery {
  from: Date;
  to: Date;
  /**
   * Load the event payloads (and alerts) only of events on these services; undefined = every service. An
   * event is on the service it names, else on the one the last event of its incident that named one
   * named (the incidents row's as it is now when none did in the window), as the live matcher saw it; an
   * incident on one of these services now has every event loaded, as before.
   */
  services?: readonly string[] | undefined;
  /** Rows per round trip. */
  pageSize?: number | undefined;
}

/** One event with its incident's columns (the facts rule evaluation reads) and the rules' recorded matches. */
interface HistoryRow extends Omit<IncidentFacts, 'id'> {
  seq: string;
  cursor_at: string;
  event_id: string;
  incident_id: string;
  event_type: string;
  occurred_at: Date | null;
  received_at: Date;
  event: Record<string, unknown> | null;
  /**
   * The service the event names (`data.service.id`, as toIncidentSnapshot reads it) when its payload was
   * left out or read for it alone; otherwise null, and namedService reads it from `event`.
   */
  event_service: string | null;
  matches: RawMatch[];
}

interface RawMatch {
  ruleId: string;
  ruleVersion: number;
  decision: string;
  skipReason: string | null;
  target: string | null;
  matchedAt: string;
  actions: number;
  endedAt: string | null;
  open: boolean | null;
  failed: boolean | null;
  ran: boolean | null;
  /** Whether the run had remediation actions, and whether one of them failed or ran (succeeded or failed). */
  fixes: boolean | null;
  fixFailed: boolean | null;
  fixRan: boolean | null;
  /** When the match's lease on its target stopped counting (released, else expired); null without one. */
  leaseEndedAt: string | null;
}

/** The page query: shared with the benchmark, which times reading these rows as the floor. */
export function historyPageQuery(db: Db, q: HistoryQuery, after: { at: string; seq: string } | null, limit: number) {
  const all = q.services === undefined;
  const services = [...(q.services ?? [])];
  const remediating = [...REMEDIATING_EVENT_TYPES];
  const notifyOnly = [...NOTIFY_ONLY_TYPES];
  const current = sql<boolean>`(${all} or coalesce(i.service_id = any(${services}::text[]), false))`;
  // The incident's service now, or the one this event names (an incident moved since: the rules of the
  // service it was on matched it then). An event that names none, of an incident on another service now,
  // is read by readHistory when its incident was on one of these services at the time (missingPayloads).
  // The service an event names is read here (its payload unpacked) only for the events of incidents on
  // other services now, once (n.service, kept from being inlined twice by `offset 0`): for the others the
  // payload is read whole anyway and readHistory takes it from there.
  const wanted = sql<boolean>`(${current} or n.service = any(${services}::text[]))`;
  return sql<HistoryRow>`
    select e.id::text as seq, e.received_at::text as cursor_at, e.event_id, e.incident_id, e.event_type, e.occurred_at, e.received_at,
      case when ${wanted} then e.payload->'event' end as event, n.service as event_service,
      i.number, i.title, i.description, i.status, i.urgency, i.priority, i.service_id, i.service_name,
      i.escalation_policy_id, i.escalation_policy_name, i.assignees, i.html_url, i.incident_key, i.environment,
      case when ${wanted} and e.event_type = any(${remediating}::text[]) then i.alerts end as alerts,
      coalesce((
        select json_agg(json_build_object(
          'ruleId', m.rule_id, 'ruleVersion', m.rule_version, 'decision', m.decision, 'skipReason', m.skip_reason,
          'target', m.target, 'matchedAt', m.matched_at, 'actions', r.n, 'endedAt', r.ended, 'open', r.open,
          'failed', r.failed, 'ran', r.ran, 'fixes', r.fixes, 'fixFailed', r.fix_failed, 'fixRan', r.fix_ran,
          'leaseEndedAt', least(l.released_at, l.expires_at)) order by m.id)
        from rule_matches m
        left join target_leases l on l.match_id = m.id
        left join lateral (
          select count(*)::int as n, max(a.finished_at) as ended, bool_or(a.finished_at is null) as open,
            bool_or(a.status = 'failed') as failed, bool_or(a.status in ('succeeded', 'failed')) as ran,
            bool_or(a.action_type <> all(${notifyOnly}::text[])) as fixes,
            bool_or(a.status = 'failed' and a.action_type <> all(${notifyOnly}::text[])) as fix_failed,
            bool_or(a.status in ('succeeded', 'failed') and a.action_type <> all(${notifyOnly}::text[])) as fix_ran
          from action_runs a where a.match_id = m.id
        ) r on true
        where m.incident_id = e.incident_id and m.event_id = e.event_id
      ), '[]'::json) as matches
    from incident_events e
    join incidents i on i.id = e.incident_id
    cross join lateral (
      select case when not ${current} and jsonb_typeof(e.payload #> '{event,data,service,id}') = 'string'
        then nullif(e.payload #>> '{event,data,service,id}', '') end as service
      offset 0
    ) n
    where e.disposition = 'accepted' and e.received_at >= ${q.from} and e.received_at < ${q.to}
      ${after ? sql`and (e.received_at, e.id) > (${after.at}::timestamptz, ${after.seq}::bigint)` : sql``}
    order by e.received_at, e.id
    limit ${limit}`.execute(db);
}

/**
 * A recorded run's outcome as the live breaker scored it (workflows/rule-run.ts): on its remediation alone
 * when it has remediation actions, so a fix that worked and a Slack post that failed is a success, and a
 * rejected fix beside a note that went out is inconclusive; a run of notifications only, on all of them.
 */
function toMatch(m: RawMatch): RecordedMatch {
  const [failed, ran] = m.fixes ? [m.fixFailed, m.fixRan] : [m.failed, m.ran];
  const outcome: RunOutcome = failed ? 'failed' : ran ? 'succeeded' : 'inconclusive';
  return {
    ruleId: m.ruleId,
    ruleVersion: m.ruleVersion,
    decision: m.decision,
    skipReason: m.skipReason,
    target: m.target,
    matchedAt: new Date(m.matchedAt),
    leaseEndedAt: m.leaseEndedAt ? new Date(m.leaseEndedAt) : null,
    run: m.actions > 0 ? { endedAt: m.endedAt ? new Date(m.endedAt) : null, open: m.open === true, outcome, actions: m.actions } : null,
  };
}

function toEvent(r: HistoryRow): HistoryEvent {
  return {
    seq: r.seq,
    eventId: r.event_id,
    incidentId: r.incident_id,
    eventType: r.event_type,
    occurredAt: r.occurred_at,
    receivedAt: r.received_at,
    event: r.event,
    incident: {
      id: r.incident_id,
      number: r.number,
      title: r.title,
      description: r.description,
      status: r.status,
      urgency: r.urgency,
      priority: r.priority,
      serviceId: r.service_id,
      serviceName: r.service_name,
      escalationPolicyId: r.escalation_policy_id,
      escalationPolicyName: r.escalation_policy_name,
      assignees: r.assignees ?? [],
      htmlUrl: r.html_url,
      incidentKey: r.incident_key,
      environment: r.environment ?? {},
      alerts: r.alerts,
    },
    matches: (r.matches ?? []).map(toMatch),
  };
}

/**
 * The payloads (and alerts) of the page's events the page query left out though the event was on one of
 * the services asked for: it names no service, its incident is on another one now, and the last event of
 * that incident that named a service named one of them (`onWanted`, the incidents whose last named service
 * is wanted, carried from page to page in received order). One query by id per page that has any; a page
 * of events on other services reads nothing more, so what is read stays what the services' events are.
 */
async function missingPayloads(db: Db, rows: HistoryRow[], services: ReadonlySet<string>, onWanted: Set<string>): Promise<void> {
  const missing = new Map<string, HistoryRow>();
  for (const r of rows) {
    const named = r.event_service ?? (r.event !== null ? namedService(r.event) : undefined);
    if (named) {
      if (services.has(named)) onWanted.add(r.incident_id);
      else onWanted.delete(r.incident_id);
    } else if (r.event === null && onWanted.has(r.incident_id)) {
      missing.set(r.seq, r);
    }
  }
  if (missing.size === 0) return;
  const remediating = [...REMEDIATING_EVENT_TYPES];
  const { rows: found } = await sql<{ seq: string; event: Record<string, unknown> | null; alerts: unknown[] | null }>`
    select e.id::text as seq, e.payload->'event' as event, case when e.event_type = any(${remediating}::text[]) then i.alerts end as alerts
    from incident_events e join incidents i on i.id = e.incident_id
    where e.id = any(${[...missing.keys()]}::bigint[])`.execute(db);
  for (const f of found) {
    const r = missing.get(f.seq)!;
    r.event = f.event;
    r.alerts = f.alerts;
  }
}

/**
 * The events received in [from, to), oldest first, a page of rows at a time. The next page is fetched while
 * the caller works through the current one, so reading and replaying overlap (two pages held at most).
 */
export async function* readHistory(db: Db, q: HistoryQuery): AsyncGenerator<HistoryEvent> {
  const limit = q.pageSize ?? 1000;
  const services = q.services === undefined ? undefined : new Set(q.services);
  const onWanted = new Set<string>();
  const fetchAfter = (after: { at: string; seq: string } | null) => historyPageQuery(db, q, after, limit).then((r) => r.rows);
  let pending: Promise<HistoryRow[]> | null = fetchAfter(null);
  while (pending) {
    const rows: HistoryRow[] = await pending;
    const last = rows[rows.length - 1];
    pending = rows.length === limit && last ? fetchAfter({ at: last.cursor_at, seq: last.seq }) : null;
    try {
      if (services) await missingPayloads(db, rows, services, onWanted);
      for (const r of rows) yield toEvent(r);
    } finally {
      // A caller that stops early (a limit reached) leaves no query unobserved.
      if (pending) pending.catch(() => undefined);
    }
  }
}

/** Events the backtest of [from, to) would read. */
export async function countHistory(db: Db, from: Date, to: Date): Promise<number> {
  const row = await db
    .selectFrom('incident_events')
    .select(sql<string>`count(*)::text`.as('n'))
    .where('disposition', '=', 'accepted')
    .where('incident_id', 'is not', null)
    .where('received_at', '>=', from)
    .where('received_at', '<', to)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The oldest event kept. */
export async function oldestEventAt(db: Db): Promise<Date | null> {
  const row = await db.selectFrom('incident_events').select('received_at').orderBy('received_at', 'asc').limit(1).executeTakeFirst();
  return row?.received_at ?? null;
}

/** The time an as-recorded backtest replays: [from, to). */
export interface VersionSpan {
  from: Date;
  to: Date;
}

/**
 * The versions of the rule that `span` meets: every one the backtest lane (versionsLane) takes at some
 * instant of it, where the version in force at an instant is the last one, in version order, before the
 * first version created after that instant. So from the one in force at `from` (the newest created at or
 * before it, when creation times rise with versions; the first version when none is in force yet) to the
 * last one before the first version created at or after `to`; no other version is in force at any instant
 * of the span. Said in version order, not by creation time alone, because two saves whose transactions
 * overlap store their creation times the other way round, and the lane reads versions in version order
 * (then a version between the bounds may be in force at no instant: it is read all the same).
 *
 * A common table `span_versions` of the two bounds, `first` (null: from the rule's first version) and
 * `past` (null: to its last), found without reading a definition. With no version created after `from`,
 * `first` is the rule's last version: 2147483647, the largest integer, is past every version number.
 */
function spanBounds(ruleId: string, span: VersionSpan) {
  return sql`span_versions as materialized (
    select
      (select max(f.version) from rule_versions f
        where f.rule_id = ${ruleId}
          and f.version < coalesce((select min(a.version) from rule_versions a where a.rule_id = ${ruleId} and a.created_at > ${span.from}), 2147483647)) as first,
      (select min(t.version) from rule_versions t where t.rule_id = ${ruleId} and t.created_at >= ${span.to}) as past)`;
}

const inSpan = sql`(b.first is null or v.version >= b.first) and (b.past is null or v.version < b.past)`;

export interface VersionsSize {
  /** Versions the span meets. */
  versions: number;
  /**
   * Bytes of their definitions as they would be read (their JSON text, kept as definition_bytes: no
   * definition is unpacked to measure it); null, and not summed, when there are more than `maxVersions`:
   * the count alone is over.
   */
  bytes: number | null;
  /** Whether the rule has any version stored at all (a rule without one is replayed on its definition). */
  stored: boolean;
}

/** How many versions of the rule `span` meets and how large their definitions are, without reading them. */
export async function measureRuleVersions(db: Db, ruleId: string, span: VersionSpan, maxVersions: number): Promise<VersionsSize> {
  // The sum is a subquery Postgres runs only when the count's branch asks for it.
  const { rows } = await sql<{ versions: number; bytes: number | null; stored: boolean }>`
    with ${spanBounds(ruleId, span)},
      counted as materialized (select count(*)::int as n from rule_versions v, span_versions b where v.rule_id = ${ruleId} and ${inSpan})
    select c.n as versions,
      case when c.n <= ${maxVersions}::int then
        (select coalesce(sum(v.definition_bytes), 0)::float8 from rule_versions v, span_versions b where v.rule_id = ${ruleId} and ${inSpan})
      end as bytes,
      exists (select 1 from rule_versions s where s.rule_id = ${ruleId}) as stored
    from counted c`.execute(db);
  const row = rows[0]!;
  return { versions: Number(row.versions), bytes: row.bytes === null ? null : Number(row.bytes), stored: row.stored };
}

/**
 * The versions of the rule that `span` meets (measureRuleVersions counts them first), oldest first; with
 * `below`, only those older than that version (a caller widening its span leaves out what it has read).
 */
export async function loadRuleVersions(db: Db, ruleId: string, span: VersionSpan, opts: { below?: number | undefined } = {}): Promise<StoredVersion[]> {
  const { rows } = await sql<{ version: number; created_at: Date; change: string; definition: unknown }>`
    with ${spanBounds(ruleId, span)}
    select v.version, v.created_at, v.change, v.definition
    from rule_versions v, span_versions b
    where v.rule_id = ${ruleId} and ${inSpan} ${opts.below !== undefined ? sql`and v.version < ${opts.below}` : sql``}
    order by v.version`.execute(db);
  return rows.map((r) => ({ version: r.version, createdAt: r.created_at, change: r.change, definition: r.definition }));
}

/** Maintenance windows by environment name. */
export async function loadEnvironmentWindows(db: Db): Promise<Map<string, TimeWindow[]>> {
  const rows = await db.selectFrom('environments').select(['name', 'maintenance_windows']).execute();
  return new Map(rows.map((r) => [r.name, (r.maintenance_windows ?? []) as TimeWindow[]]));
}

/** The team of each environment, by name (a rule runs scripts only on its own team's). */
export async function loadEnvironmentTeams(db: Db): Promise<Map<string, string>> {
  const rows = await db.selectFrom('environments').select(['name', 'team']).execute();
  return new Map(rows.map((r) => [r.name, r.team]));
}

/**
 * What the backtest needs of the other rules, stopOnMatch ordering (priority, name, id) and whether one stops
 * matching, for each rule version recorded as matching an event received in [from, to), keyed by
 * otherRuleKey: as that version was, the one the live matcher matched with (rule_versions), else, for a
 * rule without that version stored, as the rule is now. Before, every rule's current definition was read
 * whole, deleted rules' too, to take these three fields: a stopOnMatch added after the window made an
 * as-recorded backtest report a rule stopped on events it had matched and run (found in review). Only the
 * fields are read (no definition leaves Postgres), and only for the versions the window's matches name.
 */
export async function loadOtherRules(db: Db, window: { from: Date; to: Date }): Promise<Map<string, OtherRule>> {
  const d = sql`coalesce(v.definition, r.definition)`;
  const { rows } = await sql<{ id: string; version: number; name: string; priority: number | null; stop: boolean; dry: boolean; team: string }>`
    with recorded as (
      select distinct m.rule_id, m.rule_version, m.rule_name
      from incident_events e
      join rule_matches m on m.incident_id = e.incident_id and m.event_id = e.event_id
      where e.disposition = 'accepted' and e.received_at >= ${window.from} and e.received_at < ${window.to}
    )
    select c.rule_id as id, c.rule_version as version, coalesce(v.definition->>'name', c.rule_name) as name,
      case when jsonb_typeof(${d}->'priority') = 'number' then (${d}->>'priority')::float8 end as priority,
      coalesce(${d}->'stopOnMatch' = 'true'::jsonb, false) as stop,
      coalesce(${d}->'dryRun' = 'true'::jsonb, false) as dry,
      r.team
    from recorded c
    join rules r on r.id = c.rule_id
    left join rule_versions v on v.rule_id = c.rule_id and v.version = c.rule_version`.execute(db);
  return new Map(rows.map((r) => [otherRuleKey(r.id, r.version), { id: r.id, name: r.name, priority: r.priority ?? 100, stopOnMatch: r.stop, dryRun: r.dry, team: r.team }]));
}
