// Teams and their memberships (issue 24): GET/POST /api/teams, GET/PUT/DELETE /api/teams/{team}/members….
// src/services/teams.ts does the work and decides who may.
import { z } from '../../domain/zod.js';
import type { TeamRow } from '../../db/repositories/teams.js';
import { TEAM_NAME_PATTERN, TEAM_NAME_RULE, TEAM_ROLES } from '../../domain/teams.js';
import { teamService } from '../../services/teams.js';
import type { AppDeps } from '../env.js';
import { actorOf, authOf, guard, json, jsonBody, newRouter, op, problemResponse } from '../router.js';
import { list, textParam } from '../schemas/common.js';

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

const teamParams = z.object({ team: teamNameSchema });
const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100).describe('Items on the page (1 to 500).'),
  cursor: textParam(100).optional().describe('nextCursor of the previous page.'),
});
/** The members list's cursor: the position of the page's last token (its name and id), longer than a team name. */
const memberPageQuery = pageQuery.extend({ cursor: textParam(1000).optional().describe('nextCursor of the previous page (opaque).') });
const nextCursor = z.string().nullable().describe('The cursor of the next page; null on the last.');
const memberParams = z.object({ team: teamNameSchema, tokenId: textParam(100) });
const tags = ['teams'];
const unknownTeamOrToken = {
  404: problemResponse(
    'Unknown team, or no live (unrevoked, unexpired) token of that id; to a team admin, also a token holding no role in a team it administers (the same answer); removing, a token that holds no role in the team.',
  ),
};

const view = (t: TeamRow, roles: readonly string[]) => ({ name: t.name, description: t.description, createdBy: t.created_by, createdAt: t.created_at.toISOString(), roles: [...roles] });

export function teamRoutes(deps: AppDeps) {
  const app = newRouter();
  const teams = teamService({ db: deps.db });
  const auth = authOf(deps);

  app.openapi(
    op(guard(auth, 'read'), {
      method: 'get',
      path: '/api/teams',
      tags,
      summary: "Teams the caller may read (every team for a global admin), with the caller's roles, by name, paged by cursor",
      request: { query: pageQuery },
      responses: { 200: json('A page of teams.', list(teamViewSchema).extend({ nextCursor })) },
    }),
    async (c) => {
      const page = await teams.list(actorOf(c), c.req.valid('query'));
      return c.json({ items: page.items.map((t) => view(t, t.roles)), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    op(guard(auth, 'admin', { body: true }), {
      method: 'post',
      path: '/api/teams',
      tags,
      summary: 'Create a team',
      request: { body: jsonBody(teamCreateSchema) },
      responses: { 201: json('The team.', teamViewSchema), 409: problemResponse('A team of that name exists.') },
    }),
    async (c) => {
      const row = await teams.create(actorOf(c), c.req.valid('json'));
      c.header('Location', `/api/teams/${row.name}/members`);
      return c.json(view(row, []), 201);
    },
  );

  app.openapi(
    op(guard(auth, 'read'), {
      method: 'get',
      path: '/api/teams/{team}/members',
      tags,
      summary: "A team's live API tokens and their roles (team admin), by token name, paged by cursor",
      request: { params: teamParams, query: memberPageQuery },
      responses: {
        200: json('A page of members.', z.object({ team: z.string(), items: z.array(memberViewSchema), nextCursor })),
        404: problemResponse('Unknown team, or one the caller is not in.'),
      },
    }),
    async (c) => {
      const { team } = c.req.valid('param');
      const page = await teams.members(actorOf(c), team, c.req.valid('query'));
      return c.json({ team, items: page.items, nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    op(guard(auth, 'write', { body: true }), {
      method: 'put',
      path: '/api/teams/{team}/members/{tokenId}',
      tags,
      summary: "Set an API token's roles in a team (team admin)",
      request: { params: memberParams, body: jsonBody(membershipSetSchema) },
      responses: { 200: json("The token's roles in the team.", memberViewSchema), ...unknownTeamOrToken },
    }),
    async (c) => {
      const { team, tokenId } = c.req.valid('param');
      return c.json(await teams.setRoles(actorOf(c), team, tokenId, c.req.valid('json').roles), 200);
    },
  );

  app.openapi(
    op(guard(auth, 'write'), {
      method: 'delete',
      path: '/api/teams/{team}/members/{tokenId}',
      tags,
      summary: 'Remove an API token from a team (team admin)',
      request: { params: memberParams },
      responses: { 200: json('The token, with no roles left in the team.', memberViewSchema), ...unknownTeamOrToken },
    }),
    async (c) => {
      const { team, tokenId } = c.req.valid('param');
      return c.json(await teams.setRoles(actorOf(c), team, tokenId, []), 200);
    },
  );

  return app;
}
