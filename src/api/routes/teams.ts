// Teams and their memberships (issue 24): GET/POST /api/teams, GET/PUT/DELETE /api/teams/{team}/members….
// Written as an OpenAPIHono router (createRoute + zod), the shape every route group is moving to; its
// specs are also listed in src/api/openapi.ts (teamOperations) until the document is generated from routers.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { writeAudit } from '../../db/queries/audit.js';
import { findTeam, hasMemberships, insertTeam, listMembers, listTeams, replaceMemberships } from '../../db/repositories/teams.js';
import { TEAM_NAME_PATTERN, TEAM_NAME_RULE, TEAM_ROLES, type TeamRole } from '../../domain/teams.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { readJsonBody } from '../body.js';
import { badRequest, conflict, issuesToErrors, notFound, ProblemError } from '../problem.js';
import { actorOf, requireTeam, visibleTeams } from '../team-access.js';

export const teamNameSchema = z.string().regex(TEAM_NAME_PATTERN, TEAM_NAME_RULE);

export const teamCreateSchema = z
  .strictObject({
    name: teamNameSchema.describe('Team name (lowercase slug).'),
    description: z.string().max(2000).optional().describe('What the team owns.'),
  })
  .meta({ id: 'TeamCreate', description: 'A new team (global admin only).' });

export const teamViewSchema = z
  .object({
    name: z.string(),
    description: z.string().nullable(),
    createdBy: z.string(),
    createdAt: z.string(),
    roles: z.array(z.enum(TEAM_ROLES)).describe("The caller's roles in the team (empty for a global admin who holds none)."),
  })
  .meta({ id: 'Team', description: 'A team: it owns rules, environments and jobs.' });

export const membershipSetSchema = z
  .strictObject({
    roles: z
      .array(z.enum(TEAM_ROLES))
      .max(TEAM_ROLES.length)
      .refine((r) => new Set(r).size === r.length, 'roles must be unique')
      .describe('The roles the token holds in the team from now on; [] removes it from the team.'),
  })
  .meta({ id: 'MembershipSet', description: "A token's roles in one team." });

export const memberViewSchema = z
  .object({ tokenId: z.string(), tokenName: z.string(), roles: z.array(z.enum(TEAM_ROLES)) })
  .meta({ id: 'TeamMember', description: "An API token's roles in a team (users of single sign-on get theirs from OIDC_ROLE_MAP)." });

const problemContent = { 'application/problem+json': { schema: z.object({ title: z.string(), status: z.number(), detail: z.string().optional() }) } };
const teamParams = z.object({ team: teamNameSchema });
const memberParams = z.object({ team: teamNameSchema, tokenId: z.string().min(1).max(100) });

/** Bodies go through the app's bounded JSON reader (depth, string sizes) before the route's schema. */
const boundedJson: MiddlewareHandler<AppEnv> = async (c, next) => {
  await readJsonBody(c);
  await next();
};

