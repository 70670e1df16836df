import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import Provider, { type Configuration } from 'oidc-provider';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { testTemporal } from './temporal.js';

// A real OpenID Connect provider for the single sign-on tests: panva's `oidc-provider` (the certified
// implementation many identity products build on), in-process on 127.0.0.1, with one client (confidential,
// or public without a secret),
// a few users and a `groups` claim. Its own interaction pages (login and consent, `devInteractions`) are
// what the tests drive: real form posts and real redirects. Those pages accept any password for a known
// login; what is under test is our relying party, not the provider's password check.
//
// Like most providers (and oidc-provider's default, `conformIdTokenClaims`), the ID token carries only
// `sub` and the protocol claims in the code flow; email, name and groups come from userinfo. With
// `claimsInIdToken` they are in the ID token too.
//
// Around it: a provider that answers its discovery document only (for what is refused before or at the
// token endpoint), the API app signing in against one, and a browser over plain HTTP (a cookie jar per
// host, the provider's login and consent pages driven by form posts) for the tests that forge its steps.

export interface OidcUser {
  email: string;
  name: string;
  groups: string[];
  /** The `email_verified` claim: true when unset; `'omitted'` sends none (as Microsoft Entra ID does). */
  emailVerified?: boolean | 'omitted';
}

export interface OidcProviderOptions {
  users: Record<string, OidcUser>;
  clientId: string;
  /** Unset → a public client (no secret: token endpoint auth `none`, PKCE only). */
  clientSecret?: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
  claimsInIdToken?: boolean;
}

export interface OidcProvider {
  issuer: string;
  /** Token endpoint answers the provider gave (access and ID tokens), to check none of them leaks. */
  issued: { access_token?: string; id_token?: string }[];
  /** RP-initiated logouts the provider completed. */
  logouts: number;
  /** When set, rewrites each ID token the token endpoint answers with (a forgery on the way). */
  tamperIdToken: ((idToken: string) => string) | undefined;
  /** When set, changes the claims of each ID token the token endpoint answers with, signed again with the provider's own key (what the provider itself could issue). */
  reissueIdToken: ((claims: Record<string, unknown>) => Record<string, unknown>) | undefined;
  close(): Promise<void>;
}

