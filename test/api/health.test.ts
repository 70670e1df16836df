import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase } from '../helpers/db.js';
import { proxyDatabase } from '../helpers/tcp-proxy.js';
import { testTemporal } from '../helpers/temporal.js';

describe('health and readiness', function () {
  it('/healthz is up and /readyz names the database when it is down, and recovers', async function () {
    const temporal = await testTemporal();
    const base = await createTestDatabase();
    const { proxy, url: viaProxy } = await proxyDatabase(base.url);
    const db = await openDatabase({ url: viaProxy, dataDir: '' });
    try {
      const config = loadConfig({ NODE_ENV: 'test', TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: viaProxy });
      const app = createApp({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);

      const ready = await app.request('/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { database: { status: 'up' }, temporal: { status: 'up' } });

      proxy.down();
      assert.equal((await app.request('/healthz')).status, 200);
      const down = await app.request('/readyz');
      assert.equal(down.status, 503);
      assert.equal(down.headers.get('content-type'), 'application/problem+json');
      const body = (await down.json()) as { detail: string; checks: Record<string, { status: string }> };
      assert.match(body.detail, /^not ready: database /);
      assert.equal(body.checks.database?.status, 'down');
      assert.equal(body.checks.temporal?.status, 'up');

      proxy.up();
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await app.request('/readyz')).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 200);
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});
