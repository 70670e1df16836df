import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { openDatabase } from '../../src/db/connect.js';
import { buildMainWorker } from '../../src/worker.js';
import type { ExtractorsConfig } from '../../src/domain/extract.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { testTemporal, type TestTemporal } from './temporal.js';
import { startHttpPeer, type HttpPeer } from './http-peer.js';

export const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
/**
 * The history kept by test stacks, in days (SELFHEAL_RETENTION_DAYS, at most 3650): PagerDuty's sample
 * payloads occurred in 2020–2026, and a signed event older than the history kept is refused as a possible
 * replay (test/security/webhook-replay.test.ts sets its own).
 */
export const SAMPLE_HISTORY_DAYS = '3650';

export interface Stack {
  config: Config;
  db: TestDatabase;
  temporal: TestTemporal;
  app: ReturnType<typeof createApp>;
  worker: Worker;
  taskQueue: string;
  stop(): Promise<void>;
  /** POST a payload to the webhook, signed with the test secret (or as told). */
  deliver(payload: unknown, opts?: { signature?: string | null; webhookId?: string; raw?: string }): Promise<Response>;
  api(path: string, init?: RequestInit): Promise<Response>;
}

/** Real Temporal dev server + real database + the real main worker on a unique task queue + the API app. */
export async function startStack(opts: { env?: Record<string, string>; extractors?: ExtractorsConfig; db?: TestDatabase } = {}): Promise<Stack> {
  const temporal = await testTemporal();
  const db = opts.db ?? (await createTestDatabase());
  const taskQueue = `test-${randomUUID()}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET,
    SELFHEAL_RETENTION_DAYS: SAMPLE_HISTORY_DAYS,
    SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
    DATABASE_URL: db.url,
    ...opts.env,
  });
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  // The components may reach the database another way (e.g. through a proxy that simulates outages).
  const own = config.database.url !== db.url ? await openDatabase({ url: config.database.url, dataDir: '' }) : undefined;
  const kdb = own?.db ?? db.db;
  const worker = await buildMainWorker({ config, db: kdb, logger, connection: temporal.nativeConnection, extractors: opts.extractors ?? {} });
  const running = worker.run();
  // The API's Temporal client as in production (the native connection, made on first use).
  const app = createApp({ config, db: kdb, temporal: temporal.apiClient, logger }, allRoutes);
  return {
    config,
    db,
    temporal,
    app,
    worker,
    taskQueue,
    async stop() {
      // A test may have stopped the worker already (a restart in the middle of a run).
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await own?.close();
    },
    deliver(payload, o = {}) {
      const raw = o.raw ?? JSON.stringify(payload);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'PagerDuty-Webhook/V3.0' };
      const signature = o.signature === undefined ? signBody(raw, WEBHOOK_SECRET) : o.signature;
      if (signature !== null) headers['x-pagerduty-signature'] = signature;
      if (o.webhookId) headers['x-webhook-id'] = o.webhookId;
      return Promise.resolve(app.request('/webhooks/pagerduty', { method: 'POST', headers, body: raw }));
    },
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${ADMIN_TOKEN}`);
      if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
      return Promise.resolve(app.request(path, { ...init, headers }));
    },
  };
}

/** Issue an API token through the API (as an admin would) and return its value. */
/**
 * A suite's stack whose rules call a local hook peer (POST /hook answers 204; loopback allowed for
 * egress): started in the suite's `before`, stopped in its `after`. Read the fields inside the tests.
 */
export function stackWithHook(): { stack: Stack; hook: HttpPeer } {
  const peers = {} as { stack: Stack; hook: HttpPeer };
  before(async function () {
    peers.hook = await startHttpPeer([{ method: 'POST', path: '/hook', handle: () => ({ status: 204 }) }]);
    peers.stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' } });
  });
  after(async function () {
    await peers.stack?.stop();
    await peers.hook?.close();
  });
  return peers;
}

export async function issueToken(stack: Pick<Stack, 'api'>, name: string, scopes: ('read' | 'write' | 'admin')[]): Promise<string> {
  const res = await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name, scopes }) });
  if (res.status !== 201) throw new Error(`token ${name}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Poll until `check` returns a value (not undefined/false) or the time runs out. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits until a workflow has taken in its cancel request: a workflow task completed after the request was
 * recorded, so the workflow's code has seen it while whatever it awaits may still be pending.
 */
export async function cancelTakenIn(handle: Pick<WorkflowHandle, 'fetchHistory'>): Promise<void> {
  await eventually(
    async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      const at = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
      return at !== -1 && events.slice(at).some((e) => e.workflowTaskCompletedEventAttributes);
    },
    30_000,
    'the workflow to take the cancel in',
  );
}
