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
// - While signed out every path shows `signInView`; an OIDC sign-in would be another button there that
//   ends in `session.signIn(accessToken)`.
// - Everything runs under the page's CSP (script-src 'self', style-src 'self'): no inline script or
//   style, no eval, nothing fetched from another origin.
import { createApi } from './api.js';
import { byId } from './dom.js';
import { createRouter, type Route, type Shell } from './router.js';
import { session } from './session.js';
import type { UiConfig } from './types.js';
import { environmentRoutes } from './views/environments.js';
import { incidentRoutes } from './views/incidents.js';
import { jobRoutes } from './views/jobs.js';
import { ruleRoutes } from './views/rules.js';
import { signInView } from './views/sign-in.js';

const routes: Route[] = [...incidentRoutes, ...ruleRoutes, ...jobRoutes, ...environmentRoutes];

const FLASH_MS = 4000;

function createShell(): Shell {
  const flashBox = byId('flash');
  let flashTimer: ReturnType<typeof setTimeout> | undefined;
  return {
    main: byId('main'),
    nav: byId('nav'),
    logout: byId('logout'),
    flash(text, bad = false) {
      flashBox.textContent = text;
      flashBox.className = bad ? 'bad' : '';
      flashBox.hidden = false;
      clearTimeout(flashTimer);
      flashTimer = setTimeout(() => (flashBox.hidden = true), FLASH_MS);
    },
  };
}

async function loadConfig(): Promise<UiConfig> {
  const fallback: UiConfig = { temporalUiUrl: '', namespace: 'default' };
  try {
    const res = await fetch('/ui/config.json');
    return res.ok ? ((await res.json()) as UiConfig) : fallback;
  } catch {
    return fallback;
  }
}

async function start(): Promise<void> {
  const shell = createShell();
  const config = await loadConfig();
  const api = createApi(session.token, () => {
    session.signOut();
    router.route();
  });
  const router = createRouter({ routes, signIn: signInView, home: '#/incidents', shell, api, config, signedIn: () => session.token() !== '' });
  shell.logout.addEventListener('click', () => {
    session.signOut();
    location.hash = '#/login';
    router.route();
  });
  window.addEventListener('hashchange', router.route);
  router.route();
}

void start();
