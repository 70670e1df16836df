import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The agent task queues that were ever some environment's (src/db/repositories/environments.ts:
// rememberAgentQueue), kept after the environment is deleted. A Doctor agent keeps polling its queue, and
// Temporal lists it as a poller only for minutes after its last poll: registering a queue that was an
// environment's before needs `admin` (src/services/environments.ts), whether or not an agent is listed
// now. Filled with the queues of the environments registered today.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('agent_queues_used')
    .addColumn('queue', 'text', (c) => c.primaryKey())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('team', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`insert into agent_queues_used (queue, environment, team)
    select coalesce(agent_task_queue, 'selfheal-agent-' || name), name, team from environments
    on conflict (queue) do nothing`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('agent_queues_used').execute();
}
