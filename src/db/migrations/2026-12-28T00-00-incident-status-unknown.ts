import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// An incident first known from an event that carries no status (a note added in PagerDuty to an incident
// resolved before the webhook subscription existed, or resolved and purged after the retention) was
// written `triggered`, a guess no event made: held open for good, kept whole by retention, and handed by
// the reconcile a resolve of months ago that ran its `incident.resolved` rules again. Such an incident is
// now `unknown` until an event that carries a status arrives (activities/incidents.ts). The rows written
// so are the open ones no status-carrying event ever reached: `snapshot_at` is null (it is set by every such
// event, and from `last_event_at` for the rows that predate it).
//
// `incident_events.note`: why an event taken (it changed the incident) starts no rule. A resolve the
// reconcile derived for an `unknown` incident: PagerDuty resolved it, but nothing here ever knew it open.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('incident_events').addColumn('note', 'text').execute();
  await sql`update incidents set status = 'unknown' where status in ('triggered', 'acknowledged') and snapshot_at is null`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`update incidents set status = 'triggered' where status = 'unknown'`.execute(db);
  await db.schema.alterTable('incident_events').dropColumn('note').execute();
}
