// API tokens: issued with an expiry (shown once, stored hashed), listed, revoked; and the bearer check.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ApiToken, Database } from '../db/database.js';
import { writeAudit } from '../db/repositories/audit.js';
import { inTransaction } from '../db/repositories/transactions.js';
import { findLiveTokenByHash, findToken, insertToken, listTokens, revokeToken, touchToken } from '../db/repositories/tokens.js';
import type { Actor, Scope } from './actor.js';
import { NotFoundError, ValidationError } from './errors.js';

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
  scopes: Scope[];
  expiresIn?: string | undefined;
  expiresAt?: string | undefined;
}

export function tokenService(deps: { db: Kysely<Database> }) {
  const { db } = deps;
  return {
    /** A new token: its row and its value (the only time the value exists outside the caller). */
    async issue(actor: Actor, req: TokenRequest): Promise<{ row: ApiToken; token: string }> {
      const expiresAt = tokenExpiry(req, new Date());
      const token = newTokenValue();
      const row = await inTransaction(db, async (trx) => {
        const created = await insertToken(trx, { id: randomUUID(), name: req.name, tokenHash: hashToken(token), scopes: req.scopes, createdBy: actor.name, expiresAt });
        await writeAudit(trx, { actor: actor.name, action: 'token.create', entityType: 'token', entityId: created.id, after: { name: created.name, scopes: created.scopes, expiresAt: created.expires_at } });
        return created;
      });
      return { row, token };
    },

    list: () => listTokens(db),

    /** Revokes a token; revoking a revoked one changes nothing. */
    async revoke(actor: Actor, id: string): Promise<ApiToken> {
      return inTransaction(db, async (trx) => {
        const current = await findToken(trx, id, { forUpdate: true });
        if (!current) throw new NotFoundError(`token ${id} is not known`);
        if (current.revoked_at) return current;
        const revoked = await revokeToken(trx, id);
        await writeAudit(trx, { actor: actor.name, action: 'token.revoke', entityType: 'token', entityId: id, before: { name: current.name, scopes: current.scopes }, after: { revokedAt: revoked.revoked_at } });
        return revoked;
      });
    },
  };
}

/** The actor of a live issued token, or undefined; its last use is recorded at most once a minute. */
export async function authenticateToken(db: Kysely<Database>, token: string): Promise<Actor | undefined> {
  const row = await findLiveTokenByHash(db, hashToken(token));
  if (!row) return undefined;
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) await touchToken(db, row.id);
  return { name: `token:${row.name}`, scopes: row.scopes };
}
