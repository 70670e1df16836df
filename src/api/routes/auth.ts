import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { z } from '../../domain/zod.js';
import { errorForLog, RevocationUnderWayError } from '../../services/errors.js';
import { authLimiterFor, callerBudgetFor, chargeCaller, sourceAddress, sourceKey } from '../auth.js';
import type { AppDeps, AppEnv } from '../env.js';
import { createOidcClient, SignInError } from '../oidc.js';
import { notFound, ProblemError, unauthorized } from '../problem.js';
import { json, newRouter, op, open, problemResponse } from '../router.js';
import { clearSessionCookie, endSession, holdsLiveSession, newSecret, startSession, type SessionActor } from '../session.js';

/** The sign-in cookie (name without its `__Host-` prefix): the secret state, nonce and PKCE verifier derive from. */
const SIGN_IN_COOKIE = 'selfheal-signin';
/** How long a sign-in at the provider may take. */
const SIGN_IN_SECONDS = 600;

const NO_STORE = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' };
const PAGE_HEADERS = { ...NO_STORE, 'Content-Security-Policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", 'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY' };

/**
 * Dashboard sign-in (src/api/session.ts, src/api/oidc.ts):
 * - `GET /auth/config`: which sign-ins the dashboard offers (public).
 * - `GET /auth/login` → the provider (→ /ui instead for another site's navigation while a session is live);
 *   `GET /auth/callback` ← the provider: sets the session cookie and goes to /ui.
 * - `GET /auth/session`: who is signed in, and the CSRF token the page sends on writes (`X-CSRF-Token`).
 * - `POST /auth/logout`: revokes the session (CSRF-checked), and returns the provider's logout URL if it has one.
 */
const tags = ['sign-in'];

export function authRoutes(deps: AppDeps) {
  const app = newRouter();
  const { sso } = deps.config;
  const client = sso.oidc ? createOidcClient(sso.oidc) : undefined;
  // GET /auth/session spends the session's request budget like an /api call (src/api/auth.ts).
  const budget = callerBudgetFor(deps.db, deps.config.callerBudget);
  // A callback refused after the provider was asked (its token endpoint: a made-up code, an ID token failing
  // validation, a user with no mapped group) counts as a failed authentication of its source, as a wrong
  // bearer token does, and a source that keeps failing is stopped before the provider is asked again: nobody
  // can spend the client's quota at the provider (or mint errors in its logs) at the price of a GET. One
  // refused here first (a state that does not match the sign-in cookie, no such cookie, the provider's
  // `error`) asked nobody and does not count: any page can make a visitor's browser send those (a popup
  // sent to /auth/login, then to a forged callback), and they would lock the visitor's address, and
  // everyone behind the same NAT or proxy, out of the API and of sign-in.
  const limiter = authLimiterFor(deps.db, deps.config.authLimit);

  app.openapi(
    op(open(), {
      method: 'get',
      path: '/auth/config',
      tags,
      summary: 'Which sign-ins the dashboard offers',
      responses: { 200: json('Token sign-in, and the single sign-on provider if one is configured.', z.object({ tokenSignIn: z.boolean(), sso: z.object({ providerName: z.string(), loginUrl: z.string() }).nullable() })) },
    }),
    (c) =>
      c.json({ tokenSignIn: sso.tokenSignIn, sso: client ? { providerName: client.providerName, loginUrl: '/auth/login' } : null }, 200, { 'Cache-Control': 'no-store' }),
  );

  app.openapi(
    op(open(), {
      method: 'get',
      path: '/auth/login',
      tags,
      summary: 'Start single sign-on: redirects to the provider',
      responses: {
        302: { description: 'To the provider.' },
        303: { description: 'To /ui, no sign-in started: a navigation from another site (`Sec-Fetch-Site: cross-site` or `same-site`) while the browser holds a live session.' },
        404: problemResponse('Single sign-on is not configured.'),
      },
    }),
    async (c) => {
      if (!client) throw notFound('single sign-on is not configured (OIDC_ISSUER_URL is unset)');
      // Another site can send the browser here (a link, a popup): with the user's session at the provider the
      // sign-in completes without a word, and the callback replaces the live session (startSession revokes
      // it), so every open dashboard tab is left with a dead session and CSRF token. Such a navigation goes
      // to the dashboard instead while a session is live; a same-origin click, an address typed (`none`), a
      // browser that sends no Sec-Fetch-Site, or any request without a live session still signs in.
      const site = c.req.header('sec-fetch-site');
      if ((site === 'cross-site' || site === 'same-site') && (await holdsLiveSession(c, deps))) return c.redirect('/ui', 303);
      const secret = newSecret();
      let url: URL;
      try {
        url = await client.authorizationUrl(secret);
      } catch (err) {
        return refused(c, err);
      }
      setCookie(c, SIGN_IN_COOKIE, secret, { prefix: 'host', httpOnly: true, sameSite: 'Lax', maxAge: SIGN_IN_SECONDS });
      return c.redirect(url.href, 302);
    },
  );

  app.openapi(
    op(open(), { method: 'get', path: '/auth/callback', tags, summary: 'Where the provider returns: sets the session cookie and goes to the dashboard', responses: { 303: { description: 'Signed in: to /ui.' }, 400: { description: 'Sign-in refused: an HTML page saying why.', content: { 'text/html': { schema: z.string() } } }, 429: { description: 'Too many failed sign-ins from this address (`SELFHEAL_AUTH_MAX_FAILURES`): an HTML page, and `Retry-After`; the provider is not asked.', content: { 'text/html': { schema: z.string() } } }, 503: { description: 'A revocation of sessions or tokens (DELETE /api/sessions, DELETE /api/tokens/{id}) ran longer than a sign-in waits for it (5 s): an HTML page, and `Retry-After`; no session was stored, sign in again.', content: { 'text/html': { schema: z.string() } } } } }),
    async (c) => {
      if (!client) throw notFound('single sign-on is not configured (OIDC_ISSUER_URL is unset)');
      const secret = getCookie(c, SIGN_IN_COOKIE, 'host');
      deleteCookie(c, SIGN_IN_COOKIE, { prefix: 'host', httpOnly: true, sameSite: 'Lax' });
      if (!secret) {
        return refused(c, new SignInError(400, 'Sign-in expired', `This sign-in was not started in this browser, or took longer than ${SIGN_IN_SECONDS / 60} minutes. Start again.`, 'no_sign_in_cookie'));
      }
      const source = sourceKey(sourceAddress(c, limiter.settings.trustedProxies));
      const wait = limiter.retryAfter(source);
      if (wait > 0) {
        c.header('Retry-After', String(wait));
        return refused(c, new SignInError(429, 'Too many failed sign-ins', `Too many sign-ins from this address failed. Try again in ${wait} s.`, 'failed_authentications'));
      }
      try {
        const who = await client.finish(new URL(c.req.url), secret);
        const id = await startSession(c, deps.db, deps.config, {
          issuer: client.issuer,
          subject: who.subject,
          actor: who.actor,
          email: who.email,
          name: who.name,
          scopes: who.roles,
          groups: who.mappedGroups,
          teams: who.teamRoles,
          idToken: who.idToken,
        });
        c.get('logger').info({ sessionId: id, actor: who.actor, scopes: who.roles }, 'signed in');
        return c.redirect('/ui#/incidents', 303);
      } catch (err) {
        if (err instanceof RevocationUnderWayError) {
          // Nobody's failed attempt either: the provider said yes. Its code is spent, so the browser starts again.
          c.header('Retry-After', String(err.retryAfterSeconds));
          return refused(c, new SignInError(503, 'Sign-in paused', `An administrator is revoking sessions or tokens, which takes a moment. Sign in again in ${err.retryAfterSeconds} s.`, 'revocation_under_way', { cause: err }));
        }
        // Not the provider being unreachable (502): that is nobody's failed attempt.
        if (err instanceof SignInError && err.reachedProvider && err.status !== 502) limiter.fail(source);
        return refused(c, err);
      }
    },
  );

  const sessionSchema = z.object({ actor: z.string(), subject: z.string(), email: z.string().nullable(), name: z.string().nullable(), scopes: z.array(z.string()), teams: z.array(z.object({ team: z.string(), role: z.string() })).describe('Team roles from OIDC_ROLE_MAP.'), expiresAt: z.string(), csrfToken: z.string() });
  app.openapi(op(open(), { method: 'get', path: '/auth/session', tags, summary: 'Who is signed in, and the CSRF token the page sends on writes', responses: { 200: json('The session.', sessionSchema), 401: problemResponse('Not signed in.'), 429: problemResponse('The session spent its request budget (`limit: caller-budget`); `Retry-After` says when to try again.') } }), async (c) => {
    const s = await c.get('resolveSession')?.(c);
    if (!s) throw unauthorized('not signed in with single sign-on');
    chargeCaller(c, budget, `session:${s.id}`);
    return c.json(
      { actor: s.actor, subject: s.subject, email: s.email, name: s.name, scopes: s.scopes, teams: s.memberships, expiresAt: s.expiresAt.toISOString(), csrfToken: s.csrfToken },
      200,
      NO_STORE,
    );
  });

  app.openapi(
    op(open(), {
      method: 'post',
      path: '/auth/logout',
      tags,
      summary: "Sign out (CSRF-checked): revokes the session, and returns the provider's logout URL if it has one",
      responses: { 200: json('Signed out.', z.object({ signedOut: z.literal(true), logoutUrl: z.string().nullable() })), 403: problemResponse('A cross-site or forged request.') },
    }),
    async (c) => {
      // The resolver checks CSRF on this POST (403): another site cannot sign the user out.
      // Not charged to the session's request budget, unlike GET /auth/session: sign-out ends its caller (a
      // flood of it revokes and audits once, the rest find nothing live), and a thief of the cookie who keeps
      // the budget spent must not keep its owner from revoking it. Without a live session it looks up no
      // more than any request carrying a cookie does.
      let live: SessionActor | undefined;
      try {
        live = await c.get('resolveSession')?.(c);
      } catch (err) {
        if (!(err instanceof ProblemError && err.status === 401)) throw err;
      }
      if (!live) {
        clearSessionCookie(c); // nothing live to revoke
        return c.json({ signedOut: true, logoutUrl: null }, 200, NO_STORE);
      }
      const ended = await endSession(c, deps.db);
      c.get('logger').info({ sessionId: live.id, actor: live.actor }, 'signed out');
      let logoutUrl: string | null = null;
      try {
        logoutUrl = (await client?.logoutUrl(ended?.idToken))?.href ?? null;
      } catch (err) {
        c.get('logger').warn({ reason: err instanceof SignInError ? err.reason : 'logout_url_failed' }, 'no provider logout URL');
      }
      return c.json({ signedOut: true, logoutUrl }, 200, NO_STORE);
    },
  );

  return app;
}

/**
 * A sign-in that did not go through: a plain page saying why in our words, with the request id and the way
 * back; the log has what failed underneath (the error's causes), without any secret.
 */
function refused(c: Context<AppEnv>, err: unknown) {
  if (!(err instanceof SignInError)) throw err;
  c.get('logger').warn({ reason: err.reason, status: err.status, ...(err.cause !== undefined ? { err: errorForLog(err.cause) } : {}) }, 'sign-in refused');
  return c.html(
    html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${err.title} · Self-healing</title></head>
<body>
<h1 data-testid="sign-in-refused">${err.title}</h1>
<p data-testid="sign-in-detail">${err.detail}</p>
<p>Request id: <code data-testid="sign-in-request-id">${c.get('requestId')}</code></p>
<p><a href="/ui">Back to the sign-in page</a></p>
</body>
</html>
`,
    err.status,
    PAGE_HEADERS,
  );
}
