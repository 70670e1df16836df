import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { AppEnv } from './app.js';
import { forbidden, unauthorized } from './problem.js';

export type Scope = 'read' | 'write' | 'admin';
const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}

/**
 * Bearer tokens: the bootstrap SELFHEAL_ADMIN_TOKEN, or tokens issued by POST /api/tokens (stored hashed).
 * Sets `actor` and `scopes`; answers 401 without a valid token, 403 when the scope is too small.
 */
export function requireScope(deps: { db: Kysely<Database>; adminToken: string | undefined }, needed: Scope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    let actor: string | undefined;
    let scopes: Scope[] = [];
    if (token === undefined) {
      // No bearer token: the dashboard's single sign-on session cookie, if any (src/api/session.ts checks
      // its expiry and, on writes, CSRF).
      const session = await c.get('resolveSession')?.(c);
      if (!session) throw unauthorized('Authorization: Bearer <token> is required');
      actor = session.actor;
      scopes = session.scopes;
    } else if (deps.adminToken && sameSecret(token, deps.adminToken)) {
      actor = 'admin-token';
      scopes = ['admin'];
    } else {
      const row = await deps.db
        .selectFrom('api_tokens')
        .select(['id', 'name', 'scopes', 'last_used_at'])
        .where('token_hash', '=', hashToken(token))
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (row) {
        actor = `token:${row.name}`;
        scopes = row.scopes as Scope[];
        if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
          await deps.db.updateTable('api_tokens').set({ last_used_at: new Date() }).where('id', '=', row.id).execute();
        }
      }
    }
    if (!actor) throw unauthorized('token is invalid or revoked');
    const best = Math.max(0, ...scopes.map((s) => RANK[s] ?? 0));
    if (best < RANK[needed]) throw forbidden(`this operation needs the "${needed}" scope; the token has ${scopes.join(', ') || 'none'}`);
    c.set('actor', actor);
    c.set('scopes', scopes);
    await next();
  };
}
