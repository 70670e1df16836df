// What a rule run keeps of its actions' outcomes (docs/security.md "Agents", docs/guarantees.md) is bounded
// in JSON bytes, whatever an agent answers or a script prints: the end of an output (4,000 characters,
// 4,096 bytes), the start of an error (2,000 characters, 2,048 bytes). Before, agentOutcome cut at 64 Ki
// characters, a control character is 6 bytes once JSON-encoded (`\u0001`), a failure's message was not cut
// at all, and every outcome travelled whole in the recordActionOutcome marker, in every later action's
// input and in the summary note: once a workflow task passed Temporal's 2 MB limit the server terminated
// the rule run, so its next action stayed `running`, the breaker never counted the failure, the lease was
// never released and no summary note was posted (found in review). Three agents on one stack: a
// compromised one answering 70 K control characters of output and of error, one failing with a 400 K
// character message, and a real agent whose allow-listed script prints 70 KB of \001 on each stream; and
// the same script over SSH on a management VM (a real sshd), from the main worker.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { NOTE_MARKER } from '../../activities/action-runs.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const NOISE = (n: number) => '\u0001'.repeat(n);
// Prints its result last, after 70 KB of \001 on stdout, and 70 KB of \001 on stderr.
const NOISY = `#!/bin/sh\nhead -c 70000 /dev/zero | tr '\\000' '\\001' >&2\nhead -c 70000 /dev/zero | tr '\\000' '\\001'\necho\necho 'RESULT disk checked'\nexit 1\n`;
const jsonBytes = (s: string | null | undefined) => Buffer.byteLength(JSON.stringify(s ?? ''), 'utf8');

