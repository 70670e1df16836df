import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// A remediation the guards let through, then settled without any of its remediation actions starting (a
// gated fix rejected, or timed out with `onTimeout: reject`, skipped at its approved start, cancelled by a
// resolve before it started), stops counting in the guards' and flapping windows: `released_at` says when
// it was found so. The row stays, for the audit trail (what the planner let through, when it was planned
// and when it was given up). Null: it counts (it ran, runs, may still run, or ran as a dry run).
//
// Backfill: rows whose every remediation action run is recorded (as many as the row's `actions`) and
// ended rejected, skipped or cancelled without having started. Such an action never starts later (those
// statuses are final), so releasing them now, while older workers run, releases nothing that runs. The
// notification types are written out here as they stand today (src/domain/rules/actions.ts), so the
// migration stays what it was when it landed.

const NOTIFY_ONLY = ['notify.slack', 'notify.email', 'notify.webhook', 'pagerduty.note', 'pagerduty.escalate', 'workitem'];
const NOT_STARTED = ['rejected', 'skipped', 'cancelled'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('remediations').addColumn('released_at', 'timestamptz').execute();
  await sql`
    update remediations r set released_at = now()
    where r.released_at is null
      and not exists (select 1 from action_runs a
        where a.match_id = r.match_id and a.action_type <> all(${NOTIFY_ONLY}::text[])
          and (a.started_at is not null or a.status <> all(${NOT_STARTED}::text[])))
      and (select count(*) from action_runs a where a.match_id = r.match_id and a.action_type <> all(${NOTIFY_ONLY}::text[])) >= r.actions`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('remediations').dropColumn('released_at').execute();
}
