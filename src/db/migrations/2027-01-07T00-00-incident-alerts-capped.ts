import { sql, type Kysely } from 'kysely';
import { MAX_STORED_ALERTS_BYTES, recapStoredAlerts } from '../../domain/stored-alerts.js';

// Frozen once landed: add a new timestamped migration instead of editing this one. It caps with the
// domain's recapStoredAlerts as it is when it runs (the cap it applies is the one new rows get).
//
// Since 2027-01 the alerts fetched for an incident are stored at most 1 MiB of JSON (capAlerts, with a
// marker counting those left out). Rows stored before kept every alert PagerDuty returned: up to 50 of
// 512 KB, their details twice, 25 MB or more on one row that every reader of the incident reads whole.
// Those rows are capped here as if they had been stored now. Candidates are found by the size of
// jsonb's text (never smaller than JSON.stringify's: it adds a space after each ':' and ','), a batch of
// ids at a time in id order, and each is then read, capped and written alone, so no more than one large
// row is held at once.

const BATCH = 50;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  let after = '';
  for (;;) {
    const ids = await sql<{ id: string }>`
      select id from incidents
      where id > ${after} and jsonb_typeof(alerts) = 'array' and octet_length(alerts::text) > ${MAX_STORED_ALERTS_BYTES}
      order by id limit ${BATCH}
    `.execute(db);
    if (ids.rows.length === 0) return;
    for (const { id } of ids.rows) {
      const row = await sql<{ alerts: unknown[] }>`select alerts from incidents where id = ${id}`.execute(db);
      const capped = row.rows[0] && Array.isArray(row.rows[0].alerts) ? recapStoredAlerts(row.rows[0].alerts) : undefined;
      if (capped) await sql`update incidents set alerts = ${JSON.stringify(capped)}::jsonb where id = ${id}`.execute(db);
    }
    after = ids.rows[ids.rows.length - 1]!.id;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(_db: Kysely<any>): Promise<void> {
  // The alerts left out are not kept anywhere: PagerDuty still has them (GET /incidents/{id}/alerts).
}
