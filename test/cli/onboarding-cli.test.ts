import assert from 'node:assert/strict';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { EVENT_TYPES } from '../../src/domain/rules/schema.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { ADMIN_TOKEN, eventually, startStack, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';
import { ROOT, selfheal } from '../helpers/cli.js';

const PD_TOKEN = 'y_NbAkKc66ryYTWUXYEu';
const FINGERPRINT = 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8';

describe('selfheal CLI (onboarding)', function () {
  let stack: Stack;
  let server: ApiServer;
  let peer: PagerDutyPeer;
  let pdEnv: Record<string, string | undefined>;
  let apiEnv: Record<string, string>;

  before(async function () {
    stack = await startStack({ env: { PORT: '0', HOST: '127.0.0.1' } });
    server = await startApiServer({ config: stack.config, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });
    peer = await startPagerDutyPeer({ token: PD_TOKEN });
    pdEnv = { PAGERDUTY_API_URL: peer.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'sre@example.com', PAGERDUTY_WEBHOOK_SECRETS: undefined };
    apiEnv = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: ADMIN_TOKEN };
  });
  after(async () => {
    await server?.close();
    await peer?.close();
    await stack?.stop();
    await stack?.db.close();
  });

  /** Requests the peer found invalid against PagerDuty's OpenAPI document. */
  const peerErrors = () => peer.requests.filter((r) => r.status === 400).map((r) => `${r.method} ${r.path}: ${r.errors.join('; ')}`);

  describe('pagerduty subscribe / list / delete', () => {
    const hook = 'https://selfheal.example.com/webhooks/pagerduty';

    it('creates one subscription per service with every V3 incident event type and prints each secret once', async () => {
      const run = await selfheal(['pagerduty', 'subscribe', '--url', hook, '--service', 'PA2P440', '--service', 'PB3Q551'], pdEnv);
      assert.equal(run.code, 0, run.stderr);
      const subs = peer.webhookSubscriptions();
      assert.equal(subs.length, 2);
      for (const [i, id] of ['PA2P440', 'PB3Q551'].entries()) {
        const sub = subs[i]!;
        assert.deepEqual(sub.filter, { type: 'service_reference', id });
        assert.deepEqual([...(sub.events as string[])].sort(), [...EVENT_TYPES].sort());
        assert.ok((sub.events as string[]).every((e) => e.startsWith('incident.')));
        const dm = sub.delivery_method as { url: string; secret: string };
        assert.equal(dm.url, hook);
        assert.ok(run.stdout.includes(dm.secret), 'the secret is printed');
        assert.match(run.stdout, new RegExp(`created webhook subscription ${sub.id as string} \\(service:${id}\\)`));
      }
      const secrets = subs.map((s) => (s.delivery_method as { secret: string }).secret);
      assert.ok(run.stdout.includes(`PAGERDUTY_WEBHOOK_SECRETS="\${PAGERDUTY_WEBHOOK_SECRETS:+$PAGERDUTY_WEBHOOK_SECRETS,}${secrets.join(',')}"`), run.stdout);
      assert.match(run.stdout, /shown ONCE/);
      assert.match(run.stdout, /keep the old one/);
      const creates = peer.requests.filter((r) => r.method === 'POST' && r.path === '/webhook_subscriptions');
      assert.equal(creates.length, 2);
      for (const r of creates) {
        assert.equal(r.status, 200, r.errors.join('; '));
        assert.equal(r.headers['from'], 'sre@example.com');
      }
      assert.deepEqual(peerErrors(), []);
    });

    it('running it again changes nothing and shows no secret', async () => {
      const before = peer.webhookSubscriptions().length;
      const run = await selfheal(['pagerduty', 'subscribe', '--url', hook, '--service', 'PA2P440'], pdEnv);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(peer.webhookSubscriptions().length, before);
      assert.match(run.stdout, /already subscribed: P[0-9A-F]+ \(service:PA2P440\)/);
      assert.doesNotMatch(run.stdout, /Signing secret/);
    });

    it('--account subscribes the whole account; --json carries the secret', async () => {
      const run = await selfheal(['pagerduty', 'subscribe', '--url', hook, '--account', '--json'], pdEnv);
      assert.equal(run.code, 0, run.stderr);
      const out = JSON.parse(run.stdout) as { subscriptions: { id: string; filter: string; created: boolean; secret: string }[] };
      assert.equal(out.subscriptions.length, 1);
      assert.equal(out.subscriptions[0]!.filter, 'account');
      const stored = peer.webhookSubscriptions().find((s) => s.id === out.subscriptions[0]!.id)!;
      assert.deepEqual(stored.filter, { type: 'account_reference' });
      assert.equal(out.subscriptions[0]!.secret, (stored.delivery_method as { secret: string }).secret);
      assert.deepEqual(peerErrors(), []);
    });

    it('usage errors exit 2 without calling PagerDuty', async () => {
      const count = peer.requests.length;
      const noFilter = await selfheal(['pagerduty', 'subscribe', '--url', hook], pdEnv);
      assert.equal(noFilter.code, 2);
      assert.match(noFilter.stderr, /--service <id>.*or --account/);
      const noUrl = await selfheal(['pagerduty', 'subscribe', '--service', 'PA2P440'], pdEnv);
      assert.equal(noUrl.code, 2);
      assert.match(noUrl.stderr, /--url <public webhook url> is required/);
      const noToken = await selfheal(['pagerduty', 'subscribe', '--url', hook, '--account'], { ...pdEnv, PAGERDUTY_API_TOKEN: '' });
      assert.equal(noToken.code, 2);
      assert.match(noToken.stderr, /PAGERDUTY_API_TOKEN/);
      const noFrom = await selfheal(['pagerduty', 'subscribe', '--url', hook, '--account'], { ...pdEnv, PAGERDUTY_FROM_EMAIL: '' });
      assert.equal(noFrom.code, 2);
      assert.match(noFrom.stderr, /PAGERDUTY_FROM_EMAIL/);
      assert.equal(peer.requests.length, count);
    });

    it('a wrong API token is a server-side error (exit 3) naming PagerDuty', async () => {
      const run = await selfheal(['pagerduty', 'list'], { ...pdEnv, PAGERDUTY_API_TOKEN: 'wrong-token' });
      assert.equal(run.code, 3, run.stderr);
      assert.match(run.stderr, /PagerDuty API GET \/webhook_subscriptions failed with 401/);
      assert.doesNotMatch(run.stderr, /wrong-token/);
    });

    it('list shows every subscription; --service filters', async () => {
      const all = await selfheal(['pagerduty', 'list'], pdEnv);
      assert.equal(all.code, 0, all.stderr);
      const lines = all.stdout.trim().split('\n');
      assert.equal(lines[0], 'ID\tACTIVE\tFILTER\tEVENTS\tURL\tDESCRIPTION');
      assert.equal(lines.length, 4);
      assert.match(all.stdout, new RegExp(`\\ttrue\\tservice:PB3Q551\\t${EVENT_TYPES.length}\\t${hook}\\t`));
      const one = await selfheal(['pagerduty', 'list', '--service', 'PB3Q551', '--json'], pdEnv);
      assert.equal(one.code, 0, one.stderr);
      const subs = JSON.parse(one.stdout) as { filter: { id: string }; delivery_method: { secret?: unknown } }[];
      assert.equal(subs.length, 1);
      assert.equal(subs[0]!.filter.id, 'PB3Q551');
      assert.deepEqual(peerErrors(), []);
    });

    it('delete removes a subscription; deleting it again exits 1', async () => {
      const id = peer.webhookSubscriptions().find((s) => (s.filter as { id?: string }).id === 'PB3Q551')!.id as string;
      const run = await selfheal(['pagerduty', 'delete', id], pdEnv);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`deleted webhook subscription ${id}`));
      assert.ok(!peer.webhookSubscriptions().some((s) => s.id === id));
      const again = await selfheal(['pagerduty', 'delete', id], pdEnv);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /no webhook subscription/);
      assert.deepEqual(peerErrors(), []);
    });
  });

  describe('pagerduty ping', () => {
    const hook = () => `${server.url}/webhooks/pagerduty`;

    it('a signed pagey.ping with the right secret is accepted (exit 0)', async () => {
      const run = await selfheal(['pagerduty', 'ping', '--url', hook(), '--secret', WEBHOOK_SECRET]);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /pagey\.ping: POST .* → 202; signature accepted/);
    });

    it('the wrong secret is reported as a rejected signature (401, exit 1)', async () => {
      const run = await selfheal(['pagerduty', 'ping', '--url', hook(), '--secret', 'not-the-secret']);
      assert.equal(run.code, 1, run.stderr + run.stdout);
      assert.match(run.stdout, /→ 401; signature REJECTED/);
    });

    it('defaults the URL to $SELFHEAL_URL/webhooks/pagerduty and the secret to PAGERDUTY_WEBHOOK_SECRETS (any of several)', async () => {
      const run = await selfheal(['pagerduty', 'ping', '--json'], { SELFHEAL_URL: server.url, PAGERDUTY_WEBHOOK_SECRETS: `old-secret-000,${WEBHOOK_SECRET}` });
      assert.equal(run.code, 0, run.stderr + run.stdout);
      const out = JSON.parse(run.stdout) as { url: string; outcomes: { status: number; signed: boolean; signatureAccepted: boolean }[] };
      assert.equal(out.url, hook());
      assert.deepEqual(out.outcomes.map((o) => [o.status, o.signed, o.signatureAccepted]), [[202, true, true]]);
    });

    it('--incident also sends a signed synthetic incident that starts an incident workflow', async () => {
      const incidentId = `PSH${Date.now().toString(36).toUpperCase()}`;
      const run = await selfheal(['pagerduty', 'ping', '--url', hook(), '--secret', WEBHOOK_SECRET, '--incident', '--incident-id', incidentId]);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, new RegExp(`incident\\.triggered: POST .* → 202; signature accepted .*"incidentId":"${incidentId}"`));
      const handle = stack.temporal.client.workflow.getHandle(`incident-${incidentId}`);
      const desc = await eventually(async () => handle.describe(), 20_000, 'incident workflow');
      assert.equal(desc.type, 'incidentWorkflow');
    });

    it('a secret printed by subscribe is accepted once added next to the old one (rotation)', async () => {
      const run = await selfheal(['pagerduty', 'subscribe', '--url', hook(), '--service', 'PROTATE1', '--json'], pdEnv);
      assert.equal(run.code, 0, run.stderr);
      const secret = (JSON.parse(run.stdout) as { subscriptions: { secret: string }[] }).subscriptions[0]!.secret;
      const rejected = await selfheal(['pagerduty', 'ping', '--url', hook(), '--secret', secret]);
      assert.equal(rejected.code, 1, 'not configured yet');
      const config = { ...stack.config, pagerduty: { ...stack.config.pagerduty, webhookSecrets: [WEBHOOK_SECRET, secret] } };
      const rotated = await startApiServer({ config, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });
      try {
        for (const s of [secret, WEBHOOK_SECRET]) {
          const ok = await selfheal(['pagerduty', 'ping', '--url', `${rotated.url}/webhooks/pagerduty`, '--secret', s]);
          assert.equal(ok.code, 0, ok.stdout + ok.stderr);
        }
      } finally {
        await rotated.close();
      }
    });

    it('an unreachable webhook is a network error (exit 3)', async () => {
      const run = await selfheal(['pagerduty', 'ping', '--url', 'http://127.0.0.1:1/webhooks/pagerduty', '--secret', 'x']);
      assert.equal(run.code, 3);
      assert.match(run.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/);
    });
  });

  describe('environments add / check', () => {
    const environment = `onb-${Date.now().toString(36)}`;
    let agent: Worker | undefined;
    let agentRun: Promise<void> | undefined;

    afterEach(async () => {
      if (agent && agent.getState() === 'RUNNING') agent.shutdown();
      await agentRun;
      agent = undefined;
      agentRun = undefined;
    });

    it('add registers the environment with labels and a management VM', async () => {
      const run = await selfheal(
        ['environments', 'add', environment, '--label', 'team=sre', '--label', 'region=eu-west-1', '--ssh-host', 'mgmt.example.internal', '--ssh-user', 'selfheal', '--ssh-key-ref', 'env:SELFHEAL_SECRET_MGMT_SSH_KEY', '--ssh-fingerprint', FINGERPRINT],
        apiEnv,
      );
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`registered environment ${environment}: agent task queue selfheal-agent-${environment}, management VM mgmt.example.internal`));
      const res = await stack.api(`/api/environments/${environment}`);
      const body = (await res.json()) as { labels: Record<string, string>; ssh: { host: string; user: string; keyRef: string; hostKeyFingerprint: string; port: number } };
      assert.deepEqual(body.labels, { team: 'sre', region: 'eu-west-1' });
      assert.deepEqual(body.ssh, { host: 'mgmt.example.internal', port: 22, user: 'selfheal', keyRef: 'env:SELFHEAL_SECRET_MGMT_SSH_KEY', hostKeyFingerprint: FINGERPRINT });
    });

    it('add refuses a duplicate, a bad fingerprint and an incomplete management VM (exit 2)', async () => {
      const dup = await selfheal(['environments', 'add', environment], apiEnv);
      assert.equal(dup.code, 2);
      assert.match(dup.stderr, /409 .*already exists/);
      const bad = await selfheal(['environments', 'add', `${environment}-x`, '--ssh-host', 'h', '--ssh-user', 'u', '--ssh-key-ref', 'env:K', '--ssh-fingerprint', 'MD5:aa'], apiEnv);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /ssh\.hostKeyFingerprint/);
      const partial = await selfheal(['environments', 'add', `${environment}-y`, '--ssh-host', 'h'], apiEnv);
      assert.equal(partial.code, 2);
      assert.match(partial.stderr, /--ssh-user, --ssh-key-ref, --ssh-fingerprint/);
    });

    it('check says OFFLINE (exit 1) while no agent polls, and an unknown environment exits 1', async () => {
      const run = await selfheal(['environments', 'check', environment], apiEnv);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stdout, /agent OFFLINE: nothing is polling selfheal-agent-/);
      assert.match(run.stdout, /NOT healthy/);
      const unknown = await selfheal(['environments', 'check', 'no-such-env'], apiEnv);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /environment no-such-env is not known/);
    });

    it('check runs health-check.sh through a real agent end to end (exit 0)', async () => {
      agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment, scriptsDir: path.join(ROOT, 'scripts'), identity: `doctor-agent@${environment}-test` });
      agentRun = agent.run();
      const run = await selfheal(['environments', 'check', environment], apiEnv);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, new RegExp(`✓ agent online on selfheal-agent-${environment}: doctor-agent@${environment}-test`));
      assert.match(run.stdout, /✓ health-check\.sh exit 0 in \d+ ms/);
      assert.match(run.stdout, /RESULT status=ok/);
      assert.match(run.stdout, /is HEALTHY/);
      const json = await selfheal(['environments', 'check', environment, '--json'], apiEnv);
      assert.equal(json.code, 0);
      const body = JSON.parse(json.stdout) as { healthy: boolean; check: { exitCode: number; output: string } };
      assert.equal(body.healthy, true);
      assert.equal(body.check.exitCode, 0);
    });

    it('an agent that stopped but still looks recent is caught by the end-to-end run (exit 1)', async () => {
      // The previous test's agent polled moments ago, so the poller list still shows it.
      const run = await selfheal(['environments', 'check', environment], apiEnv);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stdout, /✗ health-check\.sh not picked up: no Doctor agent picked the check up/);
    });
  });
});
