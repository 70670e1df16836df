import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The worker keeps the enabled rules in memory and asks Postgres, at every incident event, whether they
// changed. It used to compare `max(updated_at)` and `count(*)` over every rule. That missed a change whose
// `updated_at` was not the newest: the time is taken by the API process before its transaction commits,
// so a rule disabled by a replica whose clock runs behind, or by a save that committed after a later one,
// or by hand in SQL without touching `updated_at`, left the old rule matching until some other rule
// changed. And it read every rule for every event.
//
// `rules_generation` is one counter that every change to what the worker matches on (a rule inserted,
// deleted, truncated, or its name, version, enabled flag, definition, team or deletion changed) increments
// in the writer's own transaction, by trigger, so no writer can forget it. The counter's row lock orders
// concurrent writers: a later commit always leaves a larger number. The breaker's and the verification's
// own updates of a rule (breaker_state, consecutive_failures, breaker_opened_at, updated_at alone) do not
// count: the worker reads those fresh, and counting them would reload every rule after every outcome.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('rules_generation')
    .addColumn('id', 'boolean', (c) => c.primaryKey().defaultTo(true).check(sql`id`))
    .addColumn('n', 'bigint', (c) => c.notNull())
    .execute();
  await sql`insert into rules_generation (id, n) values (true, 1)`.execute(db);
  await sql`
    create function rules_generation_bump() returns trigger language plpgsql as $body$
    begin
      update rules_generation set n = n + 1 where id;
      return null;
    end
    $body$`.execute(db);
  await sql`
    create trigger rules_generation_on_change after insert or delete or truncate on rules
    for each statement execute function rules_generation_bump()`.execute(db);
  await sql`
    create trigger rules_generation_on_update after update on rules
    for each row when (
      old.name is distinct from new.name or old.version is distinct from new.version
      or old.enabled is distinct from new.enabled or old.definition is distinct from new.definition
      or old.team is distinct from new.team or old.deleted_at is distinct from new.deleted_at)
    execute function rules_generation_bump()`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists rules_generation_on_update on rules`.execute(db);
  await sql`drop trigger if exists rules_generation_on_change on rules`.execute(db);
  await sql`drop function if exists rules_generation_bump()`.execute(db);
  await db.schema.dropTable('rules_generation').ifExists().execute();
}
