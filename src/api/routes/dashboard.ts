import { etag } from 'hono/etag';
import { z } from '../../domain/zod.js';
import { ASSET_PATH, dashboardBundle } from '../../dashboard/bundle.js';
import { dashboardHtml } from '../../dashboard/page.js';
import { trimTrailingSlashes } from '../../domain/text.js';
import { shareCallerOf, shareRefusal } from '../caller-share.js';
import { CONVERT_REQUEST_COST, convertOffThread, MAX_CONVERSIONS, MAX_WAITING_CONVERSIONS } from '../convert.js';
import type { AppDeps } from '../env.js';
import { badRequest, notFound, unavailable } from '../problem.js';
import { authOf, guard, json, jsonBody, newRouter, op, open, problemResponse } from '../router.js';
import { pathParams } from '../schemas/common.js';

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
 * All data comes from the JSON API with the bearer token the operator pastes (or the sign-in session);
 * the page and its assets hold no data, so they are public. Its settings (/ui/config.json) are not.
 */
export function dashboardRoutes(deps: AppDeps) {
  const app = newRouter();
  const uiConfig = { temporalUiUrl: trimTrailingSlashes(deps.temporalUiUrl ?? deps.config.temporal.uiUrl), namespace: deps.config.temporal.namespace };

  // Start bundling now, so the first page view does not wait; a failure is a bug in the client source.
  const bundle = dashboardBundle();
  bundle.catch((err: unknown) => deps.logger.error({ err: { message: (err as Error).message } }, 'dashboard bundle failed'));

  app.use('/ui', etag());
  app.use(`${ASSET_PATH}*`, etag());

  const tags = ['dashboard'];
  const html = { content: { 'text/html': { schema: z.string() } } };
  app.openapi(op(open(), { method: 'get', path: '/', tags, summary: 'To the dashboard', responses: { 302: { description: 'To /ui.' } } }), (c) => c.redirect('/ui', 302));
  app.openapi(op(open(), { method: 'get', path: '/ui', tags, summary: 'The dashboard page (it holds no data)', responses: { 200: { description: 'The page.', ...html }, 304: { description: 'Unchanged (ETag).' } } }), async (c) =>
    // The page names the current assets; etag() answers 304 while it is unchanged.
    c.html(dashboardHtml(await bundle), 200, { ...SECURITY_HEADERS, 'Cache-Control': 'no-cache' }),
  );
  app.openapi(op(open(), { method: 'get', path: '/ui/', tags, summary: 'To the dashboard', responses: { 301: { description: 'To /ui.' } } }), (c) => c.redirect('/ui', 301));
  app.openapi(
    op(open(), {
      method: 'get',
      path: `${ASSET_PATH}{name}`,
      tags,
      summary: "The dashboard's script and stylesheet, named by their content hash",
      request: { params: pathParams(['name', 'asset file name']) },
      responses: { 200: { description: 'The asset (cacheable for good).' }, 404: problemResponse('Not a current asset.') },
    }),
    async (c) => {
      const asset = (await bundle).assets.get(c.req.param('name'));
      if (!asset) throw notFound(`no dashboard asset ${c.req.param('name')} (the page names the current ones)`);
      return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, { ...SECURITY_HEADERS, 'Content-Type': asset.contentType, 'Cache-Control': IMMUTABLE, ETag: asset.etag });
    },
  );
  // The Temporal UI's address is an internal one, and the namespace names the deployment: for signed-in
  // readers only (the page asks once signed in), never for whoever loads the public page.
  app.openapi(
    op(guard(authOf(deps), 'read'), {
      method: 'get',
      path: '/ui/config.json',
      tags,
      summary: "The dashboard's settings (Temporal UI address and namespace), for signed-in readers",
      responses: { 200: json('Settings.', z.object({ temporalUiUrl: z.string(), namespace: z.string() })) },
    }),
    (c) => c.json(uiConfig, 200, { ...SECURITY_HEADERS, 'Cache-Control': 'no-store' }),
  );

  // YAML ⇄ JSON for the rule editor (the browser has no YAML parser and loads no library).
  app.openapi(
    op(guard(authOf(deps), 'read', { body: true, cost: CONVERT_REQUEST_COST }), {
      method: 'post',
      path: '/ui/convert',
      tags,
      summary: "YAML ⇄ JSON for the dashboard's rule editor",
      request: { body: jsonBody(convertSchema) },
      responses: {
        200: json('The converted text and the value.', z.object({ text: z.string().optional(), value: z.unknown() })),
        400: problemResponse('Not valid JSON or YAML (a YAML key twice in one mapping included), or past a bound (aliases, depth, column, converted size, time, heap).'),
        503: problemResponse('Too many conversions at once in this process, or the caller (not an admin) already holds all the places of the line but one (`perCaller`, `limit: convert-per-caller`) (Retry-After).'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      // Off the event loop, bounded in time and heap (src/api/convert.ts).
      const r = await convertOffThread(body, { caller: shareCallerOf(c) });
      if (r.ok) return c.json(r.text === undefined ? { value: r.value } : { text: r.text, value: r.value }, 200);
      if ('busy' in r && r.perCaller !== undefined) {
        throw shareRefusal(c, r.perCaller, {
          limit: 'convert-per-caller',
          retryAfterSeconds: 1,
          holds: `holds ${r.perCaller} of the ${MAX_CONVERSIONS + MAX_WAITING_CONVERSIONS} places of the conversions' line (converting and waiting)`,
          next: 'try again in a second',
        });
      }
      if ('busy' in r || 'unavailable' in r) {
        c.header('Retry-After', '1');
        throw unavailable('busy' in r ? 'the server is converting as many documents as it converts at once; try again in a second' : r.unavailable);
      }
      throw badRequest(r.detail, [{ path: 'text', message: r.message }]);
    },
  );

  return app;
}
