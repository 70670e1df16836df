import { sql, type Transaction } from 'kysely';
import { PAGERDUTY_ID_PATTERN } from '../../domain/rules/fields.js';
import type { Database, Incident, IncidentUpdate, NewIncident } from '../database.js';
import type { Db } from './db.js';


export interface EventRecord {
  eventId: string;
  webhookId?: string | undefined;
  incidentId: string | null;
  eventType: string;
  resourceType: string;
  occurredAt?: string | undefined;
  disposition: 'accepted' | 'ignored' | 'rejected';
  payload: unknown;
  /** The workflow run that takes the event for processing. */
  takenBy?: string | undefined;
  /** Why the event was rejected (disposition `rejected`). */
  rejectReason?: string | undefined;
}

/**
 * Postgres text and jsonb cannot hold U+0000. Replace it (in every string, keys included) with U+FFFD so
 * an event carrying one is stored instead of failing forever.
 */
export function withoutNul<T>(value: T): T {
  if (typeof value === 'string') return (value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value) as T;
  if (Array.isArray(value)) return value.map(withoutNul) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k), withoutNul(v)])) as T;
  }
  return value;
}

/**
 * Why Postgres would refuse to store `value` as jsonb, or undefined: a lone UTF-16 surrogate (JSON text
 * can carry one as `\ud800`; jsonb cannot). NUL is handled by {@link withoutNul}. Names the first path.
 */
export function jsonbRefusal(value: unknown, path = '$'): string | undefined {
  if (typeof value === 'string') return !value.isWellFormed() ? `${path} holds a lone UTF-16 surrogate, which jsonb cannot store` : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const r = jsonbRefusal(value[i], `${path}[${i}]`);
      if (r) return r;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (!k.isWellFormed()) return `a key under ${path} holds a lone UTF-16 surrogate, which jsonb cannot store`;
      const r = jsonbRefusal(v, `${path}.${k}`);
      if (r) return r;
    }
  }
  return undefined;
}

/** `value` with lone surrogates replaced by U+FFFD (and NUL, as withoutNul does): storable as jsonb. */
export function storable<T>(value: T): T {
  if (typeof value === 'string') return value.toWellFormed().replaceAll('\0', '\uFFFD') as T;
  if (Array.isArray(value)) return value.map(storable) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)])) as T;
  return value;
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Whether `s` is an ISO 8601 timestamp with a zone that Postgres and Date read alike. */
export function isTimestamp(s: string): boolean {
  return ISO_TIMESTAMP.test(s) && !Number.isNaN(Date.parse(s));
}

