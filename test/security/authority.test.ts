// Authority by design (docs/security.md "Authority"): attacks a `write` (and `read`) token could make on
// the real API, with the real worker, Temporal, Postgres and a real OpenSSH sshd on loopback. Before this
// change every attack below answered 200/201, and the two SSH ones were a shell on the management VM.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Migrator, type Migration } from 'kysely/migration';
import { createActionActivities } from '../../activities/actions.js';
import type { PlannedAction } from '../../activities/types.js';
import * as initial from '../../src/db/migrations/2026-11-24T00-00-initial.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { createEmptyDatabase } from '../helpers/db.js';
import { insertRule } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

const exists = (p: string) => access(p).then(() => true, () => false);

describe('security: authority of read and write tokens', function () {
  let stack: Stack;
  let sshd: SshdHandle;
  let scriptsDir: string;
  let markers: string;
  let writer: string;
  let reader: string;
  const serviceId = `PSEC${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;
  const env = `vm-${randomUUID().slice(0, 6)}`;

  const as = (token: string, method: string, body?: unknown, headers: Record<string, string> = {}) => ({
    method,
    headers: { authorization: `Bearer ${token}`, ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const call = async (token: string, method: string, p: string, body?: unknown, headers?: Record<string, string>) => {
    const res = await stack.api(p, as(token, method, body, headers));
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: text ? (JSON.parse(text) as Doc) : {} };
  };
  const paths = (body: Doc) => ((body.errors ?? []) as { path: string }[]).map((e) => e.path);
  const issue = async (scopes: string[]) => {
    const res = await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: `t-${scopes.join('-')}-${randomUUID().slice(0, 4)}`, scopes }) });
    assert.equal(res.status, 201);
    return ((await res.json()) as { token: string }).token;
  };
  const sshFields = () => ({ host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_SECURITY_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint });

  before(async function () {
    sshd = await startSshd();
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-sec-scripts-'));
    markers = await mkdtemp(path.join(os.tmpdir(), 'selfheal-sec-markers-'));
    await chmod(scriptsDir, 0o755);
    await writeFile(path.join(scriptsDir, 'probe.sh'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${markers}/probe"\necho probed\n`, { mode: 0o755 });
    process.env.SELFHEAL_SECRET_SECURITY_SSH_KEY = sshd.privateKey;
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = scriptsDir;
    stack = await startStack({ extractors: { serviceMap: { [serviceId]: { environment: env } } } });
    writer = await issue(['write']);
    reader = await issue(['read']);
    // The operator (admin) registers the management VM; scripts live in SELFHEAL_SSH_SCRIPTS_DIR on it.
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: env, labels: { tier: 'prod' }, ssh: sshFields() }) });
    assert.equal(res.status, 201, await res.clone().text());
  });

  after(async function () {
    await stack?.stop();
    await sshd?.stop();
    delete process.env.SELFHEAL_SECRET_SECURITY_SSH_KEY;
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    for (const d of [scriptsDir, markers]) if (d) await rm(d, { recursive: true, force: true });
  });

  /** Deliver an incident of the test service and wait until its `n` action runs have finished. */
  const incidentRuns = async (n: number) => {
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'sec' } } }));
    assert.equal(res.status, 202);
    return eventually(async () => {
      const runs = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
      return runs.length === n && runs.every((r) => r.finished_at || r.status === 'awaiting_approval') ? runs : undefined;
    }, 90_000, `${n} action runs of ${id}`);
  };
  const shellRule = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    services: [serviceId],
    actions: [{ id: 'shell', type: 'script.ssh', command: `id > ${markers}/${name}`, ...extra }],
  });

  it('a write token cannot save a shell command: 403 naming the action; without an approval gate 400 naming it', async function () {
    // Before: 201, and the next incident ran `sh -c` as the VM's login user.
    const gated = await call(writer, 'POST', '/api/rules', shellRule('shell-gated', { approval: { required: true } }));
    assert.equal(gated.status, 403);
    assert.equal(gated.type, 'application/problem+json');
    assert.deepEqual(paths(gated.body), ['actions.0.command']);
    assert.match(gated.body.detail, /admin/);

    // Without the gate it is not a valid rule for anyone: 400 at actions.0.approval (admin included).
    for (const token of [writer, ADMIN_TOKEN]) {
      const ungated = await call(token, 'POST', '/api/rules', shellRule('shell-open'));
      assert.equal(ungated.status, 400);
      assert.deepEqual(paths(ungated.body), ['actions.0.approval']);
    }
    const approveOnTimeout = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify(shellRule('shell-auto', { approval: { required: true, onTimeout: 'approve' } })) });
    assert.equal(approveOnTimeout.status, 400);
    assert.deepEqual(paths((await approveOnTimeout.json()) as Doc), ['actions.0.approval.onTimeout']);

    // The read token is refused as before; nothing was stored by any of these.
    assert.equal((await call(reader, 'POST', '/api/rules', shellRule('shell-read', { approval: { required: true } }))).status, 403);
    assert.equal((await stack.db.db.selectFrom('rules').select('id').where('name', 'like', 'shell-%').execute()).length, 0);
  });

  it("real sshd: the admin's shell command waits for a human approval and never runs on its own; the write token's never exists", async function () {
    this.timeout(180_000);
    const created = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify(shellRule('shell-admin', { approval: { required: true, timeoutMinutes: 30 } })) });
    assert.equal(created.status, 201, await created.clone().text());
    const rule = (await created.json()) as { id: string };
    // The author of each version is stored, so the approval endpoint can refuse the author's own approval.
    const versions = await stack.db.db.selectFrom('rule_versions').select(['version', 'actor']).where('rule_id', '=', rule.id).execute();
    assert.deepEqual(versions, [{ version: 1, actor: 'admin-token' }]);

    const [run] = await incidentRuns(1);
    assert.equal(run!.status, 'awaiting_approval');
    assert.equal(await exists(path.join(markers, 'shell-admin')), false, 'the command did not run without an approval');
    assert.equal(await exists(path.join(markers, 'shell-gated')), false, "the write token's command never ran");
    // Disable it so later incidents of the service do not wait on it.
    const del = await stack.api(`/api/rules/${rule.id}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
  });

  it('a write token cannot edit, re-enable or roll back to a rule holding a shell command (403), but may remove the command', async function () {
    const created = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify({ ...shellRule('shell-admin-2', { approval: { required: true } }), enabled: false }) });
    assert.equal(created.status, 201);
    const rule = (await created.json()) as Doc;

    // Before: 200 — a write token could re-enable (or rewrite) the admin's command.
    const reenable = await call(writer, 'PUT', `/api/rules/${rule.id}`, { ...rule, enabled: true }, { 'if-match': '"1"' });
    assert.equal(reenable.status, 403);
    assert.deepEqual(paths(reenable.body), ['actions.0.command']);
    const rewrite = await call(writer, 'PUT', `/api/rules/${rule.id}`, { ...rule, actions: [{ ...rule.actions[0], command: 'cat /etc/shadow' }] }, { 'if-match': '"1"' });
    assert.equal(rewrite.status, 403);

    // Taking the command out lowers authority: allowed.
    const safe = await call(writer, 'PUT', `/api/rules/${rule.id}`, { ...rule, actions: [{ id: 'probe', type: 'script.ssh', script: 'probe.sh' }] }, { 'if-match': '"1"' });
    assert.equal(safe.status, 200);
    // Before: 200 — rolling back brought the command back under the write token's name.
    const rollback = await call(writer, 'POST', `/api/rules/${rule.id}/rollback`, { version: 1 });
    assert.equal(rollback.status, 403);
    assert.deepEqual(paths(rollback.body), ['actions.0.command']);
    const current = await stack.db.db.selectFrom('rules').select('version').where('id', '=', rule.id).executeTakeFirstOrThrow();
    assert.equal(current.version, 2, 'the refused rollback wrote nothing');
    assert.equal((await stack.api(`/api/rules/${rule.id}/rollback`, { method: 'POST', body: JSON.stringify({ version: 1 }) })).status, 200, 'an admin may');
    await stack.api(`/api/rules/${rule.id}`, { method: 'DELETE' });
  });

  it("a write token cannot set, change or drop a rule's guards that pause automation beyond the rule (403 naming them); it saves the rule with them as they are", async function () {
    // Before: 201 — a team editor's rule with `guards.maxTargets: 1` paused every team's remediation
    // fleet-wide at its second host (and again two hosts after each resume), and `maxTargetPercent` paused
    // another team's environment.
    const guarded = (name: string, guards: Doc) => ({ name, enabled: false, services: ['PGUARDSONLY'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'x' }], guards });
    const refused = await call(writer, 'POST', '/api/rules', guarded('guard-writer', { maxTargets: 1, maxTargetPercent: 0.1 }));
    assert.equal(refused.status, 403);
    assert.deepEqual(paths(refused.body).sort(), ['guards.maxTargetPercent', 'guards.maxTargets']);
    assert.equal(await stack.db.db.selectFrom('rules').select('id').where('name', '=', 'guard-writer').executeTakeFirst(), undefined);
    // A flapping override only ever stops this rule: a team editor's to set.
    assert.equal((await call(writer, 'POST', '/api/rules', guarded('guard-flapping', { flapping: { max: 3, window: '1h' }, window: '30m' }))).status, 201, 'a window alone limits nothing');

    const created = await call(ADMIN_TOKEN, 'POST', '/api/rules', guarded('guard-admin', { maxTargets: 20, window: '1h' }));
    assert.equal(created.status, 201);
    const rule = created.body;
    const kept = await call(writer, 'PUT', `/api/rules/${rule.id}`, { ...rule, description: 'edited by the team' }, { 'if-match': '"1"' });
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    for (const guards of [{ maxTargets: 1, window: '1h' }, { maxTargets: 20, window: '7d' }, {}]) {
      const changed = await call(writer, 'PUT', `/api/rules/${rule.id}`, { ...rule, guards }, { 'if-match': '"2"' });
      assert.equal(changed.status, 403, JSON.stringify(guards));
    }
    // Back to a version with other guards: the same.
    assert.equal((await call(ADMIN_TOKEN, 'PUT', `/api/rules/${rule.id}`, { ...rule, guards: { maxTargets: 50, window: '1h' } }, { 'if-match': '"2"' })).status, 200);
    const rollback = await call(writer, 'POST', `/api/rules/${rule.id}/rollback`, { version: 1 });
    assert.equal(rollback.status, 403);
    assert.deepEqual(paths(rollback.body), ['guards.maxTargets']);
    assert.equal((await stack.db.db.selectFrom('rules').select('version').where('id', '=', rule.id).executeTakeFirstOrThrow()).version, 3, 'nothing was written');
  });

  it('real sshd: ssh.scriptsDir is no API field, so script "sh" with -c runs nothing; allow-listed scripts still run', async function () {
    this.timeout(180_000);
    // Before: 200 with scriptsDir /bin, then `script: sh, args: [-c, …]` was a root shell.
    for (const token of [writer, ADMIN_TOKEN]) {
      const body = { labels: { tier: 'prod' }, ssh: { ...sshFields(), scriptsDir: '/bin' } };
      const res = await call(token, 'PUT', `/api/environments/${env}`, body);
      assert.equal(res.status, 400);
      assert.deepEqual(paths(res.body), ['ssh.scriptsDir']);
    }
    const created = await call(writer, 'POST', '/api/rules', {
      name: 'sh-via-scripts-dir',
      services: [serviceId],
      actions: [
        { id: 'escape', type: 'script.ssh', script: 'sh', args: ['-c', `id > ${markers}/escaped`] },
        { id: 'probe', type: 'script.ssh', script: 'probe.sh', args: ['$(id)', '{{ incident.id }}'], when: 'always' },
      ],
    });
    assert.equal(created.status, 201, 'a plain script name is a write-token thing');
    const runs = await incidentRuns(2);
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['escape', 'failed'], ['probe', 'succeeded']]);
    assert.equal(await exists(path.join(markers, 'escaped')), false, 'no shell: sh is looked up in SELFHEAL_SSH_SCRIPTS_DIR only');
    const probeArgs = (await readFile(path.join(markers, 'probe'), 'utf8')).trim().split('\n');
    assert.equal(probeArgs[0], '$(id)', 'the allow-listed script ran over SSH with its arguments as data');
    await stack.api(`/api/rules/${created.body.id}`, { method: 'DELETE' });
  });

  it('real sshd: a script planned and approved for one environment runs there, even after a later event points the incident at another', async function () {
    this.timeout(180_000);
    // Before: the SSH script read the incident's environment when it started. Triage re-extracts it on
    // later events (escalated, reopened…, from alerts anyone with the integration key can add), so an
    // approval given for this environment ran the script on the other one's VM, past its team, windows and pauses.
    const other = `${env}-elsewhere`;
    const made = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: other, labels: { tier: 'prod' }, ssh: { ...sshFields(), port: 1 } }) });
    assert.equal(made.status, 201, await made.clone().text());
    const created = await call(ADMIN_TOKEN, 'POST', '/api/rules', {
      name: 'pinned-target',
      services: [serviceId],
      actions: [{ id: 'probe', type: 'script.ssh', script: 'probe.sh', args: ['pinned {{ environment.environment }}'], approval: { required: true, timeoutMinutes: 30 } }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'sec' } } }))).status, 202);
    const waiting = await eventually(
      () => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).where('status', '=', 'awaiting_approval').executeTakeFirst(),
      60_000,
      'the script awaiting approval',
    );
    await stack.db.db.updateTable('incidents').set({ environment: JSON.stringify({ environment: other }) }).where('id', '=', id).execute();
    const approved = await call(writer, 'POST', `/api/incidents/${id}/approvals/${encodeURIComponent(waiting.id)}`, { decision: 'approve' });
    assert.equal(approved.status, 202, JSON.stringify(approved.body));
    const done = await eventually(
      () => stack.db.db.selectFrom('action_runs').selectAll().where('id', '=', waiting.id).where('finished_at', 'is not', null).executeTakeFirst(),
      90_000,
      'the approved script to finish',
    );
    assert.equal(done.status, 'succeeded', `it ran where it was planned, not on ${other}'s VM: ${done.error ?? ''}`);
    assert.deepEqual((await readFile(path.join(markers, 'probe'), 'utf8')).trim().split('\n'), [`pinned ${env}`]);
    await stack.api(`/api/rules/${created.body.id}`, { method: 'DELETE' });

    // A shell command reaching the executor without its approval (a verification check, a row written
    // around the API) never runs: the planner gives every rule command an approval gate.
    const { executeAction } = createActionActivities({ db: stack.db.db, logger: createLogger({ level: 'silent' }) });
    await assert.rejects(
      executeAction({
        actionRunId: randomUUID(),
        incidentId: id,
        eventId: 'e',
        matchId: 'm',
        ruleId: 'r',
        ruleVersion: 1,
        action: { index: 0, id: 'check', type: 'script.ssh', when: 'always', params: { command: `id > ${markers}/unapproved`, sshEnvironment: env } } as PlannedAction,
        dryRun: false,
        previous: [],
      }),
      /a shell command runs only as an approved rule action/,
    );
    assert.equal(await exists(path.join(markers, 'unapproved')), false);
  });

  it('real sshd: a shell command takes an incident title as one argument only in double quotes; unquoted $1 is refused at save and not run when stored', async function () {
    this.timeout(240_000);
    // Before: an admin's `printf … $1` with args ['{{ incident.title }}'] and the title `web-01 --force *` ran,
    // once approved, with the arguments web-01, --force and every file name of the VM's working folder: the
    // shell split the value and expanded its glob (the args check sees only a value starting with "-").
    const title = 'web-01 --force *';
    const command = (name: string, param: string) => `printf '%s\\n' ${param} > ${markers}/${name}`;
    const rule = (name: string, param: string) => ({
      name,
      services: [serviceId],
      actions: [{ id: 'restart', type: 'script.ssh' as const, command: command(name, param), args: ['{{ incident.title }}'], approval: { required: true as const, timeoutMinutes: 30 } }],
    });
    for (const param of ['$1', '${1}', '$@', '"$(echo $1)"']) {
      const refused = await call(ADMIN_TOKEN, 'POST', '/api/rules', rule(`split-${randomUUID().slice(0, 4)}`, param));
      assert.equal(refused.status, 400, `${param}: ${JSON.stringify(refused.body)}`);
      assert.deepEqual(paths(refused.body), ['actions.0.command']);
      assert.match(JSON.stringify(refused.body.errors), /outside double quotes: the shell splits the value/);
    }
    // The same data through the action's environment: $SELFHEAL_PARAM_HOST splits alike.
    const viaEnv = await call(ADMIN_TOKEN, 'POST', '/api/rules', {
      name: 'split-env',
      services: [serviceId],
      actions: [{ id: 'restart', type: 'script.ssh', command: command('split-env', '$SELFHEAL_PARAM_HOST'), environment: { SELFHEAL_PARAM_HOST: '{{ incident.title }}' }, approval: { required: true, timeoutMinutes: 30 } }],
    });
    assert.equal(viaEnv.status, 400, JSON.stringify(viaEnv.body));
    assert.deepEqual(paths(viaEnv.body), ['actions.0.command']);
    const approveAll = async (id: string) => {
      const waiting = await eventually(
        () => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).where('status', '=', 'awaiting_approval').executeTakeFirst(),
        60_000,
        'the command awaiting approval',
      );
      const approved = await call(writer, 'POST', `/api/incidents/${id}/approvals/${encodeURIComponent(waiting.id)}`, { decision: 'approve' });
      assert.equal(approved.status, 202, JSON.stringify(approved.body));
      return eventually(
        () => stack.db.db.selectFrom('action_runs').selectAll().where('id', '=', waiting.id).where('finished_at', 'is not', null).executeTakeFirst(),
        90_000,
        'the approved command to finish',
      );
    };
    const deliver = async () => {
      const id = newIncidentId();
      const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title, service: { id: serviceId, type: 'service_reference', summary: 'sec' } } }));
      assert.equal(res.status, 202);
      return id;
    };

    // Quoted, the title is one argument.
    const quoted = await call(ADMIN_TOKEN, 'POST', '/api/rules', rule('split-quoted', '"$1"'));
    assert.equal(quoted.status, 201, JSON.stringify(quoted.body));
    const ran = await approveAll(await deliver());
    assert.equal(ran.status, 'succeeded', ran.error ?? '');
    assert.deepEqual((await readFile(path.join(markers, 'split-quoted'), 'utf8')).split('\n').filter(Boolean), [title]);
    await stack.api(`/api/rules/${quoted.body.id}`, { method: 'DELETE' });

    // Fixed args are the author's, not the incident's: `$1` unquoted with args ['nginx'] is saved and, approved,
    // runs (before: refused at save, and not run when stored, as if the args were incident data).
    const fixedRule = rule('split-fixed', '$1');
    const fixed = await call(ADMIN_TOKEN, 'POST', '/api/rules', { ...fixedRule, actions: [{ ...fixedRule.actions[0]!, args: ['nginx'] }] });
    assert.equal(fixed.status, 201, JSON.stringify(fixed.body));
    const fixedRan = await approveAll(await deliver());
    assert.equal(fixedRan.status, 'succeeded', fixedRan.error ?? '');
    assert.deepEqual((await readFile(path.join(markers, 'split-fixed'), 'utf8')).split('\n').filter(Boolean), ['nginx']);
    await stack.api(`/api/rules/${fixed.body.id}`, { method: 'DELETE' });

    // Stored before the save refused it (written around the API): approved, it fails without running.
    const stored = await insertRule(stack.db.db, rule('split-stored', '$1'));
    const refused = await approveAll(await deliver());
    assert.equal(refused.status, 'failed');
    assert.match(refused.error ?? '', /not run: the command expands "\$1" outside double quotes/);
    assert.equal(await exists(path.join(markers, 'split-stored')), false, 'the command ran');
    await stack.api(`/api/rules/${stored}`, { method: 'DELETE' });
  });

  it("a write token cannot move where code runs or with what credentials (403 naming the field); it may change labels, description and windows", async function () {
    const current = (await (await stack.api(`/api/environments/${env}`)).json()) as Doc;
    const base = { description: 'prod VM', labels: current.labels, ssh: current.ssh, agentTaskQueue: current.agentTaskQueue, maintenanceWindows: [] };
    const attempts: [string, Record<string, unknown>, string][] = [
      ['host', { ssh: { ...current.ssh, host: '198.51.100.7' } }, 'ssh.host'],
      ['port', { ssh: { ...current.ssh, port: 2222 } }, 'ssh.port'],
      ['user', { ssh: { ...current.ssh, user: current.ssh.user === 'root' ? 'admin' : 'root' } }, 'ssh.user'],
      ['fingerprint', { ssh: { ...current.ssh, hostKeyFingerprint: `SHA256:${'B'.repeat(43)}` } }, 'ssh.hostKeyFingerprint'],
      ['key', { ssh: { ...current.ssh, keyRef: 'env:SELFHEAL_SECRET_OTHER_KEY' } }, 'ssh.keyRef'],
      ['queue', { agentTaskQueue: 'selfheal-agent-attacker' }, 'agentTaskQueue'],
      ['remove ssh', { ssh: null }, 'ssh'],
    ];
    for (const [what, change, field] of attempts) {
      // Before: 200 for each.
      const res = await call(writer, 'PUT', `/api/environments/${env}`, { ...base, ...change });
      assert.equal(res.status, 403, what);
      assert.deepEqual(paths(res.body), [field], what);
    }
    const created = await call(writer, 'POST', '/api/environments', { name: `${env}-new`, ssh: sshFields() });
    assert.equal(created.status, 403);
    assert.deepEqual(paths(created.body), ['ssh']);
    const queue = await call(writer, 'POST', '/api/environments', { name: `${env}-q`, agentTaskQueue: `selfheal-agent-${env}` });
    assert.equal(queue.status, 403, "pointing a new environment at another environment's agent");
    const deleted = await call(writer, 'DELETE', `/api/environments/${env}`);
    assert.equal(deleted.status, 403, 'delete and re-create would move it too');
    assert.equal((await call(reader, 'PUT', `/api/environments/${env}`, base)).status, 403);

    const stored = await stack.db.db.selectFrom('environments').selectAll().where('name', '=', env).executeTakeFirstOrThrow();
    assert.deepEqual(stored.ssh, current.ssh, 'nothing moved');
    assert.equal(stored.agent_task_queue, current.agentTaskQueue);

    const allowed = await call(writer, 'PUT', `/api/environments/${env}`, { ...base, labels: { tier: 'prod', team: 'sre' }, maintenanceWindows: [{ days: ['sun'], start: '01:00', end: '02:00', timezone: 'UTC' }] });
    assert.equal(allowed.status, 200);
    assert.deepEqual(allowed.body.labels, { tier: 'prod', team: 'sre' });
    const plain = await call(writer, 'POST', '/api/environments', { name: `${env}-plain`, labels: { tier: 'dev' } });
    assert.equal(plain.status, 201, 'an environment without a VM on its own default queue is a write-token thing');
    assert.equal((await call(writer, 'DELETE', `/api/environments/${env}-plain`)).status, 204);
    // The admin may repoint (and the main worker's queue is refused for everyone).
    assert.equal((await stack.api(`/api/environments/${env}`, { method: 'PUT', body: JSON.stringify({ ...base, agentTaskQueue: stack.taskQueue }) })).status, 400);
  });

  it("a rule cannot name an agent queue: the action's queue is always its environment's (400 naming the field)", async function () {
    // Before: 400 as well (strict schema); kept under test because the design depends on it.
    const res = await call(writer, 'POST', '/api/rules', {
      name: 'queue-from-rule',
      services: [serviceId],
      actions: [{ type: 'script.agent', script: 'health-check.sh', agentTaskQueue: 'selfheal-agent-other' }],
    });
    assert.equal(res.status, 400);
    assert.deepEqual(paths(res.body), ['actions.0.agentTaskQueue']);
  });
});

