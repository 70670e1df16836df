import { createHash, timingSafeEqual } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import ipaddr from 'ipaddr.js';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/database.js';
import { hasScope, type Scope } from '../services/actor.js';
import { authenticateToken, hashToken } from '../services/tokens.js';
import { gateScope, type TeamMembership } from '../domain/teams.js';
import type { AppEnv } from './env.js';
import { ProblemError, forbidden, unauthorized } from './problem.js';

export { hasScope, hashToken, type Scope };

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

// ---- failed-authentication limit ---------------------------------------------------------------------

export interface AuthLimitSettings {
  /** Failed bearer authentications one source may make per window; the next request is answered 429. */
  maxFailures: number;
  windowSeconds: number;
  /** Socket addresses of reverse proxies whose X-Forwarded-For names the client. */
  trustedProxies: readonly string[];
}

export const DEFAULT_AUTH_LIMIT: AuthLimitSettings = { maxFailures: 10, windowSeconds: 60, trustedProxies: [] };

/** Sources remembered at once; beyond it the least recently seen is forgotten (memory stays bounded). */
export const AUTH_LIMIT_MAX_SOURCES = 10_000;

/**
 * Counts failed bearer authentications per source in a fixed window. A source over the limit is answered
 * 429 with Retry-After until its window ends, before any token is looked at (a valid one too, so guesses
 * cannot be interleaved with real calls). The sources live in an LRU of {@link AUTH_LIMIT_MAX_SOURCES}
 * entries (lru-cache), so a spray of addresses cannot grow memory; IPv6 sources count per /64, the block
 * one host usually controls.
 */
export class AuthFailureLimiter {
  private readonly sources = new LRUCache<string, { failures: number; resetAt: number }>({ max: AUTH_LIMIT_MAX_SOURCES });
  settings: AuthLimitSettings;

  constructor(
    settings: AuthLimitSettings = DEFAULT_AUTH_LIMIT,
    private readonly now: () => number = Date.now,
  ) {
    this.settings = settings;
  }

  /** Seconds until `source` may try again, or 0 when it is not blocked. */
  retryAfter(source: string): number {
    const entry = this.sources.get(source);
    const now = this.now();
    if (!entry || now >= entry.resetAt || entry.failures < this.settings.maxFailures) return 0;
    return Math.max(1, Math.ceil((entry.resetAt - now) / 1000));
  }

  fail(source: string): void {
    const now = this.now();
    const entry = this.sources.get(source);
    if (!entry || now >= entry.resetAt) this.sources.set(source, { failures: 1, resetAt: now + this.settings.windowSeconds * 1000 });
    else entry.failures += 1;
  }

  /** Sources currently remembered (for tests of the bound). */
  get size(): number {
    return this.sources.size;
  }
}

/**
 * One object per API app. Route groups are built separately from the same deps, and some pass only
 * { db, adminToken }; the app's database handle is the one object they all share, so it keys the object.
 * `settings` (the app's config), when given, replaces what it was made with.
 */
function perApp<S, T extends { settings: S }>(make: (settings?: S) => T): (db: object, settings?: S) => T {
  const byApp = new WeakMap<object, T>();
  return (db, settings) => {
    let it = byApp.get(db);
    if (!it) {
      it = make(settings);
      byApp.set(db, it);
    } else if (settings) {
      it.settings = settings;
    }
    return it;
  };
}

/** The failed-authentication limiter of the app whose database handle is `db`. */
export const authLimiterFor = perApp((settings?: AuthLimitSettings) => new AuthFailureLimiter(settings));

