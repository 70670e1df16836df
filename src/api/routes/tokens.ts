import { randomBytes, randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiToken } from '../../db/database.js';
import { writeAudit } from '../../db/queries/audit.js';
import { findTeam, tokenMemberships } from '../../db/repositories/teams.js';
import { gateScope, parseMembership, type TeamMembership } from '../../domain/teams.js';
import type { AppDeps, AppEnv } from '../app.js';
import { hashToken, requireScope } from '../auth.js';
import { readJsonBody } from '../body.js';
import { badRequest, issuesToErrors, notFound } from '../problem.js';

export const TOKEN_PREFIX = 'shk_';

/** Every issued token expires: by default after 90 days, never later than a year. */
export const DEFAULT_TOKEN_DAYS = 90;
export const MAX_TOKEN_DAYS = 366;
const MIN_TOKEN_MS = 60_000;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const tokenCreateSchema = z
  .strictObject({
    name: z.string().min(1).max(100).describe('Who or what uses the token (shown as the actor in the audit log).'),
    scopes: z
      .array(z.enum(['read', 'write', 'admin']))
      .min(1)
      .max(3)
      .refine((s) => new Set(s).size === s.length, 'scopes must be unique')
      .optional()
      .describe(
        'read: GET; write: change rules, jobs, environments (labels, description, maintenance windows); admin: tokens, audit log, ' +
          "rules with a shell command, and where and with what credentials code runs (an environment's SSH and agent queue). " +
          'Without `teams`, read and write act on the default team only; admin is global. Optional with `teams` (then derived from the roles).',
      ),
    teams: z
      .array(z.string().max(130))
      .min(1)
      .max(50)
      .optional()
      .describe('Team roles as team:role (viewer, editor, approver, admin), e.g. ["payments:editor"]. The token then acts on these teams only.'),
    expiresIn: z
      .string()
      .regex(/^[1-9][0-9]{0,5}[mhd]$/, 'must be a duration like "30m", "12h" or "90d"')
      .optional()
      .describe(`Lifetime from now (minutes, hours or days), at most ${MAX_TOKEN_DAYS} days. Default ${DEFAULT_TOKEN_DAYS} days. Not with expiresAt.`),
    expiresAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe(`Expiry instant (ISO 8601), within ${MAX_TOKEN_DAYS} days from now. Not with expiresIn.`),
  })
  .superRefine((body, ctx) => {
    if (body.scopes === undefined && body.teams === undefined) ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'give scopes, teams, or both' });
    for (const [i, t] of (body.teams ?? []).entries()) {
      const m = parseMembership(t);
      if ('error' in m) ctx.addIssue({ code: 'custom', path: ['teams', i], message: m.error });
    }
    if (body.expiresIn !== undefined && body.expiresAt !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'give expiresIn or expiresAt, not both' });
    }
  })
  .meta({ id: 'TokenCreate', description: 'A new API token.' });


/** The expiry of a token created at `now`, or a 400 naming the field when it is out of bounds. */
export function tokenExpiry(body: { expiresIn?: string | undefined; expiresAt?: string | undefined }, now: Date): Date {
  const max = now.getTime() + MAX_TOKEN_DAYS * UNIT_MS.d;
  let at: number;
  let field: string;
  if (body.expiresAt !== undefined) {
    at = Date.parse(body.expiresAt);
    field = 'expiresAt';
  } else if (body.expiresIn !== undefined) {
    at = now.getTime() + Number(body.expiresIn.slice(0, -1)) * UNIT_MS[body.expiresIn.slice(-1) as keyof typeof UNIT_MS];
    field = 'expiresIn';
  } else {
    return new Date(now.getTime() + DEFAULT_TOKEN_DAYS * UNIT_MS.d);
  }
  if (at - now.getTime() < MIN_TOKEN_MS) throw badRequest('the token would expire at once', [{ path: field, message: 'must be at least one minute from now' }]);
  if (at > max) throw badRequest(`tokens live at most ${MAX_TOKEN_DAYS} days`, [{ path: field, message: `must be at most ${MAX_TOKEN_DAYS} days from now` }]);
  return new Date(at);
}

