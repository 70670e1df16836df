import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { AGENT_STATUS_UNAVAILABLE } from '../../src/services/environments.js';
import { SCHEDULE_STATE_UNAVAILABLE } from '../../src/services/jobs.js';
import { freePort } from '../../src/temporal/dev-server.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// Temporal's error text names internal hosts, addresses and namespaces. No API answer may carry it, to a
// read token or anyone: the caller gets our fixed words (503 "Temporal is unavailable…", a fixed
// scheduleState/agent error, a 400 in our words for a schedule Temporal refuses); the text goes to the log,
// with the request id.

const ADMIN = 'temporal-errors-admin-token-0123456789';
const MARKER = 'internal-host-10.1.2.3';
const GRPC_UNAVAILABLE = 14;
const GRPC_INVALID_ARGUMENT = 3;

/** An error as the Temporal client throws it, naming what must stay inside. */
function grpcError(code: number): Error {
  const text = code === GRPC_INVALID_ARGUMENT ? 'INVALID_ARGUMENT: invalid schedule spec' : 'UNAVAILABLE: No connection established';
  return Object.assign(new Error(`${code} ${text}. Last error: connect ECONNREFUSED ${MARKER}.corp:7233 (namespace prod-secret-ns)\n    at Http2CallStream.call (${MARKER}/grpc.js:1:1)`), {
    code,
    details: `${text} ${MARKER}`,
  });
}

/** A Temporal client whose every call fails with `err` (withDeadline runs the call, as the real one does). */
function failingTemporal(err: () => Error, overrides: Record<string, unknown> = {}): Client {
  const fail = async () => {
    throw err();
  };
  const handle = { describe: fail, update: fail, pause: fail, unpause: fail, trigger: fail, backfill: fail, delete: fail };
  return {
    withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
    schedule: { create: fail, getHandle: () => handle, list: fail },
    workflowService: { describeTaskQueue: fail, getSystemInfo: fail },
    workflow: { execute: fail, getHandle: () => ({ signal: fail }) },
    ...overrides,
  } as unknown as Client;
}

