// Dashboard sessions of single sign-on (the cookie side lives in src/api/session.ts): started and revoked
// with their audit entries, and looked up for each request.
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { writeAudit } from '../db/repositories/audit.js';
import { ownedTokenIds, revokeOwnedTokens } from '../db/repositories/tokens.js';
import { inTransaction } from '../db/repositories/transactions.js';
import type { TeamMembership } from '../domain/teams.js';
import {
  findLiveSession,
  insertSession,
  lockUserSessions,
  revokeOwnerSessions,
  revokeSession,
  revokeSessionsBeyond,
  sweepSessions,
  touchSession,
  type SessionOwner,
  type SessionRecord,
} from '../db/repositories/sessions.js';
import type { Actor } from './actor.js';
import { duringNoRevocation, inRevocation, LISTED_REVOKED_TOKENS, revokeMintedTree } from './tokens.js';

export type { SessionOwner };

/**
 * Stores a new session (sweeping expired and long-revoked ones) with its `session.create` audit entry
 * (naming its team roles), in one transaction. The user's live sessions from this issuer beyond the newest
 * `maxPerUser` (this one included) are revoked in it, each audited (`session.revoke`, reason `limit`): signing
 * in again and again, by hand or by a script holding the provider's password, cannot grow the table or the
 * cookies that work without end. Sign-ins of one user are serialised (an advisory lock), so concurrent ones
 * cannot both keep a session past the bound. A sign-in and a cut-off of its user (revokeUserSessions) take
 * turns (duringNoRevocation): the session is revoked by the cut-off or stored after it answered.
 */
export async function createSession(db: Kysely<Database>, s: SessionRecord, teams: readonly TeamMembership[] = [], maxPerUser = Number.POSITIVE_INFINITY): Promise<void> {
  await inTransaction(db, async (trx) => {
    await duringNoRevocation(trx);
    await sweepSessions(trx);
    await lockUserSessions(trx, s.issuer, s.subject);
    await insertSession(trx, s);
    await writeAudit(trx, { actor: s.actor, action: 'session.create', entityType: 'session', entityId: s.id, after: { subject: s.subject, groups: s.groups, scopes: s.scopes, teams } });
    if (Number.isFinite(maxPerUser)) {
      for (const old of await revokeSessionsBeyond(trx, { issuer: s.issuer, subject: s.subject, keep: s.id }, maxPerUser)) {
        await writeAudit(trx, { actor: old.actor, action: 'session.revoke', entityType: 'session', entityId: old.id, after: { reason: 'limit', limit: maxPerUser, by: s.id } });
      }
    }
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

/** Session ids, and names they acted under, an audit entry lists at most (the counts are always exact). */
const AUDITED_SESSION_IDS = 100;

/**
 * An admin cuts a user off: revokes every live session of that user (by subject or e-mail), every live
 * API token issued to them under that name (`api_tokens.owner` `user:<subject>` or `user:<email>`), every
 * live token minted from a session of theirs, live or ended, directly or through tokens minted from it
 * (`api_tokens.session_*`), and every live token they issued themselves before tokens recorded that
 * (`created_by`: the names their live sessions acted under), with one `session.revoke_user` audit entry naming
 * the admin, the user, the sessions, the names they acted under and the tokens (the first 100 of each, and how
 * many: `revoked`, `actorsTotal`, `tokensTotal`), and a `token.revoke`
 * entry per token, in one transaction (a revocation: inRevocation, one at a time); and the live tokens minted
 * with any token of theirs (expired or revoked too), at any depth (revokeMintedTree). Answers all of them.
 * The user can still sign in again at the provider: disable the account there too.
 *
 * A token being minted from one of these sessions or tokens holds it locked (src/services/tokens.ts): the
 * revocation waits for it, and the statement that revokes it cannot see the token minted meanwhile. So tokens
 * are revoked again until nothing more is found; a minting that comes later finds its session or token
 * revoked and is refused.
 */
export async function revokeUserSessions(db: Kysely<Database>, actor: Actor, owner: SessionOwner) {
  return inRevocation(db, async (trx) => {
    const revoked = await revokeOwnerSessions(trx, owner);
    const creators = [...new Set(revoked.map((r) => r.actor))];
    const tokens: Awaited<ReturnType<typeof revokeOwnedTokens>> = [];
    for (;;) {
      const more = await revokeOwnedTokens(trx, owner, creators);
      if (more.length === 0) break;
      tokens.push(...more);
    }
    for (const t of tokens) {
      await writeAudit(trx, { actor: actor.name, action: 'token.revoke', entityType: 'token', entityId: t.id, before: { name: t.name, scopes: t.scopes }, after: { reason: 'owner cut off' } });
    }
    // And the tokens minted with those (api_tokens.minted_with), and with them: a token the user minted with
    // a token of theirs records no session of theirs, and outlived the cut-off.
    // at any depth, through expired or revoked tokens between (an expired one does not stop it).
    // The roots are all the tokens that are theirs, expired or revoked before too: a token minted with their
    // token outlived the cut-off once that token had expired.
    const minted = await revokeMintedTree(trx, actor, await ownedTokenIds(trx, owner, creators));
    tokens.push(...minted.map(({ id, name, scopes }) => ({ id, name, scopes })));
    const by = 'subject' in owner ? 'subject' : 'email';
    await writeAudit(trx, {
      actor: actor.name,
      action: 'session.revoke_user',
      entityType: 'user',
      entityId: 'subject' in owner ? owner.subject : owner.email,
      after: {
        by,
        revoked: revoked.length,
        sessions: revoked.slice(0, AUDITED_SESSION_IDS).map((r) => r.id),
        // The names the sessions acted under, bounded like the ids: by e-mail, any number of subjects at the
        // provider may have carried the address (unverified), each its own user:<subject>.
        actors: creators.slice(0, AUDITED_SESSION_IDS),
        actorsTotal: creators.length,
        tokens: tokens.slice(0, LISTED_REVOKED_TOKENS).map((t) => t.id),
        tokensTotal: tokens.length,
      },
    });
    return { sessions: revoked, tokens };
  });
}
