// The runbooks' commands are run here, so the docs cannot rot: every ```sh test block of
// docs/runbooks/*.md runs in bash (-euo pipefail) against a real API server on real Temporal and
// Postgres, the PagerDuty peer (official OpenAPI) and a real Doctor agent. `selfheal` is the real
// launcher (node bin/selfheal.js). ```<lang> file=<name> blocks are written to the working folder first.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { jobScheduleSchema, jobTargetsSchema } from '../../src/domain/jobs.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, startStack, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNBOOKS = path.join(ROOT, 'docs/runbooks');
const PD_TOKEN = 'runbook-pd-token-0123456789';
const NEW_SECRET = 'runbook-rotated-secret-0123456789';

/** In the order an SRE follows them: later runbooks use what earlier ones set up. */
const ORDER = ['configure-selfhealing.md', 'deploy-doctor-agent.md', 'first-rule.md', 'scheduled-job.md', 'rotate-webhook-secret.md', 'troubleshooting.md', 'gitops.md', 'change-a-rule-safely.md', 'guards-and-verification.md'];

interface Block {
  info: string;
  body: string;
  line: number;
}

function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const re = /^```([^\n`]*)\n([\s\S]*?)^```\s*$/gm;
  for (const m of markdown.matchAll(re)) {
    blocks.push({ info: m[1]!.trim(), body: m[2]!, line: markdown.slice(0, m.index).split('\n').length });
  }
  return blocks;
}

/** First lines of the commands of a shell block: no comments, continuation lines or here-document bodies. */
function commandLines(body: string): string[] {
  const out: string[] = [];
  let heredoc: string | undefined;
  for (const line of body.split('\n')) {
    if (heredoc !== undefined) {
      if (line.trim() === heredoc) heredoc = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    heredoc = /<<-?\s*'?"?(\w+)'?"?/.exec(line)?.[1];
    if (line.trim() && !/^\s/.test(line)) out.push(line);
  }
  return out;
}

function bash(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, timeout: 110_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('runbooks (docs/runbooks/*.md): every ```sh test command works', function () {
  let stack: Stack;
  let server: ApiServer;
  let peer: PagerDutyPeer;
  let work: string;
  let agent: Worker;
  let agentRun: Promise<void>;
  const env: Record<string, string> = {};

  before(async function () {
    stack = await startStack({ env: { PORT: '0', HOST: '127.0.0.1' } });
    // The API accepts the old and the rotated secret, as after step 2 of the rotation runbook.
    const config = { ...stack.config, pagerduty: { ...stack.config.pagerduty, webhookSecrets: [WEBHOOK_SECRET, NEW_SECRET] } };
    server = await startApiServer({ config, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });
    peer = await startPagerDutyPeer({ token: PD_TOKEN });
    agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: 'prod-eu', scriptsDir: path.join(ROOT, 'scripts') });
    agentRun = agent.run();
    work = await mkdtemp(path.join(os.tmpdir(), 'selfheal-runbooks-'));
    await symlink(path.join(ROOT, 'examples'), path.join(work, 'examples'));
    const bin = path.join(work, '.bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'selfheal'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'bin/selfheal.js')}" "$@"\n`);
    await chmod(path.join(bin, 'selfheal'), 0o755);
    Object.assign(env, {
      PATH: `${bin}:${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: process.env.HOME ?? work,
      SELFHEAL_URL: server.url,
      SELFHEAL_PUBLIC_URL: server.url,
      SELFHEAL_TOKEN: ADMIN_TOKEN,
      PAGERDUTY_API_URL: peer.url,
      PAGERDUTY_API_TOKEN: PD_TOKEN,
      PAGERDUTY_FROM_EMAIL: 'sre@example.com',
      PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET,
      OLD_SECRET: WEBHOOK_SECRET,
      NEW_SECRET,
    });
  });
  after(async () => {
    if (agent?.getState() === 'RUNNING') agent.shutdown();
    await agentRun;
    await server?.close();
    await peer?.close();
    await stack?.stop();
    await stack?.db.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('there are the nine runbooks, each with commands under test', async () => {
    for (const name of ORDER) {
      const blocks = fencedBlocks(await readFile(path.join(RUNBOOKS, name), 'utf8'));
      assert.ok(blocks.some((b) => b.info === 'sh test'), `${name} has no \`\`\`sh test block`);
      for (const b of blocks.filter((x) => x.info === 'sh test')) {
        for (const cmd of commandLines(b.body)) {
          assert.match(cmd, /^(selfheal|curl) /, `${name}:${b.line}: tested commands are selfheal or curl: ${cmd}`);
        }
      }
    }
  });

  for (const name of ORDER) {
    it(name, async function () {
      this.timeout(300_000);
      if (name === 'rotate-webhook-secret.md') {
        // The subscription made by "Configure Self-healing" is the one being rotated out.
        const old = peer.webhookSubscriptions().find((s) => (s.filter as { id?: string }).id === 'PA2P440');
        assert.ok(old, 'configure-selfhealing.md created the PA2P440 subscription');
        env.OLD_SUBSCRIPTION_ID = old.id as string;
      }
      if (name === 'change-a-rule-safely.md') {
        // History to backtest: a burst of a dozen "Disk full" incidents on PA2P440, through the webhook.
        const ids = Array.from({ length: 12 }, () => newIncidentId());
        for (const [i, id] of ids.entries()) {
          const body = sampleFor('v3-incident.triggered-01.json', id, { data: { title: `Disk full on web-${i}`, service: { id: 'PA2P440', type: 'service_reference', summary: 'pig208' } } });
          assert.equal((await stack.deliver(body)).status, 202);
        }
        await eventually(async () => (await stack.db.db.selectFrom('incident_events').select('id').where('incident_id', 'in', ids).execute()).length === ids.length, 60_000, 'the burst stored');
      }
      if (name === 'troubleshooting.md') {
        // "An incident stays open": one whose resolve never arrived.
        env.INCIDENT_ID = newIncidentId();
        const body = sampleFor('v3-incident.triggered-01.json', env.INCIDENT_ID, { data: { title: 'Lost resolve', service: { id: 'PA2P440', type: 'service_reference', summary: 'pig208' } } });
        assert.equal((await stack.deliver(body)).status, 202);
        await eventually(async () => (await stack.db.db.selectFrom('incidents').select('status').where('id', '=', env.INCIDENT_ID!).executeTakeFirst())?.status === 'triggered', 30_000, 'the incident stored');
      }
      const blocks = fencedBlocks(await readFile(path.join(RUNBOOKS, name), 'utf8'));
      for (const b of blocks) {
        const file = /(?:^|\s)file=(\S+)/.exec(b.info)?.[1];
        if (file) await writeFile(path.join(work, file), b.body);
      }
      for (const b of blocks.filter((x) => x.info === 'sh test')) {
        const r = await bash(b.body, work, env);
        assert.equal(r.code, 0, `${name}:${b.line} failed (exit ${r.code}):\n${b.body}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
      }
      if (name === 'troubleshooting.md') {
        await eventually(async () => (await stack.db.db.selectFrom('incidents').select('status').where('id', '=', env.INCIDENT_ID!).executeTakeFirst())?.status === 'resolved', 30_000, 'the incident marked resolved');
      }
      const rejected = peer.requests.filter((r) => r.status === 400);
      assert.deepEqual(rejected.map((r) => `${r.method} ${r.path}: ${r.errors.join('; ')}`), [], 'PagerDuty requests match the official OpenAPI');
    });
  }

  it('the runbooks left the state they describe', async () => {
    const subs = peer.webhookSubscriptions();
    assert.equal(subs.length, 1, 'the rotation left one subscription');
    assert.notEqual(subs[0]!.id, env.OLD_SUBSCRIPTION_ID);
    const rules = (await (await stack.api('/api/rules')).json()) as { items: { name: string; dryRun: boolean }[] };
    assert.deepEqual(rules.items.map((r) => [r.name, r.dryRun]).sort(), [['disk-cleanup', false], ['first-rule', true], ['first-rule-api', true]]);
    // change-a-rule-safely.md: created disabled in dry-run, enabled in dry-run, then live, each version with
    // its backtest attached; the unlimited version was refused by --require-backtest and never applied.
    const disk = (rules.items as unknown as { id: string; name: string; version: number; enabled: boolean; policies: { rateLimit?: { max: number } } }[]).find((r) => r.name === 'disk-cleanup')!;
    assert.deepEqual([disk.version, disk.enabled, disk.policies.rateLimit?.max], [3, true, 3]);
    const attached = (await (await stack.api(`/api/rules/${disk.id}/backtests`)).json()) as { items: { version: number; summary: { candidate: { matched: number } } }[] };
    assert.deepEqual(attached.items.map((b) => b.version).sort(), [1, 2, 3]);
    assert.ok(attached.items.every((b) => b.summary.candidate.matched === 12), JSON.stringify(attached.items.map((b) => b.summary.candidate)));
    const job = await stack.api('/api/jobs/root-password-expiry');
    assert.equal(job.status, 200);
    const envRes = (await (await stack.api('/api/environments/prod-eu')).json()) as { labels: Record<string, string>; agent: { online: boolean } };
    assert.deepEqual(envRes.labels, { team: 'sre', region: 'eu-west-1' });
    assert.equal(envRes.agent.online, true);
    // gitops.md applied a staging environment and job, then pruned them.
    assert.equal((await stack.api('/api/environments/staging-eu')).status, 404);
    assert.equal((await stack.api('/api/jobs/staging-health')).status, 404);
  });
});

describe('runbooks: the schedule and target shapes a runbook names inline are ones the API takes', function () {
  it('scheduled-job.md: every inline JSON schedule or targets object parses with the job schema (no unknown key)', async () => {
    const text = await readFile(path.join(RUNBOOKS, 'scheduled-job.md'), 'utf8');
    const shapes = [...text.matchAll(/`(\{[^`]*\})`/g)].flatMap((m) => {
      try {
        return [JSON.parse(m[1]!) as Record<string, unknown>];
      } catch {
        return []; // an elided example such as {"environments": [...]}
      }
    });
    const schedules = shapes.filter((s) => 'cron' in s || 'interval' in s || 'every' in s);
    const targets = shapes.filter((s) => !schedules.includes(s));
    assert.ok(schedules.length >= 2 && targets.length >= 2, `found ${JSON.stringify(shapes)}`);
    for (const s of schedules) {
      const r = jobScheduleSchema.safeParse(s);
      const unknown = r.success ? [] : r.error.issues.filter((i) => i.code === 'unrecognized_keys');
      assert.deepEqual(unknown, [], `${JSON.stringify(s)} names a key the API refuses`);
      if (!JSON.stringify(s).includes('...')) assert.ok(r.success, `${JSON.stringify(s)}: ${JSON.stringify(r.error?.issues)}`);
    }
    for (const t of targets) assert.ok(jobTargetsSchema.safeParse(t).success, `${JSON.stringify(t)} is not a targets shape the API takes`);
  });
});
