// API tokens: issued with an expiry (shown once, stored hashed), listed, revoked; and the bearer check.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { ApiToken, Database } from '../db/database.js';
import { writeAudit } from '../db/repositories/audit.js';
import type { Db } from '../db/repositories/db.js';
import { lockLiveSessionOrigin } from '../db/repositories/sessions.js';
import { findTeam, insertMemberships, membershipsOf, tokenMemberships } from '../db/repositories/teams.js';
import { advisoryXactLock, advisoryXactLockSharedWithin, inTransaction, type FixedLock } from '../db/repositories/transactions.js';
import { gateScope, parseMembership, type TeamMembership } from '../domain/teams.js';
import { findLiveTokenByHash, findToken, insertToken, listTokens, lockLiveTokenOrigin, revokeMintedWith, revokeToken, touchToken, type TokenOrigin } from '../db/repositories/tokens.js';
import type { Actor, Scope } from './actor.js';
import { ConflictError, NotFoundError, RevocationUnderWayError, ServiceError, ValidationError } from './errors.js';

export const TOKEN_PREFIX = 'shk_';

/** Every issued token expires: by default after 90 days, never later than a year. */
export const DEFAULT_TOKEN_DAYS = 90;
export const MAX_TOKEN_DAYS = 366;
const MIN_TOKEN_MS = 60_000;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A new secret: 32 random bytes, base64url, with a recognisable prefix (secret scanners). */
export const newTokenValue = () => `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;

/** The expiry of a token created at `now`, or a 400 naming the field when it is out of bounds. */
export function tokenExpiry(body: { expiresIn?: string | undefined; expiresAt?: string | undefined }, now: Date): Date {
  const max = now.getTime() + MAX_TOKEN_DAYS * UNIT_MS.d;
  let at: number;
  let field: string;
  if (body.expiresAt !== undefined) {
    at = Date.parse(body.expiresAt);
    field = 'expiresAt';
  } else if (body.expiresIn !== undefined) {
    at = now.getTime() + Number(body.expiresIn.slice(0, -1)) * UNIT_MS[body.expiresIn.slice(-1) as keyof typeof UNIT_MS];
    field = 'expiresIn';
  } else {
    return new Date(now.getTime() + DEFAULT_TOKEN_DAYS * UNIT_MS.d);
  }
  if (at - now.getTime() < MIN_TOKEN_MS) throw new ValidationError('the token would expire at once', [{ path: field, message: 'must be at least one minute from now' }]);
  if (at > max) throw new ValidationError(`tokens live at most ${MAX_TOKEN_DAYS} days`, [{ path: field, message: `must be at most ${MAX_TOKEN_DAYS} days from now` }]);
  return new Date(at);
}

export interface TokenRequest {
  name: string;
  /** Optional with `teams` (then the scope the roles need). */
  scopes?: Scope[] | undefined;
  /** Team roles as team:role (validated by the request schema). */
  teams?: string[] | undefined;
  expiresIn?: string | undefined;
  expiresAt?: string | undefined;
  /** The person it is issued to: an e-mail address or `user:<name>` (validated by the request schema). */
  owner?: string | undefined;
}

/**
 * A token owner as the person is named when they sign in (src/api/oidc.ts): `user:<email>` for an address
 * (lower-cased), or the `user:<sub>` given as is.
 */
export const ownerName = (owner: string): string => (owner.startsWith('user:') ? owner : `user:${owner.toLowerCase()}`);

/**
 * What a token is minted with, when not the admin token: the dashboard session (its id), or an issued token
 * (the hash of its value). The new token records the session it comes from, directly or through the token
 * (which inherited it in turn), so that cutting the session's user off revokes it too (revokeUserSessions).
 */
export type MintedWith = { sessionId: string } | { tokenHash: string };

/**
 * The session origin a token minted with `by` records, read under a lock that holds off the revocation of the
 * session or token until the new token is stored (then the revocation finds it); a 401 when that session or
 * token was revoked or expired since the request was authenticated.
 */
/** Names a token inherits from the token it is minted with, at most (a mint that would inherit more is refused, 409). */
export const MAX_MINTER_NAMES = 20;

async function originOf(db: Db, by: MintedWith | undefined): Promise<{ origin?: TokenOrigin; mintedWith?: string; minterNames?: string[] }> {
  if (by === undefined) return {};
  if ('sessionId' in by) {
    const s = await lockLiveSessionOrigin(db, by.sessionId);
    if (!s) throw new ServiceError(401, 'Unauthorized', 'the dashboard session has expired or was signed out: sign in again');
    return { origin: { sessionId: s.id, issuer: s.issuer, subject: s.subject, email: s.email } };
  }
  const t = await lockLiveTokenOrigin(db, by.tokenHash);
  if (!t) throw new ServiceError(401, 'Unauthorized', 'token is invalid, expired or revoked');
  // The token it is minted with: revoking that one revokes this one (revoke), as a leaked token's holder
  // could otherwise mint another and keep it past the revocation. And the person behind that token (its
  // owner, and whom it inherited so): the four-eyes rule knows the new token by them too, as it knows a
  // token minted from a session by the session's user.
  // Refused past the bound rather than cut: each minter names the new token's owner, so dropping the farthest
  // names let a chain of 21 mints shed its first person and approve her own shell command.
  const minterNames = [...new Set([...(t.owner !== null ? [t.owner] : []), ...t.minter_names])];
  if (minterNames.length > MAX_MINTER_NAMES) {
    throw new ConflictError(
      `a token minted with this token would be known by ${minterNames.length} people behind the tokens it was minted with, more than the ${MAX_MINTER_NAMES} kept for the four-eyes rule: mint it with a token nearer the first (or from a dashboard session)`,
    );
  }
  if (t.session_id === null || t.session_issuer === null || t.session_subject === null) return { mintedWith: t.id, minterNames };
  return { origin: { sessionId: t.session_id, issuer: t.session_issuer, subject: t.session_subject, email: t.session_email }, mintedWith: t.id, minterNames };
}

/** Ids of revoked tokens an answer or an audit entry lists at most (its total is always given): a tree minted with a leaked token has no bound. */
export const LISTED_REVOKED_TOKENS = 100;

/**
 * The advisory lock of revocations (inRevocation): a FixedLock, so that no name hashed to a lock key (a job
 * id of a user who may write jobs) can hold it. Before, it was the name `api_tokens:revocation` hashed, and a
 * job whose id was made to hash alike held off every revocation and sign-in while it was changed.
 */
const REVOCATION_LOCK: FixedLock = { fixed: 1 };

/**
 * Runs `work` in a transaction that first takes the lock every revocation of tokens takes (DELETE
 * /api/tokens/{id}, DELETE /api/sessions), so that revocations take turns. Two at once locked the rows of
 * overlapping trees in orders no statement controls (the rows a cut-off owns, then the trees minted with
 * them, pass after pass; a revocation its token, then its tree), and each could wait for a row the other
 * held: Postgres broke the deadlock by failing one (40P01, answered 500). Taken before any row, the lock
 * leaves no such cycle between revocations: the second waits, holding nothing, and then finds what the first
 * revoked already revoked. A sign-in takes it shared, first (duringNoRevocation); nothing else takes it. A
 * minting holds one row (its token or session) and waits for none a revocation holds, so a revocation that
 * waits for a minting does not wait in turn for itself. Revocations are rare admin actions: taking turns
 * costs nothing that matters.
 */
export function inRevocation<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return inTransaction(db, async (trx) => {
    await advisoryXactLock(trx, REVOCATION_LOCK);
    return work(trx);
  });
}

/**
 * Holds off revocations (inRevocation) until the transaction ends, waiting for one under way: what a sign-in
 * does before it stores its session. A cut-off's statement cannot see a session stored by a transaction not
 * yet committed: before, a sign-in stored its session, the cut-off revoked every other session of the user
 * and answered, and the sign-in then committed a session the audit log showed created before the cut-off
 * (test/security/sign-in-cut-off-race.test.ts). Now a cut-off waits for the sign-ins in flight and revokes
 * their sessions, and a sign-in that comes during a cut-off stores its session after it. Shared: sign-ins
 * do not wait for each other. Taken first, holding nothing: the sign-in waits for no row meanwhile.
 * It waits REVOCATION_WAIT_MS at most, then throws RevocationUnderWayError (the sign-in is answered 503 with
 * Retry-After): a revocation of a large tree runs for long, and each sign-in waiting for it held a pool
 * connection until the statement timeout (30 s), so a few sign-ins at that moment took the API's pool, alert
 * intake included, with them (test/security/sign-in-cut-off-race.test.ts).
 */
export async function duringNoRevocation(trx: Transaction<Database>): Promise<void> {
  if (!(await advisoryXactLockSharedWithin(trx, REVOCATION_LOCK, REVOCATION_WAIT_MS))) throw new RevocationUnderWayError(REVOCATION_WAIT_MS);
}

/** How long a sign-in waits for a revocation under way (duringNoRevocation) before it is answered 503. */
export const REVOCATION_WAIT_MS = 5_000;

/**
 * Revokes the live tokens minted with the tokens `roots`, and with those at any depth, whatever the state of
 * the tokens between (revokeMintedWith), each audited as `token.revoke` by `actor` (`reason: minted with a
 * revoked token`, and the token it was minted with); returns them. Within a revocation (inRevocation), after
 * the roots themselves were revoked. A minting with a token of the tree holds that token (FOR SHARE) until the
 * new token is stored: the statement that waited for that row cannot see the token stored meanwhile, so
 * revokeMintedWith revokes again until a pass finds nothing (test/security/token-revoke-race.test.ts).
 */
export async function revokeMintedTree(trx: Transaction<Database>, actor: Actor, roots: readonly string[]) {
  const revoked = await revokeMintedWith(trx, roots);
  for (const t of revoked) {
    await writeAudit(trx, {
      actor: actor.name,
      action: 'token.revoke',
      entityType: 'token',
      entityId: t.id,
      before: { name: t.name, scopes: t.scopes },
      after: { revokedAt: t.revoked_at, reason: 'minted with a revoked token', mintedWith: t.minted_with },
    });
  }
  return revoked;
}

export function tokenService(deps: { db: Kysely<Database> }) {
  const { db } = deps;
  return {
    /**
     * A new token: its row and its value (the only time the value exists outside the caller). `by`: what the
     * request was authenticated with (none for the admin token), whose session origin the token records.
     */
    async issue(actor: Actor, req: TokenRequest, by?: MintedWith): Promise<{ row: ApiToken; token: string; teams: TeamMembership[] }> {
      const expiresAt = tokenExpiry(req, new Date());
      const memberships = uniqueMemberships(req.teams ?? []);
      const scopes = req.scopes ?? [gateScope(memberships) ?? 'read'];
      const token = newTokenValue();
      const row = await inTransaction(db, async (trx) => {
        for (const [i, m] of memberships.entries()) {
          if (!(await findTeam(trx, m.team))) throw new ValidationError(`team ${m.team} does not exist`, [{ path: `teams.${i}`, message: `no team named "${m.team}"` }]);
        }
        const owner = req.owner !== undefined ? ownerName(req.owner) : undefined;
        const { origin, mintedWith, minterNames } = await originOf(trx, by);
        const created = await insertToken(trx, { id: randomUUID(), name: req.name, tokenHash: hashToken(token), scopes, createdBy: actor.name, expiresAt, owner, origin, mintedWith, minterNames });
        await insertMemberships(trx, created.id, memberships, actor.name);
        const teams = memberships.map((m) => `${m.team}:${m.role}`);
        await writeAudit(trx, { actor: actor.name, action: 'token.create', entityType: 'token', entityId: created.id, after: { name: created.name, scopes: created.scopes, teams, expiresAt: created.expires_at, owner: created.owner, mintedFrom: origin ?? null, mintedWith: mintedWith ?? null } });
        return created;
      });
      return { row, token, teams: memberships };
    },

    /**
     * A page of tokens, newest first, with their team roles, and the cursor of the next page (null on the
     * last). Tokens are never deleted (their audit names them), so a CI minting one per run made one
     * answer of every token ever issued.
     */
    async list(f: { limit: number; cursor?: string | undefined; live?: boolean | undefined }): Promise<{ items: { row: ApiToken; teams: TeamMembership[] }[]; nextCursor: string | null }> {
      const rows = await listTokens(db, { limit: f.limit + 1, afterId: f.cursor, live: f.live });
      const page = rows.slice(0, f.limit);
      const all = await membershipsOf(db, page.map((r) => r.id));
      return {
        items: page.map((row) => ({ row, teams: all.filter((m) => m.token_id === row.id).map(({ team, role }) => ({ team, role })) })),
        nextCursor: rows.length > f.limit ? page[page.length - 1]!.id : null,
      };
    },

    /** A token's team roles. */
    teamsOf: (tokenId: string): Promise<TeamMembership[]> => tokenMemberships(db, tokenId),

    /**
     * Revokes a token, and the live tokens minted with it, and those minted with them at any depth, through
     * expired or revoked ones too (each audited), in one transaction (a revocation: see inRevocation);
     * answers the token and those revoked with it, all of them (the route lists the first
     * LISTED_REVOKED_TOKENS). Revoking a revoked one revokes what is still live of those minted with it. A
     * minting with a token holds its row (FOR SHARE) until the new token is stored: see revokeMintedTree.
     */
    async revoke(actor: Actor, id: string): Promise<{ row: ApiToken; revokedWith: { id: string; name: string }[] }> {
      return inRevocation(db, async (trx) => {
        const current = await findToken(trx, id, { forUpdate: true });
        if (!current) throw new NotFoundError(`token ${id} is not known`);
        let row = current;
        if (!current.revoked_at) {
          row = await revokeToken(trx, id);
          await writeAudit(trx, { actor: actor.name, action: 'token.revoke', entityType: 'token', entityId: id, before: { name: current.name, scopes: current.scopes }, after: { revokedAt: row.revoked_at } });
        }
        const revokedWith = (await revokeMintedTree(trx, actor, [id])).map((t) => ({ id: t.id, name: t.name }));
        return { row, revokedWith };
      });
    },
  };
}

/**
 * The actor of a live issued token (with the token's id), or undefined; its last use is recorded at most
 * once a minute. A token is also known by the names of the person behind it (the four-eyes rule): its owner,
 * and the user of the dashboard session it was minted from, directly or through tokens minted from one
 * (`user:<subject>`, and `user:<email>` verified or not, as a session's own aliases), and the owner of the
 * token it was minted with (minter_names). Without the latter two, an admin signed in, or holding a token
 * issued to her, could mint herself a token without an owner and approve her own shell command with it.
 */
export async function authenticateToken(db: Kysely<Database>, token: string): Promise<(Actor & { tokenId: string }) | undefined> {
  const row = await findLiveTokenByHash(db, hashToken(token));
  if (!row) return undefined;
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) await touchToken(db, row.id);
  const names = [row.owner, row.session_subject !== null ? `user:${row.session_subject}` : null, row.session_email !== null ? `user:${row.session_email}` : null, ...row.minter_names];
  const aliases = [...new Set(names.filter((n): n is string => n !== null && n !== undefined))];
  return { name: `token:${row.name}`, scopes: row.scopes, teams: await tokenMemberships(db, row.id), tokenId: row.id, ...(aliases.length > 0 ? { aliases } : {}) };
}

/** `team:role` strings (already validated by the request schema), each once. */
function uniqueMemberships(teams: readonly string[]): TeamMembership[] {
  const seen = new Map<string, TeamMembership>();
  for (const t of teams) {
    const m = parseMembership(t);
    if (!('error' in m)) seen.set(`${m.team}:${m.role}`, m);
  }
  return [...seen.values()];
}
