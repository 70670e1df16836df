import { Hono } from 'hono';
import { etag } from 'hono/etag';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { ASSET_PATH, dashboardBundle } from '../../dashboard/bundle.js';
import { dashboardHtml } from '../../dashboard/page.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { badRequest, notFound } from '../problem.js';
import { parseBody, readJson } from './environments.js';

/** Same origin only; no inline script or style; nothing from elsewhere. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY' };

/** Asset names carry their content hash, so a browser may keep them for good; the page itself is revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

const convertSchema = z.strictObject({
  text: z.string().max(1_000_000),
  from: z.enum(['json', 'yaml']),
  to: z.enum(['json', 'yaml', 'object']),
});

/**
 * The operator dashboard at /ui: a static page plus its bundled script and stylesheet (src/dashboard).
 * All data comes from the JSON API with the bearer token the operator pastes; the page and its assets
 * hold no data, so they are public.
 */
export function dashboardRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const auth = { db: deps.db, adminToken: deps.config.adminToken };
  const uiConfig = { temporalUiUrl: (deps.temporalUiUrl ?? deps.config.temporal.uiUrl).replace(/\/+$/, ''), namespace: deps.config.temporal.namespace };

  // Start bundling now, so the first page view does not wait; a failure is a bug in the client source.
  const bundle = dashboardBundle();
  bundle.catch((err: unknown) => deps.logger.error({ err: { message: (err as Error).message } }, 'dashboard bundle failed'));

  app.use('/ui', etag());
  app.use(`${ASSET_PATH}*`, etag());

  app.get('/', (c) => c.redirect('/ui', 302));
  app.get('/ui', async (c) => {
    // The page names the current assets; etag() answers 304 while it is unchanged.
    return c.html(dashboardHtml(await bundle), 200, { ...SECURITY_HEADERS, 'Cache-Control': 'no-cache' });
  });
  app.get('/ui/', (c) => c.redirect('/ui', 301));
  app.get(`${ASSET_PATH}:name`, async (c) => {
    const asset = (await bundle).assets.get(c.req.param('name'));
    if (!asset) throw notFound(`no dashboard asset ${c.req.param('name')} (the page names the current ones)`);
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, { ...SECURITY_HEADERS, 'Content-Type': asset.contentType, 'Cache-Control': IMMUTABLE, ETag: asset.etag });
  });
  app.get('/ui/config.json', (c) => c.json(uiConfig, 200, SECURITY_HEADERS));

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
