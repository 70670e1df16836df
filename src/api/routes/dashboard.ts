import { Hono } from 'hono';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { DASHBOARD_JS } from '../../dashboard/client.js';
import { DASHBOARD_CSS, DASHBOARD_HTML } from '../../dashboard/page.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { badRequest } from '../problem.js';
import { parseBody, readJson } from './environments.js';

/** Same origin only; no inline script or style; nothing from elsewhere. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const convertSchema = z.strictObject({
  text: z.string().max(1_000_000),
  from: z.enum(['json', 'yaml']),
  to: z.enum(['json', 'yaml', 'object']),
});

/**
 * The operator dashboard at /ui: a static page plus its script and stylesheet. All data comes from the
 * JSON API with the bearer token the operator pastes; the page itself holds no data, so it is public.
 */
export function dashboardRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const auth = { db: deps.db, adminToken: deps.config.adminToken };
  const uiConfig = { temporalUiUrl: (deps.temporalUiUrl ?? deps.config.temporal.uiUrl).replace(/\/+$/, ''), namespace: deps.config.temporal.namespace };

  const secure = { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY' };

  app.get('/', (c) => c.redirect('/ui', 302));
  app.get('/ui', (c) => c.html(DASHBOARD_HTML, 200, { ...secure, 'Cache-Control': 'no-cache' }));
  app.get('/ui/', (c) => c.redirect('/ui', 301));
  app.get('/ui/app.js', (c) => c.body(DASHBOARD_JS, 200, { ...secure, 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }));
  app.get('/ui/app.css', (c) => c.body(DASHBOARD_CSS, 200, { ...secure, 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'no-cache' }));
  app.get('/ui/config.json', (c) => c.json(uiConfig, 200, secure));

  // YAML ⇄ JSON for the rule editor (the browser has no YAML parser and loads no library).
  app.post('/ui/convert', requireScope(auth, 'read'), async (c) => {
    const body = parseBody(convertSchema, await readJson(c));
    let value: unknown;
    try {
      value = body.from === 'json' ? JSON.parse(body.text) : parse(body.text, { maxAliasCount: 100 });
    } catch (err) {
      throw badRequest(`not valid ${body.from.toUpperCase()}: ${(err as Error).message.split('\n')[0]}`, [{ path: 'text', message: (err as Error).message.split('\n')[0]! }]);
    }
    if (body.to === 'object') return c.json({ value });
    return c.json({ text: body.to === 'json' ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 }), value });
  });

  return app;
}