export function teamRoutes(deps: AppDeps) {
  // Invalid params or bodies become the API's problem+json 400 naming each field.
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw badRequest('invalid request', issuesToErrors(result.error.issues));
    },
  });
  const auth = { db: deps.db, adminToken: deps.config.adminToken, authLimit: deps.config.authLimit };
  const db = deps.db;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/teams',
      tags: ['teams'],
      summary: "Teams the caller may read (every team for a global admin), with the caller's roles",
      middleware: [requireScope(auth, 'read')] as const,
      responses: { 200: { description: 'Teams.', content: { 'application/json': { schema: z.object({ items: z.array(teamViewSchema) }) } } } },
    }),
    async (c) => {
      const actor = actorOf(c);
      const rows = await listTeams(db, visibleTeams(c));
      const items = rows.map((t) => ({
        name: t.name,
        description: t.description,
        createdBy: t.created_by,
        createdAt: t.created_at.toISOString(),
        roles: [...(actor.roles.get(t.name) ?? [])].sort(),
      }));
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/teams',
      tags: ['teams'],
      summary: 'Create a team',
      middleware: [requireScope(auth, 'admin'), boundedJson] as const,
      request: { body: { required: true, content: { 'application/json': { schema: teamCreateSchema } } } },
      responses: {
        201: { description: 'The team.', content: { 'application/json': { schema: teamViewSchema } } },
        409: { description: 'A team of that name exists.', content: problemContent },
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const actor = c.get('actor')!;
      const row = await db.transaction().execute(async (trx) => {
        const created = await insertTeam(trx, { name: body.name, description: body.description ?? null, createdBy: actor });
        if (!created) throw conflict(`team ${body.name} already exists`);
        await writeAudit(trx, { actor, action: 'team.create', entityType: 'team', entityId: body.name, after: { description: created.description }, team: body.name });
        return created;
      });
      c.header('Location', `/api/teams/${row.name}/members`);
      return c.json({ name: row.name, description: row.description, createdBy: row.created_by, createdAt: row.created_at.toISOString(), roles: [] }, 201);
    },
  );

  /**
   * The team must exist (404) and the caller be its admin: reading its members, a caller outside the team
   * gets the 404 of an unknown team; changing them, 403 like every other write (docs/security.md).
   */
  async function adminOf(c: Context<AppEnv>, team: string, write: boolean): Promise<void> {
    if (!(await findTeam(db, team))) throw notFound(`team ${team} is not known`);
    if (!write) requireTeam(c, 'viewer', team, `team ${team}`);
    requireTeam(c, 'admin', team, `team ${team}`);
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/teams/{team}/members',
      tags: ['teams'],
      summary: "A team's API tokens and their roles (team admin)",
      middleware: [requireScope(auth, 'read')] as const,
      request: { params: teamParams },
      responses: {
        200: { description: 'Members.', content: { 'application/json': { schema: z.object({ team: z.string(), items: z.array(memberViewSchema) }) } } },
        404: { description: 'Unknown team, or one the caller is not in.', content: problemContent },
      },
    }),
    async (c) => {
      const { team } = c.req.valid('param');
      await adminOf(c, team, false);
      const byToken = new Map<string, { tokenId: string; tokenName: string; roles: TeamRole[] }>();
      for (const m of await listMembers(db, team)) {
        const entry = byToken.get(m.token_id) ?? { tokenId: m.token_id, tokenName: m.token_name, roles: [] };
        entry.roles.push(m.role);
        byToken.set(m.token_id, entry);
      }
      return c.json({ team, items: [...byToken.values()] }, 200);
    },
  );

  /** Sets a token's roles in a team, audited under the team. */
  async function setRoles(c: Context<AppEnv>, team: string, tokenId: string, roles: TeamRole[]) {
    await adminOf(c, team, true);
    const actor = c.get('actor')!;
    return db.transaction().execute(async (trx) => {
      const token = await trx.selectFrom('api_tokens').select(['id', 'name']).where('id', '=', tokenId).where('revoked_at', 'is', null).executeTakeFirst();
      if (!token) throw notFound(`token ${tokenId} is not known`);
      // A token without any membership acts on the default team (legacy scopes); its first membership
      // takes that away, which only a global admin may decide.
      if (!actorOf(c).globalAdmin && !(await hasMemberships(trx, tokenId))) {
        throw new ProblemError(403, 'Forbidden', `token ${token.name} has no team membership yet (it acts on the default team by its scopes); only a global admin may give it its first one`);
      }
      const before = await replaceMemberships(trx, { tokenId, team, roles, by: actor });
      // Its last membership gone, a token would act on the default team again by its scopes.
      if (!actorOf(c).globalAdmin && !(await hasMemberships(trx, tokenId))) {
        throw new ProblemError(403, 'Forbidden', `this would leave token ${token.name} in no team, acting on the default team by its scopes; only a global admin may do that (or revoke the token)`);
      }
      await writeAudit(trx, { actor, action: 'team.membership', entityType: 'token', entityId: tokenId, before: { roles: before }, after: { roles: [...roles].sort() }, team });
      return { tokenId, tokenName: token.name, roles: [...roles].sort() };
    });
  }

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/teams/{team}/members/{tokenId}',
      tags: ['teams'],
      summary: "Set an API token's roles in a team (team admin)",
      middleware: [requireScope(auth, 'write'), boundedJson] as const,
      request: { params: memberParams, body: { required: true, content: { 'application/json': { schema: membershipSetSchema } } } },
      responses: {
        200: { description: "The token's roles in the team.", content: { 'application/json': { schema: memberViewSchema } } },
        404: { description: 'Unknown team or token.', content: problemContent },
      },
    }),
    async (c) => {
      const { team, tokenId } = c.req.valid('param');
      return c.json(await setRoles(c, team, tokenId, c.req.valid('json').roles), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/teams/{team}/members/{tokenId}',
      tags: ['teams'],
      summary: 'Remove an API token from a team (team admin)',
      middleware: [requireScope(auth, 'write')] as const,
      request: { params: memberParams },
      responses: {
        200: { description: 'The token, with no roles left in the team.', content: { 'application/json': { schema: memberViewSchema } } },
        404: { description: 'Unknown team or token.', content: problemContent },
      },
    }),
    async (c) => {
      const { team, tokenId } = c.req.valid('param');
      return c.json(await setRoles(c, team, tokenId, []), 200);
    },
  );

  return app;
}
