import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditEntry } from '../../db/database.js';
import { listAudit } from '../../db/queries/audit.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { badRequest, issuesToErrors } from '../problem.js';

export const auditQuerySchema = z.object({
  entityType: z.string().min(1).max(64).optional().describe('rule, token, job, environment, ...'),
  entityId: z.string().min(1).max(200).optional(),
  actor: z.string().min(1).max(200).optional().describe('admin-token or token:<name>.'),
  action: z.string().min(1).max(100).optional().describe('e.g. rule.update.'),
  team: z.string().min(1).max(63).optional().describe('Changes to objects of this team.'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^\d{1,19}$/, 'must be a cursor returned by this API').optional().describe('nextCursor of the previous page.'),
});

export const auditEntrySchema = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z.string(),
    action: z.string(),
    entityType: z.string(),
    entityId: z.string(),
    team: z.string().nullable().describe('The team of the changed object; null for changes outside teams (tokens, sessions).'),
    before: z.unknown(),
    after: z.unknown(),
  })
  .meta({ id: 'AuditEntry' });

const view = (a: AuditEntry) => ({
  id: String(a.id),
  at: a.at,
  actor: a.actor,
  action: a.action,
  entityType: a.entity_type,
  entityId: a.entity_id,
  team: a.team,
  before: a.before,
  after: a.after,
});

export function auditRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const admin = requireScope({ db: deps.db, adminToken: deps.config.adminToken, authLimit: deps.config.authLimit }, 'admin');

  app.get('/api/audit', admin, async (c) => {
    const q = auditQuerySchema.safeParse(c.req.query());
    if (!q.success) throw badRequest('invalid query parameters', issuesToErrors(q.error.issues));
    const f = q.data;
    const rows = await listAudit(deps.db, { entityType: f.entityType, entityId: f.entityId, actor: f.actor, action: f.action, team: f.team, beforeId: f.cursor, limit: f.limit + 1 });
    const page = rows.slice(0, f.limit);
    const more = rows.length > f.limit;
    return c.json({ items: page.map(view), nextCursor: more ? String(page[page.length - 1]!.id) : null });
  });

  return app;
}
