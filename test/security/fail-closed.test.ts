// Defaults that fail closed, against the real processes: unsigned webhooks only with an explicit opt-in
// (npm start's, loudly, on 127.0.0.1), /readyz without error text, pool timeouts in every process, and a
// /metrics that neither multiplies database work per scrape nor waits for a slow database.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startDevWith } from '../helpers/dev.js';
import { startChildRoot } from '../helpers/fault-process.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, startStack, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';
import { proxyDatabase } from '../helpers/tcp-proxy.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { startApiProcess } from './attack.js';

const HANG = 60_000;

/** Local addresses (as printed) of the sockets listening on `port`, from the kernel's tables. */
function listeners(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue;
      const [hexIp, hexPort] = local.split(':');
      if (parseInt(hexPort!, 16) !== port) continue;
      if (hexIp!.length === 8) out.push(hexIp!.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.'));
      else out.push(hexIp === '00000000000000000000000000000000' ? '::' : hexIp === '00000000000000000000000001000000' ? '::1' : hexIp!);
    }
  }
  return out;
}

describe('security: fail closed', function () {
  this.timeout(300_000);
  let temporal: TestTemporal;
  let db: TestDatabase;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
  });

  const base = () => ({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: `security-closed-${Date.now()}`, SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN });
  const unsigned = (url: string, incidentId = newIncidentId()) => {
    const body = JSON.stringify(sampleFor('v3-incident.triggered-01.json', incidentId));
    return fetch(`${url}/webhooks/pagerduty`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(HANG) });
  };

  describe('unsigned webhooks', function () {
    it('are refused, saying how to configure, when no secret is set and nothing opts in (outside production too)', async function () {
      for (const NODE_ENV of ['development', 'test']) {
        const api = await startApiProcess({ ...base(), NODE_ENV });
        try {
          const res = await unsigned(api.url);
          const problem = (await res.json()) as { detail: string };
          assert.equal(res.status, 503, `${NODE_ENV}: ${JSON.stringify(problem)}`);
          assert.equal(res.headers.get('content-type'), 'application/problem+json');
          assert.match(problem.detail, /set PAGERDUTY_WEBHOOK_SECRETS .*or PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true for local development/);
          assert.match(api.child.output(), /PAGERDUTY_WEBHOOK_SECRETS is not set: the webhook refuses every delivery/);
        } finally {
          await api.stop();
        }
      }
      // Nothing reached Temporal or the database.
      assert.equal(await db.db.selectFrom('incident_events').select('event_id').executeTakeFirst(), undefined);
    });

    it('are refused with a secret configured, even with the opt-in; accepted with the opt-in alone, with a warning', async function () {
      const signedOnly = await startApiProcess({ ...base(), PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET, PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: 'true' });
      try {
        const res = await unsigned(signedOnly.url);
        assert.equal(res.status, 401);
        assert.match(((await res.json()) as { detail: string }).detail, /X-PagerDuty-Signature header is missing/);
      } finally {
        await signedOnly.stop();
      }
      const optedIn = await startApiProcess({ ...base(), PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: 'true' });
      try {
        assert.equal((await unsigned(optedIn.url)).status, 202);
        assert.match(optedIn.child.output(), /PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true and no PAGERDUTY_WEBHOOK_SECRETS: UNSIGNED webhooks are accepted/);
      } finally {
        await optedIn.stop();
      }
    });

    it('cannot be opted into in production: the API stops at start naming the variable', async function () {
      const child = startChildRoot('src/server.ts', { ...base(), PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET, PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: 'true' });
      await eventually(async () => child.process.exitCode !== null || /API listening/.test(child.output()), HANG, 'the API to exit');
      assert.equal(child.process.exitCode, 2, child.output().slice(-500));
      assert.match(child.output(), /^Invalid configuration: PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true is not allowed when NODE_ENV=production/m);
    });

    it('npm start (src/dev.ts) listens on 127.0.0.1 only, accepts unsigned webhooks there and says so loudly', async function () {
      const dev = await startDevWith(base());
      const port = dev.port;
      try {
        assert.deepEqual(listeners(port), ['127.0.0.1'], 'the API listens on loopback only');
        assert.match(dev.child.output(), /WARNING\s+UNSIGNED webhooks are accepted on 127\.0\.0\.1 \(no PAGERDUTY_WEBHOOK_SECRETS; PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true\)/);
        const res = await unsigned(`http://127.0.0.1:${port}`);
        assert.equal(res.status, 202, await res.clone().text());
        assert.equal(((await res.json()) as { status: string }).status, 'accepted');
        // A web page the developer has open may not post them: a cross-site text/plain POST needs no CORS
        // preflight, and a DNS-rebound name makes it same-origin; the browser still says where it comes from.
        const fromPages: Record<string, string>[] = [
          { 'content-type': 'text/plain', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' },
          { 'content-type': 'text/plain', origin: `http://rebound.example:${port}`, 'sec-fetch-site': 'same-origin' },
          { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
        ];
        const refused: string[] = [];
        for (const headers of fromPages) {
          const id = newIncidentId();
          refused.push(id);
          const page = await fetch(`http://127.0.0.1:${port}/webhooks/pagerduty`, { method: 'POST', headers, body: JSON.stringify(sampleFor('v3-incident.triggered-01.json', id)), signal: AbortSignal.timeout(HANG) });
          assert.equal(page.status, 403, JSON.stringify(headers));
          assert.equal(page.headers.get('content-type'), 'application/problem+json');
          assert.match(((await page.json()) as { detail: string }).detail, /not taken from a browser/);
        }
        // The same stack stores what curl posted, and none of what the pages did.
        const fromCurl = newIncidentId();
        assert.equal((await unsigned(`http://127.0.0.1:${port}`, fromCurl)).status, 202);
        await eventually(async () => (await db.db.selectFrom('incident_events').select('event_id').where('incident_id', '=', fromCurl).executeTakeFirst()) ?? undefined, HANG, 'the curl delivery stored');
        assert.deepEqual(await db.db.selectFrom('incident_events').select('incident_id').where('incident_id', 'in', refused).execute(), []);
      } finally {
        await dev.stop();
      }
    });
  });

  it('/readyz names the dependency that is down, never its error text', async function () {
    const { proxy, url: viaProxy } = await proxyDatabase(db.url);
    const api = await startApiProcess({ ...base(), DATABASE_URL: viaProxy, PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET });
    try {
      assert.equal((await fetch(`${api.url}/readyz`)).status, 200);
      proxy.down();
      // The answer before the outage serves for a second at most (READINESS_REUSE_MS).
      const { res, text } = await eventually(async () => {
        const r = await fetch(`${api.url}/readyz`, { signal: AbortSignal.timeout(HANG) });
        const t = await r.text();
        return r.status === 503 && { res: r, text: t };
      }, HANG, '/readyz to see the outage');
      assert.equal(res.status, 503);
      const body = JSON.parse(text) as { detail: string; checks: unknown };
      assert.equal(body.detail, 'not ready: database unreachable');
      assert.deepEqual(body.checks, { database: { status: 'down' }, temporal: { status: 'up' } });
      for (const leak of [String(proxy.port), 'ECONNREFUSED', 'Connection', 'terminated', 'postgres', '127.0.0.1']) assert.ok(!text.includes(leak), `${leak} in ${text}`);
      // The reason is in the process's log instead.
      await eventually(async () => /"dependency":"database".*"msg":"readiness check failed"/.test(api.child.output()), 10_000, 'the readiness log line');
    } finally {
      await api.stop();
      await proxy.close();
    }
  });

  describe('database timeouts in every process', function () {
    let hole: Server;
    let holeUrl: string;
    before(async function () {
      // Accepts connections and never says a word: a database host that hangs.
      hole = createServer(() => {});
      await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
      holeUrl = `postgres://postgres@127.0.0.1:${(hole.address() as { port: number }).port}/selfheal`;
    });
    after(async function () {
      hole.close();
    });

    it('the API and the worker give up on a database that never answers, naming the failure, instead of hanging', async function () {
      for (const entry of ['src/server.ts', 'src/worker.ts'] as const) {
        const child = startChildRoot(entry, { ...base(), PORT: '0', HOST: '127.0.0.1', DATABASE_URL: holeUrl, DATABASE_CONNECT_TIMEOUT_MS: '1000', PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET });
        await eventually(async () => child.process.exitCode !== null, HANG, `${entry} to give up`);
        assert.equal(child.process.exitCode, 1, child.output().slice(-500));
        assert.match(child.output(), /(server|worker) failed: .*(timeout|terminated)/i);
      }
    });

    it('a statement stuck behind a lock ends after DATABASE_STATEMENT_TIMEOUT_MS with a 503, and the pool stays usable', async function () {
      const api = await startApiProcess({ ...base(), PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET, DATABASE_STATEMENT_TIMEOUT_MS: '1000' });
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE rules IN ACCESS EXCLUSIVE MODE');
        const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
        // The lock is held until this test lets go: without a statement timeout these would never answer.
        const answers = await Promise.all(Array.from({ length: 12 }, () => fetch(`${api.url}/api/rules`, { headers: auth, signal: AbortSignal.timeout(HANG) })));
        for (const res of answers) {
          assert.equal(res.status, 503);
          assert.equal(res.headers.get('retry-after'), '5');
          assert.equal(((await res.json()) as { detail: string }).detail, 'the database did not answer in time; retry later');
        }
        // Twelve timed-out statements later (more than the pool's ten connections), the pool still works.
        assert.equal((await fetch(`${api.url}/api/environments`, { headers: auth, signal: AbortSignal.timeout(HANG) })).status, 200);
      } finally {
        await locker.query('ROLLBACK').catch(() => {});
        await locker.end();
        await api.stop();
      }
    });
  });

  describe('/metrics', function () {
    let stack: Stack;
    before(async function () {
      stack = await startStack({ env: { METRICS_REFRESH_SECONDS: '0' } });
    });
    after(async function () {
      await stack?.stop();
    });

    /** An app whose database connection counts the statements it sends, by the table they read. */
    async function countingApp(env: Record<string, string>) {
      const handle = await openDatabase({ url: stack.db.url, dataDir: '', poolSize: 10 });
      const counts = new Map<string, number>();
      const connect = handle.pool.connect.bind(handle.pool) as () => Promise<pg.PoolClient>;
      (handle.pool as unknown as { connect: () => Promise<pg.PoolClient> }).connect = async () => {
        const client = await connect();
        const tagged = client as pg.PoolClient & { counted?: true };
        if (!tagged.counted) {
          tagged.counted = true;
          const query = client.query.bind(client) as (...args: unknown[]) => unknown;
          (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
            const sql = typeof args[0] === 'string' ? args[0] : '';
            for (const table of ['job_target_results', 'action_runs', 'rule_matches']) if (sql.includes(`"${table}"`)) counts.set(table, (counts.get(table) ?? 0) + 1);
            return query(...args);
          };
        }
        return client;
      };
      const config = loadConfig({ NODE_ENV: 'test', TEMPORAL_ADDRESS: stack.temporal.address, DATABASE_URL: stack.db.url, SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, ...env });
      const app = createApp({ config, db: handle.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
      return { app, counts, close: () => handle.close() };
    }

    it('N concurrent scrapes cost the database one refresh, and scrapes within the period none', async function () {
      // What one refresh reads, measured on an app that is scraped once.
      const one = await countingApp({ METRICS_REFRESH_SECONDS: '3600' });
      let single: Map<string, number>;
      try {
        assert.equal((await one.app.request('/metrics')).status, 200);
        single = new Map(one.counts);
      } finally {
        await one.close();
      }
      assert.ok((single.get('job_target_results') ?? 0) >= 1 && (single.get('rule_matches') ?? 0) >= 1, JSON.stringify([...single]));
      const { app, counts, close } = await countingApp({ METRICS_REFRESH_SECONDS: '3600' });
      try {
        const answers = await Promise.all(Array.from({ length: 25 }, () => app.request('/metrics')));
        for (const res of answers) assert.equal(res.status, 200);
        for (let i = 0; i < 10; i++) assert.equal((await app.request('/metrics')).status, 200);
        // Twenty-five concurrent and ten later scrapes read exactly what one refresh reads.
        assert.deepEqual([...counts].sort(), [...single].sort());
      } finally {
        await close();
      }
    });

    it('a slow database delays the series, not the answers, and never takes the pool', async function () {
      const { app, close } = await countingApp({ METRICS_REFRESH_SECONDS: '0' });
      const locker = new pg.Client({ connectionString: stack.db.url });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE action_runs IN ACCESS EXCLUSIVE MODE');
        // Scrapes arrive while the refresh is stuck behind the lock: they are answered all the same.
        const scrapes = await Promise.all(Array.from({ length: 20 }, () => app.request('/metrics')));
        for (const res of scrapes) assert.equal(res.status, 200);
        const text = await scrapes.at(-1)!.text();
        assert.match(text, /^selfheal_webhooks_received_total\{outcome="accepted"\} \d+$/m);
        // The stuck refresh holds one connection at most: the rest of the API still gets the database.
        const stuck = await eventually(async () => {
          const r = await stack.db.pool.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%action_runs%'`);
          return r.rows[0].n > 0 ? r : undefined;
        }, 20_000, 'the refresh to wait on the lock');
        assert.equal(stuck.rows[0].n, 1, 'exactly one metrics query waits on the lock');
        const rules = await Promise.race([app.request('/api/rules', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the API could not get a database connection')), 20_000))]);
        assert.equal(rules.status, 200);
        assert.equal((await app.request('/readyz')).status, 200, 'readiness still reaches the database');
      } finally {
        await locker.query('ROLLBACK').catch(() => {});
        await locker.end();
        await close();
      }
    });
  });
});
