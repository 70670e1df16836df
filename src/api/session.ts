// Dashboard sessions of single sign-on: the browser holds a random secret in an `HttpOnly; Secure;
// SameSite=Lax` cookie named with the `__Host-` prefix; Postgres holds the session under the secret's
// SHA-256 (like API tokens), so the table cannot be replayed as credentials. A session has an absolute
// and an idle expiry, both checked against the database's clock; signing out revokes it server-side.
//
// Cookie-authenticated writes are checked for cross-site request forgery here (hand-written, because
// hono/csrf checks only form content types, trusting CORS for the rest, and would refuse the CLI's
// bearer-token POSTs that carry no Origin): on POST/PUT/PATCH/DELETE with the session cookie,
// - `Sec-Fetch-Site`, when the browser sends it, must be `same-origin`;
// - `Origin`, when sent, must be the dashboard's public origin (from OIDC_REDIRECT_URL);
// - `X-CSRF-Token` must be HMAC-SHA256(session secret, "selfheal csrf v1"): the page reads it from
//   GET /auth/session (same-origin JSON, unreadable cross-site) and sends it on every write. It is
//   derived, not stored, so nothing at rest can produce it, and it cannot be turned back into the secret.
// SameSite=Lax alone is not enough: it lets pages of the same *site* (another port or subdomain) send the
// cookie; the token and the origin checks stop them. Bearer-token requests carry no cookie authority and
// need none of this.
//
// The idle timeout measures the person, not the page: a request the dashboard makes by itself (a timed
// refresh, marked `X-Selfheal-Background: 1`) is authenticated like any other (an expired, idle or revoked
// session is still refused with 401) but does not record a use, so a tab left open on a page that polls
// does not keep its session alive. The header is not trusted for anything: it can only keep a request from
// extending a session, never extend one or widen what it may do, so a forged header (or one stripped) gains
// nothing.
//
// The ID token is kept only sealed (AES-256-GCM) under a key derived from the session secret, for the
// `id_token_hint` of RP-initiated logout: the database alone cannot open it.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Kysely } from 'kysely';
import type { Config, SsoRole } from '../config.js';
import type { Database } from '../db/database.js';
import { teamRolesOf, type TeamMembership } from '../domain/teams.js';
import { SCOPE_RANK } from '../services/actor.js';
import { createSession, endSession as revokeSession, liveSession, touchLiveSession } from '../services/sessions.js';
import type { AppEnv, SessionActor, SessionResolver } from './env.js';
import { hashToken, sameSecret, type Scope } from './auth.js';
import { forbidden, unauthorized } from './problem.js';

/** Cookie names without their `__Host-` prefix (hono/cookie adds it and enforces Secure, Path=/, no Domain). */
export const SESSION_COOKIE = 'selfheal-session';
export const CSRF_HEADER = 'X-CSRF-Token';
/** Marks a request the dashboard made by itself (a timed refresh): it does not count as use (idle timeout). */
export const BACKGROUND_HEADER = 'X-Selfheal-Background';

const SECRET_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A new random secret for a cookie: 32 bytes, base64url (43 characters). */
export const newSecret = (): string => randomBytes(32).toString('base64url');

/** A value derived from a secret for one purpose (CSRF token, OIDC state/nonce/PKCE verifier, sealing key). */
export const derive = (secret: string, purpose: string): Buffer => createHmac('sha256', secret).update(`selfheal ${purpose} v1`).digest();

export const csrfTokenFor = (secret: string): string => derive(secret, 'csrf').toString('base64url');

export type { SessionActor, SessionResolver };

export interface NewSession {
  issuer: string;
  subject: string;
  actor: string;
  email: string | null;
  name: string | null;
  scopes: Scope[];
  groups: string[];
  /** Team roles the groups give (issue 24), recorded in the audit entry. */
  teams: TeamMembership[];
  idToken: string | undefined;
}

/**
 * Stores a session (audited) and sets its cookie; returns the session's public id. Expired and long-revoked
 * rows are swept at the same time. A session the browser already held is revoked (audited) first: signing in
 * again, as the same user or another one on a shared machine, leaves no live session behind the cookie it
 * overwrites. A user keeps at most SESSION_MAX_PER_USER live sessions: the oldest beyond it are revoked.
 */
