import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { alertDelivery, createActivities } from '../../activities/index.js';
import { openDatabase } from '../../src/db/connect.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { createMainWorker } from '../../src/temporal/worker.js';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import { HOST_ENVIRONMENT_TITLE, makeAgentHost, type AgentHost } from '../helpers/agent-host.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

// Fleet blast radius (issue 22): a guard of 10 distinct targets against 30 incidents on 30 hosts arriving
// at once, taken by two Worker instances on the same task queue. Exactly 10 hosts are touched (the agent's
// script leaves a file per host), the other 20 matches say which guard stopped them, automation is paused
// fleet-wide in Postgres, and the page channel (a Slack peer) receives exactly one page. Only an admin
// resumes; after that, remediation runs again.
describe('fleet guards end to end: 30 concurrent incidents against a guard of 10, two workers', function () {
  const PD_TOKEN = 'pd-guard-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let slack: SlackPeer;
  let doctor: AgentHost;
  let second: Worker;
  let secondRun: Promise<void>;
  let secondConnection: NativeConnection;
  let secondDb: Awaited<ReturnType<typeof openDatabase>>;
  let markerDir: string;
  const env = `guarded-${randomUUID().slice(0, 6)}`;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    slack = await startSlackPeer();
    doctor = await makeAgentHost('guard');
    markerDir = doctor.markerDir;
    await doctor.script('fix.sh', `touch "${markerDir}/fixed-$1"\necho "fixed $1"`);
    process.env.SELFHEAL_SECRET_GUARD_PAGE = slack.webhookUrl;
    stack = await startStack({
      env: {
        ACTION_EGRESS_ALLOW: '127.0.0.1/32',
        PAGERDUTY_API_URL: pd.url,
        PAGERDUTY_API_TOKEN: PD_TOKEN,
        PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
        SELFHEAL_GUARD_MAX_TARGETS: '10',
        SELFHEAL_GUARD_WINDOW: '1h',
        SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF: 'env:SELFHEAL_SECRET_GUARD_PAGE',
      },
      extractors: HOST_ENVIRONMENT_TITLE,
    });
    // A second Worker on the same task queue, with its own database pool: the guard must hold across both.
    secondDb = await openDatabase({ url: stack.db.url, dataDir: '' });
    const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const c = stack.config;
    // Its own connection too: the SDK refuses two workers of one task queue on one connection (as in two processes).
    secondConnection = await NativeConnection.connect({ address: stack.temporal.address });
    second = await createMainWorker({
      connection: secondConnection,
      namespace: c.temporal.namespace,
      taskQueue: stack.taskQueue,
      identity: 'guard-test-worker-b',
      activities: createActivities({
        db: secondDb.db,
        logger,
        extractors: HOST_ENVIRONMENT_TITLE,
        pagerduty: createPagerDutyClient({ baseUrl: c.pagerduty.apiUrl, token: PD_TOKEN, fromEmail: 'selfheal@example.com' }),
        integrations: createIntegrations(c),
        guards: c.guards,
      }),
    });
    secondRun = second.run();
    await doctor.serve(stack, env);
  });

  after(async function () {
    second?.shutdown();
    await Promise.all([doctor?.close(), secondRun?.catch(() => undefined)]);
    await secondConnection?.close();
    await secondDb?.close();
    await stack?.stop();
    await Promise.all([pd?.close(), slack?.close()]);
    delete process.env.SELFHEAL_SECRET_GUARD_PAGE;
  });

  const trigger = async (svc: string, host: string): Promise<string> => {
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: `[${host}] ${env}: disk full`, service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    return id;
  };
  const fixed = async () => (await readdir(markerDir)).filter((f) => f.startsWith('fixed-')).map((f) => f.slice('fixed-'.length)).sort();

  it('lets exactly 10 hosts be remediated, stops the other 20 naming the guard, pauses once, pages once; resume is admin-only', async function () {
    this.timeout(240_000);
    // One rule per host (each on its own service): the rules' own locks do not serialise these decisions,
    // only the guard's does.
    const hosts = Array.from({ length: 30 }, (_, i) => `web-${String(i).padStart(2, '0')}`);
    const services = hosts.map(() => newServiceId());
    for (const svc of services) {
      await insertRule(stack.db.db, {
        name: `guarded-${svc.toLowerCase()}`,
        services: [svc],
        actions: [
          { id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] },
          { id: 'tell', type: 'pagerduty.note', when: 'always', content: 'tried {{ environment.host }}' },
        ],
      });
    }
    const svc = services[0]!;
    const ids = await Promise.all(hosts.map((h, i) => trigger(services[i]!, h)));

    const matches = await eventually(
      async () => {
        const rows = await stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', 'in', ids).execute();
        return rows.length === 30 ? rows : undefined;
      },
      120_000,
      '30 rule matches',
    );
    const ran = matches.filter((m) => m.decision === 'run');
    const stopped = matches.filter((m) => m.decision !== 'run');
    assert.equal(ran.length, 10, `exactly 10 remediations let through, got ${ran.length}`);
    assert.equal(new Set(ran.map((m) => m.target)).size, 10);
    for (const m of stopped) {
      assert.equal(m.decision, 'notify_only', `${m.target}: only notifications run`);
      assert.match(m.skip_reason ?? '', /^guard fleet\.maxTargets: /, `${m.target}: the reason names the guard`);
    }
    // What the hosts saw: exactly the 10 let through were touched, once each.
    const finished = await eventually(
      async () => {
        const runs = await stack.db.db.selectFrom('action_runs').select(['incident_id', 'action_id', 'status', 'finished_at']).where('incident_id', 'in', ids).execute();
        return runs.length === 40 && runs.every((r) => r.finished_at) ? runs : undefined;
      },
      120_000,
      '10 scripts and 30 notes finished',
    );
    assert.equal(finished.filter((r) => r.action_id === 'fix').length, 10);
    assert.ok(finished.filter((r) => r.action_id === 'fix').every((r) => r.status === 'succeeded'));
    assert.deepEqual(await fixed(), ran.map((m) => m.target!).sort());

    // Paused fleet-wide, once; one page at the channel once every alert is delivered.
    const pauses = await stack.db.db.selectFrom('automation_pauses').selectAll().where('resumed_at', 'is', null).execute();
    assert.equal(pauses.length, 1);
    assert.equal(pauses[0]!.scope, 'fleet');
    assert.equal(pauses[0]!.guard, 'fleet.maxTargets');
    await eventually(async () => (await stack.db.db.selectFrom('automation_alerts').select('sent_at').execute()).every((a) => a.sent_at) || undefined, 30_000, 'alerts delivered');
    assert.equal(slack.messages.length, 1, 'exactly one page');
    assert.match(slack.messages[0]!.text, /Automation paused: guard fleet\.maxTargets: 10 distinct targets/);
    // The incident whose remediation crossed the guard says so in PagerDuty.
    assert.ok(pd.notes(pauses[0]!.incident_id!).some((n) => n.content.startsWith('[self-healing] Automation paused: guard fleet.maxTargets')));

    // Both Worker instances took part.
    const identities = new Set<string>();
    for (const id of ids) {
      for (const e of (await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).fetchHistory()).events ?? []) {
        const identity = e.workflowTaskCompletedEventAttributes?.identity;
        if (identity) identities.add(identity === 'guard-test-worker-b' ? 'b' : 'a');
      }
    }
    assert.deepEqual([...identities].sort(), ['a', 'b'], 'both workers completed workflow tasks');

    // The status API says so; a write token may not resume; an admin may.
    const status = (await (await stack.api('/api/automation')).json()) as { paused: boolean; pauses: { guard: string }[] };
    assert.equal(status.paused, true);
    assert.equal(status.pauses[0]!.guard, 'fleet.maxTargets');
    const writer = await issueToken(stack, `w-${randomUUID().slice(0, 6)}`, ['write']);
    const refused = await stack.api('/api/automation/resume', { method: 'POST', headers: { authorization: `Bearer ${writer}` }, body: JSON.stringify({ scope: 'fleet' }) });
    assert.equal(refused.status, 403);
    assert.equal((await stack.db.db.selectFrom('automation_pauses').select('id').where('resumed_at', 'is', null).execute()).length, 1, 'still paused');
    const bad = await stack.api('/api/automation/resume', { method: 'POST', body: JSON.stringify({ scope: 'environment' }) });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /environment is required/);

    // Still paused: a new host is not touched.
    const during = await trigger(svc, 'web-late-1');
    const m1 = await eventually(() => stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', during).executeTakeFirst(), 30_000, 'match while paused');
    assert.match(m1.skip_reason ?? '', /^guard fleet\.maxTargets: automation paused fleet-wide since /);

    const ok = await stack.api('/api/automation/resume', { method: 'POST', body: JSON.stringify({ scope: 'fleet' }) });
    assert.equal(ok.status, 200);
    const resumed = (await ok.json()) as { resumed: { guard: string; resumedBy: string }[] };
    assert.equal(resumed.resumed.length, 1);
    assert.equal(resumed.resumed[0]!.resumedBy, 'admin-token');
    const audit = await stack.db.db.selectFrom('audit_log').selectAll().where('action', '=', 'automation.resume').execute();
    assert.equal(audit.length, 1);

    // Resumed: the windows start afresh, a new host is remediated again.
    const after = await trigger(svc, 'web-late-2');
    const m2 = await eventually(() => stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', after).executeTakeFirst(), 30_000, 'match after resume');
    assert.equal(m2.decision, 'run', m2.skip_reason ?? '');
    await eventually(async () => (await fixed()).includes('web-late-2') || undefined, 60_000, 'web-late-2 fixed');
    assert.ok(!(await fixed()).includes('web-late-1'));
  });
});