/** Insert an event once; false when its PagerDuty event id was already stored (redelivery). */
export async function insertEventOnce(db: Db, e: EventRecord): Promise<boolean> {
  const row = await db
    .insertInto('incident_events')
    .values({
      event_id: withoutNul(e.eventId),
      webhook_id: e.webhookId === undefined ? null : withoutNul(e.webhookId),
      incident_id: e.incidentId === null ? null : withoutNul(e.incidentId),
      event_type: withoutNul(e.eventType),
      resource_type: withoutNul(e.resourceType),
      occurred_at: e.occurredAt ?? null,
      disposition: e.disposition,
      payload: JSON.stringify(withoutNul(e.payload)),
      taken_by: e.takenBy ?? null,
      reject_reason: e.rejectReason ?? null,
    })
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Who took a stored event for processing, and how it was stored; undefined when it is not stored. */
export async function findEventTaker(db: Db, eventId: string): Promise<{ takenBy: string | null; disposition: string; rejectReason: string | null; note: string | null } | undefined> {
  const row = await db.selectFrom('incident_events').select(['taken_by', 'disposition', 'reject_reason', 'note']).where('event_id', '=', withoutNul(eventId)).executeTakeFirst();
  return row ? { takenBy: row.taken_by, disposition: row.disposition, rejectReason: row.reject_reason, note: row.note } : undefined;
}

/** Records on a stored event why it started no rule though it was taken (migration 2026-12-28T00-00-incident-status-unknown). */
export async function noteEvent(db: Db, eventId: string, note: string): Promise<void> {
  await db.updateTable('incident_events').set({ note }).where('event_id', '=', eventId).execute();
}

export async function eventExists(db: Db, eventId: string): Promise<boolean> {
  const row = await db.selectFrom('incident_events').select('id').where('event_id', '=', eventId).executeTakeFirst();
  return row !== undefined;
}

/**
 * Claims the open incident with no event taken since `before` (`updated_at`, our clock, where
 * `last_event_at` is PagerDuty's) and not asked about since then either, never asked first, then the longest
 * ago, marking it asked at `at`: the next one the reconcile of lost resolves asks PagerDuty about. `skip
 * locked`, so worker replicas sweeping at once take different ones.
 */
export async function claimIncidentToReconcile(db: Db, c: { before: Date; at: Date }): Promise<{ id: string; snapshotAt: Date | null; status: string } | undefined> {
  const rows = await sql<{ id: string; snapshot_at: Date | null; status: string }>`
    update incidents set reconciled_at = ${c.at}
    where id in (
      select id from incidents
      where status <> 'resolved'
        and updated_at < ${c.before}
        and (reconciled_at is null or reconciled_at < ${c.before})
      order by reconciled_at nulls first, created_at
      limit 1
      for update skip locked)
    returning id, snapshot_at, status`.execute(db);
  const row = rows.rows[0];
  return row && { id: row.id, snapshotAt: row.snapshot_at, status: row.status };
}

/**
 * Gives back a claim of {@link claimIncidentToReconcile} made at `at` whose question got no answer
 * (PagerDuty or Temporal unreachable, a 5xx, a 429): the incident is marked asked at `before`, the quiet
 * period's edge of that sweep, so the next sweep may ask it again, after every incident that was waiting
 * already (never asked, or asked longer ago). Put back where it was, one PagerDuty answers badly every
 * time was first in every sweep: `batch` of them and no other incident was ever asked.
 */
export async function releaseReconcileClaim(db: Db, id: string, c: { at: Date; before: Date }): Promise<void> {
  await db.updateTable('incidents').set({ reconciled_at: c.before }).where('id', '=', id).where('reconciled_at', '=', c.at).execute();
}

/**
 * Takes the open status PagerDuty gave the reconcile for an incident of unknown status (no event taken told
 * it), if it is still unknown. Only the status: `snapshot_at` stays, so the incident's own events, a trigger
 * delivered late among them, are not taken as older than this answer and still start their rules.
 */
export async function adoptStatusIfUnknown(db: Db, id: string, status: string): Promise<boolean> {
  const row = await db.updateTable('incidents').set({ status, updated_at: new Date() }).where('id', '=', id).where('status', '=', 'unknown').returning('id').executeTakeFirst();
  return row !== undefined;
}

export async function findIncidentForUpdate(db: Transaction<Database>, id: string): Promise<Incident | undefined> {
  return db.selectFrom('incidents').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function findIncident(db: Db, id: string): Promise<Incident | undefined> {
  return db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Whether the incident is resolved, and since when (its resolve time, else its last update). */
export async function findIncidentResolution(db: Db, id: string): Promise<{ resolved: boolean; at?: string | undefined }> {
  const row = await db.selectFrom('incidents').select(['status', 'resolved_at', 'updated_at']).where('id', '=', id).executeTakeFirst();
  return row?.status === 'resolved' ? { resolved: true, at: (row.resolved_at ?? row.updated_at).toISOString() } : { resolved: false };
}

/**
 * The incident PagerDuty merged this one into, when the resolve that closed it (its latest accepted
 * `incident.resolved`) carries a `data.resolve_reason` that is not null: whatever its `type` says, for
 * PagerDuty's schema has one only, `merge_resolve_reason`, also its default (ResolveReason in
 * test/fixtures/pagerduty/openapi). The merged-into incident's id (`data.resolve_reason.incident.id`) goes
 * into the verification detail, so it is kept only when it is a PagerDuty id (PAGERDUTY_ID_PATTERN), else ''
 * as when the event names none. Undefined when the latest resolve gives no reason, or there is none. A merge
 * resolves the incident, but its problem goes on in the other one.
 */
export async function findMergedInto(db: Db, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('incident_events')
    .select([
      sql<string | null>`jsonb_typeof(payload->'event'->'data'->'resolve_reason')`.as('reason'),
      // At most one character past the longest id: enough to refuse a longer one.
      sql<string | null>`case when jsonb_typeof(payload->'event'->'data'->'resolve_reason'->'incident'->'id') = 'string'
        then left(payload->'event'->'data'->'resolve_reason'->'incident'->>'id', 33) end`.as('into'),
    ])
    .where('incident_id', '=', id)
    .where('event_type', '=', 'incident.resolved')
    .where('disposition', '=', 'accepted')
    .orderBy(sql`occurred_at desc nulls last`)
    .orderBy('received_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (row?.reason === undefined || row.reason === null || row.reason === 'null') return undefined;
  return row.into !== null && PAGERDUTY_ID_PATTERN.test(row.into) ? row.into : '';
}

export interface IncidentFilter {
  status?: string | undefined;
  serviceId?: string | undefined;
  environment?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  limit: number;
  /** Keyset cursor: created_at (as `cursor_at` gave it) and id of the last row of the previous page. */
  cursor?: { createdAt: string; id: string } | undefined;
}

/**
 * A page of incidents, newest first. `cursor_at` is created_at as Postgres' text, to the microsecond: a
 * JavaScript Date keeps milliseconds, and a cursor cut to them skipped every incident created later in the
 * same millisecond as the page's last one (a storm, or rows inserted in one transaction).
 */
export async function listIncidents(db: Db, f: IncidentFilter): Promise<(ListedIncident & { cursor_at: string })[]> {
  return listIncidentsQuery(db, f).execute();
}

/**
 * The columns a list of incidents reads: all but `description` and `alerts`, which only the incident's own
 * page shows. `alerts` holds up to MAX_STORED_ALERT_BYTES per incident: a page of 200 read whole was
 * hundreds of MB (before alerts were capped, up to 50 alerts of PagerDuty's 512 KB each).
 */
export const LISTED_INCIDENT_COLUMNS = [
  'id',
  'number',
  'title',
  'status',
  'urgency',
  'priority',
  'service_id',
  'service_name',
  'escalation_policy_id',
  'escalation_policy_name',
  'assignees',
  'html_url',
  'incident_key',
  'environment',
  'workflow_id',
  'pd_created_at',
  'resolved_at',
  'last_event_at',
  'snapshot_at',
  'reconciled_at',
  'created_at',
  'updated_at',
] as const satisfies readonly Exclude<keyof Incident, 'description' | 'alerts'>[];

/** An incident as a list reads it (LISTED_INCIDENT_COLUMNS). */
export type ListedIncident = Pick<Incident, (typeof LISTED_INCIDENT_COLUMNS)[number]>;

/** The query of listIncidents, unrun (its plan is tested: served by an index in order, never a sort of the table). */
export function listIncidentsQuery(db: Db, f: IncidentFilter) {
  let q = db.selectFrom('incidents').select(LISTED_INCIDENT_COLUMNS).select(sql<string>`created_at::text`.as('cursor_at'));
  if (f.status) q = q.where('status', '=', f.status);
  if (f.serviceId) q = q.where('service_id', '=', f.serviceId);
  if (f.environment) q = q.where(sql<string>`environment->>'environment'`, '=', f.environment);
  if (f.since) q = q.where('created_at', '>=', f.since);
  if (f.until) q = q.where('created_at', '<', f.until);
  if (f.cursor) {
    const { createdAt, id } = f.cursor;
    const at = sql<Date>`${createdAt}::timestamptz`;
    q = q.where((eb) => eb.or([eb('created_at', '<', at), eb.and([eb('created_at', '=', at), eb('id', '<', id)])]));
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit);
}

/** The newest `limit` rows of a list of one incident's, back in ascending order, and how many older ones were left out. */
export interface Newest<T> {
  items: T[];
  omitted: number;
}

/** Rows selected newest first with `count(*) over ()` as `total`: the newest page, ascending, and the count left out. */
function newestPage<T extends { total: string | number | bigint }>(rows: T[]): Newest<Omit<T, 'total'>> {
  const total = rows.length === 0 ? 0 : Number(rows[0]!.total);
  const items = rows.reverse().map(({ total: _total, ...row }) => row);
  return { items, omitted: total - items.length };
}

const total = sql<string>`count(*) over ()`.as('total');

/** The incident's newest `limit` events, oldest first. */
export async function listEvents(db: Db, incidentId: string, limit: number) {
  const rows = await db
    .selectFrom('incident_events')
    .select(['event_id', 'webhook_id', 'event_type', 'occurred_at', 'received_at', 'disposition', 'reject_reason', 'note', total])
    .where('incident_id', '=', incidentId)
    .orderBy('occurred_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return newestPage(rows);
}

/** The incident's newest `limit` rule matches, oldest first. */
export async function listMatches(db: Db, incidentId: string, limit: number) {
  const rows = await db.selectFrom('rule_matches').selectAll().select(total).where('incident_id', '=', incidentId).orderBy('id', 'desc').limit(limit).execute();
  return newestPage(rows);
}

/**
 * The incident's newest `limit` action runs, oldest first; every run awaiting approval is among them
 * however old (it is what a reader must act on), so with more than `limit` of those, only they.
 */
export async function listActionRuns(db: Db, incidentId: string, limit: number) {
  const rows = await db
    .selectFrom('action_runs')
    .selectAll()
    .select(total)
    .where('incident_id', '=', incidentId)
    .orderBy(sql`status = 'awaiting_approval'`, 'desc')
    .orderBy('created_at', 'desc')
    .orderBy('action_index', 'desc')
    .limit(limit)
    .execute();
  const page = newestPage(rows);
  page.items.sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || a.action_index - b.action_index);
  return page;
}

/** The `event` object of a stored incident event's payload; `{}` when the event is not stored. */
export async function findEventPayload(db: Db, eventId: string): Promise<Record<string, unknown>> {
  const row = await db.selectFrom('incident_events').select('payload').where('event_id', '=', eventId).executeTakeFirst();
  return (row?.payload as { event?: Record<string, unknown> } | undefined)?.event ?? {};
}

/** The row as stored (defaults filled in): triage goes on with it instead of reading it back. */
export async function insertIncident(db: Db, row: NewIncident): Promise<Incident> {
  return db.insertInto('incidents').values(row).returningAll().executeTakeFirstOrThrow();
}

/** The row as stored after the update; undefined when there is no such incident. */
export async function updateIncident(db: Db, id: string, row: IncidentUpdate): Promise<Incident | undefined> {
  return db.updateTable('incidents').set(row).where('id', '=', id).returningAll().executeTakeFirst();
}

/** What the extractors found for the incident (`{}` before they ran); undefined when it is not stored. */
export async function findIncidentEnvironment(db: Db, id: string): Promise<Record<string, unknown> | undefined> {
  const row = await db.selectFrom('incidents').select('environment').where('id', '=', id).executeTakeFirst();
  return row?.environment as Record<string, unknown> | undefined;
}
