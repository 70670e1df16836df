// What the worker reads of registered environments: maintenance windows, team and the agent's task queue
// (for planning), the management VM (for jobs), and which of its team's environments a job targets.
import { sql } from 'kysely';
import type { EnvironmentSsh } from '../database.js';
import type { TimeWindow } from '../../domain/rules/time-window.js';
import type { Db } from './db.js';
import { AGENT_QUEUE_PREFIX } from '../../contracts/names.js';

/** What planning reads of a registered environment: its maintenance windows and its team; undefined when not registered. */
export async function environmentPlanning(db: Db, name: string): Promise<{ windows: TimeWindow[]; team: string } | undefined> {
  const row = await db.selectFrom('environments').select(['maintenance_windows', 'team']).where('name', '=', name).executeTakeFirst();
  return row ? { windows: (row.maintenance_windows ?? []) as TimeWindow[], team: row.team } : undefined;
}

/** The task queue of the environment's agent (the one its name gives when none is stored); undefined when not registered. */
export async function agentQueueOf(db: Db, name: string): Promise<string | undefined> {
  const row = await db.selectFrom('environments').select('agent_task_queue').where('name', '=', name).executeTakeFirst();
  return row ? (row.agent_task_queue ?? `${AGENT_QUEUE_PREFIX}${name}`) : undefined;
}

/** The management VM of environment `name`; with `team`, only when the environment is that team's. */
export async function environmentSsh(db: Db, name: string, team?: string): Promise<EnvironmentSsh | undefined> {
  let query = db.selectFrom('environments').select('ssh').where('name', '=', name);
  if (team !== undefined) query = query.where('team', '=', team);
  const row = await query.executeTakeFirst();
  return (row?.ssh as EnvironmentSsh | null | undefined) ?? undefined;
}

/**
 * Whether an environment of `team` has its Doctor agent on task queue `queue` (one registered without a queue
 * is served on the queue its name gives, contracts/names.ts).
 */
export async function teamServesAgentQueue(db: Db, team: string, queue: string): Promise<boolean> {
  const row = await db
    .selectFrom('environments')
    .select('name')
    .where('team', '=', team)
    .where((eb) => eb.or([eb('agent_task_queue', '=', queue), eb.and([eb('agent_task_queue', 'is', null), eb(sql<string>`${AGENT_QUEUE_PREFIX} || name`, '=', queue)])]))
    .executeTakeFirst();
  return row !== undefined;
}

export interface EnvironmentTargetRow {
  name: string;
  agent_task_queue: string | null;
  ssh: EnvironmentSsh | null;
}

/**
 * Environments a job of `team` targets, by name: the named ones, those whose labels contain `selector`, or
 * all — of the job's own team only (issue 24): another team's environment is "not registered" to the job.
 */
export async function environmentsForTargets(
  db: Db,
  team: string,
  t: { environments: string[] } | { selector: Record<string, string> } | { all: true },
): Promise<EnvironmentTargetRow[]> {
  let query = db.selectFrom('environments').select(['name', 'agent_task_queue', 'ssh']).where('team', '=', team).orderBy('name');
  if ('environments' in t) query = query.where('name', 'in', t.environments);
  else if ('selector' in t) query = query.where(sql<boolean>`labels @> ${JSON.stringify(t.selector)}::jsonb`);
  const rows = await query.execute();
  return rows.map((r) => ({ name: r.name, agent_task_queue: r.agent_task_queue, ssh: (r.ssh as EnvironmentSsh | null) ?? null }));
}

/**
 * How many environments of `team` a selector or `all` matches now, as environmentsForTargets would list
 * them (a job's save checks it against the most one run may hold), counted without reading them.
 */
export async function countEnvironmentsForTargets(db: Db, team: string, t: { selector: Record<string, string> } | { all: true }): Promise<number> {
  let query = db.selectFrom('environments').select((eb) => eb.fn.countAll<string>().as('n')).where('team', '=', team);
  if ('selector' in t) query = query.where(sql<boolean>`labels @> ${JSON.stringify(t.selector)}::jsonb`);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}