describe('security: Temporal error text never reaches an API caller', function () {
  let db: TestDatabase;
  let readToken: string;
  const job = 'temporal-errors-job';
  const env = 'temporal-errors-env';

  before(async function () {
    db = await createTestDatabase();
    const def = { name: 'temporal errors job', schedule: { interval: '1h', timezone: 'UTC', overlap: 'skip', catchupWindow: '10m' }, targets: { all: true }, via: 'agent', script: 'probe.sh', args: [] };
    await db.db.insertInto('jobs').values({ id: job, name: def.name, definition: JSON.stringify({ ...def, id: job }), enabled: true, schedule_id: jobScheduleId(job) }).execute();
    const { app } = build(failingTemporal(() => grpcError(GRPC_UNAVAILABLE)));
    assert.equal((await call(app, ADMIN, 'POST', '/api/environments', { name: env })).status, 201);
    const token = await call(app, ADMIN, 'POST', '/api/tokens', { name: 'reader', scopes: ['read'] });
    assert.equal(token.status, 201, token.text);
    readToken = (JSON.parse(token.text) as { token: string }).token;
  });
  after(async () => db?.close());

  function build(temporal: Client) {
    const lines: string[] = [];
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    return { app: createApp({ config, db: db.db, temporal, logger }, allRoutes), lines };
  }

  async function call(app: ReturnType<typeof createApp>, token: string, method: string, path: string, body?: unknown) {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'x-request-id': `req-${method}-${path}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, headers: [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n'), type: res.headers.get('content-type') };
  }

  /**
   * Neither body nor headers carry `secret` nor any gRPC status text; what Temporal said (`logged`) is in the
   * log, on a line with the request id.
   */
  function sealed(res: { text: string; headers: string }, lines: string[], requestId: string, secret = MARKER, logged: RegExp = new RegExp(MARKER.replaceAll('.', '\\.'))) {
    assert.ok(!res.text.includes(secret), `the answer carries Temporal's text: ${res.text}`);
    assert.ok(!res.headers.includes(secret), `a header carries Temporal's text: ${res.headers}`);
    assert.ok(!/ECONNREFUSED|UNAVAILABLE|INVALID_ARGUMENT|DEADLINE_EXCEEDED|Failed to|prod-secret-ns|grpc/.test(res.text), `the answer carries gRPC internals: ${res.text}`);
    const mine = lines.map((l) => JSON.parse(l) as { requestId?: string; err?: { message?: string } }).filter((l) => l.requestId === requestId);
    assert.ok(mine.some((l) => logged.test(l.err?.message ?? '')), `Temporal's error is logged with the request id ${requestId}: ${JSON.stringify(mine)}`);
  }

  it('read token: a job, its runs and an environment answer 200 with a fixed "unavailable" text in place of the state', async function () {
    const { app, lines } = build(failingTemporal(() => grpcError(GRPC_UNAVAILABLE)));
    const one = await call(app, readToken, 'GET', `/api/jobs/${job}`);
    assert.equal(one.status, 200, one.text);
    const detail = JSON.parse(one.text) as { scheduleState: unknown; scheduleStatus: string; nextRunTimes: unknown[] };
    assert.deepEqual(detail.scheduleState, { error: SCHEDULE_STATE_UNAVAILABLE });
    assert.equal(detail.scheduleStatus, 'unavailable', 'said to be unknown, not reported active');
    assert.deepEqual(detail.nextRunTimes, []);
    sealed(one, lines, `req-GET-/api/jobs/${job}`);

    const runs = await call(app, readToken, 'GET', `/api/jobs/${job}/runs`);
    assert.equal(runs.status, 200, runs.text);
    assert.deepEqual((JSON.parse(runs.text) as { schedule: unknown }).schedule, { error: SCHEDULE_STATE_UNAVAILABLE });
    sealed(runs, lines, `req-GET-/api/jobs/${job}/runs`);

    const e = await call(app, readToken, 'GET', `/api/environments/${env}`);
    assert.equal(e.status, 200, e.text);
    assert.deepEqual((JSON.parse(e.text) as { agent: unknown }).agent, { online: false, pollers: [], servesTeam: null, error: AGENT_STATUS_UNAVAILABLE });
    sealed(e, lines, `req-GET-/api/environments/${env}`);
  });

  it('Temporal unavailable: every job change and the agent check answer 503 problem+json in fixed words', async function () {
    const { app, lines } = build(failingTemporal(() => grpcError(GRPC_UNAVAILABLE)));
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/jobs', { name: 'never saved', schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' }, 'Temporal is unavailable; nothing was changed'],
      ['PUT', `/api/jobs/${job}`, { name: 'temporal errors job', schedule: { interval: '2h' }, targets: { all: true }, script: 'probe.sh' }, 'Temporal is unavailable; nothing was changed'],
      ['POST', `/api/jobs/${job}/pause`, undefined, 'Temporal is unavailable; nothing was changed'],
      ['POST', `/api/jobs/${job}/trigger`, undefined, 'Temporal is unavailable; no run was started'],
      ['POST', `/api/jobs/${job}/backfill`, { start: '2026-01-01T00:00:00Z', end: '2026-01-01T03:00:00Z' }, 'Temporal is unavailable; nothing was backfilled'],
      ['DELETE', `/api/jobs/${job}`, undefined, 'Temporal is unavailable; nothing was changed'],
      ['POST', `/api/environments/${env}/check`, undefined, 'Temporal is unavailable; the check was not run'],
    ];
    for (const [method, path, body, detail] of cases) {
      const res = await call(app, ADMIN, method, path, body);
      assert.equal(res.status, 503, `${method} ${path}: ${res.text}`);
      assert.equal(res.type, 'application/problem+json');
      const p = JSON.parse(res.text) as { type: string; title: string; detail: string };
      assert.deepEqual([p.type, p.title, p.detail], ['https://selfheal.dev/problems/unavailable', 'Service Unavailable', detail], `${method} ${path}`);
      sealed(res, lines, `req-${method}-${path}`);
    }
    assert.equal((await db.db.selectFrom('jobs').select('id').where('name', '=', 'never saved').execute()).length, 0, 'nothing was saved');
  });

  it('an agent check whose run fails in Temporal answers 503 naming the run, not what Temporal said', async function () {
    const online = { pollers: [{ identity: 'agent@host', lastAccessTime: { seconds: Math.floor(Date.now() / 1000), nanos: 0 }, ratePerSecond: 100_000 }] };
    const temporal = failingTemporal(() => grpcError(GRPC_UNAVAILABLE), {
      workflowService: { describeTaskQueue: async () => online },
    });
    const { app, lines } = build(temporal);
    const res = await call(app, ADMIN, 'POST', `/api/environments/${env}/check`);
    assert.equal(res.status, 503, res.text);
    assert.equal(res.type, 'application/problem+json');
    assert.match((JSON.parse(res.text) as { detail: string }).detail, /^the check did not finish: Temporal is unavailable or the run did not end in time \(workflow agent-check-temporal-errors-env-[0-9a-f-]+\)$/);
    sealed(res, lines, `req-POST-/api/environments/${env}/check`);
  });

  it('a schedule Temporal refuses is a 400 naming the field in our words, without echoing Temporal', async function () {
    const { app, lines } = build(failingTemporal(() => grpcError(GRPC_INVALID_ARGUMENT)));
    const res = await call(app, ADMIN, 'POST', '/api/jobs', { name: 'refused schedule', schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.type, 'application/problem+json');
    const p = JSON.parse(res.text) as { type: string; detail: string; errors: { path: string; message: string }[] };
    assert.equal(p.type, 'https://selfheal.dev/problems/bad-request');
    assert.equal(p.detail, 'Temporal refused the schedule as invalid');
    assert.deepEqual(p.errors.map((e) => e.path), ['schedule']);
    sealed(res, lines, 'req-POST-/api/jobs');
  });

  it('a real client pointed at a closed port: the answer names neither the address nor the port', async function () {
    const port = await freePort();
    const temporal = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${port}`, connectTimeout: 1000 }) });
    try {
      const { app, lines } = build(temporal);
      const one = await call(app, readToken, 'GET', `/api/jobs/${job}`);
      assert.equal(one.status, 200, one.text);
      assert.deepEqual((JSON.parse(one.text) as { scheduleState: unknown }).scheduleState, { error: SCHEDULE_STATE_UNAVAILABLE });
      const temporalSaid = /UNAVAILABLE|DEADLINE_EXCEEDED/;
      sealed(one, lines, `req-GET-/api/jobs/${job}`, `:${port}`, temporalSaid);
      const res = await call(app, ADMIN, 'POST', `/api/jobs/${job}/trigger`);
      assert.equal(res.status, 503, res.text);
      assert.equal((JSON.parse(res.text) as { detail: string }).detail, 'Temporal is unavailable; no run was started');
      sealed(res, lines, `req-POST-/api/jobs/${job}/trigger`, `:${port}`, temporalSaid);
    } finally {
      await temporal.connection.close().catch(() => undefined);
    }
  });
});
