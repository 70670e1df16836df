import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { loadConfig } from '../../src/config.js';
import type { JobWorkflowResult } from '../../src/contracts/jobs.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from '../../src/temporal/dev-server.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { JOB_WORKFLOW_TYPE } from '../../src/temporal/schedules.js';
import { createMainWorker } from '../../src/temporal/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

// A job run's failure notice is one activity, retried (up to 3 attempts). Each retry used to send every
// channel again: a Slack message whose answer was lost, a Slack message sent before the email channel
// failed, or one sent just before the worker died, went out once per attempt. Each channel is now a side
// effect keyed by the run: one message per run whatever the retries (at most once where the answer was lost).
describe('fault: a job failure notice retried is sent to Slack once', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let slack: SlackPeer;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = `fault-job-notice-${randomUUID()}`;
  const SLACK_REF = 'SELFHEAL_SECRET_JOB_NOTICE_SLACK';
  /** Jobs whose notice activity fails once right after it has sent (the worker lost before completing). */
  const failAfterSend = new Set<string>();

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    slack = await startSlackPeer();
    process.env[SLACK_REF] = slack.webhookUrl;
    // Nothing listens on the SMTP port: every email attempt fails, provably unsent (connection refused).
    const config = loadConfig({
      NODE_ENV: 'test',
      ACTION_EGRESS_ALLOW: '127.0.0.1/32',
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: db.url,
      SMTP_URL: `smtp://127.0.0.1:${await freePort()}`,
      SMTP_FROM: 'selfheal@example.com',
    });
    const real = createActivities({ db: db.db, logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), extractors: {}, integrations: createIntegrations(config) });
    const activities = {
      ...real,
      notifyJobFailure: async (input: Parameters<typeof real.notifyJobFailure>[0]) => {
        const sent = await real.notifyJobFailure(input);
        if (failAfterSend.delete(input.jobId)) throw new Error('worker lost after the notice was sent, before its completion was recorded');
        return sent;
      },
    };
    worker = await createMainWorker({ connection: temporal.nativeConnection, namespace: 'default', taskQueue, activities });
    running = worker.run();
  });

  after(async function () {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running?.catch(() => undefined);
    await slack?.close();
    delete process.env[SLACK_REF];
    await db?.close();
  });

  /** A job whose one target is not registered (so every run fails), notifying `notify`; one run of it. */
  async function failingRun(name: string, notify: Record<string, unknown>, opts: { failAfterSend?: boolean } = {}) {
    const id = `${name}-${randomUUID().slice(0, 6)}`;
    const definition = { id, name: id, schedule: { interval: '1h' }, targets: { environments: [`${id}-nowhere`] }, script: 'probe.sh', notifyOnFailure: notify };
    await db.db.insertInto('jobs').values({ id, name: id, definition: JSON.stringify(definition), enabled: true, schedule_id: jobScheduleId(id) }).execute();
    if (opts.failAfterSend) failAfterSend.add(id);
    const posts = slack.requests.length;
    const jobRunId = `jobrun-${id}-${Date.now()}`;
    const result = (await temporal.client.workflow.execute(JOB_WORKFLOW_TYPE, { taskQueue, workflowId: jobRunId, args: [{ jobId: id }], workflowExecutionTimeout: '2 minutes' })) as JobWorkflowResult;
    assert.equal(result.status, 'failed');
    const effects = await db.db.selectFrom('side_effects').select(['key', 'state', 'attempts']).where('key', 'like', `${jobRunId}:notice:%`).orderBy('key').execute();
    return {
      result,
      effects: effects.map((e) => [e.key.slice(jobRunId.length + 1), e.state, e.attempts]),
      messages: slack.messages.filter((m) => m.text.includes(jobRunId)).length,
      posts: slack.requests.length - posts,
    };
  }

  it('the activity fails right after Slack answered (worker lost): the retry does not post again', async function () {
    const run = await failingRun('notice-lost', { slack: { webhookUrlRef: `env:${SLACK_REF}` } }, { failAfterSend: true });
    assert.equal(run.messages, 1, `Slack got ${run.messages} messages for one run`);
    assert.equal(run.posts, 1);
    assert.equal(run.result.summary.notification, 'notified via slack');
    assert.deepEqual(run.effects, [['notice:slack', 'done', 1]]);
  });

  it('Slack is sent and the email channel fails: each retry tries the email again, never Slack', async function () {
    const run = await failingRun('notice-email-down', { slack: { webhookUrlRef: `env:${SLACK_REF}` }, email: ['sre@example.com'] });
    assert.equal(run.messages, 1, `Slack got ${run.messages} messages for one run`);
    assert.equal(run.posts, 1);
    assert.match(run.result.summary.notification ?? '', /^notification failed: /);
    assert.deepEqual(run.effects, [
      ['notice:email', 'failed', 3],
      ['notice:slack', 'done', 1],
    ]);
  });

  it("Slack's answer is lost: the message is not sent again (at most once), and the run says so", async function () {
    slack.loseNextAnswer('drop', { method: 'POST' });
    const run = await failingRun('notice-dropped', { slack: { webhookUrlRef: `env:${SLACK_REF}` } });
    assert.equal(run.messages, 1, `Slack got ${run.messages} messages for one run`);
    assert.equal(run.posts, 1);
    assert.match(run.result.summary.notification ?? '', /^notification failed: job\.notify\.slack: outcome unknown, not tried again so it cannot happen twice/);
    assert.deepEqual(run.effects, [['notice:slack', 'unknown', 1]]);
  });
});
