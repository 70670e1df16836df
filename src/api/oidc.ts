// The dashboard's OpenID Connect relying party, on openid-client (panva): discovery, the authorization
// code flow with PKCE (S256), state and nonce, ID token validation (signature, issuer, audience, expiry,
// nonce, `iss` of the authorization response) and userinfo when the ID token lacks the claims we read.
//
// State, nonce and the PKCE verifier are derived from one random secret the browser holds in a short-lived
// `__Host-` cookie during sign-in (see routes/auth.ts): nothing is stored server-side, any API replica can
// finish a sign-in another one started, and the callback only works in the browser that started it.
//
// Roles come from the groups claim at every sign-in (OIDC_ROLE_MAP); a user in no mapped group is refused.
import { AsyncLocalStorage } from 'node:async_hooks';
import * as oidc from 'openid-client';
import type { OidcConfig, SsoRole } from '../config.js';
import { teamRolesOf, type TeamMembership } from '../domain/teams.js';
import { derive, globalRolesOf } from './session.js';

/** Every call to the provider is bounded in time and in answer size. */
const TIMEOUT_SECONDS = 10;
const MAX_BODY_BYTES = 1_000_000;
const MAX_GROUPS = 1000;
/** OpenID Connect Core 1.0, 2: a `sub` is at most 255 ASCII characters; bounded in UTF-8 bytes here. */
export const MAX_SUBJECT_BYTES = 255;
/** How far ahead of this server's clock an ID token's `iat` may be (the provider's clock may run a little fast). */
export const IAT_SKEW_SECONDS = 60;

/** Who signed in, and with what roles. */
export interface Identity {
  subject: string;
  /**
   * `user:<email>` only when the provider vouches for the email (`email_verified` is `true`, or the string
   * `"true"`), else `user:<sub>`: an email the provider does not mark verified may be anyone's (Microsoft
   * Entra ID sends no `email_verified`, and its `email` can be set by the account's owner).
   */
  actor: string;
  email: string | null;
  name: string | null;
  /** The user's groups that OIDC_ROLE_MAP maps, and the roles they give (highest first). */
  mappedGroups: string[];
  roles: SsoRole[];
  /** Team roles of the mapped groups (OIDC_ROLE_MAP `group=team:role`). */
  teamRoles: TeamMembership[];
  /** For RP-initiated logout (`id_token_hint`). */
  idToken: string | undefined;
}

/**
 * A sign-in that did not go through, with the page to show. The page is read by anyone who opens
 * /auth/login: `detail` is our own wording. What went wrong underneath (`cause`: a connection refused at an
 * internal address, a certificate's names) is for the log only.
 */
export class SignInError extends Error {
  constructor(
    readonly status: 400 | 403 | 429 | 502 | 503,
    readonly title: string,
    readonly detail: string,
    /** A short machine reason for the log (never a code, token or secret). */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.name = 'SignInError';
  }

  /**
   * Whether a request had gone to the provider when the callback failed (set by `finish`): a code its token
   * endpoint did not take, an ID token failing validation, a user with no mapped group. False for what is
   * refused here before asking it (a state that does not match the sign-in cookie, the provider's `error`).
   */
  reachedProvider = false;
}

/** The provider's answer was larger than MAX_BODY_BYTES (and was not read further). */
class AnswerTooLargeError extends Error {
  override readonly name = 'AnswerTooLargeError';
}

export interface OidcClient {
  readonly providerName: string;
  readonly issuer: string;
  /** Where to send the browser to sign in, for the sign-in secret in its cookie. */
  authorizationUrl(signInSecret: string): Promise<URL>;
  /** Finishes the sign-in from the URL the provider sent the browser back to; throws SignInError. */
  finish(callback: URL, signInSecret: string): Promise<Identity>;
  /** The provider's logout URL (RP-initiated logout), when it advertises one. */
  logoutUrl(idToken: string | undefined): Promise<URL | undefined>;
}

