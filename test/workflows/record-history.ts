// Record workflow histories for the replay test (not a test itself):
//   npx tsx test/workflows/record-history.ts [scenario ...]
// Runs the current workflow code on the test stack (Temporal dev server, database, real worker, a Doctor
// agent, local peers) through every branch the workflows have, and writes one file per workflow run to
// test/workflows/histories/<scenario>[-<part>].json. Without arguments it records every scenario (about two
// minutes: the approval timeout waits its one minute). SCENARIOS below says what each one covers; the replay
// test requires a file for each.
//
// Nothing before this release was ever deployed, so this set replaces the development histories. After a
// release, record new histories after every change to the commands a run issues and keep the old files:
// runs in flight replay against them. The files of a new revision are renamed after recording, e.g.
// `<scenario>-rule-run-revision-1.json` for RULE_RUN_REVISION 1, and listed in the replay test.
import { writeFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import pg from 'pg';
import { createAgentActivities, type AgentScriptInput } from '../../activities/agent.js';
import { buildAgentWorker } from '../../src/agent.js';
import { WORKFLOW_TYPES, agentTaskQueue, incidentWorkflowId, ruleRunWorkflowId } from '../../src/contracts/index.js';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { jobDefinitionSchema } from '../../src/domain/jobs.js';
import { startHttpPeer, startSlackPeer } from '../helpers/http-peer.js';
import { insertPause, resumePauses } from '../../src/db/repositories/guards.js';
import { startPagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { cancelTakenIn, eventually, startStack, type Stack } from '../helpers/stack.js';
import { messageOf, signalIncident, startTestWorker } from '../helpers/workers.js';

/** Each scenario and the branches it covers (kept in step with the replay test's list). */
export const SCENARIOS: Record<string, string> = {
  'approve': 'approval requested (notices), approved through the API, action runs; resolve; linger; complete',
  'reject': 'approval rejected through the API: the action is recorded rejected, the next one skipped',
  'approval-timeout': 'nobody decides within the minute: onTimeout reject, the timeout announced',
  'failure-chain': 'a failed action, when: failure runs, when: success skipped, when: always runs; breaker opens (notice); the next incident is notify_only',
  'resolve-cancel': 'a resolve during an approval wait cancels the rule run: cancelled, rest skipped, notices, breaker, summary note',
  'resolve-cancel-running': 'a resolve while an agent script runs: the activity is cancelled and waited for, then recorded cancelled',
  'agent-retry':
    "an idempotent agent script whose first attempt fails retryably: the pause, the agent waited for and the target checked again, the retry succeeds; and one whose environment is deleted before the retry: the retry refused, the action failed (rule-run revision 5)",
  'continue-as-new': 'a stream of events over a small history limit while an approval waits: continue-as-new carrying the rule run',
  'resolved-rule': 'a rule on incident.resolved waits for approval; a note after the resolve leaves it running (patch incident-cancel-only-at-resolve); approved, it completes',
  'duplicate': 'a redelivery queued behind its own first copy, and one to a new run after the first completed (stops at triage)',
  'task-slice':
    'events queued together over a one-byte task budget (input taskBytesLimit): the task ends after each, waiting for the rule run start it issued, or on a 1 ms timer after a note (patch incident-slice-workflow-task)',
  'park-backlog':
    'events queued while no worker polled, past a small carry bound and history size (inputs carryBytesLimit, historyBytesLimit): the first run parks them and continues as new (part first), the next runs take them from Postgres, one a task (input taskBytesLimit), and continue as new on the history size carrying how far they got (part middle), the last takes the rest, deletes the parked rows, takes the resolve and completes (part last) (patch incident-park-backlog)',
  'poison': 'an event with a timestamp that is not one is rejected; the next event is processed',
  'out-of-order': 'resolved before triggered: the late trigger is stale and acts on nothing',
  'claimed-elsewhere': 'an action claimed by another run: the rule run ends without executing it',
  'pause-at-approval':
    'a gated remediation approved while automation is paused: not started, the remediation after it skipped, the notification runs, the run inconclusive (patches rule-run-pause-stops-remediation-v1, rule-run-score-remediation-only-v1, approval-deadline-as-announced-v1)',
  'verify-check-stopped':
    "a fix verified by an agent check that fails: asked for before each run (verifyCheckMayRun), run, then refused once automation is paused; not_applicable, the run inconclusive (rule-run revision 6)",
  'verify-resolved': "a fix verified by a person's resolve during the wait (it cancels the rule run; Postgres says resolved): verified",
  'verify-merged':
    'a fix whose incident a person merged into another during the wait (resolve_reason): no proof, the cancelled wait asks the failing check once more; unverified, onUnverified runs',
  'verify-merged-during-check':
    'the merge lands while the check runs: the check cancelled ends the wait, not taken as a failed check, and the check is asked once more; unverified (patch verify-check-cancel-ends-wait-v1; record the file with -unpatched in its name from a run before it, where the cancelled check was taken as failed)',
  'dry-run': 'a dry-run rule: recorded, nothing executed, no note',
  'saas-retry-cap': 'a webhook whose retry asks for a first pause over a minute: its policy cap raised to it, the call made (patch saas-retry-cap-raised-to-first-pause-v1)',
  'job': 'a scheduled job over an agent that answers and one that is offline (agentPresent, the check again, the script; pickup timeout; failure notice)',
  'job-cancelled':
    "a job run cancelled (as overlap cancel_other does) while its agent script runs: the activity cancelled and waited for until the script stopped, the target recorded cancelled, the one not started skipped, the run cancelled (patch job-waits-for-script-v1)",
  'job-cancelled-early':
    'a job run cancelled while it records its start (part start) and while it resolves its targets (part resolve), each held on a table lock: recorded cancelled, no target started (patch job-cancelled-before-targets-recorded)',
  'agent-check': 'agent check against a live agent and against a queue nobody polls',
  'agent-refused':
    "a rule's agent script and a job's agent target on an environment whose agent serves another team: the presence check refused, the run ends there, failed, saying why, and no script task is queued (patch agent-presence-refusal-ends-run; record the files with -unpatched in their name from a run before it, where the script was queued and refused)",
  'agent-wait-stopped':
    "a rule's agent script waiting for its offline agent while its rule is disabled: once an agent answers, the fix is recorded skipped, never started, and the agent runs nothing (patch agent-wait-rule-stopped-skips-v1)",
  'job-cannot-finish': 'a selector job whose matched environments cannot finish within the run limit: no target started, recorded failed, failure notice (patch job-cannot-finish-is-failed)',
};

const chosen = process.argv.slice(2);
for (const name of chosen) {
  if (!(name in SCENARIOS)) {
    process.stderr.write(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}\n`);
    process.exit(2);
  }
}
const wanted = (name: string) => chosen.length === 0 || chosen.includes(name);

async function save(stack: Stack, workflowId: string, file: string, runId?: string): Promise<void> {
  const history = await stack.temporal.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const { historyToJSON } = await import('@temporalio/common/lib/proto-utils.js');
  const target = new URL(`./histories/${file}.json`, import.meta.url);
  writeFileSync(target, `${historyToJSON(history)}\n`);
  process.stdout.write(`wrote ${path.relative(process.cwd(), target.pathname)} (${history.events?.length ?? 0} events)\n`);
}

async function closed(stack: Stack, workflowId: string, runId?: string): Promise<void> {
  await eventually(async () => (await stack.temporal.client.workflow.getHandle(workflowId, runId).describe()).status.name !== 'RUNNING', 150_000, `${workflowId} to close`);
}

async function main(): Promise<void> {
  const PD_TOKEN = 'pd-record-token';
  const pd = await startPagerDutyPeer({ token: PD_TOKEN });
  const slack = await startSlackPeer();
  const failing = new Set<string>();
  const hook = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: (req) => ({ status: failing.has(req.params.name!) ? 500 : 204 }) }]);
  process.env.SELFHEAL_SECRET_RECORD_SLACK = slack.webhookUrl;
  const envName = 'record-env';
  const agentService = newServiceId();
  const retryServices = { 'record-retry': newServiceId(), 'record-retry-refused': newServiceId() };
  // Its own service on the agent's environment, so no other scenario's rule matches its incident.
  const verifyService = newServiceId();
  // Each verify-* scenario's own service on the agent's environment.
  const verifyServices = { 'verify-resolved': newServiceId(), 'verify-merged': newServiceId(), 'verify-merged-during-check': newServiceId() };
  // The environment of the agent-refused scenario, whose agent serves another team.
  const refusedEnv = 'record-refused';
  const refusedService = newServiceId();
  // The environment of the agent-wait-stopped scenario, with no agent until its rule is disabled.
  const waitStoppedEnv = 'record-wait-stopped';
  const waitStoppedService = newServiceId();
  const stack = await startStack({
    env: {
      // The peers listen on loopback, which rule-directed calls reach only when ACTION_EGRESS_ALLOW names it.
      ACTION_EGRESS_ALLOW: '127.0.0.1/32',
      PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com', SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com' },
    extractors: {
      serviceMap: { [agentService]: { environment: envName }, [verifyService]: { environment: envName }, ...Object.fromEntries(Object.values(verifyServices).map((svc) => [svc, { environment: envName }])), [refusedService]: { environment: refusedEnv }, [waitStoppedService]: { environment: waitStoppedEnv }, ...Object.fromEntries(Object.entries(retryServices).map(([environment, svc]) => [svc, { environment }])) },
    },
  });
  await stack.db.db.insertInto('environments').values({ name: envName, labels: '{}', agent_task_queue: agentTaskQueue(envName), maintenance_windows: '[]', ssh: null }).execute();
  const scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-record-'));
  await chmod(scriptsDir, 0o755);
  const sick = ['sick-check.sh', `echo run >> "${scriptsDir}/sick-check.runs"; exit 1`] as const;
  const merged = ['merged-check.sh', 'exit 1'] as const;
  // Runs long the first time (the merge's cancellation reaches it at its next heartbeat), then fails at once.
  const slowCheck = ['slow-check.sh', `test -s "${scriptsDir}/slow-check.runs" && exit 1; echo run >> "${scriptsDir}/slow-check.runs"; sleep 60; exit 1`] as const;
  for (const [name, body] of [['health-check.sh', 'echo healthy'], ['probe.sh', 'echo "RESULT ok"'], ['slow.sh', 'echo started; sleep 60'], sick, merged, slowCheck] as const) {
    await writeFile(path.join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
    await chmod(path.join(scriptsDir, name), 0o755);
  }
  const agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: envName, scriptsDir });
  const agentRun = agent.run();

  const linger = { lingerSeconds: 1 };
  const service = (svc: string) => ({ service: { id: svc, type: 'service_reference', summary: 'Recorded' } });
  const rule = async (name: string, doc: Partial<RuleInputDocument>) => {
    const svc = newServiceId();
    const ruleId = await insertRule(stack.db.db, { name: `record-${name}-${svc.toLowerCase()}`, services: [svc], actions: [], ...doc } as RuleInputDocument);
    return { svc, ruleId };
  };
  const send = (id: string, sample: string, svc: string, occurredAt: string, extra: Record<string, unknown> = {}, input: Record<string, number> = linger) => {
    const payload = sampleFor(sample, id, { occurredAt, data: { ...service(svc), ...extra } });
    return signalIncident(stack.temporal, stack.taskQueue, id, messageOf(payload), input).then(() => payload);
  };
  const waiting = (id: string) =>
    eventually(() => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).where('status', '=', 'awaiting_approval').executeTakeFirst(), 30_000, 'approval wait');
  const decide = async (id: string, runId: string, decision: 'approve' | 'reject') => {
    const res = await stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(runId)}`, { method: 'POST', body: JSON.stringify({ decision }) });
    if (res.status !== 202) throw new Error(`approval: ${res.status} ${await res.text()}`);
  };
  const gated = (name: string, timeoutMinutes = 30, onTimeout: 'approve' | 'reject' = 'reject') => ({
    actions: [
      { id: 'fix', type: 'notify.webhook' as const, url: `${hook.url}/hook/${name}`, body: '{"incident": "{{ incident.id }}"}', approval: { required: true as const, timeoutMinutes, onTimeout } },
      { id: 'after', type: 'notify.slack' as const, webhookUrlRef: 'env:SELFHEAL_SECRET_RECORD_SLACK', text: '{{ results.fix.status }}' },
    ],
  });
  const resolveAndSave = async (id: string, svc: string, file: string, ruleRuns: { workflowId: string; part: string }[], extra: Record<string, unknown> = {}) => {
    await send(id, 'v3-incident.resolved-01.json', svc, '2026-05-01T10:09:00Z', extra);
    for (const r of ruleRuns) await closed(stack, r.workflowId);
    await closed(stack, incidentWorkflowId(id));
    await save(stack, incidentWorkflowId(id), file);
    for (const r of ruleRuns) await save(stack, r.workflowId, `${file}-${r.part}`);
  };

  try {
    if (wanted('approve') || wanted('reject')) {
      for (const decision of ['approve', 'reject'] as const) {
        if (!wanted(decision)) continue;
        const { svc, ruleId } = await rule(decision, gated(decision));
        const id = newIncidentId();
        const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
        const run = await waiting(id);
        await decide(id, run.id, decision);
        await eventually(async () => ((await stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('finished_at', 'is not', null).execute()).length === 2 ? true : undefined), 30_000, 'both actions');
        await resolveAndSave(id, svc, decision, [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
      }
    }

    if (wanted('approval-timeout')) {
      const { svc, ruleId } = await rule('timeout', gated('timeout', 1, 'reject'));
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      await waiting(id);
      await eventually(async () => ((await stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('status', '=', 'rejected').execute()).length === 1 ? true : undefined), 120_000, 'the timeout');
      await resolveAndSave(id, svc, 'approval-timeout', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
    }

    if (wanted('failure-chain')) {
      // The fix is a remediation (a rule with remediation is scored on it alone): PagerDuty refuses it once.
      const { svc, ruleId } = await rule('chain', {
        policies: { circuitBreaker: { failureThreshold: 1 } },
        actions: [
          { id: 'fix', type: 'pagerduty.acknowledge', retry: { maximumAttempts: 1 } },
          { id: 'escalate', type: 'pagerduty.escalate', level: 2, when: 'failure' },
          { id: 'resolve', type: 'pagerduty.resolve', when: 'success' },
          { id: 'tell', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_RECORD_SLACK', text: 'fix: {{ results.fix.status }}', when: 'always' },
        ],
      });
      const id = newIncidentId();
      pd.failNext(500, 1, { method: 'PUT', pathPrefix: `/incidents/${id}` });
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      await eventually(async () => ((await stack.db.db.selectFrom('rules').select('breaker_state').where('id', '=', ruleId).executeTakeFirstOrThrow()).breaker_state === 'open' ? true : undefined), 30_000, 'breaker open');
      const next = newIncidentId();
      const notifyOnly = await send(next, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      await closed(stack, ruleRunWorkflowId(next, ruleId, notifyOnly.event.id));
      await resolveAndSave(id, svc, 'failure-chain', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
      await save(stack, ruleRunWorkflowId(next, ruleId, notifyOnly.event.id), 'failure-chain-notify-only-rule-run');
    }

    if (wanted('resolve-cancel')) {
      const { svc, ruleId } = await rule('cancel', gated('cancel'));
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      await waiting(id);
      await resolveAndSave(id, svc, 'resolve-cancel', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
    }

    if (wanted('resolve-cancel-running')) {
      const ruleId = await insertRule(stack.db.db, { name: 'record-cancel-running', services: [agentService], actions: [{ id: 'slow', type: 'script.agent', script: 'slow.sh' }] });
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', agentService, '2026-05-01T10:00:00Z');
      await eventually(() => stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('status', '=', 'running').executeTakeFirst(), 30_000, 'the script running');
      await new Promise((r) => setTimeout(r, 2000));
      await resolveAndSave(id, agentService, 'resolve-cancel-running', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
    }

    if (wanted('agent-retry')) {
      for (const [environment, svc] of Object.entries(retryServices)) {
        await stack.db.db.insertInto('environments').values({ name: environment, labels: '{}', agent_task_queue: agentTaskQueue(environment), maintenance_windows: '[]', ssh: null }).execute();
        // An agent whose first script attempt fails retryably (as one that crashed mid-run would); the
        // refused part's environment is deleted then, before the retry is due.
        const real = createAgentActivities({ scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 4 });
        let calls = 0;
        const runAgentScript = async (input: AgentScriptInput) => {
          calls += 1;
          const result = await real.runAgentScript(input);
          if (calls > 1) return result;
          if (environment === 'record-retry-refused') await stack.db.db.deleteFrom('environments').where('name', '=', environment).execute();
          throw ApplicationFailure.retryable('the agent lost the run (recorded)', 'AgentLostError');
        };
        const flaky = await Worker.create({
          connection: stack.temporal.nativeConnection,
          namespace: stack.config.temporal.namespace,
          taskQueue: agentTaskQueue(environment),
          activities: { runAgentScript, agentPresent: real.agentPresent },
        });
        const flakyRun = flaky.run();
        try {
          const ruleId = await insertRule(stack.db.db, {
            name: `record-${environment}`,
            services: [svc],
            actions: [{ id: 'probe', type: 'script.agent', script: 'probe.sh', idempotent: true, retry: { maximumAttempts: 2, initialIntervalSeconds: 2 } }],
          });
          const id = newIncidentId();
          const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
          await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
          await resolveAndSave(id, svc, environment === 'record-retry' ? 'agent-retry' : 'agent-retry-refused', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
        } finally {
          flaky.shutdown();
          await flakyRun;
        }
      }
    }

    if (wanted('continue-as-new')) {
      const { svc, ruleId } = await rule('can', gated('can'));
      const id = newIncidentId();
      const input = { lingerSeconds: 1, historyLimit: 40 };
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z', {}, input);
      const run = await waiting(id);
      const firstRunId = (await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).runId;
      for (let i = 0; i < 30; i++) {
        await send(id, 'v3-incident.annotated-01.json', svc, `2026-05-01T10:01:${String(i).padStart(2, '0')}Z`, {}, input);
        await eventually(async () => ((await stack.db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length === i + 2 ? true : undefined), 30_000);
      }
      await closed(stack, incidentWorkflowId(id), firstRunId);
      await decide(id, run.id, 'approve');
      await send(id, 'v3-incident.resolved-01.json', svc, '2026-05-01T10:09:00Z', {}, input);
      await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
      await closed(stack, incidentWorkflowId(id));
      await save(stack, incidentWorkflowId(id), 'continue-as-new-first', firstRunId);
      await save(stack, incidentWorkflowId(id), 'continue-as-new-last');
      await save(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id), 'continue-as-new-rule-run');
    }

    if (wanted('resolved-rule')) {
      // Only the incident run is saved: the rule run's sequence is the approve scenario's.
      const { svc } = await rule('onresolve', { ...gated('onresolve'), eventTypes: ['incident.resolved'] });
      const id = newIncidentId();
      await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      await send(id, 'v3-incident.resolved-01.json', svc, '2026-05-01T10:05:00Z');
      const run = await waiting(id);
      await send(id, 'v3-incident.annotated-01.json', svc, '2026-05-01T10:06:00Z');
      await eventually(async () => ((await stack.db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length === 3 ? true : undefined), 30_000, 'the note');
      await decide(id, run.id, 'approve');
      await closed(stack, incidentWorkflowId(id));
      await save(stack, incidentWorkflowId(id), 'resolved-rule');
    }

    if (wanted('duplicate')) {
      const { svc } = await rule('dup', { actions: [{ id: 'ping', type: 'notify.webhook', url: `${hook.url}/hook/dup`, body: '{}' }] });
      const id = newIncidentId();
      const first = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-05-01T10:00:00Z', data: service(svc) });
      await Promise.all([1, 2, 3].map(() => signalIncident(stack.temporal, stack.taskQueue, id, messageOf(first), linger)));
      await eventually(async () => ((await stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('finished_at', 'is not', null).execute()).length === 1 ? true : undefined), 30_000, 'the action');
      await send(id, 'v3-incident.resolved-01.json', svc, '2026-05-01T10:05:00Z');
      await closed(stack, incidentWorkflowId(id));
      const firstRunId = (await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).runId;
      await signalIncident(stack.temporal, stack.taskQueue, id, messageOf(first), linger);
      await eventually(async () => ((await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).runId !== firstRunId ? true : undefined), 30_000, 'a new run');
      await closed(stack, incidentWorkflowId(id));
      await save(stack, incidentWorkflowId(id), 'duplicate-first', firstRunId);
      await save(stack, incidentWorkflowId(id), 'duplicate-redelivered');
    }

    if (wanted('task-slice')) {
      const { svc, ruleId } = await rule('slice', { eventTypes: ['incident.triggered', 'incident.priority_updated'], actions: [{ id: 'ping', type: 'notify.webhook', url: `${hook.url}/hook/slice`, body: '{}' }] });
      const id = newIncidentId();
      const input = { lingerSeconds: 1, taskBytesLimit: 1 };
      // Sent one after the other without waiting: they queue while the first task triages the trigger.
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z', {}, input);
      await send(id, 'v3-incident.annotated-01.json', svc, '2026-05-01T10:01:00Z', {}, input);
      await send(id, 'v3-incident.annotated-01.json', svc, '2026-05-01T10:02:00Z', {}, input);
      const update = await send(id, 'v3-incident.priority_updated-01.json', svc, '2026-05-01T10:03:00Z', {}, input);
      await send(id, 'v3-incident.annotated-01.json', svc, '2026-05-01T10:04:00Z', {}, input);
      for (const e of [trigger, update]) await closed(stack, ruleRunWorkflowId(id, ruleId, e.event.id));
      await send(id, 'v3-incident.resolved-01.json', svc, '2026-05-01T10:09:00Z', {}, input);
      await closed(stack, incidentWorkflowId(id));
      const history = await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).fetchHistory();
      // The 1 ms timers after a note (the linger's is a second).
      const timers = history.events?.filter((e) => e.timerStartedEventAttributes && Number(e.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0) === 0).length ?? 0;
      const patches = history.events?.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch').length ?? 0;
      if (timers === 0 || patches === 0) throw new Error(`task-slice: the events did not queue (${timers} timers, ${patches} patch markers): record it again`);
      await save(stack, incidentWorkflowId(id), 'task-slice');
    }

    if (wanted('park-backlog')) {
      const { svc, ruleId } = await rule('park', { eventTypes: ['incident.triggered', 'incident.priority_updated'], actions: [{ id: 'ping', type: 'notify.webhook', url: `${hook.url}/hook/park`, body: '{}' }] });
      const id = newIncidentId();
      // A task queue no worker polls yet: the events queue in the run's first workflow task, as while the worker was stopped.
      const queue = `${stack.taskQueue}-park`;
      // A one-byte task budget ends the task after each event taken, so the history's size is read before the next.
      const input = { lingerSeconds: 1, carryBytesLimit: 16 * 1024, historyBytesLimit: 40 * 1024, taskBytesLimit: 1 };
      const pad = 'x'.repeat(8 * 1024);
      const events = [];
      for (let i = 0; i < 8; i++) {
        const sample = i === 0 ? 'v3-incident.triggered-01.json' : 'v3-incident.priority_updated-01.json';
        const payload = sampleFor(sample, id, { occurredAt: `2026-05-01T12:0${i}:00Z`, data: { ...service(svc), details: pad } });
        await signalIncident(stack.temporal, queue, id, messageOf(payload), input);
        events.push(payload);
      }
      const firstRunId = (await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).runId;
      const parkWorker = await startTestWorker({ temporal: stack.temporal, db: stack.db, taskQueue: queue });
      try {
        for (const e of events) await closed(stack, ruleRunWorkflowId(id, ruleId, e.event.id));
        const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-05-01T12:30:00Z', data: service(svc) });
        await signalIncident(stack.temporal, queue, id, messageOf(resolve), input);
        await closed(stack, incidentWorkflowId(id));
      } finally {
        await parkWorker.stop();
      }
      // The chain of runs, first to last.
      const runs = [firstRunId];
      for (;;) {
        const history = await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id), runs.at(-1)).fetchHistory();
        const next = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
        if (!next) break;
        runs.push(next);
      }
      const parkedRows = await stack.db.db.selectFrom('incident_event_backlog').select('id').where('incident_id', '=', id).execute();
      const middle = (await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id), runs[1]).fetchHistory()).events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes;
      const carriedAfter = middle ? (JSON.parse(Buffer.from(middle.input!.payloads![0]!.data!).toString()) as { carried?: { parkedAfter?: string } }).carried?.parkedAfter : undefined;
      if (carriedAfter === undefined || carriedAfter === '0') throw new Error(`park-backlog: the second run did not continue as new part way through the parked events (${carriedAfter}): record it again`);
      if (runs.length < 3 || parkedRows.length > 0) throw new Error(`park-backlog: ${runs.length} runs, ${parkedRows.length} rows left parked: record it again`);
      await save(stack, incidentWorkflowId(id), 'park-backlog-first', runs[0]);
      await save(stack, incidentWorkflowId(id), 'park-backlog-middle', runs[1]);
      await save(stack, incidentWorkflowId(id), 'park-backlog-last', runs.at(-1));
    }

    if (wanted('poison')) {
      const { svc } = await rule('poison', { actions: [{ id: 'ping', type: 'notify.webhook', url: `${hook.url}/hook/poison`, body: '{}' }] });
      const id = newIncidentId();
      const bad = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: 'not a time', data: service(svc) });
      await signalIncident(stack.temporal, stack.taskQueue, id, messageOf(bad), linger);
      await send(id, 'v3-incident.resolved-01.json', svc, '2026-05-01T10:05:00Z');
      await closed(stack, incidentWorkflowId(id));
      await save(stack, incidentWorkflowId(id), 'poison');
    }

    if (wanted('out-of-order')) {
      const { svc } = await rule('late', { actions: [{ id: 'ping', type: 'notify.webhook', url: `${hook.url}/hook/late`, body: '{}' }] });
      const id = newIncidentId();
      await send(id, 'v3-incident.resolved-01.json', svc, '2026-05-01T11:05:00Z');
      await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T11:00:00Z');
      await closed(stack, incidentWorkflowId(id));
      await save(stack, incidentWorkflowId(id), 'out-of-order');
    }

    if (wanted('claimed-elsewhere')) {
      const { svc, ruleId } = await rule('claimed', { actions: [{ id: 'ping', type: 'notify.webhook', url: `${hook.url}/hook/claimed`, body: '{}' }] });
      const id = newIncidentId();
      const trigger = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-05-01T10:00:00Z', data: service(svc) });
      const runId = `${id}:${ruleId}:ping:${trigger.event.id}`;
      await stack.db.db
        .insertInto('action_runs')
        .values({ id: runId, idempotency_key: runId, incident_id: id, rule_id: ruleId, rule_version: 1, action_index: 0, action_id: 'ping', action_type: 'notify.webhook', status: 'running', claimed_by: 'elsewhere/run' })
        .execute();
      await signalIncident(stack.temporal, stack.taskQueue, id, messageOf(trigger), linger);
      await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
      await resolveAndSave(id, svc, 'claimed-elsewhere', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
    }

    if (wanted('pause-at-approval')) {
      const { svc, ruleId } = await rule('paused', {
        actions: [
          { id: 'fix', type: 'pagerduty.acknowledge' as const, approval: { required: true as const, timeoutMinutes: 30, onTimeout: 'approve' as const } },
          { id: 'resolve', type: 'pagerduty.resolve' as const, when: 'success' as const },
          { id: 'after', type: 'notify.slack' as const, webhookUrlRef: 'env:SELFHEAL_SECRET_RECORD_SLACK', text: '{{ results.fix.status }}', when: 'always' as const },
        ],
      });
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      const run = await waiting(id);
      await insertPause(stack.db.db, { scope: 'fleet', environment: '', guard: 'fleet.maxTargets', reason: 'recorded', incidentId: id, at: new Date() });
      try {
        await decide(id, run.id, 'approve');
        await eventually(async () => ((await stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('finished_at', 'is not', null).execute()).length === 3 ? true : undefined), 30_000, 'three actions');
        await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
      } finally {
        await resumePauses(stack.db.db, { scope: 'fleet', environment: '', actor: 'record', at: new Date() });
      }
      await resolveAndSave(id, svc, 'pause-at-approval', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
    }

    if (wanted('verify-check-stopped')) {
      const ruleId = await insertRule(stack.db.db, {
        name: 'record-verify-check-stopped',
        services: [verifyService],
        actions: [{ id: 'fix', type: 'script.agent', script: 'probe.sh' }],
        verify: { within: '8s', settle: '1s', check: { type: 'script.agent', script: 'sick-check.sh' } },
      } as RuleInputDocument);
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', verifyService, '2026-05-01T10:00:00Z');
      // The check asked for and run once (it fails), then refused on a paused fleet until `within`.
      await eventually(async () => ((await readFile(path.join(scriptsDir, 'sick-check.runs'), 'utf8').catch(() => '')).length > 0 ? true : undefined), 30_000, 'a first check');
      await insertPause(stack.db.db, { scope: 'fleet', environment: '', guard: 'fleet.maxTargets', reason: 'recorded', incidentId: id, at: new Date() });
      try {
        await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
      } finally {
        await resumePauses(stack.db.db, { scope: 'fleet', environment: '', actor: 'record', at: new Date() });
      }
      await resolveAndSave(id, verifyService, 'verify-check-stopped', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
    }

    for (const scenario of ['verify-resolved', 'verify-merged', 'verify-merged-during-check'] as const) {
      if (!wanted(scenario)) continue;
      const svc = verifyServices[scenario];
      const check = { 'verify-resolved': undefined, 'verify-merged': 'merged-check.sh', 'verify-merged-during-check': 'slow-check.sh' }[scenario];
      const ruleId = await insertRule(stack.db.db, {
        name: `record-${scenario}`,
        services: [svc],
        actions: [{ id: 'fix', type: 'script.agent', script: 'probe.sh' }],
        verify: {
          within: '60s',
          // A long settle: the resolve lands before the first check; a short one: while it runs.
          settle: scenario === 'verify-merged-during-check' ? '1s' : '30s',
          ...(check ? { check: { type: 'script.agent', script: check } } : {}),
          ...(scenario === 'verify-merged' ? { onUnverified: [{ id: 'page', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_RECORD_SLACK', text: 'unverified' }] } : {}),
        },
      } as RuleInputDocument);
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      const verification = () => stack.db.db.selectFrom('rule_matches').select(['verification', 'verification_detail']).where('incident_id', '=', id).executeTakeFirst();
      await eventually(async () => ((await verification())?.verification === 'pending' ? true : undefined), 30_000, `${scenario}: verification pending`);
      if (scenario === 'verify-merged-during-check') {
        await eventually(async () => ((await readFile(path.join(scriptsDir, 'slow-check.runs'), 'utf8').catch(() => '')).length > 0 ? true : undefined), 30_000, 'the check running');
        await new Promise((r) => setTimeout(r, 1000));
      }
      const merge = scenario === 'verify-resolved' ? {} : { resolve_reason: { type: 'merge_resolve_reason', incident: { id: 'PMERGEDINTO', type: 'incident_reference' } } };
      await resolveAndSave(id, svc, scenario, [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }], merge);
      const v = await verification();
      const expected = scenario === 'verify-resolved' ? 'verified' : 'unverified';
      if (v?.verification !== expected) throw new Error(`${scenario}: verification ${v?.verification} (${v?.verification_detail}), not ${expected}: record it again`);
      process.stdout.write(`${scenario}: ${v.verification}: ${v.verification_detail}\n`);
    }

    if (wanted('dry-run')) {
      const { svc, ruleId } = await rule('dry', { dryRun: true, actions: [{ id: 'ping', type: 'notify.webhook', url: `${hook.url}/hook/dry`, body: '{}' }] });
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
      await resolveAndSave(id, svc, 'dry-run', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
    }

    if (wanted('saas-retry-cap')) {
      const { svc, ruleId } = await rule('cap', { actions: [{ id: 'ping', type: 'notify.webhook', url: `${hook.url}/hook/cap`, body: '{}', retry: { maximumAttempts: 1, initialIntervalSeconds: 120, backoffCoefficient: 2 } }] });
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', svc, '2026-05-01T10:00:00Z');
      await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
      await resolveAndSave(id, svc, 'saas-retry-cap', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
    }

    if (wanted('job')) {
      await stack.db.db.insertInto('environments').values({ name: 'record-offline', labels: '{}', agent_task_queue: agentTaskQueue('record-offline'), maintenance_windows: '[]', ssh: null }).execute();
      const job = jobDefinitionSchema.parse({
        id: 'record-job',
        name: 'record job',
        schedule: { interval: '6h' },
        targets: { environments: [envName, 'record-offline'] },
        script: 'probe.sh',
        agentPickupTimeoutSeconds: 2,
        notifyOnFailure: { slack: { webhookUrlRef: 'env:SELFHEAL_SECRET_RECORD_SLACK' } },
      });
      await stack.db.db.insertInto('jobs').values({ id: 'record-job', name: job.name, definition: JSON.stringify(job), schedule_id: 'job-record-job' }).execute();
      const workflowId = `job-record-job-manual-${Date.now()}`;
      await stack.temporal.client.workflow.execute(WORKFLOW_TYPES.job, { workflowId, taskQueue: stack.taskQueue, args: [{ jobId: 'record-job' }] });
      await save(stack, workflowId, 'job');
    }

    if (wanted('job-cannot-finish')) {
      await stack.db.db
        .insertInto('environments')
        .values(['record-big-0', 'record-big-1'].map((name) => ({ name, labels: JSON.stringify({ fleet: 'record-big' }), agent_task_queue: agentTaskQueue(name), maintenance_windows: '[]', ssh: null })))
        .execute();
      const job = jobDefinitionSchema.parse({
        id: 'record-big-job',
        name: 'record big job',
        schedule: { interval: '1d' },
        targets: { selector: { fleet: 'record-big' } },
        script: 'probe.sh',
        timeoutSecondsPerTarget: 50_000,
        concurrency: 1,
        notifyOnFailure: { slack: { webhookUrlRef: 'env:SELFHEAL_SECRET_RECORD_SLACK' } },
      });
      await stack.db.db.insertInto('jobs').values({ id: 'record-big-job', name: job.name, definition: JSON.stringify(job), schedule_id: 'job-record-big-job' }).execute();
      const workflowId = `job-record-big-job-manual-${Date.now()}`;
      await stack.temporal.client.workflow.execute(WORKFLOW_TYPES.job, { workflowId, taskQueue: stack.taskQueue, args: [{ jobId: 'record-big-job' }] });
      await save(stack, workflowId, 'job-cannot-finish');
    }

    if (wanted('job-cancelled')) {
      const job = jobDefinitionSchema.parse({
        id: 'record-cancel-job',
        name: 'record cancelled job',
        schedule: { interval: '6h' },
        // The second is never started: recorded skipped.
        targets: { environments: [envName, 'record-cancel-later'] },
        script: 'slow.sh',
        concurrency: 1,
      });
      await stack.db.db.insertInto('jobs').values({ id: 'record-cancel-job', name: job.name, definition: JSON.stringify(job), schedule_id: 'job-record-cancel-job' }).execute();
      const workflowId = `job-record-cancel-job-manual-${Date.now()}`;
      const handle = await stack.temporal.client.workflow.start(WORKFLOW_TYPES.job, { workflowId, taskQueue: stack.taskQueue, args: [{ jobId: 'record-cancel-job' }] });
      await eventually(
        async () => (await handle.describe()).raw.pendingActivities?.some((a) => a.activityType?.name === 'runAgentScript' && a.lastStartedTime) === true,
        30_000,
        'the script running',
      );
      await handle.cancel();
      await closed(stack, workflowId);
      await save(stack, workflowId, 'job-cancelled');
    }

    if (wanted('job-cancelled-early')) {
      const job = jobDefinitionSchema.parse({ id: 'record-early-job', name: 'record early cancel job', schedule: { interval: '6h' }, targets: { environments: [envName] }, script: 'probe.sh' });
      await stack.db.db.insertInto('jobs').values({ id: 'record-early-job', name: job.name, definition: JSON.stringify(job), schedule_id: 'job-record-early-job' }).execute();
      // Each activity held on a lock of the table it needs, the run cancelled while it waits there.
      for (const [part, table, activity] of [
        ['start', 'job_runs', 'recordJobRunStart'],
        ['resolve', 'environments', 'resolveJobTargets'],
      ] as const) {
        const locker = new pg.Client({ connectionString: stack.db.url });
        await locker.connect();
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
        const workflowId = `job-record-early-job-manual-${part}-${Date.now()}`;
        const handle = await stack.temporal.client.workflow.start(WORKFLOW_TYPES.job, { workflowId, taskQueue: stack.taskQueue, args: [{ jobId: 'record-early-job' }] });
        await eventually(async () => (await handle.describe()).raw.pendingActivities?.some((a) => a.activityType?.name === activity && a.lastStartedTime) === true, 30_000, `${activity} held`);
        await handle.cancel();
        await cancelTakenIn(handle);
        await locker.query('ROLLBACK');
        await locker.end();
        await closed(stack, workflowId);
        await save(stack, workflowId, `job-cancelled-early-${part}`);
      }
    }

    if (wanted('agent-wait-stopped')) {
      await stack.db.db.insertInto('environments').values({ name: waitStoppedEnv, labels: '{}', agent_task_queue: agentTaskQueue(waitStoppedEnv), maintenance_windows: '[]', ssh: null }).execute();
      const ruleId = await insertRule(stack.db.db, { name: 'record-wait-stopped', services: [waitStoppedService], actions: [{ id: 'probe', type: 'script.agent', script: 'probe.sh' }] });
      const id = newIncidentId();
      const trigger = await send(id, 'v3-incident.triggered-01.json', waitStoppedService, '2026-05-01T10:00:00Z');
      const ruleRun = stack.temporal.client.workflow.getHandle(ruleRunWorkflowId(id, ruleId, trigger.event.id));
      await eventually(async () => (await ruleRun.describe().catch(() => undefined))?.raw.pendingActivities?.some((a) => a.activityType?.name === 'agentPresent') || undefined, 30_000, 'the fix waiting for its agent');
      await stack.db.db.updateTable('rules').set({ enabled: false }).where('id', '=', ruleId).execute();
      const waitAgent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: waitStoppedEnv, scriptsDir });
      const waitAgentRun = waitAgent.run();
      try {
        await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
        await resolveAndSave(id, waitStoppedService, 'agent-wait-stopped', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
      } finally {
        waitAgent.shutdown();
        await waitAgentRun;
      }
    }

    if (wanted('agent-refused')) {
      // An agent serving team ops only, on an environment of the default team (whose rule and job these are).
      await stack.db.db.insertInto('environments').values({ name: refusedEnv, labels: '{}', agent_task_queue: agentTaskQueue(refusedEnv), maintenance_windows: '[]', ssh: null }).execute();
      const other = createAgentActivities({ scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 4, teams: ['ops'] });
      const opsAgent = await Worker.create({ connection: stack.temporal.nativeConnection, namespace: stack.config.temporal.namespace, taskQueue: agentTaskQueue(refusedEnv), activities: other });
      const opsRun = opsAgent.run();
      try {
        const ruleId = await insertRule(stack.db.db, { name: 'record-refused', services: [refusedService], actions: [{ id: 'probe', type: 'script.agent', script: 'probe.sh' }] });
        const id = newIncidentId();
        const trigger = await send(id, 'v3-incident.triggered-01.json', refusedService, '2026-05-01T10:00:00Z');
        await closed(stack, ruleRunWorkflowId(id, ruleId, trigger.event.id));
        await resolveAndSave(id, refusedService, 'agent-refused', [{ workflowId: ruleRunWorkflowId(id, ruleId, trigger.event.id), part: 'rule-run' }]);
        const job = jobDefinitionSchema.parse({ id: 'record-refused-job', name: 'record refused job', schedule: { interval: '6h' }, targets: { environments: [refusedEnv] }, script: 'probe.sh', agentPickupTimeoutSeconds: 10 });
        await stack.db.db.insertInto('jobs').values({ id: 'record-refused-job', name: job.name, definition: JSON.stringify(job), schedule_id: 'job-record-refused-job' }).execute();
        const workflowId = `job-record-refused-job-manual-${Date.now()}`;
        await stack.temporal.client.workflow.execute(WORKFLOW_TYPES.job, { workflowId, taskQueue: stack.taskQueue, args: [{ jobId: 'record-refused-job' }] });
        await save(stack, workflowId, 'agent-refused-job');
      } finally {
        opsAgent.shutdown();
        await opsRun;
      }
    }

    if (wanted('agent-check')) {
      for (const [part, queue] of [['healthy', agentTaskQueue(envName)], ['offline', agentTaskQueue('nobody-polls-this')]] as const) {
        const workflowId = `agent-check-record-${part}-${Date.now()}`;
        await stack.temporal.client.workflow.execute(WORKFLOW_TYPES.agentCheck, {
          workflowId,
          taskQueue: stack.taskQueue,
          args: [{ environment: envName, taskQueue: queue, scheduleToStartSeconds: 2, timeoutSeconds: 10 }],
        });
        await save(stack, workflowId, `agent-check-${part}`);
      }
    }
  } finally {
    agent.shutdown();
    await agentRun;
    await stack.stop();
    await Promise.all([pd.close(), slack.close(), hook.close()]);
    await rm(scriptsDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
