import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { insertRule } from '../helpers/rules.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { startHttpPeer, startJiraPeer, startSlackPeer, type HttpPeer, type JiraPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// A signed incident over HTTP matches rules whose actions run a script on a live Doctor agent, then over
// SSH on the management VM, open a Jira work item, notify Slack and write back to PagerDuty; a failing
// script triggers the `when: failure` action.
describe('remediation end to end: webhook → rule → agent, SSH, Jira, Slack, PagerDuty', function () {
  const PD_TOKEN = 'pd-test-token-123';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let jira: JiraPeer;
  let slack: SlackPeer;
  let sshd: SshdHandle;
  let agent: Worker;
  let agentRun: Promise<void>;
  let scriptsDir: string;
  let markerDir: string;
  const env = `prod-eu-${randomUUID().slice(0, 6)}`;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    jira = await startJiraPeer();
    slack = await startSlackPeer();
    sshd = await startSshd();
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-scripts-'));
    markerDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-markers-'));
    await chmod(scriptsDir, 0o755);
    const script = async (name: string, body: string) => {
      await writeFile(path.join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
      await chmod(path.join(scriptsDir, name), 0o755);
    };
    // Arguments arrive as argv: a hostile title never reaches a shell.
    await script('restart-db.sh', `printf '%s\\n' "$@" > "${markerDir}/agent-args"; echo "restarted $1 on $(hostname)"`);
    await script('fail.sh', 'echo "disk still full" >&2; exit 3');
    await script('vm-check.sh', `printf '%s\\n' "$@" > "${markerDir}/ssh-args"; echo "vm ok for $1"`);
    await script('show-env.sh', 'printf "DRY_RUN=%s NOTE=%s\\n" "$SELFHEAL_PARAM_DRY_RUN" "$SELFHEAL_PARAM_NOTE"');
    // Runs what a variable names: a rule saved before the SELFHEAL_PARAM_* allow list must not get that far.
    await script('legacy-env.sh', `"\${TOOL_CMD:-true}"; echo ran >> "${markerDir}/legacy-ran"`);
    // Silent and long, with a child: only the host itself can stop it (what a cancel must do).
    await script('slow-vm.sh', `sleep 600 & echo $! > "${markerDir}/slow-child"; echo $$ > "${markerDir}/slow-pid"; wait`);

    process.env.SELFHEAL_SECRET_TEST_SSH_KEY = sshd.privateKey;
    // The worker runs <SELFHEAL_SSH_SCRIPTS_DIR>/<script> on the VM (here the loopback sshd, same filesystem).
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = scriptsDir;
    process.env.SELFHEAL_SECRET_TEST_SLACK_URL = slack.webhookUrl;
    process.env.JIRA_API_TOKEN = jira.token;
    stack = await startStack({
      env: {
        PAGERDUTY_API_URL: pd.url,
        PAGERDUTY_API_TOKEN: PD_TOKEN,
        PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
        JIRA_BASE_URL: jira.baseUrl,
        JIRA_EMAIL: jira.email,
        JIRA_API_TOKEN: jira.token,
        // The Slack and webhook peers listen on loopback, which rule-directed calls may not reach unless allowed.
        ACTION_EGRESS_ALLOW: '127.0.0.1/32',
      },
    });
    agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: env, scriptsDir });
    agentRun = agent.run();
    await stack.db.db
      .insertInto('environments')
      .values({
        name: env,
        labels: JSON.stringify({ cloud: 'aws', region: 'eu-west-1' }),
        agent_task_queue: agentTaskQueue(env),
        maintenance_windows: '[]',
        ssh: JSON.stringify({ host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_TEST_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint }),
      })
      .execute();
  });

  after(async function () {
    agent?.shutdown();
    await agentRun;
    await stack?.stop();
    await Promise.all([pd?.close(), jira?.close(), slack?.close(), sshd?.stop()]);
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    // A before-all that failed early left these unset: clean up what exists, keep its error the one reported.
    if (scriptsDir) await rm(scriptsDir, { recursive: true, force: true });
    if (markerDir) await rm(markerDir, { recursive: true, force: true });
  });

  const addRule = (doc: RuleInputDocument) => insertRule(stack.db.db, doc);

  /** The incident's action runs in rule order, once `count` of them have finished. */
  const finishedRuns = (incidentId: string, count: number) =>
    eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', incidentId).orderBy('action_index').execute();
      return r.length === count && r.every((x) => x.finished_at) ? r : undefined;
    }, 60_000, `${count} finished action runs`);

  const alertsFor = (host: string) => [
    { id: `A${randomUUID().slice(0, 8)}`, type: 'alert', summary: 'db down', body: { type: 'alert_body', details: { environment: env, host, region: 'eu-west-1' } } },
  ];

  it('runs agent script, SSH script, Jira, Slack and a PagerDuty note for a matching incident', async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    const ruleId = await addRule({
      name: `db-restart-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }, { field: 'environment.environment', op: 'equals', value: env }] },
      actions: [
        { id: 'restart', type: 'script.agent', script: 'restart-db.sh', args: ['{{ environment.host }}', '{{ incident.title }}'] },
        { id: 'vm', type: 'script.ssh', script: 'vm-check.sh', args: ['{{ environment.host }}'] },
        { id: 'ticket', type: 'workitem', provider: 'jira', project: 'OPS', title: 'DB restarted on {{ environment.host }}', description: 'Incident {{ incident.id }}: {{ results.restart.outputExcerpt }}' },
        { id: 'chat', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_SLACK_URL', text: 'Self-healing restarted {{ environment.host }} for {{ incident.id }}' },
      ],
    });
    const id = newIncidentId();
    const host = 'db-7.prod';
    pd.seedAlerts(id, alertsFor(host));
    const hostileTitle = 'DB down; $(touch /tmp/pwned) `id` && rm -rf /';
    const res = await stack.deliver(
      sampleFor('v3-incident.triggered-01.json', id, { data: { title: hostileTitle, service: { id: serviceId, type: 'service_reference', summary: 'db' } } }),
    );
    assert.equal(res.status, 202);

    const runs = await finishedRuns(id, 4);
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [
      ['restart', 'succeeded'],
      ['vm', 'succeeded'],
      ['ticket', 'succeeded'],
      ['chat', 'succeeded'],
    ]);
    assert.ok(runs.every((r) => r.rule_id === ruleId && r.rule_version === 1));
    assert.match(runs[0]!.output_excerpt ?? '', /restarted db-7\.prod/);
    assert.equal(runs[0]!.exit_code, 0);
    assert.match(runs[1]!.output_excerpt ?? '', /vm ok for db-7\.prod/);

    // Templated values arrived as argv, byte for byte, through the agent and through SSH.
    assert.deepEqual((await readFile(path.join(markerDir, 'agent-args'), 'utf8')).trimEnd().split('\n'), [host, hostileTitle]);
    assert.deepEqual((await readFile(path.join(markerDir, 'ssh-args'), 'utf8')).trimEnd().split('\n'), [host]);
    await assert.rejects(readFile('/tmp/pwned'));

    assert.equal(jira.issues.length, 1);
    assert.equal(jira.issues[0]!.fields.summary, `DB restarted on ${host}`);
    assert.equal(runs[2]!.link, `${jira.baseUrl}/browse/${jira.issues[0]!.key}`);
    assert.deepEqual(slack.messages.map((m) => m.text), [`Self-healing restarted ${host} for ${id}`]);

    // PagerDuty: alerts were fetched, and a note summarising the run was posted (validated against the OpenAPI schema).
    const notes = await eventually(async () => (pd.notes(id).length > 0 ? pd.notes(id) : undefined), 30_000, 'PagerDuty note');
    assert.match(notes[0]!.content, /\[self-healing\] Rule "db-restart-/);
    assert.match(notes[0]!.content, /restart \(script\.agent\): succeeded/);
    assert.ok(notes[0]!.content.includes(jira.issues[0]!.key));

    const incident = (await (await stack.api(`/api/incidents/${id}`)).json()) as {
      environment: Record<string, string>;
      matches: { ruleId: string; decision: string }[];
      actionRuns: { actionId: string; status: string; link: string | null }[];
    };
    assert.equal(incident.environment.environment, env);
    assert.equal(incident.environment.host, host);
    assert.deepEqual(incident.matches.map((m) => [m.ruleId, m.decision]), [[ruleId, 'run']]);
    assert.equal(incident.actionRuns.find((r) => r.actionId === 'ticket')?.link, runs[2]!.link);
  });

  it('runs the when: failure action after a script fails, and skips the when: success one', async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    await addRule({
      name: `cleanup-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [
        { id: 'clean', type: 'script.agent', script: 'fail.sh' },
        { id: 'celebrate', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_SLACK_URL', text: 'cleaned {{ environment.host }}' },
        { id: 'escalate', type: 'pagerduty.escalate', when: 'failure', level: 2 },
      ],
    });
    const id = newIncidentId();
    pd.seedAlerts(id, alertsFor('web-3'));
    const before = slack.messages.length;
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'web' } } }));
    const runs = await finishedRuns(id, 3);
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [
      ['clean', 'failed'],
      ['celebrate', 'skipped'],
      ['escalate', 'succeeded'],
    ]);
    assert.equal(runs[0]!.exit_code, 3);
    assert.match(runs[0]!.output_excerpt ?? '', /disk still full/);
    assert.equal(slack.messages.length, before);
    assert.equal(pd.incident(id)?.escalation_level, 2);
  });

  it('signs notify.webhook posts over timestamp and body, and refuses the metadata address without retrying', async function () {
    let sink: HttpPeer | undefined;
    process.env.SELFHEAL_SECRET_TEST_WEBHOOK_HMAC = 'whsec-e2e-0123456789';
    try {
      sink = await startHttpPeer([{ method: 'POST', path: '/hook', handle: () => ({ status: 204 }) }]);
      const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
      const ruleId = await addRule({
        name: `webhooks-${randomUUID().slice(0, 6)}`,
        services: [serviceId],
        actions: [
          { id: 'hook', type: 'notify.webhook', url: `${sink.url}/hook`, secretRef: 'env:SELFHEAL_SECRET_TEST_WEBHOOK_HMAC', body: '{"host": "{{ environment.host }}"}' },
          { id: 'probe', type: 'notify.webhook', url: 'https://hooks.example.com/later-edited', body: '{}' },
        ],
      });
      // A rule stored before save-time checks refused metadata URLs: the worker still refuses to connect.
      const stored = await stack.db.db.selectFrom('rules').select('definition').where('id', '=', ruleId).executeTakeFirstOrThrow();
      const definition = stored.definition as { actions: { url?: string }[] };
      definition.actions[1]!.url = 'http://169.254.169.254/latest/meta-data/iam/security-credentials/';
      await stack.db.db.updateTable('rules').set({ definition: JSON.stringify(definition) }).where('id', '=', ruleId).execute();
      const id = newIncidentId();
      pd.seedAlerts(id, alertsFor('web-9'));
      await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'web' } } }));
      const runs = await finishedRuns(id, 2);
      assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [
        ['hook', 'succeeded'],
        ['probe', 'failed'],
      ]);
      // The receiver's check from the README: HMAC-SHA256 of "<timestamp>\n<Idempotency-Key>\n<raw body>".
      const req = sink.requests[0]!;
      assert.deepEqual(req.json, { host: 'web-9' });
      const t = String(req.headers['x-selfheal-timestamp']);
      assert.ok(Math.abs(Number(t) - Date.now() / 1000) < 120, `timestamp ${t} is now`);
      assert.equal(req.headers['x-selfheal-signature'], `v2=${createHmac('sha256', 'whsec-e2e-0123456789').update(`${t}\n${runs[0]!.id}\n${req.rawBody}`).digest('hex')}`);
      assert.equal(req.headers['idempotency-key'], runs[0]!.id);
      // The metadata address is refused once, permanently, and the run says why.
      assert.equal(runs[1]!.attempts, 1);
      assert.match(runs[1]!.error ?? '', /destination refused: 169\.254\.169\.254 is a cloud metadata address, never reachable by rule-directed calls/);
    } finally {
      delete process.env.SELFHEAL_SECRET_TEST_WEBHOOK_HMAC;
      await sink?.close();
    }
  });

  it('chains as documented: a failed fix escalates and does not resolve; a note in between changes nothing', async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    await addRule({
      name: `chain-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [
        { id: 'fix', type: 'script.agent', script: 'fail.sh' },
        { id: 'note', type: 'pagerduty.note', when: 'always', content: 'tried a fix' },
        { id: 'escalate', type: 'pagerduty.escalate', when: 'failure', level: 2 },
        { id: 'resolve', type: 'pagerduty.resolve', when: 'success' },
      ],
    });
    const id = newIncidentId();
    pd.seedAlerts(id, alertsFor('web-5'));
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'web' } } }));
    const runs = await finishedRuns(id, 4);
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [
      ['fix', 'failed'],
      ['note', 'succeeded'],
      ['escalate', 'succeeded'],
      ['resolve', 'skipped'],
    ]);
    assert.deepEqual(runs.map((r) => r.reason), [
      'when: success, and no earlier action ran',
      'when: always',
      'when: failure, and fix failed',
      'skipped: when: success, and fix failed',
    ]);
    // What PagerDuty saw: escalated, never resolved.
    assert.equal(pd.incident(id)?.escalation_level, 2);
    assert.notEqual(pd.incident(id)?.status, 'resolved');
    assert.equal(pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${id}` && r.rawBody.includes('resolved')).length, 0);
  });

  it("gives the rule's SELFHEAL_PARAM_* variables to the script, on the agent and over SSH; refuses any other name when saved", async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    const environment = { SELFHEAL_PARAM_DRY_RUN: '1', SELFHEAL_PARAM_NOTE: 'title {{ incident.title }}' };
    await addRule({
      name: `env-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      conditions: { field: 'environment.environment', op: 'equals', value: env },
      actions: [
        { id: 'agent', type: 'script.agent', script: 'show-env.sh', environment },
        { id: 'vm', type: 'script.ssh', script: 'show-env.sh', environment },
      ],
    });
    const id = newIncidentId();
    pd.seedAlerts(id, alertsFor('web-6'));
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'rehearsal $(id)', service: { id: serviceId, type: 'service_reference', summary: 'web' } } }));
    const runs = await finishedRuns(id, 2);
    for (const r of runs) {
      assert.equal(r.status, 'succeeded', `${r.action_id}: ${r.error}`);
      assert.equal(r.output_excerpt?.trim(), 'DRY_RUN=1 NOTE=title rehearsal $(id)', r.action_id);
    }
    const refused = await stack.api('/api/rules', {
      method: 'POST',
      body: JSON.stringify({ name: `env-bad-${randomUUID().slice(0, 6)}`, actions: [{ type: 'script.agent', script: 'show-env.sh', environment: { LD_PRELOAD: '/tmp/x.so' } }] }),
    });
    assert.equal(refused.status, 400);
    const problem = (await refused.json()) as { errors: { path: string; message: string }[] };
    assert.ok(problem.errors.some((e) => e.path === 'actions.0.environment.LD_PRELOAD' && /SELFHEAL_PARAM_\*/.test(e.message)), JSON.stringify(problem.errors));
    const plain = await stack.api('/api/rules', {
      method: 'POST',
      body: JSON.stringify({ name: `env-plain-${randomUUID().slice(0, 6)}`, actions: [{ type: 'script.ssh', script: 'show-env.sh', environment: { DRY_RUN: '1' } }] }),
    });
    assert.equal(plain.status, 400);
    const plainProblem = (await plain.json()) as { errors: { path: string; message: string }[] };
    assert.ok(plainProblem.errors.some((e) => e.path === 'actions.0.environment.DRY_RUN' && /SELFHEAL_PARAM_DRY_RUN/.test(e.message)), JSON.stringify(plainProblem.errors));
  });

  it('a rule stored before the allow list, with other variable names, fails its script actions at once, naming the variable; nothing runs', async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    // Saved through the schema with an allowed name, then stored as an older release could have stored it.
    const ruleId = await addRule({
      name: `env-legacy-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      conditions: { field: 'environment.environment', op: 'equals', value: env },
      actions: [
        { id: 'agent', type: 'script.agent', script: 'legacy-env.sh', environment: { SELFHEAL_PARAM_TOOL_CMD: 'x' }, when: 'always' },
        { id: 'vm', type: 'script.ssh', script: 'legacy-env.sh', environment: { SELFHEAL_PARAM_TOOL_CMD: 'x' }, when: 'always' },
      ],
    });
    const payload = path.join(markerDir, 'legacy-payload');
    await writeFile(payload, `#!/bin/sh\necho pwned > "${markerDir}/legacy-pwned"\n`, { mode: 0o755 });
    for (const table of ['rules', 'rule_versions'] as const) {
      const rows = await stack.db.db.selectFrom(table).select('definition').where(table === 'rules' ? 'id' : 'rule_id', '=', ruleId).execute();
      const legacy = JSON.parse(JSON.stringify(rows[0]!.definition).replaceAll('SELFHEAL_PARAM_TOOL_CMD', 'TOOL_CMD').replaceAll('"x"', JSON.stringify(payload)));
      await stack.db.db.updateTable(table).set({ definition: JSON.stringify(legacy) }).where(table === 'rules' ? 'id' : 'rule_id', '=', ruleId).execute();
    }
    const id = newIncidentId();
    pd.seedAlerts(id, alertsFor('web-7'));
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'web' } } }));
    const runs = await finishedRuns(id, 2);
    for (const r of runs) {
      assert.equal(r.status, 'failed', `${r.action_id} ran`);
      assert.match(r.error ?? '', /TOOL_CMD: a rule may set only SELFHEAL_PARAM_\* variables/, r.action_id);
      assert.equal(r.attempts, 1, `${r.action_id} was retried`);
    }
    assert.equal(await readFile(path.join(markerDir, 'legacy-ran'), 'utf8').catch(() => 'not run'), 'not run', 'the script ran');
    assert.equal(await readFile(path.join(markerDir, 'legacy-pwned'), 'utf8').catch(() => 'not run'), 'not run', 'the program the variable named ran');
    // Saving it again (or rolling back to it) through the API is refused, naming the variable.
    const current = await (await stack.api(`/api/rules/${ruleId}`)).json();
    const put = await stack.api(`/api/rules/${ruleId}`, { method: 'PUT', body: JSON.stringify(current) });
    const answer = await put.text();
    assert.equal(put.status, 400, answer);
    assert.match(answer, /actions\.0\.environment\.TOOL_CMD/);
  });

  for (const via of ['agent', 'ssh'] as const) {
    it(`a script.${via} approved after its environment was deleted and registered again by another team runs nowhere: recorded skipped saying why`, async function () {
      const reborn = `reborn-${via}-${randomUUID().slice(0, 6)}`;
      const vm = JSON.stringify({ host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_TEST_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint });
      await stack.db.db.insertInto('environments').values({ name: reborn, labels: '{}', maintenance_windows: '[]', ssh: vm }).execute();
      const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
      const approval = { required: true as const, timeoutMinutes: 30, onTimeout: 'reject' as const };
      await addRule({
        name: `reborn-${via}-${randomUUID().slice(0, 6)}`,
        services: [serviceId],
        conditions: { field: 'environment.environment', op: 'equals', value: reborn },
        actions: [via === 'ssh' ? { id: 'fix', type: 'script.ssh', script: 'vm-check.sh', args: ['reborn'], approval } : { id: 'fix', type: 'script.agent', script: 'restart-db.sh', args: ['reborn'], approval }],
      });
      const id = newIncidentId();
      pd.seedAlerts(id, [{ id: `A${randomUUID().slice(0, 8)}`, type: 'alert', summary: 'db down', body: { type: 'alert_body', details: { environment: reborn, host: 'web-9' } } }]);
      await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'web' } }, occurredAt: '2026-09-01T11:00:00Z' }));
      const waiting = await eventually(
        async () => stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('status', '=', 'awaiting_approval').executeTakeFirst(),
        30_000,
        'the script waiting for its approval',
      );
      // While it waits, the environment goes and its name comes back as another team's: on a VM of theirs,
      // and with a Doctor agent of theirs polling the name's default queue.
      await stack.db.db.insertInto('teams').values({ name: 'vm-other', description: null, created_by: 'test' }).onConflict((oc) => oc.doNothing()).execute();
      await stack.db.db.deleteFrom('environments').where('name', '=', reborn).execute();
      await stack.db.db.insertInto('environments').values({ name: reborn, labels: '{}', maintenance_windows: '[]', ssh: vm, team: 'vm-other' }).execute();
      const theirs = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: reborn, scriptsDir });
      const theirsRun = theirs.run();
      const marker = path.join(markerDir, via === 'ssh' ? 'ssh-args' : 'agent-args');
      await rm(marker, { force: true });
      try {
        const res = await stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(waiting.id)}`, { method: 'POST', body: JSON.stringify({ decision: 'approve' }) });
        assert.equal(res.status, 202, await res.clone().text());
        const [run] = await finishedRuns(id, 1);
        assert.equal(run!.status, 'skipped');
        assert.equal(run!.error, `not run: environment ${reborn} was deleted, or moved out of the rule's team, while this action waited for its approval`);
        await assert.rejects(readFile(marker), "the script ran on the other team's host");
      } finally {
        theirs.shutdown();
        await theirsRun;
      }
    });
  }

  it('a resolve cancels an SSH script: it stops on the VM, with what it started, before the run is recorded cancelled', async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    await addRule({
      name: `ssh-cancel-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      conditions: { field: 'environment.environment', op: 'equals', value: env },
      actions: [{ id: 'slow', type: 'script.ssh', script: 'slow-vm.sh', timeoutSeconds: 900 }],
    });
    const id = newIncidentId();
    pd.seedAlerts(id, alertsFor('web-8'));
    const service = { id: serviceId, type: 'service_reference', summary: 'web' };
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service }, occurredAt: '2026-09-01T10:00:00Z' }));
    const pidFile = path.join(markerDir, 'slow-pid');
    const pid = Number(await eventually(async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim() || undefined, 30_000, 'the script running on the VM'));
    const child = Number((await readFile(path.join(markerDir, 'slow-child'), 'utf8')).trim());
    await stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { data: { service }, occurredAt: '2026-09-01T10:05:00Z' }));
    const [run] = await finishedRuns(id, 1);
    assert.equal(run!.status, 'cancelled');
    // Recorded cancelled only once the command stopped: both are gone by then (or zombies awaiting a reaper).
    assert.ok(await gone(pid, 2000), 'the script is gone from the VM');
    assert.ok(await gone(child, 2000), 'and so is the process it started');
  });
});

/** Whether process `pid` is gone, or a zombie whose exit only awaits its reaper, within `ms`. */
async function gone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')')))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
