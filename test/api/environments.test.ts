import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildAgentWorker } from '../../src/agent.js';
import { repoRoot } from '../../src/temporal/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import path from 'node:path';

const TOKEN = 'env-test-admin-token-0123456789';
const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;

describe('API /api/environments', function () {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let app: ReturnType<typeof createApp>;
  const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: TOKEN, TEMPORAL_ADDRESS: 'localhost:7233' });

  const api = (p: string, init: RequestInit = {}) =>
    Promise.resolve(app.request(p, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } }));
  const post = (body: unknown) => api('/api/environments', { method: 'POST', body: JSON.stringify(body) });

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    app = createApp({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  beforeEach(async function () {
    await db.truncate();
  });

  it('creates, reads, updates and deletes an environment, with an audit trail', async function () {
    const created = await post({
      name: 'prod-eu',
      labels: { tier: 'prod', region: 'eu' },
      ssh: { host: 'mgmt.prod-eu.example', user: 'selfheal', keyRef: 'env:SELFHEAL_SECRET_PROD_EU_SSH_KEY', hostKeyFingerprint: FINGERPRINT },
      maintenanceWindows: [{ days: ['sat'], start: '22:00', end: '02:00', timezone: 'Europe/Paris' }],
    });
    assert.equal(created.status, 201);
    const body = (await created.json()) as { agentTaskQueue: string; ssh: { port: number } };
    assert.equal(body.agentTaskQueue, 'selfheal-agent-prod-eu');
    assert.equal(body.ssh.port, 22);

    const list = (await (await api('/api/environments')).json()) as { items: { name: string }[] };
    assert.deepEqual(list.items.map((e) => e.name), ['prod-eu']);

    const put = await api('/api/environments/prod-eu', { method: 'PUT', body: JSON.stringify({ labels: { tier: 'prod' }, agentTaskQueue: 'custom-queue' }) });
    assert.equal(put.status, 200);
    const updated = (await put.json()) as { labels: Record<string, string>; ssh: unknown; agentTaskQueue: string };
    assert.deepEqual(updated.labels, { tier: 'prod' });
    assert.equal(updated.ssh, null);
    assert.equal(updated.agentTaskQueue, 'custom-queue');

    assert.equal((await api('/api/environments/prod-eu', { method: 'DELETE' })).status, 204);
    assert.equal((await api('/api/environments/prod-eu')).status, 404);
    const audit = await db.db.selectFrom('audit_log').select(['action', 'actor']).where('entity_id', '=', 'prod-eu').orderBy('id').execute();
    assert.deepEqual(audit.map((a) => a.action), ['environment.create', 'environment.update', 'environment.delete']);
    assert.ok(audit.every((a) => a.actor === 'admin-token'));
  });

  it('refuses (409) to delete an environment a live job names in its targets, naming the job; deletes it once the job is gone', async function () {
    assert.equal((await post({ name: 'batch-a' })).status, 201);
    const job = (id: string, deleted = false) =>
      db.db
        .insertInto('jobs')
        .values({ id, name: id, definition: JSON.stringify({ id, name: id, schedule: { interval: '1h' }, targets: { environments: ['batch-a'] }, script: 'probe.sh' }), enabled: true, schedule_id: `job-${id}`, ...(deleted ? { deleted_at: new Date() } : {}) })
        .execute();
    await job('nightly');
    await job('old-one', true);
    const refused = await api('/api/environments/batch-a', { method: 'DELETE' });
    assert.equal(refused.status, 409);
    assert.equal(refused.headers.get('content-type'), 'application/problem+json');
    assert.match(((await refused.json()) as { detail: string }).detail, /^environment batch-a is a target of job nightly: change or delete it first; nothing was deleted$/);
    assert.equal((await api('/api/environments/batch-a')).status, 200, 'still there');
    await db.db.updateTable('jobs').set({ deleted_at: new Date() }).where('id', '=', 'nightly').execute();
    assert.equal((await api('/api/environments/batch-a', { method: 'DELETE' })).status, 204, 'a deleted job names nothing');
  });

  it('answers 409 on a duplicate name and 404 for an unknown one', async function () {
    assert.equal((await post({ name: 'staging' })).status, 201);
    const dup = await post({ name: 'staging' });
    assert.equal(dup.status, 409);
    assert.equal(dup.headers.get('content-type'), 'application/problem+json');
    assert.equal((await api('/api/environments/nope', { method: 'PUT', body: '{}' })).status, 404);
    assert.equal((await api('/api/environments/nope', { method: 'DELETE' })).status, 404);
  });

  it('rejects bad bodies with the offending field paths, and key material where a reference belongs', async function () {
    const res = await post({
      name: 'Bad Name',
      ssh: { host: 'h', port: 70000, user: 'root', keyRef: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----', hostKeyFingerprint: 'MD5:aa:bb' },
    });
    assert.equal(res.status, 400);
    const problem = (await res.json()) as { errors: { path: string; message: string }[] };
    const paths = problem.errors.map((e) => e.path).sort();
    assert.deepEqual(paths, ['name', 'ssh.hostKeyFingerprint', 'ssh.keyRef', 'ssh.port']);
    assert.match(problem.errors.find((e) => e.path === 'ssh.keyRef')!.message, /looks like key material/);
    assert.ok(!JSON.stringify(problem).includes('b3BlbnNzaC1rZXk'), 'the key is never echoed back');

    const ref = await post({ name: 'x', ssh: { host: 'h', user: 'u', keyRef: 'vault:abc', hostKeyFingerprint: FINGERPRINT } });
    assert.equal(ref.status, 400);
    assert.equal(((await ref.json()) as { errors: { path: string }[] }).errors[0]!.path, 'ssh.keyRef');
    assert.equal((await api('/api/environments', { method: 'POST', body: '{nope' })).status, 400);
  });

  it('shows whether the Doctor agent of the environment is polling', async function () {
    assert.equal((await post({ name: 'agent-env' })).status, 201);
    const before = (await (await api('/api/environments/agent-env')).json()) as { agent: { online: boolean; pollers: unknown[] } };
    assert.equal(before.agent.online, false);

    const worker = await buildAgentWorker({ config, connection: temporal.nativeConnection, environment: 'agent-env', scriptsDir: path.join(repoRoot, 'scripts') });
    const running = worker.run();
    try {
      const after = await eventually(
        async () => {
          const v = (await (await api('/api/environments/agent-env')).json()) as { agent: { online: boolean; pollers: { identity: string }[] } };
          return v.agent.online ? v : undefined;
        },
        30_000,
        'agent online',
      );
      assert.ok(after.agent.pollers.some((p) => p.identity === 'doctor-agent@agent-env teams=*'));
    } finally {
      worker.shutdown();
      await running;
    }
  });

  it('requires a token', async function () {
    assert.equal((await app.request('/api/environments')).status, 401);
  });
});