// Flapping (issue 22): the same target remediated K times by any rule within the window → its remediation
// stops (skip reason `flapping: …`), the page channel gets one page for the episode, and each stopped
// incident says so in PagerDuty. A rule may set its own limit.
describe('flapping targets end to end', function () {
  const PD_TOKEN = 'pd-flap-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let slack: SlackPeer;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    slack = await startSlackPeer();
    process.env.SELFHEAL_SECRET_FLAP_PAGE = slack.webhookUrl;
    stack = await startStack({
      env: {
        ACTION_EGRESS_ALLOW: '127.0.0.1/32',
        PAGERDUTY_API_URL: pd.url,
        PAGERDUTY_API_TOKEN: PD_TOKEN,
        PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
        SELFHEAL_FLAPPING_MAX: '3',
        SELFHEAL_FLAPPING_WINDOW: '1h',
        SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF: 'env:SELFHEAL_SECRET_FLAP_PAGE',
      },
      extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] },
    });
  });
  after(async function () {
    await stack?.stop();
    await Promise.all([pd?.close(), slack?.close()]);
    delete process.env.SELFHEAL_SECRET_FLAP_PAGE;
  });

  async function incidentOn(svc: string, host: string, rules = 1): Promise<{ id: string; decision: string; skipReason: string | null }> {
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: `[${host}] flapping`, service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    const all = await eventually(async () => {
      const rows = await stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).orderBy('id').execute();
      return rows.length === rules ? rows : undefined;
    }, 30_000, `matches of ${id}`);
    return { id, decision: all[0]!.decision, skipReason: all[0]!.skip_reason };
  }
  const acks = (id: string) => pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${id}` && JSON.stringify(r.body ?? {}).includes('acknowledged')).length;

  it('the 4th remediation of a host within the window is stopped as flapping, paged once, noted on each stopped incident', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    // Two rules acting on the same host: flapping counts remediations by any rule.
    for (const n of ['a', 'b']) {
      await insertRule(stack.db.db, { name: `flap-${n}-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'ack', type: 'pagerduty.acknowledge' }] });
    }
    const first = await incidentOn(svc, 'flappy-1', 2); // two remediations (rules a and b)
    const second = await incidentOn(svc, 'flappy-1', 2); // a: third remediation; b: flapping
    const rows = await stack.db.db.selectFrom('rule_matches').select(['incident_id', 'decision', 'skip_reason']).where('incident_id', 'in', [first.id, second.id]).orderBy('id').execute();
    assert.deepEqual(rows.map((r) => r.decision), ['run', 'run', 'run', 'skipped']);
    assert.match(rows[3]!.skip_reason ?? '', /^flapping: flappy-1 was remediated 3 times in the last 1h \(max 3\)/);
    const third = await incidentOn(svc, 'flappy-1', 2);
    const thirdRows = await stack.db.db.selectFrom('rule_matches').select(['decision', 'skip_reason']).where('incident_id', '=', third.id).execute();
    assert.deepEqual(thirdRows.map((r) => r.decision), ['skipped', 'skipped']);
    // Another host is not affected.
    assert.equal((await incidentOn(svc, 'steady-1', 2)).decision, 'run');

    await eventually(async () => (await stack.db.db.selectFrom('automation_alerts').select('sent_at').execute()).every((a) => a.sent_at) || undefined, 30_000, 'alerts delivered');
    assert.deepEqual(slack.messages.map((m) => m.text.slice(0, 40)), ['[self-healing] flapping: flappy-1 was re'], 'one page for the episode');
    // Each stopped incident says so in PagerDuty; the host was acknowledged only by the runs let through.
    for (const id of [second.id, third.id]) assert.ok(pd.notes(id).some((n) => n.content.startsWith('[self-healing] flapping: flappy-1')), `note on ${id}`);
    await eventually(async () => acks(first.id) >= 1 || undefined, 30_000, 'first acknowledged');
    assert.equal(acks(third.id), 0);
  });

  it('a page that went out before its alert was marked sent is not paged again when the alert is claimed again', async function () {
    this.timeout(60_000);
    const before = slack.messages.length;
    const svc = newServiceId();
    await insertRule(stack.db.db, { name: `flap-crash-${svc.toLowerCase()}`, services: [svc], guards: { flapping: { max: 1, window: '10m' } }, actions: [{ id: 'ack', type: 'pagerduty.acknowledge' }] });
    await incidentOn(svc, 'flappy-3');
    const stopped = await incidentOn(svc, 'flappy-3');
    assert.equal(stopped.decision, 'skipped');
    await eventually(async () => slack.messages.length === before + 1 || undefined, 30_000, 'the page');
    await eventually(async () => (await stack.db.db.selectFrom('automation_alerts').select('sent_at').where('incident_id', '=', stopped.id).execute()).every((a) => a.sent_at) || undefined, 30_000, 'marked sent');
    const notes = pd.notes(stopped.id).length;
    // The worker died after paging and before marking the alert sent: the row is unsent, its claim stale.
    await stack.db.db.updateTable('automation_alerts').set({ sent_at: null, claimed_at: new Date(Date.now() - 3_600_000) }).where('incident_id', '=', stopped.id).execute();
    // The worker's sweep claims it again: one delivery, as src/worker.ts makes it every minute (an incident
    // event's triage delivers only the alerts its own planning raised).
    const c = stack.config;
    const sweep = alertDelivery({
      db: stack.db.db,
      logger: createLogger({ level: 'silent' }),
      guards: c.guards,
      integrations: createIntegrations(c),
      pagerduty: createPagerDutyClient({ baseUrl: c.pagerduty.apiUrl, token: PD_TOKEN, fromEmail: 'selfheal@example.com' }),
    });
    assert.equal(await sweep(), 1, 'the sweep claimed the owed alert');
    await eventually(async () => (await stack.db.db.selectFrom('automation_alerts').select('sent_at').where('incident_id', '=', stopped.id).execute()).every((a) => a.sent_at) || undefined, 30_000, 'claimed and settled again');
    assert.equal(slack.messages.length, before + 1, 'paged once');
    assert.equal(pd.notes(stopped.id).length, notes, 'noted once');
  });

  it("a rule's own flapping limit overrides the operator's", async function () {
    this.timeout(60_000);
    const svc = newServiceId();
    await insertRule(stack.db.db, { name: `flap-own-${svc.toLowerCase()}`, services: [svc], guards: { flapping: { max: 1, window: '10m' } }, actions: [{ id: 'ack', type: 'pagerduty.acknowledge' }] });
    assert.equal((await incidentOn(svc, 'flappy-2')).decision, 'run');
    const again = await incidentOn(svc, 'flappy-2');
    assert.equal(again.decision, 'skipped');
    assert.match(again.skipReason ?? '', /^flapping: flappy-2 was remediated 1 times in the last 10m \(max 1\)/);
  });
});
