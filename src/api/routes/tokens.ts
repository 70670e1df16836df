import { randomBytes, randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiToken } from '../../db/database.js';
import { writeAudit } from '../../db/queries/audit.js';
import type { AppDeps, AppEnv } from '../app.js';
import { hashToken, requireScope } from '../auth.js';
import { readJsonBody } from '../body.js';
import { badRequest, issuesToErrors, notFound } from '../problem.js';

export const TOKEN_PREFIX = 'shk_';

export const tokenCreateSchema = z
  .strictObject({
    name: z.string().min(1).max(100).describe('Who or what uses the token (shown as the actor in the audit log).'),
    scopes: z
      .array(z.enum(['read', 'write', 'admin']))
      .min(1)
      .max(3)
      .refine((s) => new Set(s).size === s.length, 'scopes must be unique')
      .describe('read: GET; write: change rules, jobs, environments; admin: tokens and audit log.'),
  })
  .meta({ id: 'TokenCreate', description: 'A new API token.' });

export const tokenViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.string()),
    createdBy: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'Token', description: 'An API token (never its secret value).' });

/** A new secret: 32 random bytes, base64url, with a recognisable prefix (secret scanners). */
export const newTokenValue = () => `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;

const view = (t: ApiToken) => ({
  id: t.id,
  name: t.name,
  scopes: t.scopes,
  createdBy: t.created_by,
  createdAt: t.created_at,
  lastUsedAt: t.last_used_at,
  revokedAt: t.revoked_at,
});

export function tokenRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const admin = requireScope({ db: deps.db, adminToken: deps.config.adminToken }, 'admin');

  app.post('/api/tokens', admin, async (c) => {
    const body = await readJsonBody(c);
    const parsed = tokenCreateSchema.safeParse(body);
    if (!parsed.success) throw badRequest('the token request is not valid', issuesToErrors(parsed.error.issues));
    const actor = c.get('actor')!;
    const token = newTokenValue();
    const row = await deps.db.transaction().execute(async (trx) => {
      const created = await trx
        .insertInto('api_tokens')
        .values({ id: randomUUID(), name: parsed.data.name, token_hash: hashToken(token), scopes: parsed.data.scopes, created_by: actor })
        .returningAll()
        .executeTakeFirstOrThrow();
      await writeAudit(trx, { actor, action: 'token.create', entityType: 'token', entityId: created.id, after: { name: created.name, scopes: created.scopes } });
      return created;
    });
    c.get('logger').info({ tokenId: row.id, name: row.name, scopes: row.scopes, actor }, 'api token created');
    return c.json({ ...view(row), token, note: 'Store this token now: it is shown only once.' }, 201);
  });

  app.get('/api/tokens', admin, async (c) => {
    const rows = await deps.db.selectFrom('api_tokens').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
    return c.json({ items: rows.map(view) });
  });

  app.delete('/api/tokens/:id', admin, async (c) => {
    const id = c.req.param('id');
    const actor = c.get('actor')!;
    const row = await deps.db.transaction().execute(async (trx) => {
      const current = await trx.selectFrom('api_tokens').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
      if (!current) throw notFound(`token ${id} is not known`);
      if (current.revoked_at) return current;
      const revoked = await trx.updateTable('api_tokens').set({ revoked_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      await writeAudit(trx, { actor, action: 'token.revoke', entityType: 'token', entityId: id, before: { name: current.name, scopes: current.scopes }, after: { revokedAt: revoked.revoked_at } });
      return revoked;
    });
    return c.json(view(row));
  });

  return app;
}