/**
 * Set while `finish` runs: whether it has sent a request to the provider yet. openid-client checks the
 * authorization response (state, `iss`, `error`) and asks the token endpoint in one call, so the fetch it
 * is given is the one place that knows which of the two a failure came after.
 */
const providerCalls = new AsyncLocalStorage<{ asked: boolean }>();

/**
 * A fetch that refuses answers over MAX_BODY_BYTES (openid-client adds the timeout) and never follows a
 * redirect: the provider's answer is taken as it is (a 3xx fails the call), so its discovery document or key
 * set cannot send the API to another address (an internal one) or round a loop. openid-client asks for
 * `redirect: 'manual'` itself; it is set here too, so that no version of it can change that.
 */
const boundedFetch: oidc.CustomFetch = async (url, options) => {
  const call = providerCalls.getStore();
  if (call) call.asked = true;
  const res = await fetch(url, { ...(options as RequestInit), redirect: 'manual' });
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw new AnswerTooLargeError(`the identity provider's answer from ${new URL(url).pathname} is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return new Response(res.status === 204 || res.status === 304 ? null : Buffer.concat(chunks), { status: res.status, statusText: res.statusText, headers: res.headers });
};

export function createOidcClient(cfg: OidcConfig): OidcClient {
  let discovered: Promise<oidc.Configuration> | undefined;

  /** Discovery once per process; a failure is retried by the next sign-in. */
  function configuration(): Promise<oidc.Configuration> {
    discovered ??= discover().catch((err: unknown) => {
      discovered = undefined;
      throw unreachable(err, 'discovery_failed');
    });
    return discovered;
  }

  async function discover(): Promise<oidc.Configuration> {
    const issuer = new URL(cfg.issuerUrl);
    const auth = cfg.clientSecret ? oidc.ClientSecretBasic(cfg.clientSecret) : oidc.None();
    // Config only allows http for a loopback issuer (a provider on the same host, as in the tests).
    // The ID token's signature is checked against the provider's keys (jwks_uri), not only its claims:
    // openid-client leaves that to TLS unless asked, and a loopback issuer is plain http.
    const execute = [...(issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : []), oidc.enableNonRepudiationChecks];
    return oidc.discovery(issuer, cfg.clientId, cfg.clientSecret ? { client_secret: cfg.clientSecret } : undefined, auth, { timeout: TIMEOUT_SECONDS, execute, [oidc.customFetch]: boundedFetch });
  }

  const checksFor = (secret: string) => ({
    state: derive(secret, 'oidc state').toString('base64url'),
    nonce: derive(secret, 'oidc nonce').toString('base64url'),
    verifier: derive(secret, 'oidc pkce').toString('base64url'), // 43 characters: a valid RFC 7636 verifier
  });

  return {
    providerName: cfg.providerName,
    issuer: cfg.issuerUrl,

    async authorizationUrl(secret) {
      const config = await configuration();
      const { state, nonce, verifier } = checksFor(secret);
      return oidc.buildAuthorizationUrl(config, {
        response_type: 'code',
        redirect_uri: cfg.redirectUrl,
        scope: cfg.scopes.join(' '),
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
    },

    async finish(callback, secret) {
      // Discovery (once a process) is not watched: it asks for the provider's metadata, not about this callback.
      const config = await configuration();
      const call = { asked: false };
      try {
        return await providerCalls.run(call, () => complete(config, callback, secret));
      } catch (err) {
        if (err instanceof SignInError) err.reachedProvider = call.asked;
        throw err;
      }
    },

    async logoutUrl(idToken) {
      const config = await configuration();
      if (!config.serverMetadata().end_session_endpoint) return undefined;
      return oidc.buildEndSessionUrl(config, { post_logout_redirect_uri: `${cfg.publicOrigin}/ui`, ...(idToken ? { id_token_hint: idToken } : {}) });
    },
  };

  async function complete(config: oidc.Configuration, callback: URL, secret: string): Promise<Identity> {
    const { state, nonce, verifier } = checksFor(secret);
    // The redirect URI sent to the token endpoint is the configured one (the request's own URL may be an
    // internal one behind a proxy); only the provider's query parameters are taken from the callback.
    const current = new URL(cfg.redirectUrl);
    for (const [k, v] of callback.searchParams) current.searchParams.append(k, v);
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, { expectedState: state, expectedNonce: nonce, pkceCodeVerifier: verifier, idTokenExpected: true });
    } catch (err) {
      throw signInFailure(err);
    }
    const idClaims = tokens.claims();
    if (!idClaims) throw new SignInError(400, 'Sign-in failed', 'The identity provider returned no ID token.', 'no_id_token');
    checkIdClaims(idClaims);
    let claims: Record<string, unknown> = { ...idClaims };
    // Many providers put profile, email and groups only in userinfo (oidc-provider does by default).
    const missing = claimAt(claims, cfg.groupsClaim) === undefined || claims.email === undefined;
    if (missing && tokens.access_token && config.serverMetadata().userinfo_endpoint) {
      try {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
        claims = mergeUserInfo(idClaims, info);
      } catch (err) {
        throw signInFailure(err);
      }
    }
    return identityFrom(claims, idClaims.sub, tokens.id_token, cfg);
  }
}

/**
 * What openid-client does not check of a valid ID token: the length of `sub` (the session stores it and the
 * audit log, approvals and token owners name the user by it: `user:<sub>`), and an `iat` in the future (it
 * checks `exp` and `nbf` only, and an `iat` too far in the past only for the hybrid flow). A token issued
 * ahead of our clock by more than the skew was not issued for this sign-in, or the clocks are wrong.
 */
export function checkIdClaims(claims: { sub: string; iat?: unknown }, nowSeconds = Date.now() / 1000): void {
  const bytes = Buffer.byteLength(claims.sub, 'utf8');
  if (bytes > MAX_SUBJECT_BYTES) {
    throw new SignInError(400, 'Sign-in failed', `The identity provider named you by a subject (sub) of ${bytes} bytes, over the ${MAX_SUBJECT_BYTES} OpenID Connect allows. Ask an administrator to check the provider.`, 'subject_too_long');
  }
  if (typeof claims.iat === 'number' && claims.iat > nowSeconds + IAT_SKEW_SECONDS) {
    const ahead = Math.round(claims.iat - nowSeconds);
    throw new SignInError(
      400,
      'Sign-in failed',
      `The identity provider's ID token was issued ${ahead} seconds in the future (iat), more than the ${IAT_SKEW_SECONDS} seconds allowed: check the clocks of the provider and of this server, then start again.`,
      'id_token_issued_in_future',
    );
  }
}

