import assert from 'node:assert/strict';
import { mapConcurrent } from '../helpers/fault-http.js';
import { startForwardingProxy, type ForwardingProxy } from '../helpers/forward-proxy.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';
import { messageOf, signalIncident } from '../helpers/workers.js';

// PagerDuty delivers each event twice during a secret rotation, and retries whatever it does not see
// answered. Here every trigger arrives four times, under load, while enrichment is slow (the alerts fetch
// takes 1.5 s, so triage is in progress when the copies arrive): two through the API, two straight to
// Temporal as if the API's best-effort duplicate lookup had missed them. Each incident's rule acts once.
describe('fault: duplicate deliveries under load with slow enrichment', function () {
  const PD_TOKEN = 'pd-dup-token';
  let pd: PagerDutyPeer;
  let slow: ForwardingProxy;
  let hook: HttpPeer;
  let stack: Stack;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    // PagerDuty's API, 1.5 s slow on the alerts fetch.
    slow = await startForwardingProxy(pd.url, {
      async before(req) {
        if (/\/alerts/.test(req.url)) await new Promise((r) => setTimeout(r, 1500));
      },
    });
    hook = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<incident>[A-Z0-9]+)$/, handle: () => ({ status: 204 }) }]);
    stack = await startStack({
      env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', PAGERDUTY_API_URL: slow.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' },
    });
  });
  after(async function () {
    await stack?.stop();
    await hook?.close();
    await slow?.close();
    await pd?.close();
  });

  it('runs each incident’s action once, with one request at the peer, and leaves nothing running', async function () {
    this.timeout(300_000);
    const svc = newServiceId();
    await insertRule(stack.db.db, {
      name: `dup-load-${svc.toLowerCase()}`,
      services: [svc],
      actions: [
        { id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/FIX`, body: '{"incident": "{{ incident.id }}"}' },
        { id: 'note', type: 'pagerduty.note', content: 'fixed {{ incident.id }}', when: 'always' },
      ],
    });
    const ids = Array.from({ length: 20 }, () => newIncidentId());
    const payloads = ids.map((id) => sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-12-01T10:00:00Z', data: { service: { id: svc, type: 'service_reference', summary: 's' } } }));
    // First copies through the API, all at once; then, while their triage waits on the slow alerts fetch,
    // a copy through the API and two straight to Temporal, interleaved.
    const first = await mapConcurrent(payloads, 20, async (p) => (await stack.deliver(p)).status);
    assert.ok(first.every((s) => s === 202), first.join(','));
    const copies = payloads.flatMap((p, i) => [
      () => stack.deliver(p).then((r) => r.status),
      () => signalIncident(stack.temporal, stack.taskQueue, ids[i]!, messageOf(p)).then(() => 202),
      () => signalIncident(stack.temporal, stack.taskQueue, ids[i]!, messageOf(p)).then(() => 202),
    ]);
    const statuses = await mapConcurrent(copies, 20, (send) => send());
    assert.ok(statuses.every((s) => s === 202 || s === 200), statuses.join(','));

    const runs = await eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').select(['incident_id', 'action_id', 'status', 'finished_at']).where('incident_id', 'in', ids).execute();
      return r.length === ids.length * 2 && r.every((x) => x.finished_at) ? r : undefined;
    }, 240_000, 'every incident’s two actions finished');
    assert.ok(runs.every((r) => r.status === 'succeeded'), JSON.stringify(runs.filter((r) => r.status !== 'succeeded')));
    await new Promise((r) => setTimeout(r, 2000));
    // What the peers saw: one request per incident at the remediation endpoint, one note per incident's
    // action and one summary note (never a second of either).
    const bodies = hook.requests.map((r) => (r.json as { incident: string }).incident);
    assert.equal(bodies.length, ids.length, `requests at the peer: ${bodies.length}`);
    assert.deepEqual(new Set(bodies), new Set(ids));
    for (const id of ids) {
      const notes = pd.notes(id);
      assert.equal(notes.filter((n) => n.content.startsWith(`fixed ${id}`)).length, 1, `${id}: one action note`);
      assert.equal(notes.filter((n) => n.content.startsWith('[self-healing] Rule')).length, 1, `${id}: one summary note`);
    }
    const matches = await stack.db.db.selectFrom('rule_matches').select('incident_id').where('incident_id', 'in', ids).execute();
    assert.equal(matches.length, ids.length);
    assert.deepEqual(await stack.db.db.selectFrom('action_runs').select('id').where('incident_id', 'in', ids).where('status', '=', 'running').execute(), []);
  });
});
