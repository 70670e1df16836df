// Secret references (docs/security.md "Secrets"): a rule, job or environment may only name secrets inside
// the operator's prefixes and directories. Before this change a `write` token could name any variable or
// file of the worker (DATABASE_URL, SELFHEAL_ADMIN_TOKEN, /etc/shadow, the host's SSH keys) and every one
// of the saves below answered 201; the worker read whatever it was told.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { SecretResolutionError } from '../../src/executors/errors.js';
import { resolveUserSecretRef, unavailableSecretMessage } from '../../src/executors/secrets.js';
import { createLogger } from '../../src/logger.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';

const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;

describe('security: secret references stay inside the operator policy', function () {
  let stack: Stack;
  let slack: SlackPeer;
  let writer: string;
  let reader: string;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
  const send = async (token: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await stack.api(p, { method, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {} };
  };
  const paths = (body: { errors?: { path: string }[] }) => (body.errors ?? []).map((e) => e.path);
  const webhookRule = (ref: string, name = `hook-${randomUUID().slice(0, 6)}`) => ({
    name,
    actions: [{ type: 'notify.webhook', url: 'https://hooks.example.com/in', secretRef: ref }],
  });

  before(async function () {
    slack = await startSlackPeer();
    stack = await startStack();
    const issue = async (scopes: string[]) => ((await (await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: `s-${scopes[0]}`, scopes }) })).json()) as { token: string }).token;
    writer = await issue(['write']);
    reader = await issue(['read']);
  });
  after(async function () {
    await stack?.stop();
    await slack?.close();
  });

  it('refuses references outside the prefixes and directories with 400 naming the field, for every token', async function () {
    const outside = [
      'env:DATABASE_URL',
      'env:SELFHEAL_ADMIN_TOKEN',
      'env:PAGERDUTY_API_TOKEN',
      'env:PATH',
      'env:SELFHEAL_SECRET_', // the bare prefix names nothing
      'file:/etc/shadow',
      'file:/run/secrets/../../etc/shadow',
      'file:/run/secrets//x',
      'file:/run/secrets',
      'file:/run/secretsmore/x',
    ];
    for (const ref of outside) {
      for (const token of [writer, ADMIN_TOKEN]) {
        const res = await send(token, 'POST', '/api/rules', webhookRule(ref));
        assert.equal(res.status, 400, `${ref} answered ${res.status}`);
        assert.deepEqual(paths(res.body), ['actions.0.secretRef'], ref);
        assert.match(res.body.errors[0].message, /SELFHEAL_SECRET_|\/run\/secrets|normalised|secret reference/, ref);
      }
    }
    const slackRule = { name: 'slack-out', actions: [{ type: 'notify.slack', webhookUrlRef: 'env:GITHUB_TOKEN', text: 'x' }] };
    assert.deepEqual(paths((await send(writer, 'POST', '/api/rules', slackRule)).body), ['actions.0.webhookUrlRef']);
    // The notices of an unverified remediation carry references too: before, they were not checked on save.
    const unverified = {
      name: 'unverified-out',
      actions: [{ type: 'pagerduty.note', content: 'x' }],
      verify: {
        within: '10m',
        check: { type: 'script.agent', script: 'health-check.sh' },
        onUnverified: [
          { type: 'notify.webhook', url: 'https://hooks.example.com/in', secretRef: 'env:DATABASE_URL' },
          { type: 'notify.slack', webhookUrlRef: 'file:/etc/shadow', text: 'x' },
        ],
      },
    };
    const refused = await send(writer, 'POST', '/api/rules', unverified);
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.deepEqual(paths(refused.body), ['verify.onUnverified.0.secretRef', 'verify.onUnverified.1.webhookUrlRef']);
    // The dry-run validator says the same to a read token, so `rules apply` fails before it writes.
    const validated = await send(reader, 'POST', '/api/rules/validate', webhookRule('env:DATABASE_URL'));
    assert.equal(validated.status, 400);
    assert.deepEqual(paths(validated.body), ['actions.0.secretRef']);

    const job = {
      name: `job-${randomUUID().slice(0, 6)}`,
      schedule: { interval: '1h' },
      targets: { all: true },
      script: 'health-check.sh',
      notifyOnFailure: { slack: { webhookUrlRef: 'env:SMTP_PASSWORD' } },
    };
    const jobRes = await send(writer, 'POST', '/api/jobs', job);
    assert.equal(jobRes.status, 400);
    assert.deepEqual(paths(jobRes.body), ['notifyOnFailure.slack.webhookUrlRef']);

    const envRes = await send(ADMIN_TOKEN, 'POST', '/api/environments', {
      name: `keyed-${randomUUID().slice(0, 6)}`,
      ssh: { host: 'mgmt.example', user: 'selfheal', keyRef: 'file:/etc/ssh/ssh_host_ed25519_key', hostKeyFingerprint: FINGERPRINT },
    });
    assert.equal(envRes.status, 400);
    assert.deepEqual(paths(envRes.body), ['ssh.keyRef']);

    assert.equal((await stack.db.db.selectFrom('rules').select('id').execute()).length, 0, 'nothing was stored');
    assert.equal((await stack.db.db.selectFrom('jobs').select('id').execute()).length, 0);
  });

  it('accepts references inside the policy whether or not they exist, so a save reveals nothing', async function () {
    for (const ref of ['env:SELFHEAL_SECRET_HOOK_HMAC', 'env:SELFHEAL_SECRET_NEVER_SET', 'file:/run/secrets/hook', 'file:/etc/selfheal/secrets/team/hook']) {
      const res = await send(writer, 'POST', '/api/rules', webhookRule(ref));
      assert.equal(res.status, 201, ref);
      assert.equal((await send(writer, 'DELETE', `/api/rules/${res.body.id}`)).status, 200);
    }
  });

  it("follows the operator's SECRET_REF_ENV_PREFIXES and SECRET_REF_DIRS instead of the defaults", async function () {
    const config = loadConfig({ ...baseEnv(stack), SECRET_REF_ENV_PREFIXES: 'OPS_SECRET_', SECRET_REF_DIRS: '/var/run/ops-secrets' });
    const app = createApp({ config, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const post = async (ref: string) =>
      (await app.request('/api/rules/validate', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(webhookRule(ref)) })).status;
    assert.equal(await post('env:OPS_SECRET_HOOK'), 200);
    assert.equal(await post('file:/var/run/ops-secrets/hook'), 200);
    assert.equal(await post('env:SELFHEAL_SECRET_HOOK'), 400, 'the defaults are replaced, not added to');
    assert.equal(await post('file:/run/secrets/hook'), 400);
  });

  it('refuses a policy that would reach Self-healing’s own variables or every file, naming the variable', function () {
    const bad: [string, string][] = [
      ['SECRET_REF_ENV_PREFIXES', 'SELFHEAL_'],
      ['SECRET_REF_ENV_PREFIXES', 'DATABASE'],
      ['SECRET_REF_ENV_PREFIXES', 'TEMPORAL_'],
      ['SECRET_REF_ENV_PREFIXES', 'A'],
      ['SECRET_REF_ENV_PREFIXES', 'has-dash'],
      ['SECRET_REF_DIRS', '/'],
      ['SECRET_REF_DIRS', 'relative/dir'],
      ['SECRET_REF_DIRS', '/run/secrets/../..'],
    ];
    for (const [variable, value] of bad) {
      assert.throws(() => loadConfig({ NODE_ENV: 'test', [variable]: value }), (err: unknown) => err instanceof ConfigError && err.variable === variable, `${variable}=${value}`);
    }
  });

  it('the worker checks again when it runs: a reference saved under a wider policy is refused, with one message for outside and missing alike', async function () {
    this.timeout(120_000);
    // An API configured more widely than the worker (the operator narrowed the policy after the rule was saved).
    const wide = loadConfig({ ...baseEnv(stack), SECRET_REF_ENV_PREFIXES: 'LEGACY_,SELFHEAL_SECRET_' });
    const app = createApp({ config: wide, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const serviceId = newServiceId();
    process.env.LEGACY_SLACK_URL = slack.webhookUrl; // it exists on the worker, and points at the real peer
    try {
      const rule = {
        name: `legacy-${randomUUID().slice(0, 6)}`,
        services: [serviceId],
        actions: [
          { id: 'legacy', type: 'notify.slack', webhookUrlRef: 'env:LEGACY_SLACK_URL', text: 'should never arrive', when: 'always' },
          { id: 'missing', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_NOT_SET_ANYWHERE', text: 'nor this', when: 'always' },
        ],
      };
      const saved = await app.request('/api/rules', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(rule) });
      assert.equal(saved.status, 201);
      const id = newIncidentId();
      assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 's' } } }))).status, 202);
      const runs = await eventually(async () => {
        const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
        return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
      }, 60_000, 'both notifications finished');
      assert.deepEqual(runs.map((r) => r.status), ['failed', 'failed']);
      assert.equal(slack.messages.length, 0, 'nothing reached the Slack peer');
      const [legacy, missing] = runs.map((r) => r.error ?? '');
      assert.match(legacy!, /not available to this worker/);
      assert.equal(legacy!.replace('env:LEGACY_SLACK_URL', 'REF'), missing!.replace('env:SELFHEAL_SECRET_NOT_SET_ANYWHERE', 'REF'), 'an existing variable outside the policy and a missing one read the same');
      assert.ok(!legacy!.includes(slack.webhookUrl), 'the value never shows');
    } finally {
      delete process.env.LEGACY_SLACK_URL;
    }
  });
});

