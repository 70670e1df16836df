import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, Environment } from '../../db/database.js';
import { secretRefSchema, SLUG_PATTERN, timeWindowSchema } from '../../domain/rules/schema.js';
import { agentTaskQueue } from '../../temporal/names.js';
import { agentStatus } from '../../temporal/pollers.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { readJsonBody } from '../body.js';
import { badRequest, conflict, issuesToErrors, notFound } from '../problem.js';


/** Things that are key material, not a reference to it. */
const KEY_MATERIAL = /-----BEGIN|PRIVATE KEY|^ssh-(rsa|ed25519|dss)|^ecdsa-sha2-|\n|^[A-Za-z0-9+/=]{100,}$/;

export const keyRefSchema = z
  .string()
  .max(512)
  .superRefine((v, ctx) => {
    if (KEY_MATERIAL.test(v)) {
      ctx.addIssue({ code: 'custom', message: 'looks like key material: store the private key as a secret and give its reference ("env:NAME" or "file:/path"), never the key itself' });
      return;
    }
    const r = secretRefSchema.safeParse(v);
    if (!r.success) ctx.addIssue({ code: 'custom', message: r.error.issues[0]?.message ?? 'must be a secret reference' });
  })
  .describe('Reference to the SSH private key: `env:NAME` or `file:/absolute/path`.');

export const environmentSshSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address'),
  port: z.number().int().min(1).max(65535).default(22),
  user: z
    .string()
    .min(1)
    .max(32)
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a user name'),
  keyRef: keyRefSchema,
  hostKeyFingerprint: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'must be the pinned host key fingerprint as ssh-keygen -lf prints it: SHA256:<43 base64 characters>'),
  scriptsDir: z
    .string()
    .max(1024)
    .regex(/^\/[^\0\s]*$/, 'must be an absolute path without spaces')
    .optional(),
});

const labelsSchema = z
  .record(z.string().min(1).max(63).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'label keys are letters, digits, ".", "_", "/" or "-"'), z.string().max(256))
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 labels');

const environmentFields = {
  description: z.string().max(2000).nullish(),
  labels: labelsSchema.default({}),
  agentTaskQueue: z.string().min(1).max(200).regex(/^\S+$/, 'must not contain spaces').optional(),
  ssh: environmentSshSchema.nullish(),
  maintenanceWindows: z.array(timeWindowSchema).max(50).default([]),
};

export const environmentCreateSchema = z.strictObject({
  name: z.string().min(1).max(63).regex(SLUG_PATTERN, 'must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit'),
  ...environmentFields,
});
export const environmentUpdateSchema = z.strictObject({ name: z.string().optional(), ...environmentFields });

/** An agent counts as online when it polled within this window (long polls last up to a minute). */

/** The request body as JSON, bounded (src/api/body.ts). */
export const readJson = (c: Context): Promise<unknown> => readJsonBody(c);

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
