// A note added in PagerDuty to an incident resolved long ago (before the subscription existed, or purged
// after the retention) reaches the webhook as a fresh event. The incident was written `triggered`, and the
// reconcile's resolve of months ago ran its incident.resolved rules: a post-mortem note written back to
// PagerDuty on an incident closed long before. What a user sees now: the incident `unknown`, then resolved
// by the reconcile, and no note at PagerDuty; a note followed by its trigger still runs the triggered rules.
import assert from 'node:assert/strict';
import { reconcileOpenIncidents, type ReconcileDeps } from '../../activities/reconcile.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { signalIncident } from '../../src/temporal/incident-signal.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

describe('a note on an incident not held', function () {
  this.timeout(120_000);
  const PD_TOKEN = 'pd-note-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let deps: ReconcileDeps;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } });
    deps = {
      db: stack.db.db,
      pagerduty: createPagerDutyClient({ baseUrl: pd.url, token: PD_TOKEN, fromEmail: 'selfheal@example.com' }),
      signal: (id, msg, serviceId) => signalIncident(stack.temporal.client, stack.taskQueue, id, msg, serviceId),
      logger: createLogger({ level: 'silent' }),
    };
  });
  after(async function () {
    await stack?.stop();
    await pd?.close();
  });

  const shown = async (id: string) => {
    const res = await stack.api(`/api/incidents/${id}`);
    return res.status === 200 ? ((await res.json()) as { status: string; events: { type: string; note?: string }[] }) : undefined;
  };
  const deliverNote = (id: string) => stack.deliver(sampleFor('v3-incident.annotated-01.json', id, { occurredAt: new Date().toISOString() }));

  it('shows it `unknown`; resolved in PagerDuty, the reconcile closes it and no incident.resolved rule writes to PagerDuty', async function () {
    const svc = newServiceId();
    await insertRule(stack.db.db, { name: `post-mortem-${svc.toLowerCase()}`, services: [svc], eventTypes: ['incident.resolved'], actions: [{ id: 'pm', type: 'pagerduty.note', content: 'post-mortem reminder' }] });
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId: svc, title: 'resolved long ago' });
    pd.humanUpdate(id, { status: 'resolved' }, 'oncall@example.com');
    assert.equal((await deliverNote(id)).status, 202);
    const first = await eventually(async () => shown(id), 30_000, 'the incident stored');
    assert.equal(first.status, 'unknown', 'nothing said it is open');

    const swept = await reconcileOpenIncidents(deps, { quietSeconds: 0 });
    assert.ok(swept.resolved.includes(id));
    const after = await eventually(async () => {
      const s = await shown(id);
      return s?.status === 'resolved' && s;
    }, 30_000, 'the incident resolved');
    assert.match(after.events.find((e) => e.type === 'incident.resolved')?.note ?? '', /no incident\.resolved rule/, 'the page says why no rule ran');
    // A rule run would have written its note within a second or two (the positive case below).
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(pd.notes(id).map((n) => n.content), [], 'no post-mortem note written to PagerDuty');
    assert.deepEqual(await stack.db.db.selectFrom('rule_matches').select('id').where('incident_id', '=', id).execute(), []);
  });

  it('a note, then its trigger (out of order): the incident is `triggered` and its incident.triggered rule writes to PagerDuty', async function () {
    const svc = newServiceId();
    await insertRule(stack.db.db, { name: `fix-${svc.toLowerCase()}`, services: [svc], eventTypes: ['incident.triggered'], actions: [{ id: 'fix', type: 'pagerduty.note', content: 'fixing' }] });
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId: svc, title: 'disk full' });
    const triggeredAt = new Date(Date.now() - 1000).toISOString();
    assert.equal((await deliverNote(id)).status, 202);
    assert.equal((await eventually(async () => shown(id), 30_000, 'the incident stored')).status, 'unknown');
    const trigger = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: triggeredAt, data: { title: 'disk full', service: { id: svc, type: 'service_reference', summary: 's' } } });
    assert.equal((await stack.deliver(trigger)).status, 202);
    await eventually(async () => pd.notes(id).some((n) => n.content.includes('fixing')), 30_000, 'the triggered rule to write its note');
    assert.equal((await shown(id))?.status, 'triggered');
  });
});
