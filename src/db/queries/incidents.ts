import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Incident } from '../database.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface EventRecord {
  eventId: string;
  webhookId?: string | undefined;
  incidentId: string | null;
  eventType: string;
  resourceType: string;
  occurredAt?: string | undefined;
  disposition: 'accepted' | 'ignored';
  payload: unknown;
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
    })
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export async function eventExists(db: Db, eventId: string): Promise<boolean> {
  const row = await db.selectFrom('incident_events').select('id').where('event_id', '=', eventId).executeTakeFirst();
  return row !== undefined;
}

export async function findIncidentForUpdate(db: Transaction<Database>, id: string): Promise<Incident | undefined> {
  return db.selectFrom('incidents').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function findIncident(db: Db, id: string): Promise<Incident | undefined> {
  return db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface IncidentFilter {
  status?: string | undefined;
  serviceId?: string | undefined;
  environment?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  limit: number;
  /** Keyset cursor: created_at|id of the last row of the previous page. */
  cursor?: { createdAt: Date; id: string } | undefined;
}

export async function listIncidents(db: Db, f: IncidentFilter): Promise<Incident[]> {
  let q = db.selectFrom('incidents').selectAll();
  if (f.status) q = q.where('status', '=', f.status);
  if (f.serviceId) q = q.where('service_id', '=', f.serviceId);
  if (f.environment) q = q.where(sql<string>`environment->>'environment'`, '=', f.environment);
  if (f.since) q = q.where('created_at', '>=', f.since);
  if (f.until) q = q.where('created_at', '<', f.until);
  if (f.cursor) {
    const { createdAt, id } = f.cursor;
    q = q.where((eb) => eb.or([eb('created_at', '<', createdAt), eb.and([eb('created_at', '=', createdAt), eb('id', '<', id)])]));
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
}

export async function listEvents(db: Db, incidentId: string) {
  return db
    .selectFrom('incident_events')
    .select(['event_id', 'webhook_id', 'event_type', 'occurred_at', 'received_at'])
    .where('incident_id', '=', incidentId)
    .orderBy('occurred_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}

export async function listMatches(db: Db, incidentId: string) {
  return db.selectFrom('rule_matches').selectAll().where('incident_id', '=', incidentId).orderBy('id', 'asc').execute();
}

export async function listActionRuns(db: Db, incidentId: string) {
  return db.selectFrom('action_runs').selectAll().where('incident_id', '=', incidentId).orderBy('created_at', 'asc').orderBy('action_index', 'asc').execute();
}