describe('security: stored data from before the authority change is migrated', function () {
  /** A database at the initial migration only: a new database on DATABASE_URL's server, else an embedded PGlite. */
  async function databaseAtInitialMigration() {
    const handle = await createEmptyDatabase({ poolSize: 2 });
    const migrator = new Migrator({
      db: handle.db,
      provider: { getMigrations: async () => ({ '2026-11-24T00-00-initial': initial as Migration }) },
      migrationTableName: 'selfheal_migrations',
      migrationLockTableName: 'selfheal_migrations_lock',
    });
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    return { handle, close: () => handle.close() };
  }

  it('drops ssh.scriptsDir (audited), disables ungated shell-command rules (new version), and gives old tokens an expiry', async function () {
    const { handle, close } = await databaseAtInitialMigration();
    try {
      const db = handle.db;
      await db.insertInto('environments').values({ name: 'legacy', labels: '{}', agent_task_queue: null, maintenance_windows: '[]', ssh: JSON.stringify({ host: 'h', port: 22, user: 'u', keyRef: 'env:K', hostKeyFingerprint: `SHA256:${'A'.repeat(43)}`, scriptsDir: '/bin' }) }).execute();
      const open = { name: 'open-shell', enabled: true, actions: [{ id: 'a0', type: 'script.ssh', command: 'id', args: [], when: 'success', idempotent: false }] };
      const gated = { name: 'gated-shell', enabled: true, actions: [{ id: 'a0', type: 'script.ssh', command: 'id', args: [], when: 'success', idempotent: false, approval: { required: true, timeoutMinutes: 60, onTimeout: 'reject' } }] };
      for (const [id, def] of [['r-open', open], ['r-gated', gated]] as const) {
        await db.insertInto('rules').values({ id, name: def.name, version: 1, enabled: true, definition: JSON.stringify(def) }).execute();
        await db.insertInto('rule_versions').values({ rule_id: id, version: 1, definition: JSON.stringify(def), change: 'create', actor: 'token:ci' }).execute();
      }
      await handle.pool.query(`insert into api_tokens (id, name, token_hash, scopes, created_by) values ('t1', 'old', 'h1', '{write}', 'admin-token')`);

      await migrateToLatest(db);

      const envRow = await db.selectFrom('environments').selectAll().where('name', '=', 'legacy').executeTakeFirstOrThrow();
      assert.equal('scriptsDir' in (envRow.ssh as object), false);
      const envAudit = await db.selectFrom('audit_log').selectAll().where('entity_id', '=', 'legacy').executeTakeFirstOrThrow();
      assert.equal((envAudit.before as { ssh: { scriptsDir: string } }).ssh.scriptsDir, '/bin', 'the old value stays readable in the audit log');

      const rules = await db.selectFrom('rules').select(['id', 'enabled', 'version']).orderBy('id').execute();
      assert.deepEqual(rules, [
        { id: 'r-gated', enabled: true, version: 1 },
        { id: 'r-open', enabled: false, version: 2 },
      ]);
      const v2 = await db.selectFrom('rule_versions').selectAll().where('rule_id', '=', 'r-open').where('version', '=', 2).executeTakeFirstOrThrow();
      assert.equal(v2.change, 'disable');
      assert.match(v2.actor, /^migration:/);
      assert.equal((v2.definition as { enabled: boolean }).enabled, false);

      const token = await db.selectFrom('api_tokens').select('expires_at').executeTakeFirstOrThrow();
      const days = (token.expires_at.getTime() - Date.now()) / 86_400_000;
      assert.ok(days > 89 && days <= 90, `old tokens expire 90 days after the upgrade (got ${days})`);
    } finally {
      await close();
    }
  });
});
