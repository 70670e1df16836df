// The operator dashboard in the browser: the entry point that esbuild bundles into /ui/assets/app.<hash>.js
// (src/dashboard/bundle.ts). No framework: views build DOM with the helpers in dom.ts and read the REST
// API through api.ts with the bearer token kept by session.ts.
//
// Pages: a view registry and a hash router (router.ts).
// - A page is a Route `{ path, view, nav? }`: `path` is a pattern such as `rules` or `rules/:id`,
//   `view(ctx)` fetches with `ctx.api` (passing `ctx.signal`) and renders with `ctx.show(...)`, and `nav`
//   adds a link in the header. Each views/<area>.ts exports its routes; list them in `routes` below.
// - A new page (statistics with charts, say) is a new views/<area>.ts whose routes are added here; a new
//   tool in the rule editor (a backtest tab) is an EditorPanel in views/rules.ts.
// - While signed out every path shows `signInView`: a pasted API token, and/or "Sign in with <provider>"
//   (single sign-on: the server's /auth/login; back from the provider, the page finds its session with
//   GET /auth/session). session.ts says which credentials each call carries.
// - Everything runs under the page's CSP (script-src 'self', style-src 'self'): no inline script or
//   style, no eval, nothing fetched from another origin.
import { authConfig, createApi, endSsoSession, ssoSession, type ApiClient, type Method, type RequestOptions } from './api.js';
import { byId } from './dom.js';
import { createRouter, type Route, type Shell } from './router.js';
import { session } from './session.js';
import type { UiConfig } from './types.js';
import { environmentRoutes } from './views/environments.js';
import { incidentRoutes } from './views/incidents.js';
import { jobRoutes } from './views/jobs.js';
import { ruleRoutes } from './views/rules.js';
import { signInView } from './views/sign-in.js';
import { statsRoutes } from './views/stats.js';

const routes: Route[] = [...incidentRoutes, ...ruleRoutes, ...statsRoutes, ...jobRoutes, ...environmentRoutes];

const FLASH_MS = 4000;

function createShell(): Shell {
  const flashBox = byId('flash');
  let flashTimer: ReturnType<typeof setTimeout> | undefined;
  return {
    main: byId('main'),
    nav: byId('nav'),
    logout: byId('logout'),
    user: byId('user'),
    flash(text, bad = false) {
      flashBox.textContent = text;
      flashBox.className = bad ? 'bad' : '';
      flashBox.hidden = false;
      clearTimeout(flashTimer);
      flashTimer = setTimeout(() => (flashBox.hidden = true), FLASH_MS);
    },
  };
}

/** The sign-in ways; the Temporal settings stay empty until `withSettings` reads them signed in. */
async function loadConfig(): Promise<UiConfig> {
  return { temporalUiUrl: '', namespace: 'default', auth: await authConfig() };
}

/**
 * The API as views get it: the first call also reads the Temporal UI's address and namespace into `config`
 * (GET /ui/config.json answers signed-in readers only, so it goes with the session's credentials), and
 * every call resolves only once they are in, so a view renders its Temporal links complete. Both requests
 * go at once. A failed read leaves the links bare and is tried again with the next call.
 */
function withSettings(api: ApiClient, config: UiConfig): ApiClient {
  let settings: Promise<void> | undefined;
  // A read retried by a timed refresh goes as the page's own too (`background`: no use of the session).
  const load = (options?: RequestOptions) =>
    (settings ??= api.get<Omit<UiConfig, 'auth'>>('/ui/config.json', { background: options?.background === true }).then(
      (s) => {
        config.temporalUiUrl = s.temporalUiUrl;
        config.namespace = s.namespace;
      },
      () => {
        settings = undefined;
      },
    ));
  return {
    async get<T>(path: string, options?: RequestOptions) {
      const [answer] = await Promise.all([api.get<T>(path, options), load(options)]);
      return answer;
    },
    async send<T>(method: Method, path: string, body?: unknown, options?: RequestOptions) {
      const [answer] = await Promise.all([api.send<T>(method, path, body, options), load(options)]);
      return answer;
    },
  };
}

async function start(): Promise<void> {
  const shell = createShell();
  const config = await loadConfig();
  // Back from the provider (or reloaded): the sign-in cookie's session, unless this tab uses a token.
  if (!session.token() && config.auth.sso) {
    const user = await ssoSession().catch(() => undefined);
    if (user) session.useSso(user);
  }
  const api = createApi(
    (method) => session.headers(method),
    () => {
      session.signOut();
      router.route();
    },
  );
  const router = createRouter({ routes, signIn: signInView, home: '#/incidents', shell, api: withSettings(api, config), config, signedIn: () => session.signedIn(), userLabel: () => session.label() });
  // Every tab of this browser sends the same sign-in cookie, so a sign-out in one ends the session of all:
  // it tells the others, which show the sign-in page at once rather than what the ended session read.
  const signOuts = new BroadcastChannel('selfheal-sign-out');
  signOuts.onmessage = () => {
    if (!session.sso()) return; // a tab signed in with a token of its own keeps it
    session.signOut();
    router.route();
  };
  shell.logout.addEventListener('click', () => {
    const sso = session.sso();
    void (async () => {
      if (sso) {
        // Revoke the session on the server first; then sign out at the provider too, when it offers it.
        let providerLogout: string | null;
        try {
          providerLogout = await endSsoSession(sso.csrfToken);
        } catch (err) {
          shell.flash(`Signing out failed: ${(err as Error).message}`, true);
          return;
        }
        session.signOut();
        signOuts.postMessage('signed-out');
        if (providerLogout) {
          // The sign-in page first: the browser keeps this document as it leaves it (back/forward cache),
          // and Back from the provider's logout page would show what the session read.
          router.route();
          location.assign(providerLogout);
          return;
        }
      }
      session.signOut();
      location.hash = '#/login';
      router.route();
    })();
  });
  window.addEventListener('hashchange', router.route);
  // Back or Forward to this document from the back/forward cache: whatever it showed is rendered again with
  // the credentials held now (none after a sign-out: the sign-in page), and a session ended meanwhile
  // answers 401, which shows the sign-in page too.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) router.route();
  });
  router.route();
}

void start();
