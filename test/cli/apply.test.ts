// `selfheal apply|diff|export` against the real API on real Temporal and Postgres: environments, jobs and
// rules kept as files. What is checked is what an SRE (and an auditor) would see: the objects the API
// answers, their versions and audit entries, the Temporal Schedules of jobs, and the CLI's exit codes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ScheduleNotFoundError } from '@temporalio/client';
import { parse } from 'yaml';
import { gitopsServer } from '../helpers/gitops.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { BIN, ROOT, type Run, selfheal } from '../helpers/cli.js';

const EXAMPLE = path.join(ROOT, 'examples/gitops/selfheal');

function bash(script: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile('bash', ['-e', '-c', script], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const envDoc = (name: string, extra = '') => `kind: Environment\nname: ${name}\nlabels: { team: sre }\n${extra}`;
const jobDoc = (id: string, envs: string[], extra = '') =>
  `kind: Job\nid: ${id}\nname: ${id} check\nschedule: { interval: 12h }\ntargets: { environments: [${envs.join(', ')}] }\nscript: health-check.sh\n${extra}`;
const ruleDoc = (name: string, extra = '') =>
  `kind: Rule\nname: ${name}\nservices: ['*']\ndryRun: true\nactions:\n  - { id: note, type: pagerduty.note, content: '${name} saw {{ incident.title }}' }\n${extra}`;

describe('selfheal apply | diff | export (GitOps) against a real server', function () {
  const g = gitopsServer('selfheal-gitops-');
  /** A fresh folder for one scenario. */
  const folder = (files: Record<string, string>) => g.work.folder(files);
  const db = () => g.stack.db.db;
  const auditActions = async () => (await db().selectFrom('audit_log').select(['action', 'entity_id']).orderBy('id').execute()).map((a) => `${a.action} ${a.entity_id}`);
  const counts = async () => ({
    audit: (await db().selectFrom('audit_log').select('id').execute()).length,
    ruleVersions: (await db().selectFrom('rule_versions').select('version').execute()).length,
  });
  const schedule = (jobId: string) => g.stack.temporal.client.schedule.getHandle(`job-${jobId}`).describe();
  const api = async <T>(p: string): Promise<T> => {
    const res = await g.stack.api(p);
    assert.equal(res.status, 200, `${p}: ${res.status}`);
    return (await res.json()) as T;
  };


  it('applies the example folder in dependency order; the second apply changes nothing (no version, no audit entry, no Schedule update)', async () => {
    const diff = await selfheal(['diff', '-f', EXAMPLE], g.env);
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, /\+ would create environment prod-eu {2}\(.*environments\.yaml, object 1 \(Environment prod-eu\)\)/);
    assert.match(diff.stdout, /\+ would create job prod-eu-health/);
    assert.match(diff.stdout, /\+ would create rule prod-eu-disk-full/);
    assert.match(diff.stdout, /\+ would create rule high-urgency-to-slack/);
    assert.match(diff.stdout, /4 to create, 0 to update, 0 to delete, 0 unchanged/);
    assert.deepEqual(await auditActions(), [], 'diff changes nothing');

    const first = await selfheal(['apply', '-f', EXAMPLE], g.env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /4 to create, 0 to update, 0 to delete, 0 unchanged/);
    // Dependency order: the environment exists before the job that targets it; rules in file order.
    const ruleId = new Map((await api<{ items: { id: string; name: string }[] }>('/api/rules')).items.map((r) => [r.name, r.id]));
    assert.deepEqual(await auditActions(), [
      'environment.create prod-eu',
      'job.create prod-eu-health',
      `rule.create ${ruleId.get('prod-eu-disk-full')}`,
      `rule.create ${ruleId.get('high-urgency-to-slack')}`,
    ]);
    const envView = await api<{ ssh: { keyRef: string }; labels: Record<string, string> }>('/api/environments/prod-eu');
    assert.equal(envView.ssh.keyRef, 'env:SELFHEAL_SECRET_PROD_EU_SSH_KEY');
    assert.deepEqual(envView.labels, { team: 'sre', region: 'eu-west-1', tier: 'prod' });
    const sched = await schedule('prod-eu-health');
    assert.equal(sched.state.paused, false);

    const before = { ...(await counts()), scheduleUpdated: sched.info.lastUpdatedAt?.getTime(), jobUpdated: (await db().selectFrom('jobs').select('updated_at').executeTakeFirstOrThrow()).updated_at.getTime() };
    const second = await selfheal(['apply', '-f', EXAMPLE, '--prune', 'environment,job,rule', '--json'], g.env);
    assert.equal(second.code, 0, second.stderr);
    const out = JSON.parse(second.stdout) as { dryRun: boolean; plan: { kind: string; action: string; name: string }[] };
    assert.deepEqual(
      out.plan.map((s) => `${s.action} ${s.kind} ${s.name}`),
      ['unchanged Environment prod-eu', 'unchanged Job prod-eu-health', 'unchanged Rule prod-eu-disk-full', 'unchanged Rule high-urgency-to-slack'],
    );
    const afterCounts = await counts();
    assert.deepEqual(afterCounts, { audit: before.audit, ruleVersions: before.ruleVersions }, 'no audit entry, no rule version');
    assert.equal((await schedule('prod-eu-health')).info.lastUpdatedAt?.getTime(), before.scheduleUpdated, 'the Schedule was not updated');
    assert.equal((await db().selectFrom('jobs').select('updated_at').executeTakeFirstOrThrow()).updated_at.getTime(), before.jobUpdated);
    const again = await selfheal(['diff', '-f', EXAMPLE, '--prune', 'environment,job,rule'], g.env);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, /0 to create, 0 to update, 0 to delete, 4 unchanged/);
  });

  it('diff shows each changed field; apply updates each kind (the Schedule follows); --prune deletes only the kinds named, rules and jobs before environments', async () => {
    const v1 = await folder({
      'envs.yaml': `${envDoc('gitops-a')}---\n${envDoc('gitops-b')}`,
      'jobs.yaml': `${jobDoc('gitops-job', ['gitops-a'])}---\n${jobDoc('gitops-job-b', ['gitops-b'])}`,
      'rules.yaml': `${ruleDoc('gitops-r1')}---\n${ruleDoc('gitops-r2')}`,
    });
    assert.equal((await selfheal(['apply', '-f', v1], g.env)).code, 0);
    const r1Before = (await api<{ items: { name: string; version: number }[] }>('/api/rules')).items.find((r) => r.name === 'gitops-r1')!;
    assert.equal(r1Before.version, 1);

    // v2: a and r1 and the job change; b, job-b and r2 are gone from the files.
    const v2 = await folder({
      'envs.yaml': envDoc('gitops-a', 'description: first\n').replace('team: sre', 'team: platform'),
      'jobs.yaml': jobDoc('gitops-job', ['gitops-a']).replace('interval: 12h', 'interval: 6h'),
      'rules.yaml': ruleDoc('gitops-r1').replace('dryRun: true', 'dryRun: false'),
    });
    const diff = await selfheal(['diff', '-f', v2], g.env);
    assert.equal(diff.code, 1);
    assert.match(diff.stdout, /~ would update environment gitops-a/);
    assert.match(diff.stdout, / {4}description: null → "first"/);
    assert.match(diff.stdout, / {4}labels\.team: "sre" → "platform"/);
    assert.match(diff.stdout, /~ would update job gitops-job/);
    assert.match(diff.stdout, / {4}schedule\.interval: "12h" → "6h"/);
    assert.match(diff.stdout, /~ would update rule gitops-r1/);
    assert.match(diff.stdout, / {4}dryRun: true → false/);
    assert.doesNotMatch(diff.stdout, /would delete/, 'nothing is pruned unless asked');
    const asJson = await selfheal(['diff', '-f', v2, '--json'], g.env);
    assert.equal(asJson.code, 1);
    const { teams, plan: entries } = JSON.parse(asJson.stdout) as { teams: { covered: string[] }; plan: { kind: string; action: string; name: string; changes?: { path: string; before: unknown; after: unknown }[] }[] };
    assert.deepEqual(teams.covered, ['default']);
    assert.deepEqual(entries.find((e) => e.kind === 'Job')?.changes, [{ path: 'schedule.interval', kind: 'changed', before: '12h', after: '6h' }]);
    const pruneAll = await selfheal(['diff', '-f', v2, '--prune', 'rule,job,environment'], g.env);
    assert.match(pruneAll.stdout, /- would delete rule gitops-r2\n- would delete job gitops-job-b\n- would delete environment gitops-b\n/, 'rules, then jobs, then environments');

    const apply = await selfheal(['apply', '-f', v2, '--prune', 'rule'], g.env);
    assert.equal(apply.code, 0, apply.stderr);
    assert.match(apply.stdout, /~ updated environment gitops-a/);
    assert.match(apply.stdout, /- deleted rule gitops-r2/);
    assert.match(apply.stdout, /0 to create, 3 to update, 1 to delete, 0 unchanged/);
    const a = await api<{ description: string; labels: Record<string, string> }>('/api/environments/gitops-a');
    assert.equal(a.description, 'first');
    assert.deepEqual(a.labels, { team: 'platform' });
    const spec = (await schedule('gitops-job')).spec as { intervals?: { every: number }[] };
    assert.equal(spec.intervals?.[0]?.every, 6 * 3600_000, 'the Schedule follows the job');
    const rules = await api<{ items: { name: string; version: number; dryRun: boolean }[] }>('/api/rules');
    assert.deepEqual(rules.items.map((r) => [r.name, r.version, r.dryRun]), [['gitops-r1', 2, false]]);
    assert.equal((await g.stack.api('/api/environments/gitops-b')).status, 200, 'environments are not pruned with --prune rule');
    assert.equal((await g.stack.api('/api/jobs/gitops-job-b')).status, 200, 'jobs are not pruned with --prune rule');

    // gitops-b cannot go while job-b (kept, on the server) targets it.
    const orphan = await selfheal(['apply', '-f', v2, '--prune', 'environment'], g.env);
    assert.equal(orphan.code, 2);
    assert.match(orphan.stderr, /job "gitops-job-b" on the server targets environment "gitops-b", which --prune environment would delete/);
    assert.equal((await g.stack.api('/api/environments/gitops-b')).status, 200);

    const mark = (await auditActions()).length;
    const both = await selfheal(['apply', '-f', v2, '--prune', 'job,environment'], g.env);
    assert.equal(both.code, 0, both.stderr);
    assert.deepEqual((await auditActions()).slice(mark), ['job.delete gitops-job-b', 'environment.delete gitops-b']);
    await assert.rejects(schedule('gitops-job-b'), ScheduleNotFoundError, "the job's Schedule is gone");
    assert.equal((await selfheal(['diff', '-f', v2, '--prune', 'job,environment,rule'], g.env)).code, 0);

    for (const bad of ['all', 'rule,widgets', '']) {
      const r = await selfheal(['apply', '-f', v2, '--prune', bad], g.env);
      assert.equal(r.code, 2, `--prune ${bad}`);
    }
    assert.equal((await selfheal(['apply', '-f', v2, '--prune'], g.env)).code, 2, '--prune needs its kinds');
  });

  it('a job may target an environment defined in the same folder; one that exists nowhere is refused before anything changes', async () => {
    const ok = await folder({ 'all.yaml': `${jobDoc('dep-job', ['dep-env'])}---\n${envDoc('dep-env')}` });
    const run = await selfheal(['apply', '-f', ok], g.env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await auditActions(), ['environment.create dep-env', 'job.create dep-job'], 'the environment first, though it comes second in the file');

    const missing = await folder({ 'jobs.yaml': jobDoc('lost-job', ['dep-env', 'nowhere']), 'rules.yaml': ruleDoc('lost-rule') });
    const refused = await selfheal(['apply', '-f', missing], g.env);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /jobs\.yaml, object 1 \(Job lost-job\): targets environment "nowhere", which is neither in the files nor on the server/);
    assert.equal((await auditActions()).length, 2, 'nothing applied');
  });

  it('export writes all three kinds, secrets as references; applying the export changes nothing', async () => {
    process.env.SELFHEAL_SECRET_PROD_EU_SSH_KEY = 'the-private-key-itself-must-never-leave';
    assert.equal((await selfheal(['apply', '-f', EXAMPLE], g.env)).code, 0);
    const webhook = await folder({
      'hook.yaml': ruleDoc('signed-hook').replace(
        "  - { id: note, type: pagerduty.note, content: 'signed-hook saw {{ incident.title }}' }",
        '  - { id: hook, type: notify.webhook, url: "https://hooks.example.com/selfheal", secretRef: "env:SELFHEAL_SECRET_HOOK_HMAC" }',
      ),
    });
    assert.equal((await selfheal(['apply', '-f', webhook], g.env)).code, 0);
    assert.equal((await g.stack.api('/api/jobs/prod-eu-health/pause', { method: 'POST' })).status, 200);

    const dir = path.join(g.work.dir, 'export-dir');
    const exp = await selfheal(['export', '-o', dir], g.env);
    assert.equal(exp.code, 0, exp.stderr);
    assert.match(exp.stderr, /wrote 1 environment\(s\), 1 job\(s\) and 3 rule\(s\)/);
    assert.deepEqual((await readdir(dir)).sort(), ['environment-prod-eu.yaml', 'job-prod-eu-health.yaml', 'rule-high-urgency-to-slack.yaml', 'rule-prod-eu-disk-full.yaml', 'rule-signed-hook.yaml']);
    const text = (await Promise.all((await readdir(dir)).map((f) => readFile(path.join(dir, f), 'utf8')))).join('\n');
    assert.match(text, /keyRef: env:SELFHEAL_SECRET_PROD_EU_SSH_KEY/);
    assert.match(text, /webhookUrlRef: env:SELFHEAL_SECRET_SLACK_WEBHOOK_SRE/);
    assert.match(text, /secretRef: env:SELFHEAL_SECRET_HOOK_HMAC/);
    assert.doesNotMatch(text, /the-private-key-itself/);
    assert.ok(!text.includes(ADMIN_TOKEN));
    const job = parse(await readFile(path.join(dir, 'job-prod-eu-health.yaml'), 'utf8')) as Record<string, unknown>;
    assert.equal(job.kind, 'Job');
    assert.equal(job.enabled, false, 'a paused job is exported paused');
    for (const k of ['scheduleId', 'createdAt', 'updatedAt']) assert.ok(!(k in job), `no ${k}`);
    const environment = parse(await readFile(path.join(dir, 'environment-prod-eu.yaml'), 'utf8')) as Record<string, unknown>;
    assert.ok(!('agentTaskQueue' in environment), 'the default agent queue is left out');

    const file = path.join(g.work.dir, 'export.yaml');
    const one = await selfheal(['export', '-o', file], g.env);
    assert.equal(one.code, 0, one.stderr);
    assert.equal((await readFile(file, 'utf8')).split(/^---$/m).length, 5, 'one document per object');

    const mark = await counts();
    for (const target of [dir, file]) {
      const diff = await selfheal(['diff', '-f', target, '--prune', 'environment,job,rule'], g.env);
      assert.equal(diff.code, 0, `${target}: ${diff.stdout}`);
      assert.match(diff.stdout, /0 to create, 0 to update, 0 to delete, 5 unchanged/);
      const apply = await selfheal(['apply', '-f', target, '--prune', 'environment,job,rule'], g.env);
      assert.equal(apply.code, 0, apply.stderr);
    }
    assert.deepEqual(await counts(), mark, 'applying the export wrote nothing');
    assert.equal((await schedule('prod-eu-health')).state.paused, true);

    const stdout = await selfheal(['export', '--json'], g.env);
    assert.equal(stdout.code, 0);
    assert.deepEqual((JSON.parse(stdout.stdout) as { kind: string }[]).map((d) => d.kind), ['Environment', 'Job', 'Rule', 'Rule', 'Rule']);
  });

  it('a job paused by hand stays paused when its file says nothing about `enabled`; `enabled: false` in the file pauses it', async () => {
    const dir = await folder({ 'a.yaml': `${envDoc('pause-env')}---\n${jobDoc('pause-job', ['pause-env'])}` });
    assert.equal((await selfheal(['apply', '-f', dir], g.env)).code, 0);
    assert.equal((await selfheal(['jobs', 'pause', 'pause-job'], g.env)).code, 0);
    const diff = await selfheal(['diff', '-f', dir], g.env);
    assert.equal(diff.code, 0, diff.stdout);
    assert.equal((await schedule('pause-job')).state.paused, true);

    // A replacement that leaves `enabled` out (what apply sends for such a file, so a pause made after it
    // read the job is not undone) keeps the job paused: the row and Temporal's schedule.
    const current = (await (await fetch(`${g.server.url}/api/jobs/pause-job`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as Record<string, unknown>;
    const replacement = { name: current.name, schedule: { interval: '6h' }, targets: current.targets, script: current.script };
    const put = await fetch(`${g.server.url}/api/jobs/pause-job`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(replacement) });
    assert.equal(put.status, 200, await put.clone().text());
    assert.equal(((await put.json()) as { enabled: boolean }).enabled, false, 'still paused');
    assert.equal((await schedule('pause-job')).state.paused, true, "Temporal's schedule still paused");
    assert.equal((await db().selectFrom('jobs').select('enabled').where('id', '=', 'pause-job').executeTakeFirstOrThrow()).enabled, false);
    assert.equal((await selfheal(['apply', '-f', dir], g.env)).code, 0, 'the file (12h) applied back over the 6h');
    assert.equal((await schedule('pause-job')).state.paused, true);

    const resumed = await selfheal(['jobs', 'resume', 'pause-job'], g.env);
    assert.equal(resumed.code, 0);
    await writeFile(path.join(dir, 'a.yaml'), `${envDoc('pause-env')}---\n${jobDoc('pause-job', ['pause-env'], 'enabled: false\n')}`);
    const apply = await selfheal(['apply', '-f', dir], g.env);
    assert.equal(apply.code, 0, apply.stderr);
    assert.match(apply.stdout, / {4}enabled: true → false/);
    assert.equal((await schedule('pause-job')).state.paused, true);
  });

  it('an invalid object is reported with its file and position (exit 2) and nothing is applied', async () => {
    const dir = await folder({
      'good.yaml': envDoc('valid-env'),
      'bad.yaml': `${ruleDoc('fine-rule')}---\n${jobDoc('broken', ['valid-env']).replace('interval: 12h', 'cron: "61 * * * *"')}---\nkind: Widget\nname: w\n`,
      'nokind.yaml': 'name: just-a-name\n',
    });
    const run = await selfheal(['apply', '-f', dir], g.env);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /bad\.yaml, object 3: kind "Widget" is not known \(Environment, Job, Rule\)/);
    assert.match(run.stderr, /nokind\.yaml, object 1: "kind" is required/);
    const fixedKinds = await folder({ 'good.yaml': envDoc('valid-env'), 'bad.yaml': `${ruleDoc('fine-rule')}---\n${jobDoc('broken', ['valid-env']).replace('interval: 12h', 'cron: "61 * * * *"')}` });
    const invalid = await selfheal(['diff', '-f', fixedKinds], g.env);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /bad\.yaml, object 2 \(Job broken\) schedule\.cron: cron field 1 \(minute\) "61": 61 is out of range 0-59/);
    const dup = await folder({ 'a.yaml': envDoc('twice'), 'b.yaml': envDoc('twice') });
    const twice = await selfheal(['apply', '-f', dup], g.env);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /b\.yaml, object 1 \(Environment twice\): Environment "twice" is also defined at .*a\.yaml, object 1/);
    assert.deepEqual(await auditActions(), [], 'nothing applied');
    assert.equal((await selfheal(['apply', '-f', path.join(g.work.dir, 'no-such-folder')], g.env)).code, 2);
    // A "billion laughs" file: aliases that would expand past the YAML library's limit are a usage error
    // naming the file (exit 2), not an unexpected error (exit 3, which CI reads as the server being down).
    const laughs = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]'];
    for (let i = 1; i < 9; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const bomb = await selfheal(['diff', '-f', await folder({ 'laughs.yaml': `${laughs.join('\n')}\n` })], g.env);
    assert.equal(bomb.code, 2, bomb.stderr);
    assert.match(bomb.stderr, /laughs\.yaml: .*alias/i);
    assert.doesNotMatch(bomb.stderr, /unexpected error|\n {4}at /);
  });

  it('files that hold no object (emptied, commented out) are refused (exit 2): an apply with --prune deletes nothing', async () => {
    assert.equal((await selfheal(['apply', '-f', await folder({ 'env.yaml': envDoc('kept-env') })], g.env)).code, 0);
    const empty = await folder({ 'envs.yaml': '# kind: Environment\n# name: kept-env\n', 'jobs.yaml': '---\n', 'rules.yml': '' });
    for (const cmd of ['apply', 'diff']) {
      const run = await selfheal([cmd, '-f', empty, '--prune', 'environment,job,rule'], g.env);
      assert.equal(run.code, 2, `${cmd}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /no object in .*: the files are empty or commented out; nothing was applied or deleted/);
      assert.doesNotMatch(run.stdout, /delete/);
    }
    assert.equal((await g.stack.api('/api/environments/kept-env')).status, 200, 'the server still has what the empty files did not name');
  });

  it('a refusal by the server stops the apply at that object: it says what was applied before it and what was not attempted', async () => {
    assert.equal((await g.stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'clash-env' }) })).status, 201);
    const res = await g.stack.api('/api/jobs', { method: 'POST', body: JSON.stringify({ id: 'first', name: 'Same name', schedule: { interval: '1h' }, targets: { environments: ['clash-env'] }, script: 'health-check.sh' }) });
    assert.equal(res.status, 201);
    const dir = await folder({
      'a.yaml': `${envDoc('new-env')}---\n${jobDoc('second', ['new-env']).replace('name: second check', 'name: Same name')}---\n${ruleDoc('after-the-job')}`,
    });
    const run = await selfheal(['apply', '-f', dir], g.env);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stdout, /\+ created environment new-env/);
    assert.match(run.stderr, /✗ create job second failed \(.*a\.yaml, object 2 \(Job second\)\): 409 Conflict: a job named "Same name" already exists \(first\)/);
    assert.match(run.stderr, /not attempted: create rule after-the-job/);
    assert.match(run.stderr, /1 of 3 change\(s\) applied before the failure/);
    assert.equal((await g.stack.api('/api/environments/new-env')).status, 200);
    assert.deepEqual((await api<{ items: unknown[] }>('/api/rules')).items, []);

    const json = await selfheal(['apply', '-f', dir, '--json'], g.env);
    assert.equal(json.code, 2);
    const out = JSON.parse(json.stdout) as { applied: unknown[]; failed: { kind: string; name: string; status: number; problem: { title: string } }; notAttempted: { name: string }[] };
    assert.deepEqual(out.applied, [], 'the environment is there now: nothing to apply before the job');
    assert.deepEqual([out.failed.kind, out.failed.name, out.failed.status, out.failed.problem.title], ['Job', 'second', 409, 'Conflict']);
    assert.deepEqual(out.notAttempted.map((s) => s.name), ['after-the-job']);

    // A token without write scope: 403 on the first change, a server-side refusal (exit 3), named.
    const tokenRes = await g.stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: 'ci-read', scopes: ['read'] }) });
    assert.equal(tokenRes.status, 201);
    const readToken = ((await tokenRes.json()) as { token: string }).token;
    const rules = await folder({ 'r.yaml': ruleDoc('needs-write') });
    assert.equal((await selfheal(['diff', '-f', rules], { ...g.env, SELFHEAL_TOKEN: readToken })).code, 1, 'a read token can diff');
    const forbidden = await selfheal(['apply', '-f', rules], { ...g.env, SELFHEAL_TOKEN: readToken });
    assert.equal(forbidden.code, 3, forbidden.stderr);
    assert.match(forbidden.stderr, /✗ create rule needs-write failed \(.*r\.yaml, object 1 \(Rule needs-write\)\): 403 Forbidden/);
    assert.match(forbidden.stderr, /0 of 1 change\(s\) applied before the failure/);
  });

  it('rules apply still takes rule-only files (a document without kind is a rule) and refuses other kinds', async () => {
    const rulesOnly = await selfheal(['rules', 'apply', '-f', path.join(EXAMPLE, 'rules.yaml')], g.env);
    assert.equal(rulesOnly.code, 0, rulesOnly.stderr);
    assert.match(rulesOnly.stdout, /\+ created prod-eu-disk-full\n\+ created high-urgency-to-slack\n2 to create/);
    const mixed = await selfheal(['rules', 'apply', '-f', path.join(EXAMPLE, 'jobs.yaml')], g.env);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /holds a Job: rules commands take rules only; use selfheal apply/);
    // The rules-only form and the general form agree.
    assert.equal((await selfheal(['diff', '-f', path.join(EXAMPLE, 'rules.yaml')], g.env)).code, 0);
  });

  it('the GitHub Actions example: its diff step passes with pending changes and fails on an invalid file; its apply step applies', async () => {
    const workflow = parse(await readFile(path.join(ROOT, 'examples/gitops/github-actions.yml'), 'utf8')) as {
      on: { pull_request: unknown; push: { branches: string[] } };
      env: Record<string, string>;
      jobs: Record<string, { if: string; steps: { name?: string; run?: string; env?: Record<string, string> }[] }>;
    };
    assert.ok(workflow.on.pull_request, 'runs on pull requests');
    assert.deepEqual(workflow.on.push.branches, ['main']);
    assert.match(workflow.jobs.diff!.if, /pull_request/);
    assert.match(workflow.jobs.apply!.if, /push/);
    const step = (job: string, name: string) => {
      const s = workflow.jobs[job]!.steps.find((x) => x.name === name);
      assert.ok(s?.run, `${job}: step ${name}`);
      assert.match(s.env?.SELFHEAL_TOKEN ?? '', /^\$\{\{ secrets\.SELFHEAL_\w+_TOKEN \}\}$/, 'the token comes from a repository secret');
      return s.run;
    };
    const summary = path.join(g.work.dir, 'step-summary.txt');
    assert.equal(workflow.env.SELFHEAL_TEAMS, 'default');
    for (const [job, name] of [['diff', 'selfheal diff'], ['apply', 'selfheal apply']] as const) {
      for (const line of step(job, name).split('\n').filter((l) => /"\$SELFHEAL_CLI" (diff|apply)/.test(l))) assert.match(line, /--team "\$SELFHEAL_TEAMS"/, `${job}: ${line}`);
    }
    const ghEnv = (dir: string) => ({ ...g.env, SELFHEAL_DIR: dir, SELFHEAL_TEAMS: workflow.env.SELFHEAL_TEAMS!, SELFHEAL_PRUNE: workflow.env.SELFHEAL_PRUNE!, SELFHEAL_CLI: BIN, GITHUB_STEP_SUMMARY: summary });
    const cwd = await mkdtemp(path.join(g.work.dir, 'gh-'));
    const inDir = (script: string) => `cd ${JSON.stringify(cwd)}\n${script}`;

    const pr = await bash(inDir(step('diff', 'selfheal diff')), ghEnv(EXAMPLE));
    assert.equal(pr.code, 0, `pending changes do not fail the check: ${pr.stdout}${pr.stderr}`);
    assert.match(pr.stdout, /4 to create/);
    assert.match(await readFile(summary, 'utf8'), /### selfheal diff[\s\S]*teams: the plan covers default; the token can read [\s\S]*\+ would create job prod-eu-health/);
    assert.deepEqual(await auditActions(), []);

    const broken = await folder({ 'x.yaml': 'kind: Job\nname: nope\n' });
    assert.equal((await bash(inDir(step('diff', 'selfheal diff')), ghEnv(broken))).code, 2, 'an invalid file fails the check');

    const main = await bash(inDir(step('apply', 'selfheal apply')), ghEnv(EXAMPLE));
    assert.equal(main.code, 0, main.stdout + main.stderr);
    assert.match(main.stdout, /4 to create/);
    assert.match(main.stdout, /0 to create, 0 to update, 0 to delete, 4 unchanged/, 'the closing diff finds nothing left');
    assert.equal((await g.stack.api('/api/jobs/prod-eu-health')).status, 200);
  });
  it("team folders: a team's token applies its team's objects and --prune never reaches another team's", async () => {
    for (const name of ['gitops-pay', 'gitops-shop']) {
      const res = await g.stack.api('/api/teams', { method: 'POST', body: JSON.stringify({ name }) });
      assert.equal(res.status, 201, await res.text());
    }
    const token = async (name: string, team: string) => {
      const res = await g.stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name, teams: [`${team}:editor`] }) });
      assert.equal(res.status, 201);
      return ((await res.json()) as { token: string }).token;
    };
    const pay = { SELFHEAL_URL: g.server.url, SELFHEAL_TOKEN: await token('gitops-pay-ci', 'gitops-pay') };
    const shop = { SELFHEAL_URL: g.server.url, SELFHEAL_TOKEN: await token('gitops-shop-ci', 'gitops-shop') };
    const shopDir = await folder({ 'shop.yaml': `${envDoc('gitops-shop-vm', 'team: gitops-shop\n')}---\n${ruleDoc('shop-rule', 'team: gitops-shop\n')}` });
    assert.equal((await selfheal(['apply', '-f', shopDir], shop)).code, 0);
    const payDir = await folder({ 'pay.yaml': `${envDoc('gitops-pay-vm', 'team: gitops-pay\n')}---\n${ruleDoc('pay-rule', 'team: gitops-pay\n')}` });
    const applied = await selfheal(['apply', '-f', payDir, '--prune', 'rule,environment'], pay);
    assert.equal(applied.code, 0, applied.stderr);
    assert.doesNotMatch(applied.stdout, /shop-/, "the pay token's plan names no shop object");
    const rows = await db().selectFrom('rules').select(['name', 'team', 'deleted_at']).where('name', 'in', ['pay-rule', 'shop-rule']).orderBy('name').execute();
    assert.deepEqual(rows, [
      { name: 'pay-rule', team: 'gitops-pay', deleted_at: null },
      { name: 'shop-rule', team: 'gitops-shop', deleted_at: null },
    ]);
    assert.equal((await db().selectFrom('environments').select('team').where('name', '=', 'gitops-shop-vm').executeTakeFirstOrThrow()).team, 'gitops-shop');
    const exported = await selfheal(['export'], pay);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /team: gitops-pay/);
    assert.doesNotMatch(exported.stdout, /gitops-shop|shop-rule/);
  });
  it("another team's object of the same name: apply refuses (nothing changes) unless --allow-move; --prune deletes only in the plan's teams; both commands name the teams", async () => {
    assert.equal((await g.stack.api('/api/teams', { method: 'POST', body: JSON.stringify({ name: 'scope-pay' }) })).status, 201);
    const createRule = async (name: string, team: string) => {
      const res = await g.stack.api('/api/rules', { method: 'POST', body: JSON.stringify({ name, team, services: ['*'], dryRun: true, actions: [{ id: 'note', type: 'pagerduty.note', content: `${name} saw it` }] }) });
      const text = await res.text();
      assert.equal(res.status, 201, text);
      return (JSON.parse(text) as { id: string }).id;
    };
    const payRule = await createRule('disk-cleanup', 'scope-pay');
    const payFailover = await createRule('scope-pay-failover', 'scope-pay');
    await createRule('default-old', 'default');
    assert.equal((await g.stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'pay-vm', team: 'scope-pay', description: 'payments VM' }) })).status, 201);
    const ruleOf = (id: string) => api<{ name: string; team: string; version: number; actions: { content: string }[] }>(`/api/rules/${id}`);
    const before = await ruleOf(payRule);
    const mark = (await auditActions()).length;

    // The PR: a rule `disk-cleanup` without team (default). An admin token sees scope-pay's rule of that name.
    const pr = await folder({ 'rules.yaml': ruleDoc('disk-cleanup'), 'envs.yaml': envDoc('pay-vm') });
    for (const cmd of [['diff'], ['apply'], ['apply', '--prune', 'rule,environment']]) {
      const run = await selfheal([...cmd, '-f', pr], g.env);
      assert.equal(run.code, 2, `${cmd.join(' ')}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /rules\.yaml, object 1 \(Rule disk-cleanup\): rule "disk-cleanup" is in team default in the files, but the server's rule "disk-cleanup" is in team scope-pay: applying would overwrite team scope-pay's rule and move it to team default/);
      assert.match(run.stderr, /environment "pay-vm" is in team default in the files, but the server's environment "pay-vm" is in team scope-pay/);
      assert.match(run.stderr, /--allow-move/);
    }
    assert.deepEqual(await ruleOf(payRule), before, "scope-pay's rule is unchanged: same team, version and actions");
    assert.equal((await api<{ team: string; description: string }>('/api/environments/pay-vm')).team, 'scope-pay');
    assert.equal((await auditActions()).length, mark, 'nothing applied');

    // A folder of the default team only: the diff names the teams; --prune deletes default's rule, never scope-pay's.
    const mine = await folder({ 'rules.yaml': ruleDoc('default-new') });
    const diff = await selfheal(['diff', '-f', mine, '--prune', 'rule,environment'], g.env);
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, /^teams: the plan covers default; the token can read default, .*scope-pay/m);
    assert.match(diff.stdout, /- would delete rule default-old/);
    assert.doesNotMatch(diff.stdout, /disk-cleanup|scope-pay-failover|pay-vm/);
    const json = JSON.parse((await selfheal(['diff', '-f', mine, '--prune', 'rule', '--json'], g.env)).stdout) as { teams: { covered: string[]; readable: string[]; unreadable: string[] } };
    assert.deepEqual(json.teams.covered, ['default']);
    assert.ok(json.teams.readable.includes('scope-pay'));
    assert.deepEqual(json.teams.unreadable, []);
    const pruned = await selfheal(['apply', '-f', mine, '--prune', 'rule,environment'], g.env);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /^teams: the plan covers default;/m);
    const names = (await api<{ items: { name: string; team: string }[] }>('/api/rules')).items.map((r) => `${r.team}/${r.name}`).sort();
    assert.deepEqual(names, ['default/default-new', 'scope-pay/disk-cleanup', 'scope-pay/scope-pay-failover']);
    assert.equal((await g.stack.api('/api/environments/pay-vm')).status, 200, "scope-pay's environment is not pruned");

    // --team names the scope; a token that cannot read a covered team: diff says so loudly, apply refuses.
    const tokenOf = async (body: unknown) => {
      const res = await g.stack.api('/api/tokens', { method: 'POST', body: JSON.stringify(body) });
      assert.equal(res.status, 201);
      return ((await res.json()) as { token: string }).token;
    };
    const readToken = await tokenOf({ name: 'scope-read', scopes: ['read'] });
    const writeToken = await tokenOf({ name: 'scope-write', scopes: ['read', 'write'] });
    const payDir = await folder({ 'pay.yaml': ruleDoc('scope-pay-new', 'team: scope-pay\n') });
    const blind = await selfheal(['diff', '-f', payDir, '--team', 'scope-pay', '--prune', 'rule'], { ...g.env, SELFHEAL_TOKEN: readToken });
    assert.equal(blind.code, 1, blind.stderr);
    assert.match(blind.stdout, /^teams: the plan covers scope-pay; the token can read default$/m);
    assert.match(blind.stderr, /!! the token cannot read team\(s\) scope-pay, which the plan covers/);
    const blindJson = JSON.parse((await selfheal(['diff', '-f', payDir, '--json'], { ...g.env, SELFHEAL_TOKEN: readToken })).stdout) as { teams: { unreadable: string[] } };
    assert.deepEqual(blindJson.teams.unreadable, ['scope-pay']);
    const refused = await selfheal(['apply', '-f', payDir, '--prune', 'rule'], { ...g.env, SELFHEAL_TOKEN: writeToken });
    assert.equal(refused.code, 2, refused.stdout);
    assert.match(refused.stderr, /the token cannot read team\(s\) scope-pay, which the plan covers .* nothing was applied/);
    const narrow = await selfheal(['diff', '-f', payDir, '--team', 'default'], g.env);
    assert.equal(narrow.code, 2);
    assert.match(narrow.stderr, /--team default does not cover every object of the files/);

    // --allow-move: the move is said, and made.
    const mark2 = (await auditActions()).length;
    const moved = await selfheal(['apply', '-f', pr, '--allow-move'], g.env);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout, /~ updated rule disk-cleanup, moving it from team scope-pay to team default/);
    assert.match(moved.stdout, /~ updated environment pay-vm, moving it from team scope-pay to team default/);
    assert.equal((await ruleOf(payRule)).team, 'default');
    assert.equal((await ruleOf(payFailover)).team, 'scope-pay', 'the other scope-pay rule stays');
    assert.equal((await auditActions()).length, mark2 + 2);
  });
});
