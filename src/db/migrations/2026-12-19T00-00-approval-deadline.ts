import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The deadline of a gated action, known to Postgres: `approval_deadline` (when its notice says decisions
// stop, set when the action is claimed to wait) and `approval_on_timeout` (what the rule run then records).
// A person's decision is written only before it, in the same statement that checks it, so an approval
// reaching the API after the deadline, while the rule run has not woken yet (workers down or behind), is
// refused instead of starting the action when the run wakes. Null: no deadline known (claimed before this
// migration and not backfilled below), decided as before.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('action_runs').addColumn('approval_deadline', 'timestamptz').addColumn('approval_on_timeout', 'text').execute();
  // Actions waiting now: their deadline from the planned rule version (the planner's default of 60 minutes,
  // and `reject` for a shell command whatever the version says), counted from their claim.
  await sql`
    update action_runs a set
      approval_deadline = a.created_at + make_interval(mins => coalesce((v.definition->'actions'->a.action_index->'approval'->>'timeoutMinutes')::int, 60)),
      approval_on_timeout = case
        when a.action_type = 'script.ssh' and v.definition->'actions'->a.action_index->>'command' is not null then 'reject'
        else coalesce(v.definition->'actions'->a.action_index->'approval'->>'onTimeout', 'reject') end
    from rule_versions v
    where v.rule_id = a.rule_id and v.version = a.rule_version
      and a.status = 'awaiting_approval' and a.approval is null
      and v.definition->'actions'->a.action_index->>'id' = a.action_id`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('action_runs').dropColumn('approval_deadline').dropColumn('approval_on_timeout').execute();
}
