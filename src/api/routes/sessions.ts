// DELETE /api/sessions (admin): cut a signed-in user off by revoking every live dashboard session of theirs,
// named by the provider's subject or by e-mail. src/services/sessions.ts does the work and audits it.
import { z } from '../../domain/zod.js';
import { revokeUserSessions } from '../../services/sessions.js';
import { LISTED_REVOKED_TOKENS } from '../../services/tokens.js';
import type { AppDeps } from '../env.js';
import { actorOf, authOf, guard, json, newRouter, op } from '../router.js';
import { textParam } from '../schemas/common.js';

export const sessionOwnerQuerySchema = z
  .object({
    subject: textParam(255).optional().describe("The user's subject (`sub`) at the OIDC provider, as the audit log's session.create entries record it."),
    email: textParam(320).optional().describe('The e-mail address the provider gave for the user (compared in any case, verified or not).'),
  })
  .superRefine((q, ctx) => {
    if ((q.subject === undefined) === (q.email === undefined)) ctx.addIssue({ code: 'custom', path: ['subject'], message: 'give subject or email, one of them' });
  });

export const revokedSessionsSchema = z
  .object({
    revoked: z.number().int().describe('How many live sessions were revoked (0 when the user had none).'),
    sessions: z
      .array(z.object({ id: z.string(), actor: z.string(), subject: z.string() }))
      .max(LISTED_REVOKED_TOKENS)
      .describe(`The sessions revoked: the first ${LISTED_REVOKED_TOKENS} (\`revoked\` says how many).`),
    tokens: z
      .array(z.object({ id: z.string(), name: z.string() }))
      .max(LISTED_REVOKED_TOKENS)
      .describe(
        'The live API tokens issued to the user under that name (`owner` user:<subject> or user:<email>), or minted from a session of theirs, or minted with such a token, ' +
          `revoked with the sessions: the first ${LISTED_REVOKED_TOKENS} (\`tokensTotal\` says how many; all of them are revoked).`,
      ),
    tokensTotal: z.number().int().min(0).describe('How many API tokens were revoked (all of them, listed or not).'),
  })
  .meta({ id: 'RevokedSessions', description: 'The sessions and owned tokens an admin revoked.' });

export function sessionRoutes(deps: AppDeps) {
  const app = newRouter();

  app.openapi(
    op(guard(authOf(deps), 'admin'), {
      method: 'delete',
      path: '/api/sessions',
      tags: ['sign-in'],
      summary: "Revoke every live dashboard session of a user, and the tokens issued to them (by subject or e-mail)",
      description:
        'Each session is refused (401) from the next request on, on every API replica, and cannot be renewed: the user must sign in again at the provider, so disable a compromised account there too. Audited as `session.revoke_user` (its `sessions` and `actors`, the names the sessions acted under, list the first ' + String(LISTED_REVOKED_TOKENS) + '; `revoked` and `actorsTotal` say how many). The live API tokens issued to the user under the same name (`owner` `user:<subject>`, or `user:<email>` in any case) are revoked in the same transaction (`token.revoke`), and so are the live tokens minted from a session of the user, whether that session is still live, signed out or timed out, directly or with a token minted from one (`mintedFrom`; by e-mail: a session that carried the address, or of a subject whose sessions did): a token minted from a stolen session does not outlive it. So are the live tokens minted with any token revoked so (`mintedWith`), and with those. Tokens minted before that was recorded (migration 2026-12-18) are found only by their creator\'s name (`createdBy` the name a revoked live session acted under, or that name). Other tokens are not touched: revoke them with DELETE /api/tokens/{id}. ' +
        `All are revoked; the answer lists the first ${LISTED_REVOKED_TOKENS} sessions and tokens and says how many (\`revoked\`, \`tokensTotal\`). ` +
        'Revocations (this and DELETE /api/tokens/{id}) take turns: one waits for the one before to commit. A sign-in of the user at the same moment takes turns with it too: its session is revoked by it (and listed), or stored after it answered.',
      request: { query: sessionOwnerQuerySchema },
      responses: { 200: json('The sessions revoked.', revokedSessionsSchema) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const owner = q.subject !== undefined ? { subject: q.subject } : { email: q.email! };
      const { sessions: all, tokens: allTokens } = await revokeUserSessions(deps.db, actorOf(c), owner);
      const sessions = all.slice(0, LISTED_REVOKED_TOKENS);
      const tokens = allTokens.slice(0, LISTED_REVOKED_TOKENS);
      c.get('logger').info(
        { actor: c.get('actor'), by: 'subject' in owner ? 'subject' : 'email', revoked: all.length, sessionIds: sessions.map((r) => r.id), tokenIds: tokens.map((t) => t.id), tokensTotal: allTokens.length },
        'user sessions revoked',
      );
      return c.json(
        {
          revoked: all.length,
          sessions: sessions.map((r) => ({ id: r.id, actor: r.actor, subject: r.subject })),
          tokens: tokens.map((t) => ({ id: t.id, name: t.name })),
          tokensTotal: allTokens.length,
        },
        200,
      );
    },
  );

  return app;
}
