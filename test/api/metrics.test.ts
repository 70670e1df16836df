import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { createLogger } from '../../src/logger.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, startStack, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';

/** `name{labels} value` lines of a Prometheus text exposition → value of the first line matching. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}

describe('GET /metrics and request logs', function () {
  const PD_TOKEN = 'pd-metrics-token';
  let stack: Stack;
  let pd: PagerDutyPeer;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    // Refresh the database series on every scrape (in the background; the default is at most every 15 s).
    stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com', METRICS_REFRESH_SECONDS: '0' } });
  });
  after(async function () {
    await stack?.stop();
    await pd?.close();
  });

  const scrape = async () => {
    const res = await stack.app.request('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  it('counts webhooks by outcome, workflows, matches, actions and their durations, breakers and agents', async function () {
    const svc = newServiceId();
    await insertRule(stack.db.db, { name: 'metrics-note', services: [svc], actions: [{ id: 'note', type: 'pagerduty.note', content: 'metrics test' }] } as never);
    await stack.db.db.insertInto('environments').values({ name: 'metrics-env', labels: '{}', agent_task_queue: 'selfheal-agent-metrics-env', maintenance_windows: '[]' }).execute();
    const open = await insertRule(stack.db.db, { name: 'metrics-broken', services: ['PNONE'], actions: [{ id: 'n', type: 'pagerduty.note', content: 'x' }] } as never);
    await stack.db.db.updateTable('rules').set({ breaker_state: 'open', breaker_opened_at: new Date() }).where('id', '=', open).execute();

    const id = newIncidentId();
    const payload = sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: svc, type: 'service_reference', summary: 's' } } });
    assert.equal((await stack.deliver(payload)).status, 202);
    assert.equal((await stack.deliver(payload, { signature: 'v1=00' })).status, 401);
    assert.equal((await stack.deliver(null, { raw: '{"event":' })).status, 400);
    assert.equal((await stack.deliver(null, { raw: `{"pad":"${'x'.repeat(300 * 1024)}"}` })).status, 413);

    await eventually(
      async () => (await stack.db.db.selectFrom('action_runs').select(['status', 'finished_at']).where('incident_id', '=', id).executeTakeFirst())?.finished_at ?? undefined,
      30_000,
      'the note action to finish',
    );
    assert.equal((await stack.deliver(payload)).status, 200, 'a redelivery of a recorded event is a duplicate');
    // Database series come from a background refresh: scrape until one has read the finished action.
    const text = await eventually(async () => {
      const t = await scrape();
      return sample(t, 'selfheal_metrics_database_up') === 1 && (sample(t, 'selfheal_action_duration_seconds_count', { type: 'pagerduty.note' }) ?? 0) >= 1 ? t : undefined;
    }, 30_000, 'a refresh that saw the finished action');
    assert.equal(sample(text, 'selfheal_webhooks_received_total', { outcome: 'accepted' }), 1);
    assert.equal(sample(text, 'selfheal_webhooks_received_total', { outcome: 'duplicate' }), 1);
    assert.equal(sample(text, 'selfheal_webhooks_rejected_total', { reason: 'bad_signature' }), 1);
    assert.equal(sample(text, 'selfheal_webhooks_rejected_total', { reason: 'malformed' }), 1);
    assert.equal(sample(text, 'selfheal_webhooks_rejected_total', { reason: 'too_large' }), 1, 'the body limit records the outcome');
    assert.equal(sample(text, 'selfheal_webhooks_rejected_total', { reason: 'not_configured' }), 0);
    assert.ok((sample(text, 'selfheal_metrics_database_age_seconds') ?? Infinity) < 60, 'the age of the database series');
    assert.ok((sample(text, 'selfheal_workflows_started_total', { kind: 'incident' }) ?? 0) >= 1);
    assert.ok((sample(text, 'selfheal_rule_matches_total', { decision: 'run' }) ?? 0) >= 1, 'the rule match is counted by decision');
    assert.ok((sample(text, 'selfheal_actions_total', { type: 'pagerduty.note', status: 'succeeded' }) ?? 0) >= 1);
    assert.ok((sample(text, 'selfheal_action_duration_seconds_count', { type: 'pagerduty.note' }) ?? 0) >= 1);
    assert.ok((sample(text, 'selfheal_action_duration_seconds_bucket', { type: 'pagerduty.note', le: '+Inf' }) ?? 0) >= 1);
    assert.match(text, /# TYPE selfheal_action_duration_seconds histogram/);
    assert.equal(sample(text, 'selfheal_circuit_breakers_open'), 1);
    assert.equal(sample(text, 'selfheal_agents_online', { environment: 'metrics-env' }), 0, 'no agent polls that queue');
    assert.equal(sample(text, 'selfheal_metrics_database_up'), 1);
    assert.equal(sample(text, 'selfheal_metrics_temporal_up'), 1);
    assert.ok((sample(text, 'selfheal_http_request_duration_seconds_count', { method: 'POST', route: '/webhooks/pagerduty', status: '202' }) ?? 0) >= 1);
    assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, 'process metrics of this registry');
  });

  it('each app has its own registry: a second app starts from zero', async function () {
    const other = createApp({ config: stack.config, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const text = await (await other.request('/metrics')).text();
    assert.equal(sample(text, 'selfheal_webhooks_received_total', { outcome: 'accepted' }), 0);
  });

  it('logs each request as JSON with its request id, never the bearer token or the webhook signature', async function () {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const app = createApp({ config: stack.config, db: stack.db.db, temporal: stack.temporal.client, logger }, allRoutes);

    const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId()));
    const signature = signBody(raw, WEBHOOK_SECRET);
    const wrong = `v1=${'ab'.repeat(32)}`;
    await app.request('/webhooks/pagerduty', { method: 'POST', headers: { 'content-type': 'application/json', 'x-pagerduty-signature': wrong, authorization: `Bearer ${ADMIN_TOKEN}`, 'x-request-id': 'req-log-1' }, body: raw });
    await app.request('/webhooks/pagerduty', { method: 'POST', headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signature, 'x-request-id': 'req-log-2' }, body: raw });
    await app.request('/api/incidents', { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-request-id': 'req-log-3' } });

    const all = lines.join('');
    assert.ok(!all.includes(ADMIN_TOKEN), 'the bearer token is never logged');
    assert.ok(!all.includes(signature.slice(3)) && !all.includes('ab'.repeat(32)), 'no webhook signature is logged');
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown> & { req?: { headers?: Record<string, string> } });
    const rejected = entries.find((e) => e.requestId === 'req-log-1' && e.msg === 'request');
    assert.ok(rejected, `an access log line for the rejected webhook: ${all}`);
    assert.equal(rejected.status, 401);
    assert.equal(rejected.req?.headers?.authorization, '[redacted]');
    assert.equal(rejected.req?.headers?.['x-pagerduty-signature'], '[redacted]');
    const delivered = entries.filter((e) => e.requestId === 'req-log-2');
    assert.equal(delivered.length, 1, `one log line for the accepted delivery: ${JSON.stringify(delivered)}`);
    const accepted = delivered[0]!;
    assert.equal(accepted.msg, 'request');
    assert.equal(accepted.status, 202);
    assert.equal(accepted.outcome, 'accepted');
    assert.ok(accepted.incidentId && accepted.eventId && accepted.workflowId, 'the access-log line names the incident, the event and the workflow');
    assert.equal(rejected.outcome, 'bad_signature');
    assert.ok(entries.find((e) => e.requestId === 'req-log-3' && e.status === 200));
  });

  it('asks for METRICS_TOKEN when it is set, and never logs it', async function () {
    const token = 'metrics-scrape-token-0123';
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const app = createApp({ config: { ...stack.config, metricsToken: token }, db: stack.db.db, temporal: stack.temporal.client, logger }, allRoutes);

    const bare = await app.request('/metrics');
    assert.equal(bare.status, 401);
    assert.match(bare.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.match(((await bare.json()) as { detail: string }).detail, /Authorization: Bearer <METRICS_TOKEN>/);
    // Another valid credential is not the metrics token: the admin token opens /api, not /metrics.
    const admin = await app.request('/metrics', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(admin.status, 401);
    assert.match(((await admin.json()) as { detail: string }).detail, /not METRICS_TOKEN/);

    const ok = await app.request('/metrics', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.ok(sample(await ok.text(), 'selfheal_webhooks_received_total', { outcome: 'accepted' }) !== undefined);
    // The rest of the API is unchanged: health stays open.
    assert.equal((await app.request('/healthz')).status, 200);
    assert.ok(!lines.join('').includes(token), 'the metrics token is never logged');
  });
});
