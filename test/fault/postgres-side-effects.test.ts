import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createActionActivities } from '../../activities/actions.js';
import { createJobActivities } from '../../activities/jobs.js';
import type { PlannedAction, RunActionInput } from '../../activities/types.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { isPostgresUnavailable, whilePostgresUnavailable } from '../../src/db/unavailable.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

// An action allowed a single attempt (`retry: { maximumAttempts: 1 }`, a non-idempotent script) must not
// spend it on our own database restarting. The worker reaches Postgres through a TCP proxy cut for 1.5 s
// around one attempt: before the call (the claim), during it (the record of the answer). What is counted
// is the requests AT THE PEER and the one attempt's outcome.
describe('fault: Postgres cut around one attempt of a side effect', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let proxy: TcpProxy;
  let proxied: DatabaseHandle;
  let hook: HttpPeer;
  /** Set by a test: what the peer does while it answers (e.g. cut Postgres). */
  let duringCall: (() => void) | undefined;

  before(async function () {
    db = await createTestDatabase();
    let url: string;
    ({ proxy, url } = await proxyDatabase(db.url));
    proxied = await openDatabase({ url, dataDir: '', connectTimeoutMs: 1_000 });
    hook = await startHttpPeer([
      {
        method: 'POST',
        path: '/hook',
        handle: () => {
          duringCall?.();
          return { status: 204 };
        },
      },
    ]);
  });
  after(async function () {
    proxy?.up();
    await proxied?.close();
    await proxy?.close();
    await hook?.close();
  });

  function activities() {
    const env = {};
    return createActionActivities({
      db: proxied.db,
      logger: createLogger({ level: 'silent' }),
      integrations: createIntegrations(loadConfig(env), { env, fetch: globalThis.fetch }),
      env,
      sideEffects: { budgetMs: 20_000 },
    });
  }

  function webhookAction(): RunActionInput {
    const action: PlannedAction = { index: 0, id: 'fix', type: 'notify.webhook', when: 'always', params: { url: `${hook.url}/hook`, body: '{"restart":"db-7"}' }, retry: { maximumAttempts: 1 } };
    const incidentId = `Q${randomUUID().slice(0, 8).toUpperCase()}`;
    const eventId = `E${randomUUID()}`;
    return { actionRunId: `${incidentId}:r-1:fix:${eventId}`, incidentId, eventId, matchId: '1', ruleId: 'r-1', ruleVersion: 1, action, dryRun: false, previous: [] };
  }

  const atPeer = (i: RunActionInput) => hook.requests.filter((r) => r.headers['idempotency-key'] === i.actionRunId).length;
  const effect = (i: RunActionInput) => db.db.selectFrom('side_effects').select(['state', 'attempts']).where('key', '=', i.actionRunId).executeTakeFirst();

  it('Postgres out of reach when the attempt starts: the claim waits for it, and the one attempt calls the peer once', async function () {
    const i = webhookAction();
    proxy.down();
    const back = setTimeout(() => proxy.up(), 1_500);
    try {
      const result = await activities().executeAction(i);
      assert.equal(result.outputExcerpt, 'webhook delivered');
    } finally {
      clearTimeout(back);
      proxy.up();
    }
    assert.equal(atPeer(i), 1);
    assert.deepEqual(await effect(i), { state: 'done', attempts: 1 });
  });

  it('Postgres cut while the peer answers: the answer is recorded once it is back, and nothing is sent twice', async function () {
    const i = webhookAction();
    duringCall = () => {
      proxy.down();
      setTimeout(() => proxy.up(), 1_500);
    };
    try {
      const result = await activities().executeAction(i);
      assert.equal(result.outputExcerpt, 'webhook delivered');
    } finally {
      duringCall = undefined;
      proxy.up();
    }
    assert.equal(atPeer(i), 1);
    assert.deepEqual(await effect(i), { state: 'done', attempts: 1 });
  });

  it('a scheduled job target over SSH reads its management VM after Postgres is back, not failing its one attempt on the outage', async function () {
    // An environment without a management VM: once the read gets through, the answer is about the
    // environment; before the fix it was the connection error.
    const environment = `no-vm-${randomUUID().slice(0, 8)}`;
    await db.db.insertInto('environments').values({ name: environment, labels: '{}', maintenance_windows: '[]' }).execute();
    const jobs = createJobActivities({ db: proxied.db, logger: createLogger({ level: 'silent' }), env: {} });
    proxy.down();
    const back = setTimeout(() => proxy.up(), 1_500);
    try {
      await assert.rejects(jobs.runSshTarget({ jobRunId: 'j-1', environment, script: 'check.sh', args: [], timeoutSeconds: 5 }), (err: Error) => {
        assert.match(err.message, new RegExp(`environment ${environment} has no management VM`));
        return true;
      });
    } finally {
      clearTimeout(back);
      proxy.up();
    }
  });

  it('waits only for an unreachable Postgres, and only so long: a refused statement fails at once', async function () {
    // A statement Postgres refuses is not an outage: no waiting.
    const started = Date.now();
    await assert.rejects(
      whilePostgresUnavailable(() => proxied.pool.query('SELECT * FROM no_such_table'), { maxWaitMs: 10_000 }),
      (err: Error & { code?: string }) => err.code === '42P01' && !isPostgresUnavailable(err),
    );
    assert.ok(Date.now() - started < 2_000, `failed after ${Date.now() - started} ms`);
    // Unreachable for longer than the wait: the last connection error, after about the wait.
    proxy.down();
    try {
      const t0 = Date.now();
      await assert.rejects(whilePostgresUnavailable(() => proxied.pool.query('SELECT 1'), { maxWaitMs: 1_500 }), (err: Error) => isPostgresUnavailable(err));
      const waited = Date.now() - t0;
      assert.ok(waited >= 1_000 && waited < 6_000, `gave up after ${waited} ms`);
      // What pg says when the server is not there at all.
      const refused = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/postgres`, connectionTimeoutMillis: 1_000 });
      await assert.rejects(refused.connect(), (err: Error) => isPostgresUnavailable(err));
    } finally {
      proxy.up();
    }
  });
});
