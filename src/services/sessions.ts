// Dashboard sessions of single sign-on (the cookie side lives in src/api/session.ts): started and revoked
// with their audit entries, and looked up for each request.
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { writeAudit } from '../db/repositories/audit.js';
import { inTransaction } from '../db/repositories/transactions.js';
import type { TeamMembership } from '../domain/teams.js';
import { findLiveSession, insertSession, revokeSession, sweepSessions, touchSession, type SessionRecord } from '../db/repositories/sessions.js';

/** Stores a new session (sweeping expired and long-revoked ones) with its `session.create` audit entry (naming its team roles), in one transaction. */
export async function createSession(db: Kysely<Database>, s: SessionRecord, teams: readonly TeamMembership[] = []): Promise<void> {
  await inTransaction(db, async (trx) => {
    await sweepSessions(trx);
    await insertSession(trx, s);
    await writeAudit(trx, { actor: s.actor, action: 'session.create', entityType: 'session', entityId: s.id, after: { subject: s.subject, groups: s.groups, scopes: s.scopes, teams } });
  });
}

/** Revokes the session with this secret hash (sign-out) and audits it; undefined when none was live. */
export async function endSession(db: Kysely<Database>, secretHash: string) {
  const row = await revokeSession(db, secretHash);
  if (row) await writeAudit(db, { actor: row.actor, action: 'session.revoke', entityType: 'session', entityId: row.id });
  return row;
}

/** The live session with this secret hash from this issuer (not revoked, within both expiries). */
export const liveSession = (db: Kysely<Database>, secretHash: string, issuer: string) => findLiveSession(db, secretHash, issuer);

/** Records a session's use (callers do it when `stale`: at most once a minute). */
export const touchLiveSession = (db: Kysely<Database>, id: string) => touchSession(db, id);