/**
 * The ID token's claims, with what only userinfo has added (the ID token wins where both have a claim).
 * An email and its `email_verified` are taken together from one source: the ID token's when it has an
 * email (its verified flag, or none), else userinfo's. Mixed, one source's flag could vouch for the
 * other's address.
 */
export function mergeUserInfo(idClaims: Record<string, unknown>, info: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...info, ...idClaims };
  const source = idClaims.email !== undefined ? idClaims : info;
  delete merged.email_verified;
  if (source.email_verified !== undefined) merged.email_verified = source.email_verified;
  return merged;
}

/** The identity and roles of a signed-in user; SignInError 403 when no group of theirs is mapped. */
export function identityFrom(
  claims: Record<string, unknown>,
  subject: string,
  idToken: string | undefined,
  cfg: Pick<OidcConfig, 'groupsClaim' | 'roleMap'> & Partial<Pick<OidcConfig, 'teamRoleMap'>>,
): Identity {
  const text = (v: unknown, max: number) => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : null);
  const email = text(claims.email, 254);
  const name = text(claims.name, 200) ?? text(claims.preferred_username, 200);
  // The actor is what the audit log, approvals and the four-eyes rule compare: an unverified email (claim
  // false, absent or anything else) names nobody, so the subject (stable per issuer) names the user.
  const emailVerified = claims.email_verified === true || claims.email_verified === 'true';
  const actor = `user:${email && emailVerified ? email : subject}`;
  const groups = groupsOf(claimAt(claims, cfg.groupsClaim));
  const mappedGroups = groups.filter((g) => cfg.roleMap.has(g) || cfg.teamRoleMap?.has(g));
  const roles = globalRolesOf(mappedGroups, cfg.roleMap);
  const teamRoles = teamRolesOf(mappedGroups, cfg.teamRoleMap);
  if (roles.length === 0 && teamRoles.length === 0) {
    const shown = groups.length === 0 ? `no groups in the "${cfg.groupsClaim}" claim` : `groups ${groups.slice(0, 20).join(', ')}${groups.length > 20 ? ` and ${groups.length - 20} more` : ''}`;
    throw new SignInError(
      403,
      'No access to Self-healing',
      `You signed in as ${email ?? subject}, but none of your groups is given a role here (${shown}). Ask an administrator to add one of your groups to OIDC_ROLE_MAP.`,
      'no_mapped_group',
    );
  }
  return { subject, actor, email, name, mappedGroups, roles, teamRoles, idToken };
}

