import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database, Environment } from '../../db/database.js';
import { environmentCreateSchema, environmentUpdateSchema } from '../../domain/environments.js';
import { agentTaskQueue } from '../../temporal/names.js';
import { agentStatus } from '../../temporal/pollers.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { badRequest, conflict, issuesToErrors, notFound } from '../problem.js';


export { environmentCreateSchema, environmentSshSchema, environmentUpdateSchema, keyRefSchema } from '../../domain/environments.js';

/** An agent counts as online when it polled within this window (long polls last up to a minute). */

export async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw badRequest('request body must be a JSON object', [{ path: '(body)', message: 'not valid JSON' }]);
  }
}

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const errors = issuesToErrors(r.error.issues);
    throw badRequest(`invalid request body: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
  }
  return r.data;
}

export async function audit(
  db: Kysely<Database>,
  entry: { actor: string | undefined; action: string; entityType: string; entityId: string; before?: unknown; after?: unknown },
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
    })
    .execute();
}

export function environmentView(e: Environment) {
  return {
    name: e.name,
    description: e.description,
    labels: e.labels,
    agentTaskQueue: e.agent_task_queue ?? agentTaskQueue(e.name),
    ssh: e.ssh,
    maintenanceWindows: e.maintenance_windows,
    createdAt: e.created_at,
    updatedAt: e.updated_at,
  };
}

export function environmentRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const auth = { db: deps.db, adminToken: deps.config.adminToken };

  const find = (name: string) => deps.db.selectFrom('environments').selectAll().where('name', '=', name).executeTakeFirst();

  async function agentOf(queue: string) {
    try {
      return { taskQueue: queue, ...(await agentStatus(deps.temporal, deps.config.temporal.namespace, queue)) };
    } catch (err) {
      return { taskQueue: queue, online: false, pollers: [], error: `Temporal unavailable: ${(err as Error).message.split('\n')[0]}` };
    }
  }

  app.get('/api/environments', requireScope(auth, 'read'), async (c) => {
    const rows = await deps.db.selectFrom('environments').selectAll().orderBy('name').execute();
    return c.json({ items: rows.map(environmentView) });
  });

  app.get('/api/environments/:name', requireScope(auth, 'read'), async (c) => {
    const name = c.req.param('name');
    const e = await find(name);
    if (!e) throw notFound(`environment ${name} is not known`);
    const view = environmentView(e);
    const { taskQueue: _q, ...agent } = await agentOf(view.agentTaskQueue);
    return c.json({ ...view, agent });
  });

  app.post('/api/environments', requireScope(auth, 'write'), async (c) => {
    const body = parseBody(environmentCreateSchema, await readJson(c));
    const row = await deps.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('environments')
        .values({
          name: body.name,
          description: body.description ?? null,
          labels: JSON.stringify(body.labels),
          agent_task_queue: body.agentTaskQueue ?? agentTaskQueue(body.name),
          ssh: body.ssh ? JSON.stringify(body.ssh) : null,
          maintenance_windows: JSON.stringify(body.maintenanceWindows),
        })
        .onConflict((oc) => oc.column('name').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!inserted) throw conflict(`environment ${body.name} already exists`);
      await audit(trx, { actor: c.get('actor'), action: 'environment.create', entityType: 'environment', entityId: body.name, after: environmentView(inserted) });
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
      const updated = await trx
        .updateTable('environments')
        .set({
          description: body.description ?? null,
          labels: JSON.stringify(body.labels),
          agent_task_queue: body.agentTaskQueue ?? agentTaskQueue(name),
          ssh: body.ssh ? JSON.stringify(body.ssh) : null,
          maintenance_windows: JSON.stringify(body.maintenanceWindows),
          updated_at: new Date(),
        })
        .where('name', '=', name)
        .returningAll()
        .executeTakeFirstOrThrow();
      await audit(trx, { actor: c.get('actor'), action: 'environment.update', entityType: 'environment', entityId: name, before: environmentView(before), after: environmentView(updated) });
      return updated;
    });
    return c.json(environmentView(row));
  });

  app.delete('/api/environments/:name', requireScope(auth, 'write'), async (c) => {
    const name = c.req.param('name');
    await deps.db.transaction().execute(async (trx) => {
      const before = await trx.deleteFrom('environments').where('name', '=', name).returningAll().executeTakeFirst();
      if (!before) throw notFound(`environment ${name} is not known`);
      await audit(trx, { actor: c.get('actor'), action: 'environment.delete', entityType: 'environment', entityId: name, before: environmentView(before) });
    });
    return c.body(null, 204);
  });

  return app;
}
