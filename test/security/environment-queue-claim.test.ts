// Claiming an agent queue (docs/security.md "Authority"): an environment's Doctor agent polls
// `selfheal-agent-<name>` whether or not the environment is registered, so registering that name decides
// where the agent runs fix scripts. A non-admin may not register an environment whose queue an agent
// already polls. Real Temporal, real Postgres, the real API and real Doctor agents (src/agent.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from '../../src/temporal/dev-server.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { lazyTemporalClient } from '../../src/temporal/native-client.js';
import { agentStatus } from '../../src/temporal/pollers.js';
import { repoRoot } from '../../src/temporal/worker.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('security: claiming an agent queue a Doctor agent already polls', function () {
  let stack: Stack;
  const agents: { worker: Worker; running: Promise<void> }[] = [];
  const suffix = randomUUID().slice(0, 6);
  /** Environments whose agent runs for the whole suite (none is registered at the start). */
  const live = `claim-live-${suffix}`;
  /** Alpha's by name (alpha's prefix): beta's editor is refused it by name, alpha's own by its queue. */
  const deleted = `alpha-${suffix}-deleted`;
  const byAdmin = `claim-admin-${suffix}`;
  const tokens: Record<'writer' | 'alphaEditor' | 'betaEditor', string> = { writer: '', alphaEditor: '', betaEditor: '' };

  const call = async (token: string, method: string, p: string, body?: unknown, app = stack.app) => {
    const res = await app.request(p, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: text ? (JSON.parse(text) as Doc) : {} };
  };
  const paths = (body: Doc) => ((body.errors ?? []) as { path: string }[]).map((e) => e.path);
  const issue = async (name: string, grant: Record<string, string[]>) => {
    const res = await call(ADMIN_TOKEN, 'POST', '/api/tokens', { name: `${name}-${suffix}`, ...grant });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.token as string;
  };
  const row = (name: string) => stack.db.db.selectFrom('environments').selectAll().where('name', '=', name).executeTakeFirst();
  const audit = (name: string) => stack.db.db.selectFrom('audit_log').select(['action', 'actor', 'team']).where('entity_type', '=', 'environment').where('entity_id', '=', name).orderBy('id').execute();

  /** The refusal, and that it wrote nothing: GET answers 404 (to the admin) and there is no row. */
  const refusedAndNothingWritten = async (res: Awaited<ReturnType<typeof call>>, name: string, auditBefore: number) => {
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.type, 'application/problem+json');
    assert.deepEqual(paths(res.body), ['agentTaskQueue']);
    assert.match(res.body.detail, new RegExp(`a Doctor agent already polls agent task queue ${agentTaskQueue(name)}: only an admin may register`));
    assert.equal((await call(ADMIN_TOKEN, 'GET', `/api/environments/${name}`)).status, 404, 'not created');
    assert.equal(await row(name), undefined, 'no row in environments');
    assert.equal((await audit(name)).length, auditBefore, 'no audit entry for a refused create');
  };

  before(async function () {
    stack = await startStack();
    for (const environment of [live, deleted, byAdmin]) {
      const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment, scriptsDir: path.join(repoRoot, 'scripts') });
      agents.push({ worker, running: worker.run() });
    }
    for (const environment of [live, deleted, byAdmin]) {
      await eventually(async () => (await agentStatus(stack.temporal.client, stack.config.temporal.namespace, agentTaskQueue(environment))).online, 30_000, `agent ${environment} polling`);
    }
    for (const name of [`alpha-${suffix}`, `beta-${suffix}`]) assert.equal((await call(ADMIN_TOKEN, 'POST', '/api/teams', { name })).status, 201);
    tokens.writer = await issue('writer', { scopes: ['write'] });
    tokens.alphaEditor = await issue('alpha-editor', { teams: [`alpha-${suffix}:editor`] });
    tokens.betaEditor = await issue('beta-editor', { teams: [`beta-${suffix}:editor`] });
  });

  after(async function () {
    for (const a of agents) a.worker.shutdown();
    await Promise.all(agents.map((a) => a.running));
    await stack?.stop();
  });

  it('a write token cannot register an environment on a queue a live agent polls: 403 naming agentTaskQueue, nothing written', async function () {
    // Before: 201, and the write token's environment (its rules, jobs and team) decided what that agent ran.
    await refusedAndNothingWritten(await call(tokens.writer, 'POST', '/api/environments', { name: live, labels: { tier: 'dev' } }), live, 0);
    // Naming the default queue explicitly is the same request.
    await refusedAndNothingWritten(await call(tokens.writer, 'POST', '/api/environments', { name: live, agentTaskQueue: agentTaskQueue(live) }), live, 0);
  });

  it("team B's editor cannot re-create under team B the environment team A deleted while A's agent still runs", async function () {
    const alpha = `alpha-${suffix}`;
    // The admin registers it for team alpha, on the queue alpha's agent already polls (an admin may).
    const registered = await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: deleted, team: alpha });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    // Alpha's editor deletes it (no VM, its own default queue: a write-level thing); the agent keeps polling.
    assert.equal((await call(tokens.alphaEditor, 'DELETE', `/api/environments/${deleted}`)).status, 204);
    assert.equal((await agentStatus(stack.temporal.client, stack.config.temporal.namespace, agentTaskQueue(deleted))).online, true, "alpha's agent still polls");

    // Before: 201 — beta then owned where alpha's agent runs fix scripts. The name is alpha's: refused by name.
    const taken = await call(tokens.betaEditor, 'POST', '/api/environments', { name: deleted, team: `beta-${suffix}` });
    assert.equal(taken.status, 403, JSON.stringify(taken.body));
    assert.deepEqual(paths(taken.body), ['name']);
    assert.equal(await row(deleted), undefined, 'no row in environments');
    // The queue decides too: with the row gone nothing says whose agent it is, so alpha's own editor needs an
    // admin to register it again as well.
    await refusedAndNothingWritten(await call(tokens.alphaEditor, 'POST', '/api/environments', { name: deleted, team: alpha }), deleted, 2);
    assert.deepEqual((await audit(deleted)).map((a) => [a.action, a.actor, a.team]), [
      ['environment.create', 'admin-token', alpha],
      ['environment.delete', `token:alpha-editor-${suffix}`, alpha],
    ]);
  });

  it("team B's editor cannot re-create the environment team A deleted once Temporal no longer lists A's stopped agent", async function () {
    const alpha = `alpha-${suffix}`;
    // Beta's by name, registered by the admin for alpha: only the queue check stands in beta's way.
    const name = `beta-${suffix}-stopped`;
    const queue = agentTaskQueue(name);
    // A's agent ran on it and was stopped for maintenance longer than Temporal lists a poller (minutes): what
    // the check reads is then a queue with no poller listed, as here, where no agent polled it on this server.
    const registered = await call(ADMIN_TOKEN, 'POST', '/api/environments', { name, team: alpha });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    assert.equal((await call(tokens.alphaEditor, 'DELETE', `/api/environments/${name}`)).status, 204);
    assert.deepEqual((await agentStatus(stack.temporal.client, stack.config.temporal.namespace, queue)).pollers, [], 'no poller listed on the queue');

    // Before: 201 — and A's agent, started again, ran B's scripts.
    const taken = await call(tokens.betaEditor, 'POST', '/api/environments', { name, team: `beta-${suffix}` });
    assert.equal(taken.status, 403, JSON.stringify(taken.body));
    assert.deepEqual(paths(taken.body), ['agentTaskQueue']);
    assert.match(taken.body.detail, new RegExp(`agent task queue ${queue} was an environment's before, and its Doctor agent may come back: only an admin may register`));
    assert.equal(await row(name), undefined, 'no row in environments');
    assert.equal((await audit(name)).length, 2, 'no audit entry for a refused create');
    // An admin may register it.
    assert.equal((await call(ADMIN_TOKEN, 'POST', '/api/environments', { name, team: `beta-${suffix}` })).status, 201);
  });

  it("refuses another team's name before any check that could name that team's environment: 403 naming name, no alpha name in the body (before: 400 naming alpha's environment)", async function () {
    const alpha = `alpha-${suffix}`;
    const alphaEnvironment = `${alpha}-holds-foo`;
    const foo = `foo-${suffix}`;
    // The admin gives alpha's environment the queue the name foo-… would take by default.
    const registered = await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: alphaEnvironment, team: alpha, agentTaskQueue: agentTaskQueue(foo) });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    // foo-… is no team's prefix: the default team's, not beta's. Refused as not beta's, before the queue check.
    const res = await call(tokens.betaEditor, 'POST', '/api/environments', { name: foo, team: `beta-${suffix}` });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.type, 'application/problem+json');
    assert.deepEqual(paths(res.body), ['name']);
    assert.ok(!JSON.stringify(res.body).includes(alphaEnvironment), `alpha's environment is not named: ${JSON.stringify(res.body)}`);
    assert.equal(await row(foo), undefined, 'no row in environments');
    // Nor does a taken name of another team's answer 409.
    const taken = await call(tokens.betaEditor, 'POST', '/api/environments', { name: alphaEnvironment, team: `beta-${suffix}` });
    assert.equal(taken.status, 403, JSON.stringify(taken.body));
    assert.deepEqual(paths(taken.body), ['name']);
  });

  it("answers beta's editor whose default queue an alpha environment holds as it answers a queue that was an environment's before: 403 naming agentTaskQueue, nothing of alpha's in the body (before: 400 'belongs to another environment')", async function () {
    const alpha = `alpha-${suffix}`;
    const alphaEnvironment = `${alpha}-holds-beta`;
    const betaName = `beta-${suffix}-queue-taken`;
    const queue = agentTaskQueue(betaName);
    // The admin gives alpha's environment the queue beta's name would take by default.
    const registered = await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: alphaEnvironment, team: alpha, agentTaskQueue: queue });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const res = await call(tokens.betaEditor, 'POST', '/api/environments', { name: betaName, team: `beta-${suffix}` });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.type, 'application/problem+json');
    assert.ok(!JSON.stringify(res.body).includes(alphaEnvironment), `alpha's environment is not named: ${JSON.stringify(res.body)}`);
    assert.equal(await row(betaName), undefined, 'no row in environments');
    // The same answer as for a queue whose environment was deleted (no environment holds it now).
    const gone = `beta-${suffix}-queue-was`;
    assert.equal((await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: `${alpha}-held-was`, team: alpha, agentTaskQueue: agentTaskQueue(gone) })).status, 201);
    assert.equal((await call(ADMIN_TOKEN, 'DELETE', `/api/environments/${alpha}-held-was`)).status, 204);
    const before = await call(tokens.betaEditor, 'POST', '/api/environments', { name: gone, team: `beta-${suffix}` });
    const shape = (body: Doc, q: string) => JSON.stringify({ status: body.status, title: body.title, detail: body.detail, errors: body.errors }).replaceAll(q, '<queue>');
    assert.equal(shape(res.body, queue), shape(before.body, agentTaskQueue(gone)));
    assert.equal(before.status, 403);
    assert.deepEqual(paths(res.body), ['agentTaskQueue']);

    // Who may read alpha's environments is told which, as the admin is (400 naming it).
    const alphaReader = await issue('alpha-reader-beta-editor', { teams: [`${alpha}:viewer`, `beta-${suffix}:editor`] });
    const byReader = await call(alphaReader, 'POST', '/api/environments', { name: betaName, team: `beta-${suffix}` });
    assert.equal(byReader.status, 400, JSON.stringify(byReader.body));
    assert.match(byReader.body.detail, new RegExp(`agent task queue ${queue} belongs to environment "${alphaEnvironment}"`));
    const byAdminToo = await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: betaName, team: `beta-${suffix}` });
    assert.equal(byAdminToo.status, 400, JSON.stringify(byAdminToo.body));
    assert.deepEqual(paths(byAdminToo.body), ['agentTaskQueue']);
    assert.ok(JSON.stringify(byAdminToo.body).includes(alphaEnvironment), JSON.stringify(byAdminToo.body));
  });

  it("lets beta's editor change its environment whose queue an alpha environment's name claims by default, without a word of it; the admin is still refused, told which (before: 400 'belongs to another environment')", async function () {
    const alpha = `alpha-${suffix}`;
    const betaName = `beta-${suffix}-keeps-queue`;
    const alphaEnvironment = `${alpha}-claims-by-name`;
    // The admin gave beta's environment the queue alpha's name would poll by default, then registered that
    // alpha name on another queue: beta's environment now holds alpha's default queue.
    const body = { team: `beta-${suffix}`, agentTaskQueue: agentTaskQueue(alphaEnvironment), labels: {}, maintenanceWindows: [] };
    assert.equal((await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: betaName, ...body })).status, 201);
    assert.equal((await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: alphaEnvironment, team: alpha, agentTaskQueue: `${alphaEnvironment}-own` })).status, 201);
    const changed = await call(tokens.betaEditor, 'PUT', `/api/environments/${betaName}`, { ...body, labels: { tier: 'dev' } });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual((await row(betaName))?.labels, { tier: 'dev' });
    const byAdmin = await call(ADMIN_TOKEN, 'PUT', `/api/environments/${betaName}`, { ...body, labels: { tier: 'prod' } });
    assert.equal(byAdmin.status, 400, JSON.stringify(byAdmin.body));
    assert.match(byAdmin.body.detail, new RegExp(`belongs to environment "${alphaEnvironment}"`));
  });

  it('an admin may register an environment on a queue a live agent polls (201, audited)', async function () {
    const created = await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: byAdmin, labels: { tier: 'dev' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.agentTaskQueue, agentTaskQueue(byAdmin));
    const view = await call(ADMIN_TOKEN, 'GET', `/api/environments/${byAdmin}`);
    assert.equal(view.status, 200);
    assert.equal(view.body.agent.online, true);
    assert.equal((await row(byAdmin))?.agent_task_queue, agentTaskQueue(byAdmin));
    assert.deepEqual((await audit(byAdmin)).map((a) => [a.action, a.actor]), [['environment.create', 'admin-token']]);
    // The environment now holds the queue: a write token may change what a write token may change.
    const put = await call(tokens.writer, 'PUT', `/api/environments/${byAdmin}`, { labels: { tier: 'dev', note: 'x' }, agentTaskQueue: agentTaskQueue(byAdmin) });
    assert.equal(put.status, 200, JSON.stringify(put.body));
  });

  it('a write token still registers an environment whose queue no agent polls (201, audited)', async function () {
    const name = `claim-free-${suffix}`;
    const created = await call(tokens.writer, 'POST', '/api/environments', { name, labels: { tier: 'dev' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.agentTaskQueue, agentTaskQueue(name));
    assert.equal((await call(tokens.writer, 'GET', `/api/environments/${name}`)).status, 200);
    assert.deepEqual((await audit(name)).map((a) => [a.action, a.actor]), [['environment.create', `token:writer-${suffix}`]]);
  });

  it("fails closed: when Temporal cannot say, a write token's create is 503 and writes nothing; an admin's is unchanged", async function () {
    // The API's production client, pointed at a port nothing listens on.
    const unreachable = await lazyTemporalClient({ address: `127.0.0.1:${await freePort()}`, namespace: stack.config.temporal.namespace });
    const app = createApp({ config: stack.config, db: stack.db.db, temporal: unreachable, logger: createLogger({ level: 'silent' }) }, allRoutes);
    try {
      const name = `claim-dark-${suffix}`;
      const res = await call(tokens.writer, 'POST', '/api/environments', { name }, app);
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.type, 'application/problem+json');
      assert.match(res.body.detail, new RegExp(`whether a Doctor agent already polls agent task queue ${agentTaskQueue(name)} is unknown; nothing was created`));
      assert.ok(!/127\.0\.0\.1|ECONNREFUSED|unreachable/.test(JSON.stringify(res.body)), `Temporal's error stays in the log: ${JSON.stringify(res.body)}`);
      assert.equal(await row(name), undefined);
      assert.equal((await audit(name)).length, 0);

      const admin = await call(ADMIN_TOKEN, 'POST', '/api/environments', { name }, app);
      assert.equal(admin.status, 201, JSON.stringify(admin.body));
    } finally {
      await unreachable.connection.close();
    }
  });

  // Squatting a name before its host's agent is installed (docs/security.md "Authority"): no agent polls its
  // queue yet and no environment ever had it, so the checks above pass; the team the host is meant for then
  // gets 409 for its own host. A team's editor registers only its team's own names.
  describe("a team's editor cannot take first a name that is not its team's", function () {
    const alpha = () => `alpha-${suffix}`;
    const refusedAsNotOurs = async (res: Awaited<ReturnType<typeof call>>, name: string, team: string) => {
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.type, 'application/problem+json');
      assert.deepEqual(paths(res.body), ['name']);
      assert.match(res.body.detail, new RegExp(`environment ${name.replace(/\./g, '\\.')} is not one of team "${team}"'s names .*: only an admin may register it; nothing was created`));
      assert.equal(await row(name), undefined, 'no row in environments');
      assert.equal((await audit(name)).length, 0, 'no audit entry');
    };

    before(async function () {
      // A team whose name extends alpha's: its names are its own, not alpha's.
      assert.equal((await call(ADMIN_TOKEN, 'POST', '/api/teams', { name: `${alpha()}-eu` })).status, 201);
    });

    it("refuses beta's editor a fresh name outside beta's, in beta: 403 naming name, nothing written (before: 201, and the owner's create was 409)", async function () {
      const beta = `beta-${suffix}`;
      for (const name of [`prod-eu-${suffix}`, `${alpha()}-db`, `${alpha()}.db`, `${alpha()}_db`, alpha(), `${alpha()}-eu-db`]) {
        await refusedAsNotOurs(await call(tokens.betaEditor, 'POST', '/api/environments', { name, team: beta }), name, beta);
      }
      // Alpha registers its own afterwards: no 409.
      const own = await call(tokens.alphaEditor, 'POST', '/api/environments', { name: `${alpha()}-db`, team: alpha() });
      assert.equal(own.status, 201, JSON.stringify(own.body));
    });

    it("refuses alpha's editor the names of a team whose name extends alpha's (the longest prefix decides), and the default team's", async function () {
      for (const name of [`${alpha()}-eu-db`, `${alpha()}-eu`, `prod-us-${suffix}`]) {
        await refusedAsNotOurs(await call(tokens.alphaEditor, 'POST', '/api/environments', { name, team: alpha() }), name, alpha());
      }
    });

    it("refuses a write token (the default team) a name of another team's, and still lets it register names no team claims", async function () {
      await refusedAsNotOurs(await call(tokens.writer, 'POST', '/api/environments', { name: `beta-${suffix}-vm` }), `beta-${suffix}-vm`, 'default');
      const fresh = await call(tokens.writer, 'POST', '/api/environments', { name: `lab-${suffix}` });
      assert.equal(fresh.status, 201, JSON.stringify(fresh.body));
    });

    it('lets an admin register any name in any team', async function () {
      const created = await call(ADMIN_TOKEN, 'POST', '/api/environments', { name: `prod-eu-${suffix}`, team: alpha() });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.team, alpha());
    });
  });
});