export async function startSession(c: Context<AppEnv>, db: Kysely<Database>, config: Config, s: NewSession): Promise<string> {
  const { maxAgeSeconds, idleTimeoutSeconds, maxPerUser } = config.sso.session;
  const previous = getCookie(c, SESSION_COOKIE, 'host');
  if (previous !== undefined && SECRET_FORMAT.test(previous)) await revokeSession(db, hashToken(previous));
  const secret = newSecret();
  const id = randomUUID();
  const { teams, ...record } = s;
  await createSession(db, {
    ...record,
    id,
    secretHash: hashToken(secret),
    idTokenSealed: s.idToken ? seal(secret, s.idToken) : null,
    maxAgeSeconds,
    idleTimeoutSeconds,
  }, teams, maxPerUser);
  setCookie(c, SESSION_COOKIE, secret, { prefix: 'host', httpOnly: true, sameSite: 'Lax', maxAge: maxAgeSeconds });
  return id;
}

/** Clears the session cookie in the answer. */
export const clearSessionCookie = (c: Context<AppEnv>) => deleteCookie(c, SESSION_COOKIE, { prefix: 'host', httpOnly: true, sameSite: 'Lax' });

/**
 * Revokes the request's session (sign-out) and clears its cookie. Returns what RP-initiated logout needs,
 * or undefined when the request had no session to revoke.
 */
export async function endSession(c: Context<AppEnv>, db: Kysely<Database>): Promise<{ id: string; actor: string; idToken: string | undefined } | undefined> {
  const secret = getCookie(c, SESSION_COOKIE, 'host');
  clearSessionCookie(c);
  if (secret === undefined || !SECRET_FORMAT.test(secret)) return undefined;
  const row = await revokeSession(db, hashToken(secret));
  if (!row) return undefined;
  return { id: row.id, actor: row.actor, idToken: row.id_token_sealed ? unseal(secret, row.id_token_sealed) : undefined };
}

/**
 * Whether the request carries the cookie of a live session that still has a role under the current
 * OIDC_ROLE_MAP. Unlike the resolver it records no use and ends nothing: GET /auth/login asks it of
 * navigations another site made, which must not keep a session alive either.
 */
export async function holdsLiveSession(c: Context<AppEnv>, deps: { db: Kysely<Database>; config: Config }): Promise<boolean> {
  const oidc = deps.config.sso.oidc;
  const secret = getCookie(c, SESSION_COOKIE, 'host');
  if (secret === undefined || oidc === undefined || !SECRET_FORMAT.test(secret)) return false;
  const row = await liveSession(deps.db, hashToken(secret), oidc.issuerUrl);
  if (!row) return false;
  const groups = row.groups as string[];
  return globalRolesOf(groups, oidc.roleMap).length > 0 || teamRolesOf(groups, oidc.teamRoleMap).length > 0;
}

/** The global roles `groups` give under `map` (OIDC_ROLE_MAP `group=role`), each once, highest first. */
export function globalRolesOf(groups: readonly string[], map: ReadonlyMap<string, SsoRole>): SsoRole[] {
  return [...new Set(groups.flatMap((g) => map.get(g) ?? []))].sort((a, b) => SCOPE_RANK[b] - SCOPE_RANK[a]);
}

/**
 * The resolver `requireScope` uses when a request has no bearer token (set on every request by createApp).
 * Roles, global and team, are worked out from the session's groups under the current OIDC_ROLE_MAP on every
 * request: a mapping removed takes effect at once, not when the session ends.
 */
