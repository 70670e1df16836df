// Migration 2027-01-01T00-00-agent-queues-from-history: the agent queues of environments deleted before the
// upgrade that created agent_queues_used (2026-12-30T00-00-agent-queues-used) are remembered too, from the
// audit log and the job target results, so a non-admin cannot register an environment on one of them and
// receive the tasks its Doctor agent (stopped now, back later) was started for (docs/security.md, "Authority").
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { Migrator } from 'kysely/migration';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { migrateToLatest, migrations } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { createEmptyDatabase } from '../helpers/db.js';

const FROM_HISTORY = '2027-01-01T00-00-agent-queues-from-history';
const ADMIN = 'agent-queues-migration-admin-token-0123456789';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('migration 2027-01-01T00-00-agent-queues-from-history: queues of environments deleted before the upgrade', function () {
  it('remembers the queues the audit log and job results name, and a non-admin create on one is refused (403 naming agentTaskQueue)', async function () {
    const handle = await createEmptyDatabase({ poolSize: 4 });
    try {
      assert.ok(FROM_HISTORY in migrations, 'the migration is registered');
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < FROM_HISTORY));
      const migrator = new Migrator({ db: handle.db, provider: { getMigrations: async () => before }, migrationTableName: 'selfheal_migrations', migrationLockTableName: 'selfheal_migrations_lock' });
      assert.equal((await migrator.migrateToLatest()).error, undefined);

      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows written as the server of that time wrote them
      const db = handle.db as any;
      const auditRow = (action: string, entityId: string, b: unknown, a: unknown, team: string | null = 'default') =>
        db.insertInto('audit_log').values({ actor: 'token:ops', action, entity_type: 'environment', entity_id: entityId, before: b === null ? null : JSON.stringify(b), after: a === null ? null : JSON.stringify(a), team }).execute();
      const view = (name: string, agentTaskQueue: string) => ({ name, team: 'default', description: null, labels: {}, agentTaskQueue, ssh: null, maintenanceWindows: [] });
      // Registered on a queue of its own, moved to another, and deleted: both queues were its (each the
      // default queue of another name, which a write token may register).
      await auditRow('environment.create', 'gone-custom', null, view('gone-custom', 'selfheal-agent-ops-7'));
      await auditRow('environment.update', 'gone-custom', view('gone-custom', 'selfheal-agent-ops-7'), view('gone-custom', 'selfheal-agent-ops-8'));
      await auditRow('environment.delete', 'gone-custom', view('gone-custom', 'selfheal-agent-ops-8'), null);
      // Registered on its default queue, checked once, and deleted, before teams (no team on its rows).
      await auditRow('environment.create', 'gone-default', null, view('gone-default', 'selfheal-agent-gone-default'), null);
      await auditRow('environment.check', 'gone-default', null, { workflowId: 'agent-check-gone-default-1', taskQueue: 'selfheal-agent-gone-default', script: 'health-check.sh' }, null);
      await auditRow('environment.delete', 'gone-default', view('gone-default', 'selfheal-agent-gone-default'), null, null);
      // Only the authority migration's ssh rows (no queue named): its default queue.
      await auditRow('environment.update', 'gone-ssh', { ssh: { host: 'h' } }, { ssh: { host: 'h' }, reason: 'ssh.scriptsDir is operator configuration now' });
      // A queue that is not a string is no queue: the default counts.
      await auditRow('environment.update', 'gone-odd', { agentTaskQueue: 7 }, { agentTaskQueue: ['x'] });
      // Known only from a job's results.
      await db.insertInto('job_target_results').values({ job_run_id: 'run-gone', environment: 'gone-job', via: 'agent', status: 'succeeded' }).execute();
      // Registered still: recorded at the 2026-12-30 upgrade already, under its own record.
      await db.insertInto('agent_queues_used').values({ queue: 'selfheal-agent-kept', environment: 'kept', team: 'default' }).execute();
      await auditRow('environment.create', 'kept-again', null, view('kept-again', 'selfheal-agent-kept'));

      const applied = await migrateToLatest(handle.db);
      assert.deepEqual(applied.map((r) => [r.migrationName, r.status]).filter(([n]) => n === FROM_HISTORY), [[FROM_HISTORY, 'Success']]);

      const used = await handle.db.selectFrom('agent_queues_used').select(['queue', 'environment', 'team']).orderBy('queue').execute();
      assert.deepEqual(used, [
        { queue: 'selfheal-agent-gone-default', environment: 'gone-default', team: 'default' },
        { queue: 'selfheal-agent-gone-job', environment: 'gone-job', team: 'default' },
        { queue: 'selfheal-agent-gone-odd', environment: 'gone-odd', team: 'default' },
        { queue: 'selfheal-agent-gone-ssh', environment: 'gone-ssh', team: 'default' },
        { queue: 'selfheal-agent-kept', environment: 'kept', team: 'default' },
        { queue: 'selfheal-agent-ops-7', environment: 'gone-custom', team: 'default' },
        { queue: 'selfheal-agent-ops-8', environment: 'gone-custom', team: 'default' },
      ]);

      // What a non-admin observes: Temporal lists no agent on any of these queues (each agent stopped longer
      // than it lists one), and still the create is refused.
      const temporal = { workflowService: { describeTaskQueue: async () => ({ pollers: [] }) } } as unknown as Client;
      const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, TEMPORAL_ADDRESS: '127.0.0.1:1' });
      const app = createApp({ config, db: handle.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
      const call = async (token: string, method: string, path: string, body?: unknown) => {
        const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        const text = await res.text();
        return { status: res.status, type: res.headers.get('content-type'), body: (text ? JSON.parse(text) : {}) as Doc };
      };
      const issued = await call(ADMIN, 'POST', '/api/tokens', { name: 'writer', scopes: ['write'] });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const writer = String(issued.body.token);

      const refused = async (body: { name: string; agentTaskQueue?: string }, queue: string) => {
        const res = await call(writer, 'POST', '/api/environments', body);
        assert.equal(res.status, 403, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
        assert.equal(res.type, 'application/problem+json');
        assert.deepEqual((res.body.errors as { path: string }[]).map((e) => e.path), ['agentTaskQueue']);
        assert.match(res.body.detail, new RegExp(`agent task queue ${queue} was an environment's before`));
        assert.equal(await handle.db.selectFrom('environments').select('name').where('name', '=', body.name).executeTakeFirst(), undefined, 'nothing created');
      };
      // A write token cannot name a queue (authority), but registering `ops-7` takes `selfheal-agent-ops-7`.
      await refused({ name: 'ops-7' }, 'selfheal-agent-ops-7');
      await refused({ name: 'ops-8' }, 'selfheal-agent-ops-8');
      await refused({ name: 'gone-default' }, 'selfheal-agent-gone-default');
      await refused({ name: 'gone-ssh' }, 'selfheal-agent-gone-ssh');
      await refused({ name: 'gone-job' }, 'selfheal-agent-gone-job');

      // A queue no record names is the writer's to take; an admin may take a remembered one.
      assert.equal((await call(writer, 'POST', '/api/environments', { name: 'fresh-name' })).status, 201);
      assert.equal((await call(ADMIN, 'POST', '/api/environments', { name: 'gone-custom', agentTaskQueue: 'selfheal-agent-ops-7' })).status, 201);
      assert.deepEqual(await migrateToLatest(handle.db), [], 'a second run applies nothing');
    } finally {
      await handle.close();
    }
  });
});