describe('security: the resolver follows symlinks and answers one message for every failure', function () {
  let root: string;
  let allowed: string;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    root = await mkdtemp(path.join(os.tmpdir(), 'selfheal-sec-secrets-'));
    allowed = path.join(root, 'secrets');
    await mkdir(path.join(allowed, '..2026_data'), { recursive: true });
    await writeFile(path.join(allowed, 'token'), 'inside-value\n');
    await writeFile(path.join(root, 'outside'), 'outside-value\n');
    // Kubernetes mounts secrets as symlinks into a sibling data directory inside the mount.
    await writeFile(path.join(allowed, '..2026_data', 'k8s'), 'k8s-value');
    await symlink(path.join(allowed, '..2026_data', 'k8s'), path.join(allowed, 'k8s'));
    await symlink(path.join(root, 'outside'), path.join(allowed, 'escape'));
    await symlink('/etc', path.join(allowed, 'etc'));
    await mkdir(path.join(allowed, 'dir'));
    await writeFile(path.join(allowed, 'huge'), 'x'.repeat(70 * 1024));
    await writeFile(path.join(allowed, 'empty'), '  \n');
    await promisify(execFile)('mkfifo', [path.join(allowed, 'fifo')]);
    env = { SECRET_REF_DIRS: allowed, SELFHEAL_SECRET_TOKEN: ' env-value ', OTHER_TOKEN: 'other-value', SELFHEAL_SECRET_EMPTY: '' };
  });
  after(async () => rm(root, { recursive: true, force: true }));

  const fixed = (ref: string) => `secret reference "${ref}" is not available to this worker`;

  it('resolves inside the policy, symlinks that stay inside included', async function () {
    assert.equal(await resolveUserSecretRef(`file:${allowed}/token`, env), 'inside-value');
    assert.equal(await resolveUserSecretRef(`file:${allowed}/k8s`, env), 'k8s-value');
    assert.equal(await resolveUserSecretRef('env:SELFHEAL_SECRET_TOKEN', env), 'env-value');
  });

  it('refuses escapes, odd files and names outside the prefixes, all with the same message', async function () {
    const refused = [
      `file:${allowed}/escape`, // symlink out of the directory
      `file:${allowed}/etc/passwd`, // through a symlinked directory
      `file:${allowed}/../outside`, // ..
      `file:${root}/outside`, // simply outside
      `file:${allowed}/missing`,
      `file:${allowed}/dir`,
      `file:${allowed}/huge`,
      `file:${allowed}/empty`,
      `file:${allowed}/fifo`, // would block a plain read forever
      'env:OTHER_TOKEN', // set, but outside the prefix
      'env:SELFHEAL_SECRET_MISSING',
      'env:SELFHEAL_SECRET_EMPTY',
      'env:PATH',
    ];
    for (const ref of refused) {
      await assert.rejects(resolveUserSecretRef(ref, env), (err: unknown) => {
        assert.ok(err instanceof SecretResolutionError, ref);
        assert.equal(err.message, unavailableSecretMessage(ref), ref);
        assert.ok(err.message.startsWith(fixed(ref)), `${ref}: ${err.message}`);
        assert.equal(err.cause, undefined, 'no cause carries the reason');
        assert.ok(!/outside-value|other-value|root:/.test(err.message));
        return true;
      });
    }
  });

  it('re-reads the policy at every call: narrowing SECRET_REF_DIRS refuses what was allowed', async function () {
    assert.equal(await resolveUserSecretRef(`file:${allowed}/token`, env), 'inside-value');
    await assert.rejects(resolveUserSecretRef(`file:${allowed}/token`, { ...env, SECRET_REF_DIRS: path.join(root, 'elsewhere') }), SecretResolutionError);
    await assert.rejects(resolveUserSecretRef(`file:${allowed}/token`, {}), SecretResolutionError, 'unset → the default directories');
  });
});

function baseEnv(stack: Stack): Record<string, string> {
  return { NODE_ENV: 'test', TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_TASK_QUEUE: stack.taskQueue, SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: stack.db.url };
}