export async function startOidcProvider(opts: OidcProviderOptions): Promise<OidcProvider> {
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-signing-key', use: 'sig', alg: 'RS256' };

  const configuration: Configuration = {
    clients: [
      {
        client_id: opts.clientId,
        ...(opts.clientSecret ? { client_secret: opts.clientSecret, token_endpoint_auth_method: 'client_secret_basic' } : { token_endpoint_auth_method: 'none' }),
        redirect_uris: [opts.redirectUri],
        post_logout_redirect_uris: [opts.postLogoutRedirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    async findAccount(_ctx, id) {
      const user = opts.users[id];
      if (!user) return undefined;
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          email: user.email,
          ...(user.emailVerified === 'omitted' ? {} : { email_verified: user.emailVerified ?? true }),
          name: user.name,
          groups: user.groups,
        }),
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    conformIdTokenClaims: !opts.claimsInIdToken,
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // The defaults load a web font from Google; these pages stay on loopback.
        logoutSource: (ctx, form) => {
          ctx.body = `<!doctype html><title>Sign out</title><h1>Sign out of the test provider?</h1>${form}<button type="submit" form="op.logoutForm" value="yes" name="logout" data-testid="op-logout">Yes, sign me out</button>`;
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.body = '<!doctype html><title>Signed out</title><h1>Signed out</h1>';
        },
      },
    },
    pkce: { required: () => true },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    jwks: { keys: [jwk] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>Provider error</title><h1 data-testid="op-error">${String(out.error)}</h1><p>${String(out.error_description ?? '').replace(/[<>&"]/g, '')}</p>`;
    },
  };
  const provider = new Provider(issuer, configuration);
  const issued: OidcProvider['issued'] = [];
  const state: Omit<OidcProvider, 'close'> = { issuer, issued, logouts: 0, tamperIdToken: undefined, reissueIdToken: undefined };
  provider.on('grant.success', (ctx: { body?: unknown }) => {
    const body = ctx.body as { access_token?: string; id_token?: string } | undefined;
    if (body?.id_token && state.reissueIdToken) {
      const [header, payload] = body.id_token.split('.');
      const claims = state.reissueIdToken(JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>);
      const signed = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      // RS256: RSASSA-PKCS1-v1_5 with SHA-256, node's default padding for an RSA key.
      body.id_token = `${signed}.${sign('sha256', Buffer.from(signed), privateKey).toString('base64url')}`;
    }
    if (body) issued.push({ access_token: body.access_token, id_token: body.id_token });
    if (body?.id_token && state.tamperIdToken) body.id_token = state.tamperIdToken(body.id_token);
  });
  provider.on('end_session.success', () => {
    state.logouts++;
  });
  handler = provider.callback();

  return Object.assign(state, {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

/**
 * An HTTP server on 127.0.0.1 whose app is set later: the tests need the dashboard's port (for the redirect
 * URI the provider registers) before they can configure the app. Browsers reach it as http://localhost:<port>,
 * a different site from the provider on 127.0.0.1, as a company's provider is.
 */
export async function serveLater(): Promise<{ url: string; port: number; serve(fetch: (req: Request) => Response | Promise<Response>): void; close(): Promise<void> }> {
  let fetchApp: (req: Request) => Response | Promise<Response> = () => new Response('not ready', { status: 503 });
  const server = createAdaptorServer({ fetch: (req: Request) => fetchApp(req), hostname: '127.0.0.1' }) as http.Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}`,
    port,
    serve(f) {
      fetchApp = f;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An OpenID provider that answers its discovery document and nothing more of its own. */
export interface DiscoveryOnlyProvider {
  issuer: string;
  close(): Promise<void>;
}

/**
 * A provider on 127.0.0.1 whose discovery document names its token endpoint (its own /token, or
 * `tokenEndpoint`): enough for /auth/login to start a sign-in and for a callback to reach the token
 * endpoint. Every other request goes to `handle` (404 by default).
 */
export async function startDiscoveryOnlyProvider(handle: http.RequestListener = (_req, res) => void res.writeHead(404).end(), opts: { tokenEndpoint?: string } = {}): Promise<DiscoveryOnlyProvider> {
  let issuer = '';
  const server = http.createServer((req, res) => {
    if (req.url !== '/.well-known/openid-configuration') return handle(req, res);
    const token_endpoint = opts.tokenEndpoint ?? `${issuer}/token`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint, jwks_uri: `${issuer}/jwks`, response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The API app in process (no listener, no Temporal) signing in against `OIDC_ISSUER_URL` as client
 * `selfheal-dashboard` (role map `sre=write`), on a new database pushed to `dbs` for the caller to close:
 * the failed-authentication limiter belongs to the database handle (src/api/auth.ts), so each app counts
 * from zero. `env` adds to the configuration or overrides it.
 */
export async function ssoAppOnNewDatabase(dbs: TestDatabase[], env: Record<string, string>) {
  const db = await createTestDatabase();
  dbs.push(db);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    OIDC_CLIENT_ID: 'selfheal-dashboard',
    OIDC_CLIENT_SECRET: 'client-secret-0123456789abcdef',
    OIDC_ROLE_MAP: 'sre=write',
    ...env,
  });
  return createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
}

/** The `state` of a sign-in GET /auth/login started (its redirect to the provider) and the sign-in cookie it set, as `name=value`. */
export function signInStarted(login: Response): { state: string; cookie: string } {
  const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith('__Host-selfheal-signin='))!.split(';')[0]!;
  return { state, cookie };
}

/** The dashboard served over HTTP against a real provider, on a database of its own. */
export interface SsoServer {
  db: TestDatabase;
  op: OidcProvider;
  /** The dashboard's URL (http://localhost:<port>: another site than the provider's 127.0.0.1). */
  base: string;
  host: string;
  /** The served app's configuration with `extra` on top: for other apps on the same database and provider. */
  config(extra?: Record<string, string>): Config;
  close(): Promise<void>;
}

/**
 * The API app served as {@link serveLater} does, signing in at a new {@link startOidcProvider} (client
 * `clientId`, redirect to /auth/callback, back to /ui after a logout) with the scopes `openid email
 * profile groups`, a real Temporal client and `env` on top (the admin token, the role map…).
 */
export async function startSsoServer(opts: { users: Record<string, OidcUser>; clientId: string; clientSecret: string; env: Record<string, string>; logger?: Logger }): Promise<SsoServer> {
  const db = await createTestDatabase();
  const server = await serveLater();
  const base = server.url;
  const op = await startOidcProvider({ users: opts.users, clientId: opts.clientId, clientSecret: opts.clientSecret, redirectUri: `${base}/auth/callback`, postLogoutRedirectUri: `${base}/ui` });
  const config = (extra: Record<string, string> = {}) =>
    loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      OIDC_ISSUER_URL: op.issuer,
      OIDC_CLIENT_ID: opts.clientId,
      OIDC_CLIENT_SECRET: opts.clientSecret,
      SELFHEAL_PUBLIC_URL: base,
      OIDC_SCOPES: 'openid email profile groups',
      ...opts.env,
      ...extra,
    });
  // A non-admin's environment create asks Temporal whether an agent already polls the queue (503 without it).
  const app = createApp({ config: config(), db: db.db, temporal: (await testTemporal()).client, logger: opts.logger ?? createLogger({ level: 'silent' }) }, allRoutes);
  server.serve((req) => app.fetch(req));
  return {
    db,
    op,
    base,
    host: new URL(base).hostname,
    config,
    async close() {
      await server.close();
      await op.close();
      await db.close();
    },
  };
}

/** A cookie jar per host name (cookies ignore ports), enough for the provider's and our cookies. */
export class CookieJar {
  private readonly byHost = new Map<string, Map<string, string>>();
  /** Every Set-Cookie line seen, by cookie name. */
  readonly setLines = new Map<string, string>();

  store(url: string, res: Response): void {
    const host = new URL(url).hostname;
    const jar = this.byHost.get(host) ?? new Map<string, string>();
    this.byHost.set(host, jar);
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      this.setLines.set(name, line);
      if (value === '' || /max-age=0\b/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
  }

  header(url: string): string {
    return [...(this.byHost.get(new URL(url).hostname) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(host: string, name: string): string | undefined {
    return this.byHost.get(host)?.get(name);
  }

  set(host: string, name: string, value: string): void {
    const jar = this.byHost.get(host) ?? new Map<string, string>();
    this.byHost.set(host, jar);
    jar.set(name, value);
  }

  delete(host: string, name: string): void {
    this.byHost.get(host)?.delete(name);
  }
}

/** One request with the jar's cookies, no redirect following; the answer's cookies go to the jar. */
export async function jarFetch(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, res);
  return res;
}

/** A form post (application/x-www-form-urlencoded) of `fields`. */
export const formPost = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

/**
 * Follows a sign-in from the provider's authorize URL (`authorize`) through its pages, as `login` (any
 * password; its login and consent forms when asked), until it redirects to `callback`: returns that URL,
 * not requested.
 */
export async function throughProvider(jar: CookieJar, authorize: string, callback: string, login: string): Promise<string> {
  let next = authorize;
  for (let hop = 0; hop < 20; hop++) {
    if (next.startsWith(callback)) return next;
    let res = await jarFetch(jar, next);
    if (res.status === 200) {
      const page = await res.text();
      const action = new URL(/<form[^>]*action="([^"]+)"/.exec(page)?.[1] ?? '', next).href;
      if (page.includes('name="login"')) res = await jarFetch(jar, action, formPost({ prompt: 'login', login, password: 'any' }));
      else if (page.includes('value="consent"')) res = await jarFetch(jar, action, formPost({ prompt: 'consent' }));
      else throw new Error(`unexpected provider page: ${page.slice(0, 300)}`);
    }
    assert.ok(res.status >= 300 && res.status < 400, `expected a redirect from ${next}, got ${res.status}: ${(await res.text()).slice(0, 300)}`);
    next = new URL(res.headers.get('location')!, next).href;
  }
  throw new Error('too many redirects');
}
