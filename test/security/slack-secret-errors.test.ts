// A Slack hook's URL is a secret (notify.slack `webhookUrlRef`): what a failed post records must keep
// nothing of it. Before the fix, a secret `svc-user:pa55` (not a URL; it parses as one whose "protocol"
// is `svc-user:`) was recorded as "unsupported protocol svc-user:", and a hook on a refused address named
// the address its host resolved to, in action runs, the API's incident view and the PagerDuty note.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const PD_TOKEN = 'pd-slack-secret-token';
const SECRETS = {
  SELFHEAL_SECRET_SLACK_NOT_URL: 'svc-user:pa55',
  // `localhost` resolves to loopback, which rule-directed calls may not reach by default.
  SELFHEAL_SECRET_SLACK_LOOPBACK: 'http://svc-user:pa55@localhost:9/services/T0/B0/XyZsecretpath',
};

describe('security: a Slack hook from a secret reference leaks none of it into errors', function () {
  this.timeout(180_000);
  let pd: PagerDutyPeer;
  let stack: Stack;

  before(async function () {
    Object.assign(process.env, SECRETS);
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } });
  });
  after(async function () {
    await stack?.stop();
    await pd?.close();
    for (const name of Object.keys(SECRETS)) delete process.env[name];
  });

  it('records a fixed reason, never the secret, its parts or the address it resolves to: action run, API, PagerDuty note', async function () {
    const service = newServiceId();
    const actions = Object.keys(SECRETS).map((name, i) => ({ id: `chat-${i}`, type: 'notify.slack', webhookUrlRef: `env:${name}`, text: 'hi', when: 'always' }));
    const definition = { name: `slack-secret-${randomUUID().slice(0, 8)}`, services: [service], eventTypes: ['incident.triggered'], priority: 100, stopOnMatch: false, enabled: true, dryRun: false, policies: {}, actions };
    await stack.db.db.insertInto('rules').values({ id: `r-${randomUUID()}`, name: definition.name, version: 1, enabled: true, definition: JSON.stringify(definition) }).execute();

    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: service, type: 'service_reference', summary: 's' } } }))).status, 202);
    const runs = await eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
      return r.length === actions.length && r.every((x) => x.finished_at) ? r : undefined;
    }, 120_000, 'both Slack action runs to finish');
    assert.deepEqual(runs.map((r) => [r.action_id, r.status, r.attempts]), [['chat-0', 'failed', 1], ['chat-1', 'failed', 1]], 'refused for good, not retried');
    assert.match(runs[0]!.error ?? '', /^slack webhook[^:]*: destination refused: not an http or https URL$/);
    assert.match(runs[1]!.error ?? '', /^slack webhook[^:]*: destination refused: the address it leads to is not one rule-directed calls may reach/);

    const view = await stack.api(`/api/incidents/${id}`);
    assert.equal(view.status, 200);
    const notes = await eventually(async () => (pd.notes(id).length > 0 ? pd.notes(id) : undefined), 60_000, 'the PagerDuty note');
    assert.match(notes.map((n) => n.content).join('\n'), /destination refused/, 'the note says what happened');
    for (const [where, text] of [
      ['action_runs', JSON.stringify(runs)],
      ['GET /api/incidents/:id', await view.text()],
      ['PagerDuty note', JSON.stringify(notes)],
    ] as const) {
      // (`localhost` is not looked for: the view links to the Temporal UI at http://localhost:8233.)
      for (const fragment of ['svc-user', 'pa55', 'XyZsecretpath', '127.0.0.1', '::1']) assert.ok(!text.includes(fragment), `${where} holds "${fragment}": ${text.slice(0, 600)}`);
    }
  });
});
