// /api/tokens (admin): issue (shown once), list (never the values), revoke. src/services/tokens.ts does the work.
import type { Context } from 'hono';
import { z } from '../../domain/zod.js';
import type { ApiToken } from '../../db/database.js';
import { parseMembership, type TeamMembership } from '../../domain/teams.js';
import { DEFAULT_TOKEN_DAYS, hashToken, LISTED_REVOKED_TOKENS, MAX_MINTER_NAMES, MAX_TOKEN_DAYS, tokenService, type MintedWith } from '../../services/tokens.js';
import { bearerToken, sameSecret } from '../auth.js';
import type { AppDeps, AppEnv } from '../env.js';
import { actorOf, authOf, guard, json, jsonBody, newRouter, op, problemResponse } from '../router.js';
import { list, pathParams, textParam } from '../schemas/common.js';

/** An e-mail address (one @, no spaces), or user:<subject> without spaces. */
const OWNER_FORMAT = /^(?:user:\S{1,254}|[^\s@]{1,64}@[^\s@]{1,190})$/;

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
    owner: z
      .string()
      .max(260)
      .regex(OWNER_FORMAT, 'must be an e-mail address, or user:<subject> for a provider that does not verify addresses')
      .optional()
      .describe(
        'The person the token is issued to, as they are named when they sign in: their e-mail address, or `user:<subject>`. ' +
          'The token is then also known by that name, so the rule that nobody approves the actions of a rule version they wrote ' +
          'sees one person behind the token and the sign-in. Leave it out for a service.',
      ),
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
    owner: z.string().nullable().describe('The person it was issued to (`user:<email>` or `user:<subject>`), or null.'),
    mintedFrom: z
      .object({ session: z.string(), issuer: z.string(), subject: z.string(), email: z.string().nullable() })
      .nullable()
      .describe(
        'The dashboard session it was minted from, directly or with a token minted from one: cutting that user off (DELETE /api/sessions) revokes it. ' +
          'Null: minted with the admin token, or with a token not minted from a session, or before this was recorded (migration 2026-12-18).',
      ),
    mintedWith: z
      .string()
      .nullable()
      .describe(
        'The id of the issued token it was minted with: revoking that token (DELETE /api/tokens/{id}) revokes this one too. ' +
          'Null: minted with the admin token or from a dashboard session, or before this was recorded (migration 2027-01-12).',
      ),
  })
  .meta({ id: 'Token', description: 'An API token (never its secret value).' });

export const tokenListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: textParam(64).optional().describe('nextCursor of the previous page.'),
  state: z.enum(['all', 'live']).default('all').describe('live: neither revoked nor expired.'),
});

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
  owner: t.owner,
  mintedFrom:
    t.session_id !== null && t.session_issuer !== null && t.session_subject !== null
      ? { session: t.session_id, issuer: t.session_issuer, subject: t.session_subject, email: t.session_email }
      : null,
  mintedWith: t.minted_with,
});

const tags = ['tokens'];

