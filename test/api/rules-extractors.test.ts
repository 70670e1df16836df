import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase } from '../helpers/db.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';

describe('rule tester and configured extractors', function () {
  it('extracts the environment the way the worker does (SELFHEAL_EXTRACTORS_FILE)', async function () {
    const db = await createTestDatabase();
    const temporal = await testTemporal();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address });
    const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<cluster>k8s-[a-z0-9-]+)\\]' }] };
    const app = createApp({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'silent' }), extractors }, allRoutes);
    const body = {
      rule: {
        name: 'cluster-rule',
        actions: [{ type: 'pagerduty.note', content: 'cluster {{ environment.cluster }}' }],
        conditions: { field: 'environment.cluster', op: 'equals', value: 'k8s-eu-1' },
      },
      payload: sampleFor('v3-incident.triggered-01.json', newIncidentId(), { data: { title: '[k8s-eu-1] node NotReady' } }),
    };
    const res = await app.request('/api/rules/test', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const result = (await res.json()) as { matched: boolean; renderedActions: { content?: string }[] };
    assert.equal(result.matched, true);
    assert.equal(result.renderedActions[0]?.content, 'cluster k8s-eu-1');
  });
});
