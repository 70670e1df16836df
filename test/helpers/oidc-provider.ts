import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import Provider, { type Configuration } from 'oidc-provider';

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
  const state: Omit<OidcProvider, 'close'> = { issuer, issued, logouts: 0, tamperIdToken: undefined };
  provider.on('grant.success', (ctx: { body?: unknown }) => {
    const body = ctx.body as { access_token?: string; id_token?: string } | undefined;
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
