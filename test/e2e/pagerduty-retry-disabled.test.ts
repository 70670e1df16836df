// Disabling or deleting a rule stops its runs in flight (docs/guarantees.md): a remediation that has not
// started when the rule is stopped does not start. A PagerDuty state change (resolve, acknowledge, priority)
// is retried by Temporal after its retry policy's pause: its first write was refused (429) or went
// unanswered (503), the admin disabled the rule during the pause, because its fix was found wrong, and the
// retry resolved the incident in PagerDuty all the same, as though the fix had worked. Each retry now asks
// whether its rule was stopped, right before its write. Real Temporal and worker; PagerDuty is the local peer.
import assert from 'node:assert/strict';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

describe('a rule stopped while its PagerDuty resolve waits for a retry', function () {
  this.timeout(150_000);
  const PD_TOKEN = 'pd-retry-disabled-token';
  let stack: Stack;
  let pd: PagerDutyPeer;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } });
  });
  after(async function () {
    await stack?.stop();
    await pd?.close();
  });

  /**
   * A triggered incident whose rule resolves it, the first write answered `status`; once it was, `meanwhile`
   * runs (the admin's move) during the 8 s pause. Returns the incident, its resolve's run and the PUTs sent.
   */
  async function resolveRetried(status: 429 | 503, meanwhile: (ruleId: string, doc: RuleInputDocument) => Promise<void>) {
    const svc = newServiceId();
    const doc = {
      name: `resolve-${svc.toLowerCase()}`,
      services: [svc],
      eventTypes: ['incident.triggered'],
      // Long enough a pause for the test to stop the rule before the retry is due.
      actions: [{ id: 'close', type: 'pagerduty.resolve', retry: { maximumAttempts: 2, initialIntervalSeconds: 8 } }],
    } as RuleInputDocument;
    const ruleId = await insertRule(stack.db.db, doc);
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId: svc, title: 'disk full' });
    pd.failNext(status, 1, { method: 'PUT', pathPrefix: `/incidents/${id}` });
    const trigger = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: 'disk full', service: { id: svc, type: 'service_reference', summary: 's' } } });
    assert.equal((await stack.deliver(trigger)).status, 202);
    const puts = () => pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${id}`);
    await eventually(async () => puts().some((r) => r.status === status) || undefined, 60_000, `the first resolve answered ${status}`);
    await meanwhile(ruleId, doc);
    const run = await eventually(
      async () => {
        const r = await stack.db.db.selectFrom('action_runs').select(['status', 'error']).where('incident_id', '=', id).where('action_id', '=', 'close').executeTakeFirst();
        return r && r.status !== 'running' ? r : undefined;
      },
      60_000,
      'the resolve to finish',
    );
    return { id, run, puts: puts() };
  }

  const disable = async (ruleId: string, doc: RuleInputDocument) => {
    const put = await stack.api(`/api/rules/${ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc, enabled: false }) });
    assert.equal(put.status, 200, await put.text());
  };

  it('the first write answered 503, the rule disabled through the API during the pause: PagerDuty is never told it resolved', async function () {
    const { id, run, puts } = await resolveRetried(503, disable);
    assert.deepEqual(puts.map((r) => r.status), [503], 'the retry wrote the resolve after the rule was disabled');
    assert.notEqual(pd.incident(id)?.status, 'resolved');
    assert.equal(run.status, 'failed');
    assert.equal(run.error, 'attempt 2 not run: its rule was disabled while the run went on');
  });

  it('the first write answered 429, the rule deleted through the API during the pause: PagerDuty is never told it resolved', async function () {
    const { id, run, puts } = await resolveRetried(429, async (ruleId) => {
      const del = await stack.api(`/api/rules/${ruleId}`, { method: 'DELETE', headers: { 'if-match': '"1"' } });
      assert.ok(del.status === 204 || del.status === 200, await del.text());
    });
    assert.deepEqual(puts.map((r) => r.status), [429], 'the retry wrote the resolve after the rule was deleted');
    assert.notEqual(pd.incident(id)?.status, 'resolved');
    assert.equal(run.status, 'failed');
    assert.equal(run.error, 'attempt 2 not run: its rule was deleted while the run went on');
  });

  it('the rule left enabled: the retry resolves the incident, once', async function () {
    const { id, run, puts } = await resolveRetried(503, async () => undefined);
    assert.deepEqual(puts.map((r) => r.status), [503, 200]);
    assert.equal(pd.incident(id)?.status, 'resolved');
    assert.equal(run.status, 'succeeded');
  });
});
