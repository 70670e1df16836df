// API tokens, stored by the SHA-256 of their value (never the value).
import { sql } from 'kysely';
import type { ApiToken } from '../database.js';
import type { Db } from './db.js';

export async function insertToken(
  db: Db,
  t: { id: string; name: string; tokenHash: string; scopes: string[]; createdBy: string; expiresAt: Date; owner?: string | undefined },
): Promise<ApiToken> {
  return db
    .insertInto('api_tokens')
    .values({ id: t.id, name: t.name, token_hash: t.tokenHash, scopes: t.scopes, created_by: t.createdBy, expires_at: t.expiresAt, owner: t.owner ?? null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listTokens(db: Db): Promise<ApiToken[]> {
  return db.selectFrom('api_tokens').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
}

export async function findToken(db: Db, id: string, opts: { forUpdate?: boolean } = {}): Promise<ApiToken | undefined> {
  let q = db.selectFrom('api_tokens').selectAll().where('id', '=', id);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function revokeToken(db: Db, id: string): Promise<ApiToken> {
  return db.updateTable('api_tokens').set({ revoked_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** The live (not revoked, not expired) token with this hash. */
export async function findLiveTokenByHash(db: Db, tokenHash: string) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'scopes', 'last_used_at', 'owner'])
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .executeTakeFirst();
}

/**
 * Revokes the live tokens issued to one person (`api_tokens.owner`): `user:<subject>` as given, or
 * `user:<email>` in any case; and those the person issued (`created_by` one of `creators`, the names their
 * sessions acted under, or the owner name): a token minted from a stolen or misused session outlived the
 * session's revocation. Returns those revoked.
 */
export async function revokeOwnedTokens(db: Db, owner: { subject: string } | { email: string }, creators: readonly string[] = []) {
  const name = 'subject' in owner ? `user:${owner.subject}` : `user:${owner.email}`;
  return db
    .updateTable('api_tokens')
    .set({ revoked_at: new Date() })
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .where((eb) =>
      eb.or([
        'subject' in owner ? eb('owner', '=', name) : eb(sql<string>`lower(owner)`, '=', name.toLowerCase()),
        'subject' in owner ? eb('created_by', '=', name) : eb(sql<string>`lower(created_by)`, '=', name.toLowerCase()),
        ...(creators.length > 0 ? [eb('created_by', 'in', [...creators])] : []),
      ]),
    )
    .returning(['id', 'name', 'scopes'])
    .execute();
}

export async function touchToken(db: Db, id: string): Promise<void> {
  await db.updateTable('api_tokens').set({ last_used_at: new Date() }).where('id', '=', id).execute();
}
