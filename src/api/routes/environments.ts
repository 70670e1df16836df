import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database, Environment } from '../../db/database.js';
import { environmentCreateSchema, environmentUpdateSchema, SSH_AUTHORITY_FIELDS } from '../../domain/environments.js';
import { secretRefOutsidePolicy } from '../../domain/secret-refs.js';
import { agentTaskQueue } from '../../temporal/names.js';
import { agentStatus } from '../../temporal/pollers.js';
import type { AppDeps, AppEnv } from '../app.js';
import { hasScope, requireScope } from '../auth.js';
import { readJsonBody } from '../body.js';
import { requireTeam, teamForChange, teamForCreate, visibleTeams } from '../team-access.js';
import { badRequest, conflict, issuesToErrors, notFound, ProblemError } from '../problem.js';


export { environmentCreateSchema, environmentSshSchema, environmentUpdateSchema, keyRefSchema } from '../../domain/environments.js';

/** An agent counts as online when it polled within this window (long polls last up to a minute). */

/** The request body as JSON, bounded (src/api/body.ts). */
export const readJson = (c: Context): Promise<unknown> => readJsonBody(c);

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (!r.success) {
    // An unknown field is named at its own path (`ssh.scriptsDir`), not at the object holding it.
    const errors = issuesToErrors(
      r.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((key) => ({ path: [...i.path, key], message: `unknown field "${key}"` })) : [i])),
    );
    throw badRequest(`invalid request body: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
  }
  return r.data;
}

export async function audit(
  db: Kysely<Database>,
  entry: { actor: string | undefined; action: string; entityType: string; entityId: string; before?: unknown; after?: unknown; team?: string | undefined },
): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: entry.actor ?? 'unknown',
      action: entry.action,
      entity_type: entry.entityType,
      entity_id: entry.entityId,
      before: entry.before === undefined ? null : JSON.stringify(entry.before),
      after: entry.after === undefined ? null : JSON.stringify(entry.after),
      team: entry.team ?? null,
    })
    .execute();
}

export function environmentView(e: Environment) {
  return {
    name: e.name,
    team: e.team,
    description: e.description,
    labels: e.labels,
    agentTaskQueue: e.agent_task_queue ?? agentTaskQueue(e.name),
    ssh: e.ssh,
    maintenanceWindows: e.maintenance_windows,
    createdAt: e.created_at,
    updatedAt: e.updated_at,
  };
}

type EnvironmentBody = z.output<typeof environmentCreateSchema> | z.output<typeof environmentUpdateSchema>;

/**
 * Fields whose change moves where code runs or with what credentials: the SSH host, port, user, key
 * reference and pinned fingerprint, and the agent task queue. `before` is the stored row (undefined on
 * create, where setting any of them counts as a change). Paths as in the request body.
 */
export function authorityChanges(name: string, body: EnvironmentBody, before: Environment | undefined): string[] {
  const changed: string[] = [];
  const queueBefore = before?.agent_task_queue ?? agentTaskQueue(name);
  if ((body.agentTaskQueue ?? agentTaskQueue(name)) !== queueBefore) changed.push('agentTaskQueue');
  const sshBefore = (before?.ssh ?? null) as Record<string, unknown> | null;
  const sshAfter = (body.ssh ?? null) as Record<string, unknown> | null;
  if ((sshBefore === null) !== (sshAfter === null)) changed.push('ssh');
  else if (sshBefore && sshAfter) for (const f of SSH_AUTHORITY_FIELDS) if (sshBefore[f] !== sshAfter[f]) changed.push(`ssh.${f}`);
  return changed;
}

/**
 * One agent queue per environment. A queue is another environment's when that one stores it, or when it
 * is that one's default name (`selfheal-agent-<name>`: the queue its agent polls, src/agent.ts); sharing
 * it would let that environment's agent run this one's scripts. 400 naming agentTaskQueue.
 */
async function queueFree(db: Kysely<Database>, name: string, queue: string): Promise<void> {
  const prefix = agentTaskQueue('');
  const owner = queue.startsWith(prefix) ? queue.slice(prefix.length) : undefined;
  const other = await db
    .selectFrom('environments')
    .select('name')
    .where('name', '!=', name)
    .where((eb) => eb.or([eb('agent_task_queue', '=', queue), ...(owner ? [eb('name', '=', owner)] : [])]))
    .executeTakeFirst();
  if (other) {
    throw badRequest(`agent task queue ${queue} belongs to environment ${other.name}`, [
      { path: 'agentTaskQueue', message: `already the queue of environment "${other.name}": each environment needs its own agent queue` },
    ]);
  }
}

export function environmentRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const auth = { db: deps.db, adminToken: deps.config.adminToken, authLimit: deps.config.authLimit };

  /** 400 for a key reference outside the secret policy or the main worker's queue; 403 when a non-admin moves authority. */
  function checkAuthority(c: Context<AppEnv>, name: string, body: EnvironmentBody, before: Environment | undefined): void {
    const errors: { path: string; message: string }[] = [];
    const keyProblem = body.ssh ? secretRefOutsidePolicy(body.ssh.keyRef, deps.config.secretRefs) : undefined;
    if (keyProblem) errors.push({ path: 'ssh.keyRef', message: keyProblem });
    if (body.agentTaskQueue !== undefined && body.agentTaskQueue === deps.config.temporal.taskQueue) {
      errors.push({ path: 'agentTaskQueue', message: "must not be the main worker's task queue" });
    }
    if (errors.length > 0) throw badRequest(`invalid request body: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
    const changed = authorityChanges(name, body, before);
    if (changed.length > 0 && !hasScope(c.get('scopes'), 'admin')) {
      throw new ProblemError(403, 'Forbidden', `changing where code runs or with what credentials needs the "admin" scope: ${changed.join(', ')}`, {
        errors: changed.map((path) => ({
          path,
          message: 'only an admin token may set or change this; a write token may change description, labels and maintenanceWindows (send the other fields back as GET returns them)',
        })),
      });
    }
  }

  const find = (name: string) => deps.db.selectFrom('environments').selectAll().where('name', '=', name).executeTakeFirst();

  async function agentOf(queue: string) {
    try {
      return { taskQueue: queue, ...(await agentStatus(deps.temporal, deps.config.temporal.namespace, queue)) };
    } catch (err) {
      return { taskQueue: queue, online: false, pollers: [], error: `Temporal unavailable: ${(err as Error).message.split('\n')[0]}` };
    }
  }

  app.get('/api/environments', requireScope(auth, 'read'), async (c) => {
    const teams = visibleTeams(c);
    if (teams?.length === 0) return c.json({ items: [] });
    const rows = await deps.db
      .selectFrom('environments')
      .selectAll()
      .$if(teams !== undefined, (q) => q.where('team', 'in', teams!))
      .orderBy('name')
      .execute();
    return c.json({ items: rows.map(environmentView) });
  });

  app.get('/api/environments/:name', requireScope(auth, 'read'), async (c) => {
    const name = c.req.param('name');
    const e = await find(name);
    if (!e) throw notFound(`environment ${name} is not known`);
    requireTeam(c, 'viewer', e.team, `environment ${name}`);
    const view = environmentView(e);
    const { taskQueue: _q, ...agent } = await agentOf(view.agentTaskQueue);
    return c.json({ ...view, agent });
  });

  app.post('/api/environments', requireScope(auth, 'write'), async (c) => {
    const body = parseBody(environmentCreateSchema, await readJson(c));
    const team = await teamForCreate(c, deps.db, body.team, `environment ${body.name}`);
    checkAuthority(c, body.name, body, undefined);
    const row = await deps.db.transaction().execute(async (trx) => {
      await queueFree(trx, body.name, body.agentTaskQueue ?? agentTaskQueue(body.name));
      const inserted = await trx
        .insertInto('environments')
        .values({
          name: body.name,
          description: body.description ?? null,
          labels: JSON.stringify(body.labels),
          agent_task_queue: body.agentTaskQueue ?? agentTaskQueue(body.name),
          ssh: body.ssh ? JSON.stringify(body.ssh) : null,
          maintenance_windows: JSON.stringify(body.maintenanceWindows),
          team,
        })
        .onConflict((oc) => oc.column('name').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!inserted) throw conflict(`environment ${body.name} already exists`);
      await audit(trx, { actor: c.get('actor'), action: 'environment.create', entityType: 'environment', entityId: body.name, after: environmentView(inserted), team });
      return inserted;
    });
    c.header('Location', `/api/environments/${encodeURIComponent(row.name)}`);
    return c.json(environmentView(row), 201);
  });

  app.put('/api/environments/:name', requireScope(auth, 'write'), async (c) => {
    const name = c.req.param('name');
    const body = parseBody(environmentUpdateSchema, await readJson(c));
    if (body.name !== undefined && body.name !== name) {
      throw badRequest('an environment cannot be renamed', [{ path: 'name', message: `must be "${name}" (the name in the path) or left out` }]);
    }
    const row = await deps.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('environments').selectAll().where('name', '=', name).forUpdate().executeTakeFirst();
      if (!before) throw notFound(`environment ${name} is not known`);
      const team = await teamForChange(c, trx, before.team, body.team, `environment ${name}`);
      checkAuthority(c, name, body, before);
      await queueFree(trx, name, body.agentTaskQueue ?? agentTaskQueue(name));
      const updated = await trx
        .updateTable('environments')
        .set({
          description: body.description ?? null,
          labels: JSON.stringify(body.labels),
          agent_task_queue: body.agentTaskQueue ?? agentTaskQueue(name),
          ssh: body.ssh ? JSON.stringify(body.ssh) : null,
          maintenance_windows: JSON.stringify(body.maintenanceWindows),
          team,
          updated_at: new Date(),
        })
        .where('name', '=', name)
        .returningAll()
        .executeTakeFirstOrThrow();
      await audit(trx, { actor: c.get('actor'), action: 'environment.update', entityType: 'environment', entityId: name, before: environmentView(before), after: environmentView(updated), team });
      return updated;
    });
    return c.json(environmentView(row));
  });

  app.delete('/api/environments/:name', requireScope(auth, 'write'), async (c) => {
    const name = c.req.param('name');
    await deps.db.transaction().execute(async (trx) => {
      const current = await trx.selectFrom('environments').selectAll().where('name', '=', name).forUpdate().executeTakeFirst();
      if (!current) throw notFound(`environment ${name} is not known`);
      requireTeam(c, 'editor', current.team, `environment ${name}`);
      // Deleting an environment with a management VM or its own agent queue, then creating it again, would
      // move where its code runs: that takes admin too.
      checkAuthority(c, name, { labels: {}, maintenanceWindows: [], ssh: null }, current);
      const before = await trx.deleteFrom('environments').where('name', '=', name).returningAll().executeTakeFirstOrThrow();
      await audit(trx, { actor: c.get('actor'), action: 'environment.delete', entityType: 'environment', entityId: name, before: environmentView(before), team: current.team });
    });
    return c.body(null, 204);
  });

  return app;
}
