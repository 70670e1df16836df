// A main worker with the real activities, some of them wrapped by a test (a gate before triage, a claim
// followed by a crash), on its own task queue; and a way to start an incident's run straight through
// Temporal, as the webhook would, or as anyone with Temporal access could (with a rule of its own, waiting
// for one of its actions to finish).
import { randomUUID } from 'node:crypto';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { INCIDENT_WORKFLOW_REVISION, SIGNALS, WORKFLOW_TYPES, incidentWorkflowId, type IncidentEventMessage } from '../../src/contracts/index.js';
import { loadConfig } from '../../src/config.js';
import type { ExtractorsConfig } from '../../src/domain/extract.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { createMainWorker } from '../../src/temporal/worker.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { startSlackPeer, type SlackPeer } from './http-peer.js';
import { insertRule, newServiceId } from './rules.js';
import { newIncidentId, sampleFor } from './samples.js';
import { eventually } from './stack.js';
import { testTemporal, type TestTemporal } from './temporal.js';

export type MainActivities = ReturnType<typeof createActivities>;

export interface TestWorker {
  taskQueue: string;
  worker: Worker;
  stop(): Promise<void>;
}

/** The real main worker's activities (notify.webhook and friends against local peers), some wrapped. */
export async function startTestWorker(opts: {
  temporal: TestTemporal;
  db: TestDatabase;
  taskQueue?: string;
  extractors?: ExtractorsConfig;
  wrap?: (real: MainActivities) => Partial<MainActivities>;
  /** More configuration (JIRA_BASE_URL, GITHUB_TOKEN, …); secret references are read from it before process.env. */
  env?: Record<string, string>;
}): Promise<TestWorker> {
  const taskQueue = opts.taskQueue ?? `test-${randomUUID()}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    // The local peers listen on loopback, which rule-directed calls reach only when the allow-list names it.
    ACTION_EGRESS_ALLOW: '127.0.0.1/32',
    TEMPORAL_ADDRESS: opts.temporal.address, TEMPORAL_TASK_QUEUE: taskQueue, DATABASE_URL: opts.db.url, ...opts.env });
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const integrations = createIntegrations(config, opts.env ? { env: { ...process.env, ...opts.env } } : {});
  const real = createActivities({ db: opts.db.db, logger, extractors: opts.extractors ?? {}, integrations });
  const worker = await createMainWorker({
    connection: opts.temporal.nativeConnection,
    namespace: 'default',
    taskQueue,
    activities: { ...real, ...(opts.wrap?.(real) ?? {}) },
  });
  const running = worker.run();
  let stopped = false;
  return {
    taskQueue,
    worker,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
    },
  };
}

/** What a fake Doctor agent answers for one script a job run asks of it (the real agent's runAgentScript result). */
export interface FakeAgentScriptResult {
  exitCode: number | null;
  outputExcerpt: string;
  error?: string;
  timedOut: boolean;
}

/**
 * A suite's main worker (startTestWorker) on a database of its own, with a Slack peer whose webhook the jobs'
 * `notifyOnFailure: { slack: { webhookUrlRef: 'env:<slackSecret>' } }` name, as the integration tests of job
 * runs drive them; given `agent`, also a fake Doctor agent on `agent.taskQueue` that is always present and
 * answers each script a run asks of it with `agent.runAgentScript` (the environments the tests insert name
 * that queue, so one fake serves all of them). Started in the suite's `before` and stopped in its `after`
 * (the agent first, the database last); read the fields inside the tests.
 */
export function workerWithSlack(opts: {
  slackSecret: string;
  agent?: { taskQueue: string; runAgentScript(input: { context?: { environment?: string } }): Promise<FakeAgentScriptResult> };
}) {
  const peers = {} as { temporal: TestTemporal; db: TestDatabase; slack: SlackPeer; worker: TestWorker };
  let agent: { worker: Worker; running: Promise<void> } | undefined;
  before(async function () {
    peers.temporal = await testTemporal();
    peers.db = await createTestDatabase();
    peers.slack = await startSlackPeer();
    process.env[opts.slackSecret] = peers.slack.webhookUrl;
    peers.worker = await startTestWorker({ temporal: peers.temporal, db: peers.db });
    if (opts.agent) {
      const worker = await Worker.create({
        connection: peers.temporal.nativeConnection,
        taskQueue: opts.agent.taskQueue,
        activities: { agentPresent: async () => ({ present: true }), runAgentScript: opts.agent.runAgentScript },
      });
      agent = { worker, running: worker.run() };
    }
  });
  after(async function () {
    agent?.worker.shutdown();
    await agent?.running.catch(() => undefined);
    await peers.worker?.stop();
    await peers.slack?.close();
    delete process.env[opts.slackSecret];
    await peers.db?.close();
  });
  return peers;
}

/** The incident event message the webhook would send for a sample payload. */
export function messageOf(payload: { event: Record<string, unknown> & { id: string } }): IncidentEventMessage {
  return {
    eventId: payload.event.id,
    eventType: String(payload.event.event_type),
    occurredAt: payload.event.occurred_at as string | undefined,
    receivedAt: new Date().toISOString(),
    event: payload.event,
  };
}

/** signalWithStart of the incident's workflow, as the webhook does (or as anyone with Temporal access could). */
export async function signalIncident(
  temporal: TestTemporal,
  taskQueue: string,
  incidentId: string,
  msg: IncidentEventMessage,
  input: { lingerSeconds?: number; historyLimit?: number; historyBytesLimit?: number; carryBytesLimit?: number; taskBytesLimit?: number; carriedCheckSeconds?: number } = {},
): Promise<void> {
  await temporal.client.workflow.signalWithStart(WORKFLOW_TYPES.incident, {
    workflowId: incidentWorkflowId(incidentId),
    taskQueue,
    args: [{ incidentId, revision: INCIDENT_WORKFLOW_REVISION, ...input }],
    signal: SIGNALS.incidentEvent,
    signalArgs: [msg],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  });
}

/** A promise with its resolve, for gates a test opens. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * One rule of `actions` for a new service (named `<namePrefix>-<service id>`), one new incident of that
 * service (the triggered sample) signalled to `worker` as the webhook does, lingering 1 s once resolved, and
 * the run of its action `actionId` once it finished (90 s at most).
 */
export async function runRuleOnNewIncident(opts: { temporal: TestTemporal; db: TestDatabase; worker: TestWorker; namePrefix: string; actions: Record<string, unknown>[]; actionId: string }) {
  const svc = newServiceId();
  await insertRule(opts.db.db, { name: `${opts.namePrefix}-${svc.toLowerCase()}`, services: [svc], actions: opts.actions } as never);
  const incidentId = newIncidentId();
  await signalIncident(
    opts.temporal,
    opts.worker.taskQueue,
    incidentId,
    messageOf(sampleFor('v3-incident.triggered-01.json', incidentId, { data: { service: { id: svc, type: 'service_reference', summary: 's' } } })),
    { lingerSeconds: 1 },
  );
  const run = await eventually(async () => {
    const r = await opts.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', incidentId).where('action_id', '=', opts.actionId).executeTakeFirst();
    return r?.finished_at ? r : undefined;
  }, 90_000, `the ${opts.actionId} action finished`);
  return { incidentId, run };
}