/** A source key: the address itself, an IPv6 address by its /64, an IPv4-mapped IPv6 address as IPv4. */
export function sourceKey(address: string): string {
  if (!ipaddr.isValid(address)) return address.slice(0, 64);
  let addr = ipaddr.parse(address);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

const normalise = (address: string): string => {
  if (!ipaddr.isValid(address)) return address;
  const addr = ipaddr.parse(address);
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address().toString() : addr.toString();
};

/**
 * The client address of a request: the socket's peer, unless that peer is a trusted proxy, in which case
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy (entries further left are the
 * client's own say). Requests without a socket (in-process `app.request`) are `unknown`.
 */
export function sourceAddress(c: Context, trustedProxies: readonly string[]): string {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    peer = undefined;
  }
  if (!peer) return 'unknown';
  const trusted = new Set(trustedProxies.map(normalise));
  if (!trusted.has(normalise(peer))) return peer;
  const hops = (c.req.header('x-forwarded-for') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]!);
    if (hop === undefined) return peer; // a malformed chain: fall back to the proxy itself
    if (!trusted.has(normalise(hop))) return hop;
  }
  return peer;
}

/**
 * An X-Forwarded-For entry's address: an IP, or one with the port some proxies append (`203.0.113.7:51234`,
 * `[2001:db8::1]:443`, as Azure Application Gateway writes them); undefined for anything else. Without the
 * port taken off, every client behind such a proxy fell back to the proxy's one count, where one client's
 * guesses locked out all of them.
 */
function hopAddress(hop: string): string | undefined {
  if (ipaddr.isValid(hop)) return hop;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(hop);
  const ip = m?.[1] ?? m?.[2];
  return ip !== undefined && Number(m![3]) <= 65_535 && ipaddr.isValid(ip) ? ip : undefined;
}

/** Throws 429 (with Retry-After) when the request's source is blocked; returns its key otherwise. */
function checkBlocked(c: Context, limiter: AuthFailureLimiter): string {
  const source = sourceKey(sourceAddress(c, limiter.settings.trustedProxies));
  const wait = limiter.retryAfter(source);
  if (wait > 0) {
    c.header('Retry-After', String(wait));
    throw new ProblemError(429, 'Too Many Requests', `too many failed authentications from this address; try again in ${wait} s`, { limit: 'failed-authentications' });
  }
  return source;
}

// ---- per-caller request budget ------------------------------------------------------------------------
//
// A token bucket per authenticated caller (an issued token, a dashboard session, or the bootstrap
// SELFHEAL_ADMIN_TOKEN, see requireScope). Hand-written on lru-cache, because the kept libraries do not fit: rate-limiter-flexible's
// memory limiter and hono-rate-limiter's MemoryStore count fixed windows in maps that cap neither how many
// callers they hold, and hono-rate-limiter is a middleware of its own, while the caller is known only
// inside requireScope. What is left is a few lines of arithmetic: lru-cache (as for the failed-
// authentication limit) holds at most CALLER_BUDGET_MAX_CALLERS buckets and forgets one once it has been
// idle long enough to be full again, which changes nothing; past the cap the caller seen least recently is
// forgotten early, which at worst hands it a full bucket sooner than it earned one.

export interface CallerBudgetSettings {
  /** Requests a caller may send at once (the bucket's size); 0 turns the budget off. */
  burst: number;
  /** Requests the bucket gains per second. */
  perSecond: number;
}

export const DEFAULT_CALLER_BUDGET: CallerBudgetSettings = { burst: 100, perSecond: 20 };

/** Callers tracked at once; beyond it the least recently seen is forgotten (memory stays bounded). */
export const CALLER_BUDGET_MAX_CALLERS = 10_000;

/** What an expensive operation (a backtest) costs against the budget; an ordinary request costs 1. */
export const BACKTEST_REQUEST_COST = 10;

export class CallerBudget {
  private buckets: LRUCache<string, { tokens: number; at: number }>;
  private current: CallerBudgetSettings;

  constructor(
    settings: CallerBudgetSettings = DEFAULT_CALLER_BUDGET,
    private readonly now: () => number = Date.now,
  ) {
    this.current = settings;
    this.buckets = this.newBuckets();
  }

  get settings(): CallerBudgetSettings {
    return this.current;
  }

  /** New settings start every caller afresh (with a full bucket). */
  set settings(next: CallerBudgetSettings) {
    if (next.burst === this.current.burst && next.perSecond === this.current.perSecond) return;
    this.current = next;
    this.buckets = this.newBuckets();
  }

