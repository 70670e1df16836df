import assert from 'node:assert/strict';
import type { KyselyPlugin } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { READINESS_REUSE_MS } from '../../src/api/routes/health.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase } from '../helpers/db.js';
import { proxyDatabase } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/stack.js';
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
      // The answer before the outage serves for a second at most.
      const down = await eventually(async () => {
        const res = await app.request('/readyz');
        return res.status === 503 && res;
      }, 5_000, '/readyz to see the outage');
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
  // /readyz is unauthenticated: its callers must not set the pace of Postgres and Temporal, nor of the log.
  it('/readyz probes its dependencies once however many ask at once, and once a second however often they ask', async function () {
    const temporal = await testTemporal();
    const base = await createTestDatabase();
    const { proxy, url: viaProxy } = await proxyDatabase(base.url);
    const db = await openDatabase({ url: viaProxy, dataDir: '' });
    let pings = 0;
    const countPings: KyselyPlugin = {
      transformQuery(args) {
        if (JSON.stringify(args.node).includes('select 1')) pings += 1;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    let systemInfos = 0;
    const service = temporal.client.workflowService;
    const counted = new Proxy(service, {
      get(target, key, receiver) {
        if (key === 'getSystemInfo') return (...args: unknown[]) => ((systemInfos += 1), (target.getSystemInfo as (...a: unknown[]) => unknown).apply(target, args));
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const client = new Proxy(temporal.client, { get: (target, key, receiver) => (key === 'workflowService' ? counted : (Reflect.get(target, key, receiver) as unknown)) });
    const lines: string[] = [];
    try {
      const config = loadConfig({ NODE_ENV: 'test', TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: viaProxy });
      const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
      const app = createApp({ config, db: db.db.withPlugin(countPings), temporal: client, logger }, allRoutes);

      const burst = await Promise.all(Array.from({ length: 200 }, () => app.request('/readyz')));
      assert.deepEqual(new Set(burst.map((r) => r.status)), new Set([200]));
      assert.equal(pings, 1, 'one database probe for 200 requests at once (before: 200)');
      assert.equal(systemInfos, 1, 'one Temporal call for 200 requests at once (before: 200)');

      // Asked without pause for three reuse periods: about one probe per period, not one per request.
      let asked = 0;
      const until = Date.now() + 3 * READINESS_REUSE_MS;
      while (Date.now() < until) {
        await Promise.all(Array.from({ length: 20 }, () => app.request('/readyz')));
        asked += 20;
      }
      assert.ok(asked >= 200, `asked ${asked} times`);
      assert.ok(pings <= 5, `${pings} database probes for ${asked} requests over ${3 * READINESS_REUSE_MS} ms`);
      assert.ok(systemInfos <= 5, `${systemInfos} Temporal calls for ${asked} requests`);

      // While the database is down: one warning per probe, not one per request.
      proxy.down();
      await eventually(async () => (await app.request('/readyz')).status === 503, 5_000, '/readyz to see the outage');
      const warnings = () => lines.filter((l) => l.includes('readiness check failed')).length;
      const before = warnings();
      const probesBefore = pings;
      const down = await Promise.all(Array.from({ length: 200 }, () => app.request('/readyz')));
      assert.deepEqual(new Set(down.map((r) => r.status)), new Set([503]));
      assert.ok(pings - probesBefore <= 1, `${pings - probesBefore} database probes for 200 requests while it was down`);
      assert.ok(warnings() - before <= 1, `${warnings() - before} warning lines for 200 requests while it was down`);
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});
