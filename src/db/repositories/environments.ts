// Cloud environments: where a rule's scripts run (agent task queue, management VM) and their labels.
import { rowsWithin } from '../../domain/pages.js';
import type { Environment } from '../database.js';
import type { Db } from './db.js';

export interface EnvironmentRecord {
  name: string;
  description: string | null;
  labels: Record<string, string>;
  agentTaskQueue: string;
  ssh: unknown;
  maintenanceWindows: unknown[];
  /** The owning team (issue 24). */
  team: string;
}

const columns = (e: EnvironmentRecord) => ({
  description: e.description,
  labels: JSON.stringify(e.labels),
  agent_task_queue: e.agentTaskQueue,
  ssh: e.ssh ? JSON.stringify(e.ssh) : null,
  maintenance_windows: JSON.stringify(e.maintenanceWindows),
  team: e.team,
});

/**
 * A page of the environments of these teams (undefined: every team; empty: none), by name, after the name
 * `after` (the last of the previous page): at most `limit`, and only as many as fit in `maxBytes` (row_bytes,
 * kept by Postgres; one at least). Sizes are read first, then only the page's rows, the teams applied again.
 * `last`: the name of the page's last environment when more follow, else null.
 */
export async function listEnvironmentPage(
  db: Db,
  teams: readonly string[] | undefined,
  page: { after?: string | undefined; limit: number; maxBytes: number },
): Promise<{ rows: Environment[]; last: string | null }> {
  if (teams?.length === 0) return { rows: [], last: null };
  const sizes = await db
    .selectFrom('environments')
    .select(['name', 'row_bytes as bytes'])
    .$if(teams !== undefined, (q) => q.where('team', 'in', [...teams!]))
    .$if(page.after !== undefined, (q) => q.where('name', '>', page.after!))
    .orderBy('name')
    .limit(page.limit + 1)
    .execute();
  const taken = rowsWithin(sizes, page.limit, page.maxBytes);
  if (taken === 0) return { rows: [], last: null };
  const rows = await db
    .selectFrom('environments')
    .selectAll()
    .$if(teams !== undefined, (q) => q.where('team', 'in', [...teams!]))
    .where('name', 'in', sizes.slice(0, taken).map((s) => s.name))
    .orderBy('name')
    .execute();
  return { rows, last: sizes.length > taken ? sizes[taken - 1]!.name : null };
}

/**
 * How an environment's row is held until the transaction ends. `update` (FOR UPDATE): for a delete or a
 * team move, and it waits for every job save holding the row FOR KEY SHARE (registeredEnvironmentsHeld), so
 * what such a save checked (the environment exists, in its job's team) stays true until it commits.
 * `noKeyUpdate` (FOR NO KEY UPDATE): for a change of its own fields within its team (labels, description,
 * queue, VM), which does not conflict with FOR KEY SHARE: a label edit does not wait behind a job save's
 * Temporal call (up to 10 s). Two writers of the same environment still take turns either way.
 */
export type EnvironmentLock = 'update' | 'noKeyUpdate';

export async function findEnvironment(db: Db, name: string, opts: { lock?: EnvironmentLock } = {}): Promise<Environment | undefined> {
  let q = db.selectFrom('environments').selectAll().where('name', '=', name);
  if (opts.lock === 'update') q = q.forUpdate();
  else if (opts.lock === 'noKeyUpdate') q = q.forNoKeyUpdate();
  return q.executeTakeFirst();
}

/** The new row, or undefined when the name is taken. */
export async function insertEnvironment(db: Db, e: EnvironmentRecord): Promise<Environment | undefined> {
  return db
    .insertInto('environments')
    .values({ name: e.name, ...columns(e) })
    .onConflict((oc) => oc.column('name').doNothing())
    .returningAll()
    .executeTakeFirst();
}

/**
 * Writes the environment's fields (never its name, the only key column: the UPDATE itself takes FOR NO KEY
 * UPDATE, so it does not wait for job saves either). A team move must hold the row with findEnvironment's
 * `update` lock first.
 */
export async function updateEnvironment(db: Db, e: EnvironmentRecord): Promise<Environment> {
  return db
    .updateTable('environments')
    .set({ ...columns(e), updated_at: new Date() })
    .where('name', '=', e.name)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteEnvironment(db: Db, name: string): Promise<Environment | undefined> {
  return db.deleteFrom('environments').where('name', '=', name).returningAll().executeTakeFirst();
}

/** Another environment (not `name`) storing `queue`, or named `defaultOwner` (whose default queue it is): its name and team. */
export async function findQueueOwner(db: Db, name: string, queue: string, defaultOwner: string | undefined): Promise<{ name: string; team: string } | undefined> {
  return db
    .selectFrom('environments')
    .select(['name', 'team'])
    .where('name', '!=', name)
    .where((eb) => eb.or([eb('agent_task_queue', '=', queue), ...(defaultOwner ? [eb('name', '=', defaultOwner)] : [])]))
    .executeTakeFirst();
}

/** Remembers that `queue` is (and so was) an environment's agent queue; the first environment to hold it stays recorded. */
export async function rememberAgentQueue(db: Db, queue: string, environment: string, team: string): Promise<void> {
  await db.insertInto('agent_queues_used').values({ queue, environment, team }).onConflict((oc) => oc.column('queue').doNothing()).execute();
}

/** Whether `queue` was ever some environment's agent queue (that environment deleted since, perhaps). */
export async function agentQueueUsedBefore(db: Db, queue: string): Promise<boolean> {
  return (await db.selectFrom('agent_queues_used').select('queue').where('queue', '=', queue).executeTakeFirst()) !== undefined;
}