  private newBuckets() {
    const { burst, perSecond } = this.current;
    // Idle this long, a bucket is full again: forgetting it is the same as keeping it.
    const ttl = Math.max(1, Math.ceil((Math.max(burst, 1) / perSecond) * 1000));
    return new LRUCache<string, { tokens: number; at: number }>({ max: CALLER_BUDGET_MAX_CALLERS, ttl, ttlResolution: 0, perf: { now: this.now } });
  }

  /**
   * Takes `cost` requests (at most the whole burst) from `caller`'s bucket. Returns 0 when they were
   * there, otherwise the seconds until they will be; a refused request takes nothing.
   */
  take(caller: string, cost = 1): number {
    const { burst, perSecond } = this.current;
    if (burst <= 0) return 0;
    const need = Math.min(Math.max(cost, 1), burst);
    const now = this.now();
    const bucket = this.buckets.get(caller);
    const tokens = bucket ? Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond) : burst;
    if (tokens < need) return Math.max(1, Math.ceil((need - tokens) / perSecond));
    this.buckets.set(caller, { tokens: tokens - need, at: now });
    return 0;
  }

  /** Callers currently tracked (for tests of the bound); buckets already full again are dropped first. */
  get size(): number {
    this.buckets.purgeStale();
    return this.buckets.size;
  }
}

/** The request budget of the app whose database handle is `db`. */
export const callerBudgetFor = perApp((settings?: CallerBudgetSettings) => new CallerBudget(settings));

/** The caller the bootstrap SELFHEAL_ADMIN_TOKEN is charged to (never the key of an issued token or a session). */
export const ADMIN_TOKEN_CALLER = 'admin-token';

/**
 * Charges an authenticated request to its caller (`token:<id>`, `session:<id>`, `admin-token`); throws
 * 429 with Retry-After when the caller's budget is spent. Called before the route does any work.
 */
export function chargeCaller(c: Context, budget: CallerBudget, caller: string, cost = 1): void {
  const wait = budget.take(caller, cost);
  if (wait > 0) {
    c.header('Retry-After', String(wait));
    const { burst, perSecond } = budget.settings;
    throw new ProblemError(429, 'Too Many Requests', `this caller sent more requests than its budget (a burst of ${burst}, ${perSecond} more per second); try again in ${wait} s`, { limit: 'caller-budget' });
  }
}

// ---- bearer tokens -------------------------------------------------------------------------------------

export interface AuthDeps {
  db: Kysely<Database>;
  adminToken: string | undefined;
  /** The app's failed-authentication limit (config.authLimit); absent → the app's limiter as configured elsewhere. */
  authLimit?: AuthLimitSettings | undefined;
  /** The app's per-caller request budget (config.callerBudget); absent → the app's budget as configured elsewhere. */
  callerBudget?: CallerBudgetSettings | undefined;
}

/**
 * Bearer tokens: the bootstrap SELFHEAL_ADMIN_TOKEN, or tokens issued by POST /api/tokens (stored hashed,
 * each with an expiry). Sets `actor` and `scopes`; answers 401 without a valid token (missing, unknown,
 * revoked and expired alike), 403 when the scope is too small, and 429 to a source that failed too often
 * or to a caller past its request budget (each request costs `cost` of it, charged before the scope check).
 * Also sets `teamRoles`, the principal's team memberships (the team checks of src/services/team-access.ts).
 */
