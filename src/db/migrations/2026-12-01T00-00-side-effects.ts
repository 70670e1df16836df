import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// side_effects: one row per external side effect (an action run's ticket, message, note or PagerDuty
// write), keyed by the action run id. It is claimed before the provider is called and holds the external
// id the moment the provider answers, so a retry reads what happened instead of creating it again.
//
// pagerduty_writes: one row per write Self-healing sends to PagerDuty (note, status, priority, escalation),
// recorded before the request leaves. The webhook event each write causes is recognised by these rows (the
// note id PagerDuty returns; for incident updates, the event type, value and time window) and never
// matches a rule.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const now = sql`now()`;

  await db.schema
    .createTable('side_effects')
    .addColumn('key', 'text', (c) => c.primaryKey()) // action run id, or the activity that wrote it
    .addColumn('incident_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull()) // workitem.jira | notify.slack | pagerduty.note | ...
    .addColumn('state', 'text', (c) => c.notNull()) // attempting | failed | done | unknown
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('external_id', 'text') // ticket key, note id, Message-ID
    .addColumn('url', 'text')
    .addColumn('detail', 'text')
    .addColumn('last_error', 'text')
    .addColumn('in_flight_until', 'timestamptz') // an attempt may still be talking to the provider until then
    .addColumn('uncertain_since', 'timestamptz') // an attempt ended without an answer that says what happened
    .addColumn('first_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('answered_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('side_effects_incident_idx').on('side_effects').column('incident_id').execute();

  await db.schema
    .createTable('pagerduty_writes')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('incident_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull()) // note | status | priority | escalation
    .addColumn('event_type', 'text', (c) => c.notNull()) // the V3 webhook event type the write causes
    .addColumn('value', 'text') // status, priority id or escalation level written
    .addColumn('content', 'text') // note text, to recognise the event of a note whose answer was lost
    .addColumn('note_id', 'text') // PagerDuty's id of the note
    .addColumn('agent_id', 'text') // PagerDuty user the write was made as, once known
    .addColumn('state', 'text', (c) => c.notNull()) // attempting | done | failed
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('answered_at', 'timestamptz')
    .addColumn('matched_event_id', 'text') // the webhook event recognised as this write's echo
    .execute();
  await db.schema.createIndex('pagerduty_writes_incident_idx').on('pagerduty_writes').columns(['incident_id', 'event_type', 'started_at']).execute();
  await db.schema
    .createIndex('pagerduty_writes_note_idx')
    .on('pagerduty_writes')
    .columns(['incident_id', 'note_id'])
    .where(sql.ref('note_id'), 'is not', null)
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('pagerduty_writes').ifExists().execute();
  await db.schema.dropTable('side_effects').ifExists().execute();
}