describe('e2e: what a rule run keeps of an agent answer or a script output is bounded in bytes, so the run always completes', function () {
  this.timeout(300_000);
  const PD_TOKEN = 'pd-agent-output-bounds-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  let scriptsDir: string;
  let sshd: SshdHandle;
  const suffix = randomUUID().slice(0, 6);
  const service = (p: string) => `${p}${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;
  const envs = { bloat: `bloat-${suffix}`, failmsg: `failmsg-${suffix}`, noisy: `noisy-${suffix}`, ssh: `ssh-${suffix}` };
  const services = { bloat: service('PBL'), failmsg: service('PFM'), noisy: service('PNO'), ssh: service('PSS') };

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    sshd = await startSshd();
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-output-bounds-'));
    await chmod(scriptsDir, 0o755);
    await writeFile(path.join(scriptsDir, 'noisy.sh'), NOISY, { mode: 0o755 });
    process.env.SELFHEAL_SECRET_OUTPUT_BOUNDS_SSH_KEY = sshd.privateKey;
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = scriptsDir;
    stack = await startStack({
      env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' },
      extractors: { serviceMap: Object.fromEntries((Object.keys(envs) as (keyof typeof envs)[]).map((k) => [services[k], { environment: envs[k] }])) },
    });
    const fake = async (env: string, runAgentScript: () => Promise<unknown>) => {
      const worker = await Worker.create({
        connection: stack.temporal.nativeConnection,
        namespace: stack.config.temporal.namespace,
        taskQueue: agentTaskQueue(env),
        activities: { agentPresent: async () => ({ present: true }), runAgentScript },
      });
      workers.push({ worker, running: worker.run() });
    };
    // A compromised agent: well under Temporal's 2 MB per payload, ~840 KB an answer.
    await fake(envs.bloat, async () => ({ exitCode: 1, outputExcerpt: NOISE(70_000), error: NOISE(70_000) }));
    // 400 KB in the agent's failure, 2.4 MB once the workflow JSON-encodes it.
    await fake(envs.failmsg, async () => {
      throw ApplicationFailure.nonRetryable(`script failed: ${NOISE(400_000)}`, 'ScriptFailed');
    });
    const honest = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: envs.noisy, scriptsDir });
    workers.push({ worker: honest, running: honest.run() });
    for (const name of [envs.bloat, envs.failmsg, envs.noisy]) {
      const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name }) });
      assert.equal(res.status, 201, await res.clone().text());
    }
    await stack.db.db
      .insertInto('environments')
      .values({
        name: envs.ssh,
        labels: JSON.stringify({}),
        agent_task_queue: agentTaskQueue(envs.ssh),
        maintenance_windows: '[]',
        ssh: JSON.stringify({ host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_OUTPUT_BOUNDS_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint }),
      })
      .execute();
  });

  after(async function () {
    for (const w of workers) w.worker.shutdown();
    await Promise.all(workers.map((w) => w.running));
    await stack?.stop();
    await Promise.all([pd?.close(), sshd?.stop()]);
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    delete process.env.SELFHEAL_SECRET_OUTPUT_BOUNDS_SSH_KEY;
    if (scriptsDir) await rm(scriptsDir, { recursive: true, force: true });
  });

  /** Start the rule on its own service's incident; once its rule run is no longer running (at most 2 minutes), what a user sees of it. */
  async function runRule(key: keyof typeof envs, actions: unknown[]) {
    const created = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify({ name: `${key}-${suffix}`, services: [services[key]], actions }) });
    assert.equal(created.status, 201, await created.clone().text());
    const incidentId = newIncidentId();
    const delivered = await stack.deliver(sampleFor('v3-incident.triggered-01.json', incidentId, { data: { service: { id: services[key], type: 'service_reference', summary: 'x' } } }));
    assert.equal(delivered.status, 202);
    const query = `WorkflowType = 'ruleRunWorkflow' AND WorkflowId STARTS_WITH 'incident-${incidentId}/'`;
    const ids = await eventually(async () => {
      const found: { workflowId: string; runId: string }[] = [];
      for await (const w of stack.temporal.client.workflow.list({ query })) found.push({ workflowId: w.workflowId, runId: w.runId });
      return found.length > 0 ? found : undefined;
    }, 60_000, 'the rule run started');
    assert.equal(ids.length, 1);
    const handle = stack.temporal.client.workflow.getHandle(ids[0]!.workflowId, ids[0]!.runId);
    const described = await eventually(async () => {
      const d = await handle.describe();
      return d.status.name === 'RUNNING' ? undefined : d;
    }, 120_000, 'the rule run ended');
    let why = '';
    let events: proto.temporal.api.history.v1.IHistoryEvent[] = [];
    try {
      events = (await handle.fetchHistory()).events ?? [];
      const last = events.at(-1);
      why = String(last?.workflowExecutionTerminatedEventAttributes?.reason ?? last?.workflowExecutionFailedEventAttributes?.failure?.message ?? '');
    } catch (err) {
      why = `history unreadable: ${(err as Error).message}`;
    }
    const rows = await stack.db.db.selectFrom('action_runs').select(['action_id', 'status', 'finished_at', 'output_excerpt', 'error']).where('incident_id', '=', incidentId).orderBy('action_index').execute();
    const match = await stack.db.db.selectFrom('rule_matches').select(['breaker_outcome']).where('incident_id', '=', incidentId).executeTakeFirst();
    const lease = await stack.db.db.selectFrom('target_leases').select(['released_at']).where('incident_id', '=', incidentId).executeTakeFirst();
    const status = `${described.status.name}${why ? ` (${JSON.stringify(why)})` : ''}`;
    return { incidentId, status, historySize: described.historySize ?? 0, events, rows: new Map(rows.map((r) => [r.action_id, r])), breaker: match?.breaker_outcome ?? null, lease };
  }

  type Run = Awaited<ReturnType<typeof runRule>>;
  /** What a user observes of a run whose fixes failed: it completed, counted the failure, released its host, posted its summary note. */
  async function assertWrappedUp(run: Run) {
    assert.equal(run.status, 'COMPLETED', `the rule run: ${run.status}`);
    assert.equal(run.breaker?.failures, 1, `the breaker counted the failure: ${JSON.stringify(run.breaker)}`);
    assert.ok(run.lease?.released_at, 'the lease on the host is released');
    const notes = await eventually(async () => {
      const n = pd.notes(run.incidentId).filter((x) => x.content.startsWith(NOTE_MARKER));
      return n.length > 0 ? n : undefined;
    }, 30_000, 'the summary note at the PagerDuty peer');
    assert.ok(notes[0]!.content.length < 25_000);
    for (const [id, r] of run.rows) {
      assert.ok(r.finished_at, `${id} recorded finished (${r.status})`);
      assert.ok(jsonBytes(r.output_excerpt) <= 4096 && (r.output_excerpt ?? '').length <= 4000, `${id}: output ${jsonBytes(r.output_excerpt)} bytes`);
      assert.ok(jsonBytes(r.error) <= 2048 && (r.error ?? '').length <= 2000, `${id}: error ${jsonBytes(r.error)} bytes`);
    }
  }
  /** The largest event the rule run wrote itself (markers, activity inputs, its result): not an agent's answer. */
  const largestOwnEvent = (run: Run) =>
    Math.max(...run.events.filter((e) => !e.activityTaskCompletedEventAttributes && !e.activityTaskFailedEventAttributes).map((e) => proto.temporal.api.history.v1.HistoryEvent.encode(e).finish().length));

  it('a compromised agent answering 70 K control characters of output and error to three fixes: the run completes, its note action runs', async function () {
    const run = await runRule('bloat', [
      { id: 'fix1', type: 'script.agent', script: 'a.sh', when: 'always' },
      { id: 'fix2', type: 'script.agent', script: 'b.sh', when: 'always' },
      { id: 'fix3', type: 'script.agent', script: 'c.sh', when: 'always' },
      { id: 'tell', type: 'pagerduty.note', when: 'always', content: 'the fixes ran: {{ results.fix1.outputExcerpt }}' },
    ]);
    assert.equal(run.rows.get('tell')?.status, 'succeeded', `the note after the fixes: ${run.rows.get('tell')?.status ?? 'no row'}; rule run ${run.status}`);
    for (const id of ['fix1', 'fix2', 'fix3']) assert.equal(run.rows.get(id)?.status, 'failed');
    await assertWrappedUp(run);
    // The agent's answers are in the history as it sent them; nothing the run wrote itself grows with them.
    assert.ok(largestOwnEvent(run) < 64 * 1024, `the largest event of the run's own is ${largestOwnEvent(run)} bytes`);
  });

  it('an agent failing with a 400 K character message: the fix is recorded failed, the fallback runs, the run completes', async function () {
    const run = await runRule('failmsg', [
      { id: 'fix', type: 'script.agent', script: 'fix.sh' },
      { id: 'fallback', type: 'script.agent', when: 'failure', script: 'fallback.sh' },
    ]);
    assert.equal(run.rows.get('fix')?.status, 'failed', `the fix: rule run ${run.status}`);
    assert.ok(run.rows.get('fallback')?.finished_at, `the fallback: ${run.rows.get('fallback')?.status ?? 'no row'}; rule run ${run.status}`);
    assert.match(run.rows.get('fix')?.error ?? '', /^script failed: \uFFFD+…$/, 'the start of the message, controls shown as U+FFFD');
    await assertWrappedUp(run);
    assert.ok(largestOwnEvent(run) < 64 * 1024, `the largest event of the run's own is ${largestOwnEvent(run)} bytes`);
  });

  it('a real agent whose allow-listed script prints 70 KB of control characters on each stream, six times: a small history, the end of stdout shown', async function () {
    const checks = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const run = await runRule('noisy', [...checks.map((id) => ({ id, type: 'script.agent', script: 'noisy.sh', when: 'always' })), { id: 'tell', type: 'pagerduty.note', when: 'always', content: 'checks done' }]);
    assert.equal(run.rows.get('tell')?.status, 'succeeded', `the note after the checks: ${run.rows.get('tell')?.status ?? 'no row'}; rule run ${run.status}`);
    await assertWrappedUp(run);
    // What the dashboard shows: the script's result (printed last on stdout) and the end of its stderr.
    assert.match(run.rows.get('c1')?.output_excerpt ?? '', /\nRESULT disk checked\n\n--- stderr ---\n…\uFFFD+$/);
    // Before: 6.7 MB, past what a default client reads in one message.
    assert.ok(run.historySize < 200 * 1024, `the rule run's history is ${run.historySize} bytes`);
  });

  it('the same script over SSH on the management VM, three times: the note after it runs, a small history', async function () {
    const run = await runRule('ssh', [
      ...['s1', 's2', 's3'].map((id) => ({ id, type: 'script.ssh', script: 'noisy.sh', when: 'always' })),
      { id: 'tell', type: 'pagerduty.note', when: 'always', content: 'ssh checks done' },
    ]);
    assert.equal(run.rows.get('tell')?.status, 'succeeded', `the note after the scripts: ${run.rows.get('tell')?.status ?? 'no row'}; rule run ${run.status}`);
    assert.equal(run.rows.get('s1')?.status, 'failed', run.rows.get('s1')?.error ?? '');
    await assertWrappedUp(run);
    assert.match(run.rows.get('s1')?.output_excerpt ?? '', /\nRESULT disk checked\n\n--- stderr ---\n…\uFFFD+$/);
    assert.ok(run.historySize < 200 * 1024, `the rule run's history is ${run.historySize} bytes`);
  });
});
