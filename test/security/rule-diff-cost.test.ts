// GET /api/rules/{id}/diff (read scope, cost 1) compared two versions by serialising each subtree again at
// every level it descended: a rule of 400 KB (1 MB may be stored) whose bulk sits under its 12 levels of conditions (every
// bound of a rule kept) was serialised some 50 times over, 0.5 s of the event loop per diff, and one read
// token's budget (20 a second) asked for more work than the loop has. The work is counted here as the
// characters JSON.stringify writes while the request is answered (the answer itself included), not timed.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const ADMIN = 'rule-diff-cost-admin-0123456789';

/** Conditions nested `depth` + 1 levels deep (12 with the predicates: the limit), `leaves` predicates of ~4 KB at the bottom, all differing by `mark`. */
function deepConditions(mark: string, depth = 10, leaves = 100): unknown {
  let node: unknown = { any: Array.from({ length: leaves }, (_, i) => ({ field: 'incident.title', op: 'contains', value: `${mark}${'v'.repeat(4000)}${i}` })) };
  for (let d = 0; d < depth; d++) node = { all: [node] };
  return node;
}

describe('security: a rule diff costs about the size of the two versions', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => db?.close());

  const call = async (method: string, path: string, body?: unknown, token = ADMIN) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
  };

  it('GET /api/rules/{id}/diff of two 400 KB versions nested 12 levels deep writes a few times their size in JSON, not 50 times', async function () {
    const rule = (mark: string) => ({ name: 'deep-diff', services: ['PDIFF01'], conditions: deepConditions(mark), actions: [{ type: 'pagerduty.note', content: 'x' }] });
    const created = await call('POST', '/api/rules', rule('a'));
    assert.equal(created.status, 201, created.text.slice(0, 500));
    const id = created.body.id as string;
    const updated = await call('PUT', `/api/rules/${id}`, { ...rule('b'), version: 1 });
    assert.equal(updated.status, 200, updated.text.slice(0, 500));
    const issued = await call('POST', '/api/tokens', { name: 'diff-reader', scopes: ['read'] });
    const reader = issued.body.token as string;
    const size = JSON.stringify(rule('a')).length;

    const stringify = JSON.stringify;
    let written = 0;
    JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
      const text = stringify(...args);
      written += text?.length ?? 0;
      return text;
    }) as typeof JSON.stringify;
    let diff: Awaited<ReturnType<typeof call>>;
    try {
      diff = await call('GET', `/api/rules/${id}/diff?from=1&to=2`, undefined, reader);
    } finally {
      JSON.stringify = stringify;
    }
    assert.equal(diff.status, 200, diff.text.slice(0, 500));
    assert.equal((diff.body.changes as unknown[]).length, 100, 'each predicate changed');
    // Both versions once (their changed leaves), and the answer that carries both again: about 4 times.
    assert.ok(written < 6 * size, `wrote ${written} characters of JSON for two versions of ${size}: ${(written / size).toFixed(1)} times their size`);
  });
});