export function sessionResolver(deps: { db: Kysely<Database>; config: Config }): SessionResolver {
  const oidc = deps.config.sso.oidc;
  return async (c) => {
    const secret = getCookie(c, SESSION_COOKIE, 'host');
    if (secret === undefined || oidc === undefined) return undefined;
    checkSubresource(c);
    const expired = () => unauthorized('the dashboard session has expired or was signed out: sign in again');
    if (!SECRET_FORMAT.test(secret)) throw expired();
    const row = await liveSession(deps.db, hashToken(secret), oidc.issuerUrl);
    if (!row) throw expired();
    const csrfToken = csrfTokenFor(secret);
    if (!SAFE_METHODS.has(c.req.method)) checkForgery(c, oidc.publicOrigin, csrfToken);
    // A background request does not extend the idle timeout (see the top of this file): it can only shorten
    // the session's life, so the header needs no check of its own.
    if (row.stale && c.req.header(BACKGROUND_HEADER) !== '1') await touchLiveSession(deps.db, row.id);
    const groups = row.groups as string[];
    const scopes: Scope[] = globalRolesOf(groups, oidc.roleMap);
    const memberships = teamRolesOf(groups, oidc.teamRoleMap);
    if (scopes.length === 0 && memberships.length === 0) {
      // Ended here, not only refused: sign-out finds nothing live to end (it answers as for any 401), and
      // a replica still on the old map (a rolling deploy) or the map restored would honour it again.
      await revokeSession(deps.db, hashToken(secret));
      throw unauthorized('none of your groups is given a role here any more (OIDC_ROLE_MAP changed): your session was ended; sign in again');
    }
    return { id: row.id, actor: row.actor, scopes, memberships, subject: row.subject, email: row.email, name: row.name, expiresAt: row.expires_at, csrfToken };
  };
}

/**
 * A read another origin's page makes with the session cookie (an <img> or <script> of a page of the same
 * site, which SameSite=Lax lets carry it; an <iframe>) is refused before the session is looked up: it cannot
 * read the answer, but it would be charged to the session's request budget, so a page left open elsewhere
 * could keep the user's own dashboard answered 429, and would count as the person's use. Nothing of ours reads
 * that way: the dashboard fetches from its own origin, and a link from elsewhere (an approval link in Slack,
 * an /api URL pasted) is a top-level navigation (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`).
 * A client that sends no fetch metadata (not a browser, or a very old one) is not concerned.
 */
function checkSubresource(c: Context<AppEnv>): void {
  const site = c.req.header('sec-fetch-site');
  if (site !== 'same-site' && site !== 'cross-site') return;
  // Browsers send the three headers together; what is missing is not held against the request.
  const topLevel = (c.req.header('sec-fetch-mode') ?? 'navigate') === 'navigate' && (c.req.header('sec-fetch-dest') ?? 'document') === 'document';
  if (SAFE_METHODS.has(c.req.method) && !topLevel) {
    throw forbidden(`a ${site} ${(c.req.header('sec-fetch-dest') ?? 'request').slice(0, 40)} may not use the dashboard session; only its own pages and links followed to it may`);
  }
}

function checkForgery(c: Context<AppEnv>, publicOrigin: string, csrfToken: string): void {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') throw forbidden(`a ${site} request may not use the dashboard session (Sec-Fetch-Site: ${site.slice(0, 40)})`);
  const origin = c.req.header('origin');
  // A form posted from a page served with Referrer-Policy: no-referrer (the approval link's confirmation)
  // carries `Origin: null`: the browser's own Sec-Fetch-Site still says same-origin, and the CSRF token is
  // still required below. An opaque origin anywhere else (a sandboxed frame on another site) is refused.
  const opaqueSameOrigin = origin === 'null' && site === 'same-origin';
  if (origin !== undefined && !opaqueSameOrigin && origin !== publicOrigin) throw forbidden(`a request from ${origin.slice(0, 200)} may not use the dashboard session; only ${publicOrigin} may`);
  // A form of our own pages (the approval link's confirmation) carries the same token as a field.
  const sent = c.req.header(CSRF_HEADER) ?? c.get('csrfFormToken');
  if (!sent) throw forbidden(`a ${c.req.method} with the dashboard session needs the ${CSRF_HEADER} header (from GET /auth/session)`);
  if (!sameSecret(sent, csrfToken)) throw forbidden(`the ${CSRF_HEADER} header does not belong to this session`);
}

function seal(secret: string, text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', derive(secret, 'seal'), iv);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url')).join('.');
}

function unseal(secret: string, sealed: string): string | undefined {
  try {
    const [iv, tag, body] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
    const decipher = createDecipheriv('aes-256-gcm', derive(secret, 'seal'), iv!);
    decipher.setAuthTag(tag!);
    return Buffer.concat([decipher.update(body!), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