/** The value at a claim name, or a dotted path into objects (`realm_access.roles`) when no claim has that exact name. */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Groups as a list of strings: an array (strings kept, at most MAX_GROUPS) or one string. */
function groupsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return [];
  return value.slice(0, MAX_GROUPS).filter((g): g is string => typeof g === 'string' && g.length > 0 && g.length <= 512);
}

/** openid-client's errors as the page to show. Their messages name the check that failed, never a value. */
function signInFailure(err: unknown): SignInError {
  if (err instanceof SignInError) return err;
  if (err instanceof oidc.AuthorizationResponseError) {
    return new SignInError(403, 'The identity provider did not sign you in', `It answered "${err.error}"${err.error_description ? `: ${err.error_description.slice(0, 300)}` : ''}.`, `provider_${err.error}`);
  }
  if (err instanceof oidc.ResponseBodyError) {
    return new SignInError(400, 'Sign-in failed', `The identity provider refused to complete the sign-in ("${err.error}"). Start again.`, `token_${err.error}`);
  }
  // No answer, or none we read: the same fixed page as a failed discovery (the network's own words are logged).
  // openid-client's "something went wrong" (no code) wraps whatever failed, in that thing's own words.
  if (!(err instanceof oidc.ClientError) || err.code === undefined || failureKind(err) !== 'failed') return unreachable(err, 'provider_unreachable');
  // A check that failed: openid-client's message and its cause's name the check (the values they compared
  // are in properties of the cause, not shown).
  const check = err.cause instanceof Error ? `: ${message(err.cause)}` : '';
  return new SignInError(400, 'Sign-in failed', `The answer of the identity provider did not pass validation (${message(err)}${check}). Start again.`, err.code, { cause: err });
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);

/** What kept an answer from us, judged from the error and its causes: only this, never their text, reaches the page. */
function failureKind(err: unknown): 'timeout' | 'too_large' | 'failed' {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 6; e = e.cause, depth++) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError' || (e as { code?: unknown }).code === 'OAUTH_TIMEOUT') return 'timeout';
    if (e instanceof AnswerTooLargeError) return 'too_large';
  }
  return 'failed';
}

/**
 * The provider gave no answer we could use (refused connection, DNS, TLS, a timeout, an oversized answer):
 * a fixed page. The network's own text (`connect ECONNREFUSED 10.20.0.7:443`, a certificate's names) would
 * tell an anonymous visitor the inside of the network; it goes to the log as the error's cause.
 */
function unreachable(err: unknown, reason: 'discovery_failed' | 'provider_unreachable'): SignInError {
  const kind = failureKind(err);
  const what =
    kind === 'timeout' ? `It did not answer within ${TIMEOUT_SECONDS} seconds (timed out).` : kind === 'too_large' ? `Its answer was over ${MAX_BODY_BYTES} bytes.` : 'No answer came from it.';
  return new SignInError(502, 'The identity provider cannot be reached', `${what} Try again later, or sign in with an API token.`, reason, { cause: err });
}
