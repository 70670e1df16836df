// The hash router and the view registry's types. A route is a path pattern (`rules/:id`) and an async
// view that fills the main area through its context. Each navigation gets a fresh AbortSignal: leaving a
// view aborts its fetches and timers, and `show` from a view that was left does nothing, so a slow answer
// never paints over the page the operator moved to.
//
// A timed refresh (`ctx.after`) runs its task with a background context: its reads are sent marked as the
// page's own (api.ts `background`), so the sign-in session's idle timeout measures the person's activity, not
// a tab left open on a page that polls (src/api/session.ts).
import type { ApiClient } from './api.js';
import { h, replace, type Child } from './dom.js';
import type { UiConfig } from './types.js';

export interface ViewContext {
  /** `:name` segments of the matched pattern, decoded. */
  params: Readonly<Record<string, string>>;
  /** The query part of the hash: `#/incidents?status=triggered`. */
  query: URLSearchParams;
  api: ApiClient;
  config: UiConfig;
  /** Aborted when the operator navigates away; pass it to fetches. */
  signal: AbortSignal;
  /**
   * True in the context a timed refresh (`after`) runs with: then `api.get` sends every read as the page's
   * own (`background`), which does not extend the session's idle timeout. Writes (`api.send`) never are: only
   * the person's action writes (an approval clicked on a refreshed page counts as use).
   */
  background: boolean;
  /** Replaces the main area (no-op once the view was left). */
  show(...children: Child[]): void;
  /** A short notice at the bottom right; `bad` for failures. */
  flash(text: string, bad?: boolean): void;
  /** Renders the current route again (after a change the page should show). */
  reload(): void;
  /**
   * Runs `task` after `ms` unless the view was left first; a failure is shown like a render failure. The
   * task gets the background context (`background` true): render with it, not with the context it was
   * scheduled from, so its reads do not count as the person's activity.
   */
  after(ms: number, task: (ctx: ViewContext) => Promise<void>): void;
}

export type View = (ctx: ViewContext) => Promise<void>;

export interface Route {
  /** `section` or `section/:param/...`; the first segment names the nav entry that is highlighted. */
  path: string;
  view: View;
  /** Label of a nav link to this route (top-level routes only). */
  nav?: string;
}

export interface Shell {
  main: HTMLElement;
  nav: HTMLElement;
  logout: HTMLElement;
  /** Who is signed in, beside the sign-out button. */
  user: HTMLElement;
  flash(text: string, bad?: boolean): void;
}

export interface RouterOptions {
  routes: readonly Route[];
  /** Shown instead of any route while signed out. */
  signIn: View;
  /** Where `#/` and unknown paths go. */
  home: string;
  shell: Shell;
  api: ApiClient;
  config: UiConfig;
  signedIn: () => boolean;
  /** The signed-in user as the header shows them. */
  userLabel: () => string;
}

interface Match {
  route: Route;
  params: Record<string, string>;
}

/** Matches `path` (already split into decoded segments) against the route patterns. */
function matchRoute(routes: readonly Route[], segments: readonly string[]): Match | undefined {
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const ok = pattern.every((p, i) => {
      const s = segments[i]!;
      if (p.startsWith(':')) {
        params[p.slice(1)] = s;
        return s !== '';
      }
      return p === s;
    });
    if (ok) return { route, params };
  }
  return undefined;
}

/** `#/rules/r%201?x=1` → segments ['rules', 'r 1'] and the query; undefined when an escape is malformed. */
function parseHash(hash: string): { segments: string[]; query: URLSearchParams } | undefined {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  try {
    return { segments: path.split('/').map(decodeURIComponent), query: new URLSearchParams(query) };
  } catch {
    return undefined;
  }
}

/** `api` whose reads (GET) are sent as the page's own (a timed refresh); its writes are left as they are. */
function backgroundReads(api: ApiClient): ApiClient {
  return {
    get: (path, options) => api.get(path, { ...options, background: true }),
    send: (method, path, body, options) => api.send(method, path, body, method === 'GET' ? { ...options, background: true } : options),
  };
}

export function createRouter(options: RouterOptions): { route(): void } {
  const { shell } = options;
  let current: AbortController | undefined;

  for (const r of options.routes) {
    if (r.nav) shell.nav.append(h('a', { href: `#/${r.path}`, 'data-nav': r.path }, r.nav));
  }

  function failure(signal: AbortSignal, err: unknown): void {
    if (signal.aborted || !options.signedIn()) return;
    replace(shell.main, h('p', { class: 'error', 'data-testid': 'error' }, err instanceof Error ? err.message : String(err)));
  }

  function route(): void {
    current?.abort();
    const controller = new AbortController();
    current = controller;
    const { signal } = controller;
    const signedIn = options.signedIn();
    shell.nav.hidden = !signedIn;
    shell.logout.hidden = !signedIn;
    shell.user.hidden = !signedIn;
    shell.user.textContent = signedIn ? options.userLabel() : '';

    const parsed = parseHash(location.hash);
    let view: View;
    let params: Record<string, string> = {};
    if (!signedIn) {
      view = options.signIn;
    } else {
      const match = parsed && matchRoute(options.routes, parsed.segments);
      if (!match) {
        location.hash = options.home;
        return;
      }
      view = match.route.view;
      params = match.params;
      const section = match.route.path.split('/')[0];
      for (const a of shell.nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.nav === section);
    }

    const ctx: ViewContext = {
      params,
      query: parsed?.query ?? new URLSearchParams(),
      api: options.api,
      config: options.config,
      signal,
      background: false,
      show: (...children) => {
        if (!signal.aborted) replace(shell.main, ...children);
      },
      flash: shell.flash,
      reload: route,
      after: (ms, task) => {
        const timer = setTimeout(() => task(backgroundCtx).catch((err: unknown) => failure(signal, err)), ms);
        signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
      },
    };
    const backgroundCtx: ViewContext = { ...ctx, background: true, api: backgroundReads(options.api) };
    view(ctx).catch((err: unknown) => failure(signal, err));
  }

  return { route };
}
