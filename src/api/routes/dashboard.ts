import { etag } from 'hono/etag';
import { isScalar, parseDocument, stringify, visit } from 'yaml';
import { z } from 'zod';
import { ASSET_PATH, dashboardBundle } from '../../dashboard/bundle.js';
import { dashboardHtml } from '../../dashboard/page.js';
import { DEFAULT_BODY_LIMITS, MAX_JSON_DEPTH, nestsDeeper } from '../body.js';
import type { AppDeps } from '../env.js';
import { badRequest, notFound } from '../problem.js';
import { authOf, guard, json, jsonBody, newRouter, op, open, problemResponse } from '../router.js';
import { pathParams } from '../schemas/common.js';

/** Same origin only; no inline script or style; nothing from elsewhere. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY' };

/** Asset names carry their content hash, so a browser may keep them for good; the page itself is revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The longest converted text answered: no rule that large could be sent back (a body is at most 1 MiB). */
const MAX_CONVERTED = DEFAULT_BODY_LIMITS.maxBytes;

/**
 * YAML to a value: no aliases (a rule needs none, and each one may repeat an anchored node as large as the
 * document), keys unique. The `yaml` library's own duplicate-key check compares every key of a mapping
 * with every other (a 64 KiB mapping of short keys held the event loop about 0.5 s here), so it is off
 * and keys are checked once each, through a set, instead.
 */
function parseYaml(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) throw doc.errors[0]!;
  let duplicate: string | undefined;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (seen.has(key)) {
          duplicate = key;
          return visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  if (duplicate !== undefined) throw new Error(`the key ${JSON.stringify(duplicate.slice(0, 100))} appears twice in one mapping`);
  return doc.toJS({ maxAliasCount: 0 });
}

/** The rule editor's conversion; a 400 naming `text` for what cannot be converted or is past a bound. */
function convertText(body: { text: string; from: 'json' | 'yaml'; to: 'json' | 'yaml' | 'object' }): { text?: string; value: unknown } {
  const format = body.from.toUpperCase();
  let value: unknown;
  try {
    value = body.from === 'json' ? JSON.parse(body.text) : parseYaml(body.text);
  } catch (err) {
    const message = err instanceof ReferenceError ? 'YAML aliases (*name) are not supported: a rule needs none' : (err as Error).message.split('\n')[0]!;
    throw badRequest(`not valid ${format}: ${message}`, [{ path: 'text', message }]);
  }
  // The same depth limit as a JSON body: whatever walks the value next (the answer's encoder) may not cope with more.
  if (nestsDeeper(value)) throw badRequest(`the ${format} document nests deeper than ${MAX_JSON_DEPTH} levels`, [{ path: 'text', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }]);
  if (body.to === 'object') return { value };
  const text = body.to === 'json' ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 });
  if (text.length > MAX_CONVERTED) {
    throw badRequest(`the converted document is ${text.length} characters; the limit is ${MAX_CONVERTED}`, [{ path: 'text', message: `converts to more than ${MAX_CONVERTED} characters` }]);
  }
  return { text, value };
}

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
  const uiConfig = { temporalUiUrl: (deps.temporalUiUrl ?? deps.config.temporal.uiUrl).replace(/\/+$/, ''), namespace: deps.config.temporal.namespace };

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
    op(guard(authOf(deps), 'read', { body: true }), {
      method: 'post',
      path: '/ui/convert',
      tags,
      summary: "YAML ⇄ JSON for the dashboard's rule editor",
      request: { body: jsonBody(convertSchema) },
      responses: {
        200: json('The converted text and the value.', z.object({ text: z.string().optional(), value: z.unknown() })),
        400: problemResponse('Not valid JSON or YAML (a YAML key twice in one mapping included), or past a bound (aliases, depth, converted size).'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return c.json(convertText(body), 200);
    },
  );

  return app;
}