export const tokenViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.string()),
    createdBy: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    expiresAt: z.string().describe('After this instant the token is refused with 401, like a revoked one.'),
    expired: z.boolean(),
    teams: z.array(z.string()).describe('Team roles as team:role; empty: the token acts on the default team by its scopes.'),
  })
  .meta({ id: 'Token', description: 'An API token (never its secret value).' });

/** A new secret: 32 random bytes, base64url, with a recognisable prefix (secret scanners). */
export const newTokenValue = () => `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;

const view = (t: ApiToken, teams: readonly TeamMembership[] = []) => ({
  id: t.id,
  name: t.name,
  scopes: t.scopes,
  createdBy: t.created_by,
  createdAt: t.created_at,
  lastUsedAt: t.last_used_at,
  revokedAt: t.revoked_at,
  expiresAt: t.expires_at,
  expired: t.expires_at.getTime() <= Date.now(),
  teams: teams.map((m) => `${m.team}:${m.role}`),
});

export function tokenRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const admin = requireScope({ db: deps.db, adminToken: deps.config.adminToken, authLimit: deps.config.authLimit }, 'admin');

  app.post('/api/tokens', admin, async (c) => {
    const body = await readJsonBody(c);
    const parsed = tokenCreateSchema.safeParse(body);
    if (!parsed.success) throw badRequest('the token request is not valid', issuesToErrors(parsed.error.issues));
    const actor = c.get('actor')!;
    const expiresAt = tokenExpiry(parsed.data, new Date());
    const memberships = uniqueMemberships(parsed.data.teams ?? []);
    const scopes = parsed.data.scopes ?? [gateScope(memberships)!];
    const token = newTokenValue();
    const row = await deps.db.transaction().execute(async (trx) => {
      for (const [i, m] of memberships.entries()) {
        if (!(await findTeam(trx, m.team))) throw badRequest(`team ${m.team} does not exist`, [{ path: `teams.${i}`, message: `no team named "${m.team}"` }]);
      }
      const created = await trx
        .insertInto('api_tokens')
        .values({ id: randomUUID(), name: parsed.data.name, token_hash: hashToken(token), scopes, created_by: actor, expires_at: expiresAt })
        .returningAll()
        .executeTakeFirstOrThrow();
      if (memberships.length > 0) {
        await trx
          .insertInto('team_memberships')
          .values(memberships.map((m) => ({ token_id: created.id, team: m.team, role: m.role, created_by: actor })))
          .execute();
      }
      const teams = memberships.map((m) => `${m.team}:${m.role}`);
      await writeAudit(trx, { actor, action: 'token.create', entityType: 'token', entityId: created.id, after: { name: created.name, scopes: created.scopes, teams, expiresAt: created.expires_at } });
      return created;
    });
    c.get('logger').info({ tokenId: row.id, name: row.name, scopes: row.scopes, expiresAt: row.expires_at, actor }, 'api token created');
    return c.json({ ...view(row, memberships), token, note: 'Store this token now: it is shown only once.' }, 201);
  });

  app.get('/api/tokens', admin, async (c) => {
    const rows = await deps.db.selectFrom('api_tokens').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
    const all = await deps.db.selectFrom('team_memberships').select(['token_id', 'team', 'role']).orderBy('team').orderBy('role').execute();
    return c.json({ items: rows.map((t) => view(t, all.filter((m) => m.token_id === t.id))) });
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
    return c.json(view(row, await tokenMemberships(deps.db, row.id)));
  });

  return app;
}

/** `team:role` strings (already validated by the schema), each once. */
function uniqueMemberships(teams: readonly string[]): TeamMembership[] {
  const seen = new Map<string, TeamMembership>();
  for (const t of teams) {
    const m = parseMembership(t);
    if (!('error' in m)) seen.set(`${m.team}:${m.role}`, m);
  }
  return [...seen.values()];
}
