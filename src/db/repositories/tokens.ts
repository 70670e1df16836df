// API tokens, stored by the SHA-256 of their value (never the value).
import { sql, type ExpressionBuilder } from 'kysely';
import type { ApiToken, Database } from '../database.js';
import type { Db } from './db.js';

/** The dashboard session a token was minted from (api_tokens.session_*), directly or through tokens minted from it. */
export interface TokenOrigin {
  sessionId: string;
  issuer: string;
  subject: string;
  email: string | null;
}

export async function insertToken(
  db: Db,
  t: { id: string; name: string; tokenHash: string; scopes: string[]; createdBy: string; expiresAt: Date; owner?: string | undefined; origin?: TokenOrigin | undefined; mintedWith?: string | undefined; minterNames?: readonly string[] | undefined },
): Promise<ApiToken> {
  return db
    .insertInto('api_tokens')
    .values({
      id: t.id,
      name: t.name,
      token_hash: t.tokenHash,
      scopes: t.scopes,
      created_by: t.createdBy,
      expires_at: t.expiresAt,
      owner: t.owner ?? null,
      session_id: t.origin?.sessionId ?? null,
      session_issuer: t.origin?.issuer ?? null,
      session_subject: t.origin?.subject ?? null,
      session_email: t.origin?.email ?? null,
      minted_with: t.mintedWith ?? null,
      minter_names: [...(t.minterNames ?? [])],
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Newest first, `limit` of them after the token `afterId` (the last of the previous page); `live`: not
 * revoked, not expired. An unknown `afterId` is an empty page.
 */
export async function listTokens(db: Db, f: { limit: number; afterId?: string | undefined; live?: boolean | undefined }): Promise<ApiToken[]> {
  let q = db.selectFrom('api_tokens').selectAll();
  if (f.live) q = q.where('revoked_at', 'is', null).where('expires_at', '>', new Date());
  // The cursor's own row gives the position: its created_at has microseconds a JavaScript Date loses.
  if (f.afterId !== undefined) q = q.where(sql<boolean>`(created_at, id) < (select created_at, id from api_tokens where id = ${f.afterId})`);
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
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
    .select(['id', 'name', 'scopes', 'last_used_at', 'owner', 'session_subject', 'session_email', 'minter_names'])
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .executeTakeFirst();
}

/**
 * The session origin of the live token with this hash (null columns: not minted from a session), locked
 * against revocation until the transaction ends; undefined when no such token is live (revoked since, or
 * never was: the admin token). A token minted with it inherits the origin, and a revocation of the token
 * that commits first makes the minting see it gone.
 */
export async function lockLiveTokenOrigin(db: Db, tokenHash: string) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'session_id', 'session_issuer', 'session_subject', 'session_email', 'owner', 'minter_names'])
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .forShare()
    .executeTakeFirst();
}

/**
 * Revokes the live tokens issued to one person (`api_tokens.owner`): `user:<subject>` as given, or
 * `user:<email>` in any case; those minted from a session of theirs, whatever became of the session
 * (`session_subject` the subject; by e-mail, `session_email` the address in any case, or `session_subject` a
 * subject whose sessions, live or ended and not yet swept, carried it); and those the person issued
 * (`created_by` one of `creators`, the names their sessions acted under, or the owner name; all a token
 * minted before migration 2026-12-18 has). A token minted from a stolen or misused session outlived the
 * session's revocation. Returns those revoked.
 */
export async function revokeOwnedTokens(db: Db, owner: { subject: string } | { email: string }, creators: readonly string[] = []) {
  return db
    .updateTable('api_tokens')
    .set({ revoked_at: new Date() })
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .where(ownedBy(owner, creators))
    .returning(['id', 'name', 'scopes'])
    .execute();
}

/**
 * The ids of the tokens revokeOwnedTokens would match, whatever their state (expired or revoked too): the
 * roots of the tokens minted with them, which go with them (revokeMintedWith) even when the root has expired.
 */
export async function ownedTokenIds(db: Db, owner: { subject: string } | { email: string }, creators: readonly string[] = []): Promise<string[]> {
  const rows = await db.selectFrom('api_tokens').select('id').where(ownedBy(owner, creators)).execute();
  return rows.map((r) => r.id);
}

/**
 * Each arm is looked up by index (api_tokens_owner_idx, _owner_lower_idx, _created_by_idx,
 * _created_by_lower_idx of migration 2027-01-13, _session_subject_idx and _session_email_idx of 2026-12-18),
 * so that the OR is a bitmap of index scans rather than a scan of every token ever issued.
 */
function ownedBy(owner: { subject: string } | { email: string }, creators: readonly string[]) {
  const name = 'subject' in owner ? `user:${owner.subject}` : `user:${owner.email}`;
  return (eb: ExpressionBuilder<Database, 'api_tokens'>) =>
    eb.or([
      'subject' in owner ? eb('owner', '=', name) : eb(sql<string>`lower(owner)`, '=', name.toLowerCase()),
      'subject' in owner ? eb('created_by', '=', name) : eb(sql<string>`lower(created_by)`, '=', name.toLowerCase()),
      ...(creators.length > 0 ? [eb('created_by', 'in', [...creators])] : []),
      ...('subject' in owner
        ? [eb('session_subject', '=', owner.subject)]
        : [
            eb(sql<string>`lower(session_email)`, '=', sql<string>`lower(${owner.email})`),
            // = ANY(ARRAY(...)), not IN (...): within an OR, IN would be a filter over every row, where an array
            // computed first is looked up in api_tokens_session_subject_idx like the other arms.
            sql<boolean>`session_subject = ANY(ARRAY(SELECT subject FROM auth_sessions WHERE lower(email) = lower(${owner.email})))`,
          ]),
    ]);
}

/**
 * Revokes the live tokens descended from the tokens `ids` through api_tokens.minted_with (minted with one of
 * them, or with a token minted so, at any depth), and returns them with the token each was minted with. The
 * tree is found whatever the state of its tokens: an expired or revoked token between them does not stop it
 * (a leaked token's holder could otherwise mint a short-lived token and with it a year-long one, and wait).
 * UNION (not UNION ALL) ends at a token already found, so a cycle ends too.
 */
export async function revokeMintedWith(db: Db, ids: readonly string[]) {
  if (ids.length === 0) return [];
  const now = new Date();
  type Revoked = { id: string; name: string; scopes: string[]; minted_with: string | null; revoked_at: Date | null };
  const revoked: Revoked[] = [];
  // Again until a pass revokes nothing: one statement reads the tree as of its start, and a mint that held
  // its minting token (FOR SHARE) while this waited for that row commits a token the statement cannot see;
  // the next statement sees it (read committed). Each pass revokes at least one more token, so it ends.
  for (;;) {
    const result = await sql<Revoked>`
      WITH RECURSIVE t AS (
        SELECT id FROM api_tokens WHERE minted_with = ANY(${[...ids]}::text[])
        UNION
        SELECT a.id FROM api_tokens a JOIN t ON a.minted_with = t.id
      )
      UPDATE api_tokens SET revoked_at = ${now}
      WHERE id IN (SELECT id FROM t) AND revoked_at IS NULL AND expires_at > ${now}
      RETURNING id, name, scopes, minted_with, revoked_at`.execute(db);
    if (result.rows.length === 0) return revoked;
    revoked.push(...result.rows);
  }
}

export async function touchToken(db: Db, id: string): Promise<void> {
  await db.updateTable('api_tokens').set({ last_used_at: new Date() }).where('id', '=', id).execute();
}
