// Every zod schema has `.openapi()`, whatever module a process loads first. zod 4 copies ZodType's prototype
// methods onto each schema as it is built, so a schema built before the OpenAPI extension ran never gets
// `.openapi()`; and the OpenAPI registry calls it on each schema registered as a component. Before
// src/domain/zod.ts, @hono/zod-openapi applied the extension when first imported: one mocha run given
// test/unit/** and then the API tests loaded the webhook schema (src/pagerduty/webhook.ts) first, and every
// app the API tests built failed in webhookRoutes with "zodSchema.openapi is not a function". Each case runs in
// a fresh Node, so nothing this mocha process loaded before hides the order.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The file URL of a module of the repository, for an import in the child. */
const urlOf = (rel: string): string => pathToFileURL(path.join(ROOT, rel)).href;

/** Runs `source`, an ES module, in a new Node with tsx (as mocha and the server run): its output, or why it failed. */
function freshNode(source: string): string {
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `the child failed:\n${run.stderr}${run.stdout}`);
  return run.stdout;
}

/** Every module under src that uses zod at run time (imports `z`, from zod or from the module that re-exports it). */
function schemaModules(): string[] {
  const out: string[] = [];
  for (const rel of readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.startsWith(`dashboard${path.sep}client`)) continue;
    if (/^import \{[^}]*\bz\b[^}]*\} from '[^']+';$/m.test(readFileSync(path.join(ROOT, 'src', rel), 'utf8'))) out.push(path.join('src', rel));
  }
  return out.sort();
}

describe('zod schemas and the OpenAPI extension, whatever loads first', function () {
  this.timeout(120_000);

  it('the webhook routes register the PagerDuty body as a component after a process loaded that schema first', () => {
    const out = freshNode(`
      await import(${JSON.stringify(urlOf('src/pagerduty/webhook.ts'))});
      const { webhookRoutes } = await import(${JSON.stringify(urlOf('src/api/routes/webhooks.ts'))});
      const app = webhookRoutes({ config: { pagerduty: { webhookSecrets: [], webhookAllowUnsigned: false, webhookMaxInFlight: 1 } } });
      const doc = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'order', version: '0' } });
      process.stdout.write(JSON.stringify(doc.components.schemas.PagerDutyWebhook.required), () => process.exit(0));
    `);
    assert.deepEqual(JSON.parse(out), ['event']);
  });

  it('every schema a src module exports registers as an OpenAPI component, the API loaded after them', () => {
    // The API's modules (which load @hono/zod-openapi) come last, so the others are built before it.
    const modules = schemaModules();
    const api = (rel: string) => rel.startsWith(path.join('src', 'api'));
    const ordered = [...modules.filter((m) => !api(m)), ...modules.filter(api)];
    assert.ok(ordered.includes(path.join('src', 'pagerduty', 'webhook.ts')) && ordered.includes(path.join('src', 'domain', 'rules', 'actions.ts')), ordered.join(', '));
    const out = freshNode(`
      const modules = ${JSON.stringify(ordered.map((rel) => [rel, urlOf(rel)]))};
      const loaded = [];
      for (const [rel, url] of modules) loaded.push([rel, await import(url)]);
      const { OpenAPIHono } = await import('@hono/zod-openapi');
      const registry = new OpenAPIHono().openAPIRegistry;
      let schemas = 0;
      const failed = [];
      for (const [rel, exports] of loaded) {
        for (const [name, value] of Object.entries(exports)) {
          if (!value || typeof value !== 'object' || !('_zod' in value) || typeof value.safeParse !== 'function') continue;
          schemas++;
          try {
            registry.register(name, value);
          } catch (err) {
            failed.push(rel + ' ' + name + ': ' + err.message);
          }
        }
      }
      // Some modules keep timers or pools; the answer is written, then the child ends.
      process.stdout.write(JSON.stringify({ schemas, failed }), () => process.exit(0));
    `);
    const { schemas, failed } = JSON.parse(out) as { schemas: number; failed: string[] };
    assert.deepEqual(failed, []);
    assert.ok(schemas >= 20, `only ${schemas} exported schemas found`);
  });
});