export function requireScope(deps: AuthDeps, needed: Scope, cost = 1): MiddlewareHandler<AppEnv> {
  const limiter = authLimiterFor(deps.db, deps.authLimit);
  const budget = callerBudgetFor(deps.db, deps.callerBudget);
  return async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    // Bearer guesses are limited per source; a session cookie is a 256-bit random id, checked in Postgres.
    const source = token === undefined ? undefined : checkBlocked(c, limiter);
    let actor: string | undefined;
    let aliases: string[] = [];
    let caller: string | undefined;
    // Whom the lines' shares count the request against (src/api/caller-share.ts): the caller, except that
    // every session of one user is that one user (each sign-in is a session of its own).
    let principal: string | undefined;
    let scopes: Scope[] = [];
    let memberships: TeamMembership[] = [];
    if (token === undefined) {
      // No bearer token: the dashboard's single sign-on session cookie, if any (src/api/session.ts checks
      // its expiry and, on writes, CSRF).
      const session = await c.get('resolveSession')?.(c);
      if (!session) throw unauthorized('Authorization: Bearer <token> is required');
      actor = session.actor;
      aliases = sessionAliases(session);
      caller = `session:${session.id}`;
      principal = `user-sessions:${session.subject}`;
      scopes = session.scopes;
      memberships = session.memberships;
    } else if (deps.adminToken && sameSecret(token, deps.adminToken)) {
      // The operator's break-glass token has a budget of its own like every caller. It is the one credential
      // nothing can revoke short of a restart with new configuration, so a leaked or looping one must not
      // flood the API and the database without end; and budgets are per caller, so however spent it is, it
      // can still cut off a flooding token or session, and a flooding caller cannot spend it.
      actor = 'admin-token';
      caller = ADMIN_TOKEN_CALLER;
      scopes = ['admin'];
    } else {
      const found = await authenticateToken(deps.db, token);
      if (found) {
        actor = found.name;
        aliases = [...(found.aliases ?? [])];
        caller = `token:${found.tokenId}`;
        scopes = found.scopes as Scope[];
        memberships = [...(found.teams ?? [])];
      }
    }
    if (!actor) {
      if (source !== undefined) limiter.fail(source);
      throw unauthorized('token is invalid, expired or revoked');
    }
    if (caller !== undefined) chargeCaller(c, budget, caller, cost);
    // Team roles lift the scope gate (an editor of a team may call the routes that change); which objects
    // the principal may touch is then decided by the services (src/services/team-access.ts).
    const gate = gateScope(memberships);
    if (gate && !scopes.includes(gate)) scopes = [...scopes, gate];
    if (!hasScope(scopes, needed)) throw forbidden(`this operation needs the "${needed}" scope; the token has ${scopes.join(', ') || 'none'}`);
    c.set('actor', actor);
    // Whom the request is charged to (`token:<id>`, `session:<id>`, `admin-token`): work kept per caller keys on it.
    if (caller !== undefined) c.set('caller', caller);
    if (caller !== undefined) c.set('principal', principal ?? caller);
    if (aliases.length > 0) c.set('actorAliases', aliases);
    c.set('scopes', scopes);
    c.set('teamRoles', memberships);
    await next();
  };
}

/**
 * The other names a signed-in user is, or was, recorded under: `user:<sub>`, and `user:<email>` whether or
 * not the provider verified it (a user is named by a verified email, else by the subject, and sessions
 * begun before that rule named them by an unverified one). Only ever used to refuse (the four-eyes rule),
 * never to grant.
 */
function sessionAliases(session: { actor: string; subject: string; email: string | null }): string[] {
  const names = [`user:${session.subject}`, ...(session.email ? [`user:${session.email}`] : [])];
  return names.filter((n) => n !== session.actor);
}

/**
 * The METRICS_TOKEN check of GET /metrics, under the same failed-authentication limit as /api (a wrong
 * token counts as a failure of its source). Nothing to do when no token is configured.
 */
export function checkMetricsToken(c: Context, deps: { db: object; token: string | undefined; authLimit?: AuthLimitSettings | undefined }): void {
  if (deps.token === undefined) return;
  const limiter = authLimiterFor(deps.db, deps.authLimit);
  const sent = bearerToken(c.req.header('authorization'));
  if (sent === undefined) throw unauthorized('GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
  const source = checkBlocked(c, limiter);
  if (!sameSecret(sent, deps.token)) {
    limiter.fail(source);
    throw unauthorized('the metrics token is not METRICS_TOKEN');
  }
}
