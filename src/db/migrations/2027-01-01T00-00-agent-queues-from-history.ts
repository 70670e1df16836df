import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// 2026-12-30T00-00-agent-queues-used filled agent_queues_used from the environments registered at the
// upgrade only: the queue of an environment deleted before it was not known, and a non-admin could register
// a new environment on it and so receive the tasks its Doctor agent (stopped, perhaps, and coming back)
// was started for. What else durably says a queue was an environment's is added here:
//  - audit_log rows about environments: the `agentTaskQueue` of their before and after (environmentView,
//    src/services/environments.ts, the same shape since the first environment route) and the `taskQueue`
//    of an `environment.check` (the environment's own queue); a row that names no queue (the 2026-12-02
//    authority migration's ssh-only rows) counts for the environment's default queue, agentTaskQueue(name);
//  - job target results, which name the environments jobs ran on: their default queue (the stored queue
//    of that time is not recorded; taking the default is the cautious reading: an admin registers it).
// The oldest record of a queue gives its environment and team; a queue already recorded stays as it is.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    with named as (
      select a.id as seq, q.queue, a.entity_id as environment, coalesce(a.team, 'default') as team
      from audit_log a
      cross join lateral (values (a.before -> 'agentTaskQueue'), (a.after -> 'agentTaskQueue'), (a.after -> 'taskQueue')) as v(j)
      cross join lateral (select v.j #>> '{}' as queue) as q
      where a.entity_type = 'environment' and jsonb_typeof(v.j) = 'string'
    ), defaulted as (
      select a.id as seq, 'selfheal-agent-' || a.entity_id as queue, a.entity_id as environment, coalesce(a.team, 'default') as team
      from audit_log a
      where a.entity_type = 'environment'
        and jsonb_typeof(a.before -> 'agentTaskQueue') is distinct from 'string'
        and jsonb_typeof(a.after -> 'agentTaskQueue') is distinct from 'string'
        and jsonb_typeof(a.after -> 'taskQueue') is distinct from 'string'
    ), ran as (
      -- Only the oldest result of each environment can be the oldest record of its queue: grouped first, so
      -- the sort below takes one row per environment, not every job target result.
      select coalesce((select max(id) from audit_log), 0) + r.id as seq, 'selfheal-agent-' || r.environment as queue, r.environment, coalesce(j.team, 'default') as team
      from (select environment, min(id) as id from job_target_results group by environment) oldest
      join job_target_results r on r.id = oldest.id
      left join job_runs jr on jr.id = r.job_run_id
      left join jobs j on j.id = jr.job_id
    ), every_record as (
      select * from named union all select * from defaulted union all select * from ran
    )
    insert into agent_queues_used (queue, environment, team)
    select distinct on (queue) queue, environment, team from every_record
    where queue <> '' and queue <> 'selfheal-agent-' and length(queue) <= 200
    order by queue, seq
    on conflict (queue) do nothing
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(_db: Kysely<any>): Promise<void> {
  // The queues stay remembered: which rows this migration added is not recorded, and forgetting a queue
  // would let a non-admin take it again.
}