export function tokenRoutes(deps: AppDeps) {
  const app = newRouter();
  const tokens = tokenService({ db: deps.db });
  const auth = authOf(deps);

  app.openapi(
    op(guard(auth, 'admin', { body: true, invalidBody: 'the token request is not valid' }), {
      method: 'post',
      path: '/api/tokens',
      tags,
      summary: 'Issue an API token (shown once)',
      request: { body: jsonBody(tokenCreateSchema) },
      responses: {
        201: json('The token, with its secret value shown only in this answer.', tokenViewSchema.extend({ token: z.string(), note: z.string() })),
        400: problemResponse(
          'Invalid request (`errors` names each field): bad scopes, teams, owner or expiry, neither scopes nor teams, a team that does not exist, ' +
            `or an expiry under a minute or over ${MAX_TOKEN_DAYS} days away. Nothing was issued.`,
        ),
        401: problemResponse(
          'Missing, invalid, expired or revoked bearer token; or the dashboard session or token the new one would be minted with was signed out, revoked or expired since the request was authenticated. Nothing was issued.',
        ),
        409: problemResponse(
          `The token it is minted with is known by more than ${MAX_MINTER_NAMES} people behind the tokens it was minted with (the four-eyes rule keeps at most that many): mint it with a token nearer the first, or from a dashboard session. Nothing was issued.`,
        ),
        413: problemResponse('The body is larger than the limit of this route. Nothing was issued.'),
      },
    }),
    async (c) => {
      const { row, token, teams } = await tokens.issue(actorOf(c), c.req.valid('json'), await mintedWith(c));
      c.get('logger').info({ tokenId: row.id, name: row.name, scopes: row.scopes, expiresAt: row.expires_at, owner: row.owner, actor: c.get('actor') }, 'api token created');
      return c.json({ ...view(row, teams), token, note: 'Store this token now: it is shown only once.' }, 201);
    },
  );

  app.openapi(
    op(guard(auth, 'admin'), {
      method: 'get',
      path: '/api/tokens',
      tags,
      summary: 'List tokens (never their values), newest first, paged by cursor',
      request: { query: tokenListQuerySchema },
      responses: { 200: json('A page of tokens; nextCursor is null on the last page.', list(tokenViewSchema).extend({ nextCursor: z.string().nullable() })) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await tokens.list({ limit: q.limit, cursor: q.cursor, live: q.state === 'live' });
      return c.json({ items: page.items.map((t) => view(t.row, t.teams)), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    op(guard(auth, 'admin'), {
      method: 'delete',
      path: '/api/tokens/{id}',
      tags,
      summary: 'Revoke a token, and the tokens minted with it',
      description:
        'Revokes the token, and the live tokens minted with it (`mintedWith`), and those minted with them, each audited as `token.revoke`: ' +
        'a token minted with a leaked token does not outlive its revocation. Tokens minted with the admin token or from a dashboard session are not touched. ' +
        'Revocations (this and DELETE /api/sessions) take turns: one waits for the one before to commit. ' +
        `All the tree is revoked; the answer lists the first ${LISTED_REVOKED_TOKENS} and says how many (\`revokedWithTotal\`); GET /api/tokens, or the audit log's token.revoke entries, list the rest.`,
      request: { params: pathParams(['id', 'token id']) },
      responses: {
        200: json(
          'The revoked token, and the tokens revoked with it.',
          tokenViewSchema.extend({
            revokedWith: z
              .array(z.object({ id: z.string(), name: z.string() }))
              .max(LISTED_REVOKED_TOKENS)
              .describe(`The live tokens minted with it (or with those) revoked with it: the first ${LISTED_REVOKED_TOKENS}.`),
            revokedWithTotal: z.number().int().min(0).describe('How many tokens were revoked with it (all of them, listed or not).'),
          }),
        ),
        404: problemResponse('Unknown token.'),
      },
    }),
    async (c) => {
      const { row, revokedWith } = await tokens.revoke(actorOf(c), c.req.param('id'));
      const listed = revokedWith.slice(0, LISTED_REVOKED_TOKENS);
      if (revokedWith.length > 0) {
        c.get('logger').info({ tokenId: row.id, revokedWith: listed.map((t) => t.id), revokedWithTotal: revokedWith.length, actor: c.get('actor') }, 'api tokens minted with a revoked token revoked');
      }
      return c.json({ ...view(row, await tokens.teamsOf(row.id)), revokedWith: listed, revokedWithTotal: revokedWith.length }, 200);
    },
  );

  /**
   * What the request was authenticated with, as requireScope decided it: the session of its cookie when it
   * carries no bearer token, an issued token, or nothing (the admin token).
   */
  async function mintedWith(c: Context<AppEnv>): Promise<MintedWith | undefined> {
    const bearer = bearerToken(c.req.header('authorization'));
    if (bearer === undefined) {
      const session = await c.get('resolveSession')?.(c);
      return session ? { sessionId: session.id } : undefined;
    }
    return deps.config.adminToken && sameSecret(bearer, deps.config.adminToken) ? undefined : { tokenHash: hashToken(bearer) };
  }

  return app;
}
