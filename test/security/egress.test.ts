// Attacks through rule-directed HTTP (notify.webhook, Slack), against the real worker, Temporal and
// Postgres: a `write` token's rule aims its calls at every internal range; a peer answers with a secret.
// No test traffic leaves loopback: refused ranges are refused before any connection is made, and the
// only peers that are reached listen on 127.0.0.1 and ::1.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHttpPeer, startSlackPeer, type HttpPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const PD_TOKEN = 'pd-egress-token';
const SECRET_ANSWER = 'db_password=Sup3rS3cret-7f1c9e token=ghp_0123456789abcdefSECRET';

interface Target {
  id: string;
  url: string;
  /** What the refusal must say. */
  reason: RegExp;
}

/** A server on ::1 (the shared HTTP peer listens on 127.0.0.1 only). */
async function ipv6Peer(): Promise<{ port: number; hits: number; close(): Promise<void> }> {
  const state = { hits: 0 };
  const server: Server = createServer((req, res) => {
    state.hits++;
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => server.listen(0, '::1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get hits() {
      return state.hits;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('security: rule-directed HTTP never reaches internal addresses unless allowed, and never echoes answers', function () {
  this.timeout(300_000);
  let pd: PagerDutyPeer;
  let sink: HttpPeer;
  let slack: SlackPeer;
  let v6: Awaited<ReturnType<typeof ipv6Peer>>;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    sink = await startHttpPeer([
      { method: 'POST', path: '/hook', handle: () => ({ status: 204 }) },
      { method: 'POST', path: '/leaky', handle: () => ({ status: 500, text: SECRET_ANSWER }) },
      { method: 'POST', path: '/leaky-400', handle: () => ({ status: 400, json: { error: SECRET_ANSWER } }) },
    ]);
    slack = await startSlackPeer();
    v6 = await ipv6Peer();
  });
  after(async function () {
    await Promise.all([pd?.close(), sink?.close(), slack?.close(), v6?.close()]);
  });

  const port = () => new URL(sink.url).port;
  const loopbackTargets = (): Target[] => [
    { id: 'loop-v4', url: `http://127.0.0.1:${port()}/hook`, reason: /127\.0\.0\.1 is loopback/ },
    { id: 'loop-v6', url: `http://[::1]:${v6.port}/hook`, reason: /::1 is loopback/ },
    { id: 'mapped', url: `http://[::ffff:127.0.0.1]:${port()}/hook`, reason: /127\.0\.0\.1 is loopback/ },
    { id: 'by-name', url: `http://localhost:${port()}/hook`, reason: /(127\.0\.0\.1|::1) is loopback/ },
  ];
  // Refused before connecting: no packet is sent to these.
  const internalTargets: Target[] = [
    { id: 'ten', url: 'http://10.20.30.40:8080/hook', reason: /10\.20\.30\.40 is private \(RFC 1918\)/ },
    { id: 'one-seven-two', url: 'http://172.16.0.10/hook', reason: /172\.16\.0\.10 is private/ },
    { id: 'one-nine-two', url: 'http://192.168.1.1/hook', reason: /192\.168\.1\.1 is private/ },
    { id: 'link-local', url: 'http://169.254.10.10/hook', reason: /169\.254\.10\.10 is link-local/ },
    { id: 'cgnat', url: 'http://100.64.1.1/hook', reason: /100\.64\.1\.1 is carrier-grade NAT/ },
    { id: 'ula', url: 'http://[fd12:3456:789a::1]/hook', reason: /fd12:3456:789a::1 is unique local \(fc00::\/7\)/ },
    { id: 'mapped-private', url: 'http://[::ffff:10.0.0.1]/hook', reason: /10\.0\.0\.1 is private/ },
  ];

  /** A rule (straight into the database, as the API stores it) whose webhook actions all run. */
  async function ruleWith(stack: Stack, service: string, targets: Target[]): Promise<void> {
    const definition = {
      name: `egress-${randomUUID().slice(0, 8)}`,
      services: [service],
      eventTypes: ['incident.triggered'],
      priority: 100,
      stopOnMatch: false,
      enabled: true,
      dryRun: false,
      policies: {},
      actions: targets.map((t) => ({ id: t.id, type: 'notify.webhook', url: t.url, body: '{"probe":true}', when: 'always', retry: { maximumAttempts: 2, initialIntervalSeconds: 0.1, backoffCoefficient: 1 } })),
    };
    await stack.db.db.insertInto('rules').values({ id: `r-${randomUUID()}`, name: definition.name, version: 1, enabled: true, definition: JSON.stringify(definition) }).execute();
  }

  async function incidentRuns(stack: Stack, service: string, count: number) {
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: service, type: 'service_reference', summary: 's' } } }))).status, 202);
    const runs = await eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
      return r.length === count && r.every((x) => x.finished_at) ? r : undefined;
    }, 120_000, `${count} finished action runs`);
    return { id, runs };
  }

  describe('by default', function () {
    let stack: Stack;
    before(async function () {
      stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } });
    });
    after(async function () {
      await stack?.stop();
    });

    it('refuses loopback, private, link-local, CGNAT, ULA and IPv4-mapped targets permanently, naming why, and sends nothing', async function () {
      const service = newServiceId();
      const targets = [...loopbackTargets(), ...internalTargets];
      await ruleWith(stack, service, targets);
      const before = sink.requests.length;
      const { runs } = await incidentRuns(stack, service, targets.length);
      for (const [i, t] of targets.entries()) {
        const run = runs[i]!;
        assert.equal(run.action_id, t.id);
        assert.equal(run.status, 'failed', `${t.id}: ${run.status}`);
        // side_effects counts the call's attempts (action_runs.attempts counts claims of the run, not retries).
        const effect = await stack.db.db.selectFrom('side_effects').select(['attempts', 'state']).where('key', '=', run.id).executeTakeFirstOrThrow();
        assert.deepEqual({ attempts: effect.attempts, state: effect.state }, { attempts: 1, state: 'failed' }, `${t.id}: a refusal is permanent, never retried`);
        assert.match(run.error ?? '', /destination refused: /, t.id);
        assert.match(run.error ?? '', t.reason, t.id);
        assert.match(run.error ?? '', /add it to ACTION_EGRESS_ALLOW/, t.id);
      }
      assert.equal(sink.requests.length, before, 'no request reached the loopback peer');
      assert.equal(v6.hits, 0, 'no request reached the ::1 peer');
    });

    it('refuses a Slack hook on loopback too', async function () {
      process.env.SELFHEAL_SECRET_TEST_EGRESS_SLACK = slack.webhookUrl;
      try {
        const service = newServiceId();
        await stack.db.db
          .insertInto('rules')
          .values({
            id: `r-${randomUUID()}`,
            name: `slack-${randomUUID().slice(0, 8)}`,
            version: 1,
            enabled: true,
            definition: JSON.stringify({ name: 'slack', services: [service], eventTypes: ['incident.triggered'], priority: 100, stopOnMatch: false, enabled: true, dryRun: false, policies: {}, actions: [{ id: 'chat', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_EGRESS_SLACK', text: 'hi', when: 'always' }] }),
          })
          .execute();
        const { runs } = await incidentRuns(stack, service, 1);
        assert.equal(runs[0]!.status, 'failed');
        // Refused in words that name neither the hook (a secret) nor the address it leads to.
        assert.match(runs[0]!.error ?? '', /slack webhook: destination refused: the address it leads to is not one rule-directed calls may reach/);
        assert.doesNotMatch(runs[0]!.error ?? '', /127\.0\.0\.1/);
        assert.equal(slack.messages.length, 0);
      } finally {
        delete process.env.SELFHEAL_SECRET_TEST_EGRESS_SLACK;
      }
    });
  });

  describe('with ACTION_EGRESS_ALLOW naming loopback and link-local', function () {
    let stack: Stack;
    before(async function () {
      stack = await startStack({
        env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com', ACTION_EGRESS_ALLOW: '127.0.0.0/8,::1/128,169.254.0.0/16' },
      });
    });
    after(async function () {
      await stack?.stop();
    });

    it('reaches what is allowed, still refuses the rest, and never the metadata service', async function () {
      const service = newServiceId();
      const metadata: Target = { id: 'metadata', url: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/', reason: /169\.254\.169\.254 is a cloud metadata address, never reachable/ };
      const targets = [...loopbackTargets(), internalTargets[0]!, metadata];
      await ruleWith(stack, service, targets);
      const before = sink.requests.length;
      const { runs } = await incidentRuns(stack, service, targets.length);
      assert.deepEqual(
        runs.map((r) => [r.action_id, r.status]),
        [['loop-v4', 'succeeded'], ['loop-v6', 'succeeded'], ['mapped', 'succeeded'], ['by-name', 'succeeded'], ['ten', 'failed'], ['metadata', 'failed']],
      );
      assert.equal(sink.requests.length - before, 3, 'the 127.0.0.1 peer got the v4, IPv4-mapped and by-name posts');
      assert.equal(v6.hits, 1, 'the ::1 peer got its post');
      assert.match(runs[4]!.error ?? '', /10\.20\.30\.40 is private/);
      assert.match(runs[5]!.error ?? '', metadata.reason);
      const metadataEffect = await stack.db.db.selectFrom('side_effects').select(['attempts', 'state']).where('key', '=', runs[5]!.id).executeTakeFirstOrThrow();
      assert.deepEqual({ attempts: metadataEffect.attempts, state: metadataEffect.state }, { attempts: 1, state: 'failed' }, 'the metadata address: refused once, never retried');
    });

    it('never lets a peer’s answer into action runs, the API or the PagerDuty note', async function () {
      const service = newServiceId();
      await ruleWith(stack, service, [
        { id: 'leaky', url: `http://127.0.0.1:${port()}/leaky`, reason: /./ },
        { id: 'leaky400', url: `http://127.0.0.1:${port()}/leaky-400`, reason: /./ },
      ]);
      const { id, runs } = await incidentRuns(stack, service, 2);
      assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['leaky', 'failed'], ['leaky400', 'failed']]);
      assert.equal(sink.requests.filter((r) => r.path === '/leaky').length, 2, 'the 500 was retried once (maximumAttempts 2)');
      // A 500 may have taken effect: the side-effect layer adds why the retry looks first (activities/side-effects.ts).
      assert.ok(runs[0]!.error!.startsWith(`webhook 127.0.0.1:${port()}: HTTP 500 (the receiver failed; the answer is not recorded)`), runs[0]!.error!);
      assert.equal(runs[1]!.error, `webhook 127.0.0.1:${port()}: HTTP 400 (refused by the receiver; the answer is not recorded)`);

      const everywhere: string[] = [];
      everywhere.push(JSON.stringify(await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).execute()));
      everywhere.push(JSON.stringify(await stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).execute()));
      const view = await stack.api(`/api/incidents/${id}`);
      assert.equal(view.status, 200);
      everywhere.push(await view.text());
      const notes = await eventually(async () => (pd.notes(id).length > 0 ? pd.notes(id) : undefined), 60_000, 'the PagerDuty note');
      everywhere.push(JSON.stringify(notes));
      assert.match(notes.map((n) => n.content).join('\n'), /HTTP 500/, 'the note says what happened');
      for (const text of everywhere) {
        for (const fragment of ['Sup3rS3cret', 'ghp_0123456789', 'db_password']) assert.ok(!text.includes(fragment), `${fragment} leaked: ${text.slice(0, 300)}`);
      }
    });

    it('a Slack hook that answers something other than "ok" is a failure without its answer', async function () {
      process.env.SELFHEAL_SECRET_TEST_EGRESS_SLACK2 = slack.webhookUrl;
      try {
        slack.failNext({ status: 403, text: `invalid_token ${SECRET_ANSWER}` });
        const service = newServiceId();
        await stack.db.db
          .insertInto('rules')
          .values({
            id: `r-${randomUUID()}`,
            name: `slack-${randomUUID().slice(0, 8)}`,
            version: 1,
            enabled: true,
            definition: JSON.stringify({ name: 'slack', services: [service], eventTypes: ['incident.triggered'], priority: 100, stopOnMatch: false, enabled: true, dryRun: false, policies: {}, actions: [{ id: 'chat', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_EGRESS_SLACK2', text: 'hi', when: 'always' }] }),
          })
          .execute();
        const { runs } = await incidentRuns(stack, service, 1);
        assert.equal(runs[0]!.status, 'failed');
        assert.equal(runs[0]!.error, 'slack webhook: HTTP 403 (refused by the receiver; the answer is not recorded)');
      } finally {
        delete process.env.SELFHEAL_SECRET_TEST_EGRESS_SLACK2;
      }
    });
  });
});
