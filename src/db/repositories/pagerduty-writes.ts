// The pagerduty_writes table: every write Self-healing sends to PagerDuty, recorded before the request
// leaves, so the webhook event it causes is recognised (by note id, or by type, value and time) and never
// matches a rule. Each write is recognised in at most one event (`matched_event_id`), so events caused
// by other people are never swallowed by it.
import { sql } from 'kysely';
import type { PagerDutyWriteTable } from '../database.js';
import type { Db } from './db.js';


/** Clock difference allowed between PagerDuty's `occurred_at` and this database's clock. */
export const ECHO_CLOCK_SKEW_MS = 120_000;
/** How long an unanswered write may still take effect at PagerDuty after it was sent. */
export const ECHO_MAX_FLIGHT_MS = 120_000;

const interval = (ms: number) => sql<string>`(${sql.lit(ms)} * interval '1 millisecond')`;

export async function recordWriteStart(
  db: Db,
  w: { incidentId: string; kind: PagerDutyWriteTable['kind']; eventType: string; value?: string | null; content?: string | null },
): Promise<string> {
  const row = await db
    .insertInto('pagerduty_writes')
    .values({ incident_id: w.incidentId, kind: w.kind, event_type: w.eventType, value: w.value ?? null, content: w.content ?? null, state: 'attempting' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return String(row.id);
}

export async function recordWriteAnswered(db: Db, id: string, r: { noteId?: string | undefined; agentId?: string | undefined }): Promise<void> {
  await db
    .updateTable('pagerduty_writes')
    .set({
      state: 'done',
      answered_at: sql`now()`,
      ...(r.noteId ? { note_id: r.noteId } : {}),
      ...(r.agentId ? { agent_id: r.agentId } : {}),
    })
    .where('id', '=', id)
    .execute();
}

/** PagerDuty answered that it did nothing (4xx, connection refused): this write causes no event. */
export async function recordWriteFailed(db: Db, id: string): Promise<void> {
  await db.updateTable('pagerduty_writes').set({ state: 'failed', answered_at: sql`now()` }).where('id', '=', id).where('state', '=', 'attempting').execute();
}

/** A note whose answer was lost, found again (by its marker) on the incident: remember its id. */
export async function recordNoteFound(db: Db, incidentId: string, content: string, noteId: string): Promise<void> {
  await db
    .updateTable('pagerduty_writes')
    .set({ note_id: noteId, state: 'done' })
    .where('incident_id', '=', incidentId)
    .where('kind', '=', 'note')
    .where('note_id', 'is', null)
    .where('content', '=', content)
    .execute();
}

/** Whether a note id is one Self-healing wrote on this incident. */
export async function isOwnNoteId(db: Db, incidentId: string, noteId: string): Promise<boolean> {
  const row = await db.selectFrom('pagerduty_writes').select('id').where('incident_id', '=', incidentId).where('kind', '=', 'note').where('note_id', '=', noteId).executeTakeFirst();
  return row !== undefined;
}

/**
 * The event of a note whose answer has not arrived (yet, or ever): a note write without an id whose text
 * is the event's, sent before the event happened. Claims it (learning its id) so it explains one event.
 */
export async function claimNoteByContent(
  db: Db,
  r: { incidentId: string; noteId: string; content: string; trimmed: boolean; occurredAt: Date; eventId: string },
): Promise<boolean> {
  const sameText = r.trimmed
    ? sql<boolean>`left(content, ${r.content.length}) = ${r.content} and ${r.content.length} > 0`
    : sql<boolean>`content = ${r.content}`;
  const row = await db
    .updateTable('pagerduty_writes')
    .set({ note_id: r.noteId, matched_event_id: r.eventId })
    .where(
      'id',
      '=',
      db
        .selectFrom('pagerduty_writes')
        .select('id')
        .where('incident_id', '=', r.incidentId)
        .where('kind', '=', 'note')
        .where('note_id', 'is', null)
        .where('state', '!=', 'failed')
        .where(sameText)
        .where('started_at', '<=', sql<Date>`${r.occurredAt}::timestamptz + ${interval(ECHO_CLOCK_SKEW_MS)}`)
        .orderBy('started_at')
        .limit(1)
        .forUpdate()
        .skipLocked(),
    )
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The event of an incident update (status, priority, escalation): a write of that event type and value,
 * sent before the event happened and answered (or still able to take effect) after it, not yet used to
 * explain another event. Claims it, so one write explains exactly one event.
 */
export async function claimUpdateEcho(
  db: Db,
  r: { incidentId: string; eventType: string; value: string | null; agentId: string | null; occurredAt: Date; eventId: string },
): Promise<boolean> {
  const already = await db.selectFrom('pagerduty_writes').select('id').where('incident_id', '=', r.incidentId).where('matched_event_id', '=', r.eventId).executeTakeFirst();
  if (already) return true;
  const at = sql<Date>`${r.occurredAt}::timestamptz`;
  const row = await db
    .updateTable('pagerduty_writes')
    .set({ matched_event_id: r.eventId })
    .where(
      'id',
      '=',
      db
        .selectFrom('pagerduty_writes')
        .select('id')
        .where('incident_id', '=', r.incidentId)
        .where('event_type', '=', r.eventType)
        .where('kind', '!=', 'note')
        .where('state', '!=', 'failed')
        .where('matched_event_id', 'is', null)
        .where((eb) => (r.value === null ? eb.val(true) : eb.or([eb('value', 'is', null), eb('value', '=', r.value)])))
        .where((eb) => (r.agentId === null ? eb.val(true) : eb.or([eb('agent_id', 'is', null), eb('agent_id', '=', r.agentId)])))
        .where('started_at', '<=', sql<Date>`${at} + ${interval(ECHO_CLOCK_SKEW_MS)}`)
        .where(sql<boolean>`coalesce(answered_at, started_at + ${interval(ECHO_MAX_FLIGHT_MS)}) >= ${at} - ${interval(ECHO_CLOCK_SKEW_MS)}`)
        .orderBy('started_at')
        .limit(1)
        .forUpdate()
        .skipLocked(),
    )
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * SQL: Self-healing itself asked PagerDuty to resolve the incident (a resolve sent, answered or not, and not
 * refused) since it was last reopened. A resolve of an earlier cycle says nothing of the current one: counted,
 * it made every later resolve of the incident, by a person or by monitoring, look like our own.
 */
export const ownResolveThisCycle = (incidentId: string) =>
  sql<boolean>`exists (select 1 from pagerduty_writes w
    where w.incident_id = ${incidentId} and w.kind = 'status' and w.value = 'resolved' and w.state <> 'failed'
      and w.started_at > coalesce((select max(e.occurred_at) from incident_events e
        where e.incident_id = ${incidentId} and e.event_type = 'incident.reopened' and e.disposition = 'accepted'), '-infinity'::timestamptz))`;

/**
 * Whether Self-healing itself asked PagerDuty to resolve the incident in its current cycle
 * (ownResolveThisCycle): a resolution that may be our own doing, so no proof that a remediation worked.
 */
export async function hasOwnResolve(db: Db, incidentId: string): Promise<boolean> {
  const row = await db.selectNoFrom(ownResolveThisCycle(incidentId).as('own')).executeTakeFirstOrThrow();
  return row.own;
}
