import { sql } from 'kysely';
import { advisoryKey } from './transactions.js';
import type { Db } from './db.js';

// Dashboard sessions (src/api/session.ts). Every time comparison uses the database's clock, so API replicas
// with drifting clocks agree on when a session expires.

export interface SessionRecord {
  id: string;
  secretHash: string;
  issuer: string;
  subject: string;
  actor: string;
  email: string | null;
  name: string | null;
  scopes: string[];
  groups: string[];
  idTokenSealed: string | null;
  maxAgeSeconds: number;
  idleTimeoutSeconds: number;
}

/**
 * Stores a session. Its creation time is the database clock when the row is inserted (one reading for both
 * `created_at` and `expires_at`), not the transaction's start: sign-ins of one user insert in the order of
 * their lock (lockUserSessions), and revokeSessionsBeyond keeps the newest by it.
 */
export async function insertSession(db: Db, s: SessionRecord): Promise<void> {
  await sql`
    insert into auth_sessions (id, secret_hash, issuer, subject, actor, email, name, scopes, groups, id_token_sealed, created_at, expires_at, idle_timeout_seconds)
    select ${s.id}, ${s.secretHash}, ${s.issuer}, ${s.subject}, ${s.actor}, ${s.email}, ${s.name}, ${s.scopes}::text[], ${JSON.stringify(s.groups)}::jsonb,
      ${s.idTokenSealed}, c.t, c.t + ${s.maxAgeSeconds} * interval '1 second', ${s.idleTimeoutSeconds}
    from (select clock_timestamp() as t) c`.execute(db);
}

/** Deletes sessions that expired or were revoked more than a day ago (their audit entries stay). */
export async function sweepSessions(db: Db): Promise<void> {
  await db.deleteFrom('auth_sessions').where(sql<boolean>`coalesce(revoked_at, expires_at) < now() - interval '1 day'`).execute();
}

/**
 * The live session with this secret hash from this issuer: not revoked, before its absolute expiry and
 * used within its idle timeout. `stale` says whether last_seen_at is worth refreshing (at most once a
 * minute, and at least ten times per idle timeout).
 */
export async function findLiveSession(db: Db, secretHash: string, issuer: string) {
  return db
    .selectFrom('auth_sessions')
    .select(['id', 'actor', 'subject', 'email', 'name', 'scopes', 'groups', 'expires_at'])
    .select(sql<boolean>`last_seen_at < now() - least(60, idle_timeout_seconds / 10.0) * interval '1 second'`.as('stale'))
    .where('secret_hash', '=', secretHash)
    .where('issuer', '=', issuer)
    .where('revoked_at', 'is', null)
    .where(sql<boolean>`expires_at > now()`)
    .where(sql<boolean>`last_seen_at + idle_timeout_seconds * interval '1 second' > now()`)
    .executeTakeFirst();
}

/**
 * The live session with this id (as findLiveSession), locked against revocation until the transaction ends:
 * what a token minted from it records (api_tokens.session_*). A revocation that commits first makes it
 * undefined; one that comes after waits, and then finds the token.
 */
export async function lockLiveSessionOrigin(db: Db, id: string) {
  return db
    .selectFrom('auth_sessions')
    .select(['id', 'issuer', 'subject', 'email'])
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .where(sql<boolean>`expires_at > now()`)
    .where(sql<boolean>`last_seen_at + idle_timeout_seconds * interval '1 second' > now()`)
    .forShare()
    .executeTakeFirst();
}

export async function touchSession(db: Db, id: string): Promise<void> {
  await db.updateTable('auth_sessions').set({ last_seen_at: sql<Date>`now()` }).where('id', '=', id).execute();
}

/** Revokes the session with this secret hash; undefined when there was none not already revoked. */
export async function revokeSession(db: Db, secretHash: string) {
  return db
    .updateTable('auth_sessions')
    .set({ revoked_at: sql<Date>`now()` })
    .where('secret_hash', '=', secretHash)
    .where('revoked_at', 'is', null)
    .returning(['id', 'actor', 'id_token_sealed'])
    .executeTakeFirst();
}

/** Holds, until the transaction ends, the lock that serialises the sign-ins of one user of one issuer. */
export async function lockUserSessions(db: Db, issuer: string, subject: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(${advisoryKey(JSON.stringify(['auth_sessions', issuer, subject]))})`.execute(db);
}

/**
 * Revokes the live sessions of one user of one issuer beyond the newest `max`, never the session `keep`
 * (counted among the newest); returns those revoked.
 */
export async function revokeSessionsBeyond(db: Db, user: { issuer: string; subject: string; keep: string }, max: number) {
  const beyond = db
    .selectFrom('auth_sessions')
    .select('id')
    .where('issuer', '=', user.issuer)
    .where('subject', '=', user.subject)
    .where('id', '<>', user.keep)
    .where('revoked_at', 'is', null)
    .where(sql<boolean>`expires_at > now()`)
    .where(sql<boolean>`last_seen_at + idle_timeout_seconds * interval '1 second' > now()`)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .offset(Math.max(0, max - 1));
  return db.updateTable('auth_sessions').set({ revoked_at: sql<Date>`now()` }).where('id', 'in', beyond).returning(['id', 'actor']).execute();
}

/** Whose sessions: the provider's subject (exact), or the e-mail address it gave (any case). */
export type SessionOwner = { subject: string } | { email: string };

/**
 * Revokes every live session (not revoked, within both expiries) of one user, whatever its issuer;
 * returns the sessions revoked.
 */
export async function revokeOwnerSessions(db: Db, owner: SessionOwner) {
  let q = db
    .updateTable('auth_sessions')
    .set({ revoked_at: sql<Date>`now()` })
    .where('revoked_at', 'is', null)
    .where(sql<boolean>`expires_at > now()`)
    .where(sql<boolean>`last_seen_at + idle_timeout_seconds * interval '1 second' > now()`);
  q = 'subject' in owner ? q.where('subject', '=', owner.subject) : q.where(sql<boolean>`lower(email) = lower(${owner.email})`);
  return q.returning(['id', 'actor', 'subject']).execute();
}
