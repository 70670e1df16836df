// GET /api/audit (admin): the audit log, newest first, paged by cursor.
import { z } from '../../domain/zod.js';
import type { AuditEntry } from '../../db/database.js';
import { auditPage } from '../../services/audit.js';
import type { AppDeps } from '../env.js';
import { authOf, guard, json, newRouter, op } from '../router.js';
import { textParam } from '../schemas/common.js';

export const auditQuerySchema = z.object({
  entityType: textParam(64).optional().describe('rule, token, job, environment, ...'),
  entityId: textParam(200).optional(),
  actor: textParam(200).optional().describe('admin-token or token:<name>.'),
  action: textParam(100).optional().describe('e.g. rule.update.'),
  team: textParam(63).optional().describe('Changes to objects of this team.'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  // 18 digits at most: audit ids are Postgres bigints, and 19 digits may pass its maximum (a 500 from the database).
  cursor: z.string().regex(/^\d{1,18}$/, 'must be a cursor returned by this API').optional().describe('nextCursor of the previous page.'),
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
  const app = newRouter();

  app.openapi(
    op(guard(authOf(deps), 'admin'), {
      method: 'get',
      path: '/api/audit',
      tags: ['audit'],
      summary: 'Audit log, newest first',
      request: { query: auditQuerySchema },
      responses: {
        200: json(
          'A page of entries: `limit` of them, or fewer when their before and after pass 4 MiB (one at least); nextCursor is null on the last page.',
          z.object({ items: z.array(auditEntrySchema), nextCursor: z.string().nullable() }),
        ),
      },
    }),
    async (c) => {
      const f = c.req.valid('query');
      const { page, nextCursor } = await auditPage(deps.db, { entityType: f.entityType, entityId: f.entityId, actor: f.actor, action: f.action, team: f.team, beforeId: f.cursor, limit: f.limit });
      return c.json({ items: page.map(view), nextCursor }, 200);
    },
  );

  return app;
}
