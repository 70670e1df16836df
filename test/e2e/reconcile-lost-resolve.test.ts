import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { incidentWorkflowId } from '../../src/contracts/index.js';
import { createLogger } from '../../src/logger.js';
import { reconciledResolveId, reconcileOpenIncidents, type ReconcileDeps } from '../../activities/reconcile.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { signalIncident } from '../../src/temporal/incident-signal.js';
import { startChildRoot } from '../helpers/fault-process.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

// A resolve PagerDuty never delivered (it gave up after its retries; the subscription was disabled or
// deleted for a while). Before, the incident stayed open here for good: its gated fix could still be
// approved and run hours after the incident was over, and retention keeps open incidents whole. The
// worker's sweep asks PagerDuty (activities/reconcile.ts) and hands the missed resolve to the workflow.
describe('reconcile: a resolve PagerDuty never delivered', function () {
  const PD_TOKEN = 'pd-reconcile-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let hook: HttpPeer;
  let approver: string;
  let deps: ReconcileDeps;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    hook = await startHttpPeer([{ method: 'POST', path: /^\/hook$/, handle: () => ({ status: 204 }) }]);
    stack = await startStack({
      env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' },
    });
    approver = await issueToken(stack, 'bob', ['write']);
    deps = {
      db: stack.db.db,
      pagerduty: createPagerDutyClient({ baseUrl: pd.url, token: PD_TOKEN, fromEmail: 'selfheal@example.com' }),
      signal: (id, msg, serviceId) => signalIncident(stack.temporal.client, stack.taskQueue, id, msg, serviceId),
      logger: createLogger({ level: 'silent' }),
    };
  });
  after(async function () {
    await stack?.stop();
    await Promise.all([pd?.close(), hook?.close()]);
  });

  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).execute();
  /** The id of the resolve handed over for `id`, from the status change PagerDuty reports now. */
  const handedId = (id: string) => reconciledResolveId(id, new Date(pd.lastStatusChangeAt(id)!).toISOString());
  const incidentRow = (id: string) => stack.db.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  async function gatedIncident(svc: string): Promise<{ id: string; runId: string }> {
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId: svc, title: '[db-1] replica lag' });
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: '[db-1] replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    const run = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, `the fix of ${id} awaiting approval`);
    return { id, runId: run.id };
  }

  async function gatedRule(): Promise<string> {
    const svc = newServiceId();
    await insertRule(stack.db.db, {
      name: `reconcile-${randomUUID().slice(0, 6)}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook`, body: '{}', approval: { required: true, timeoutMinutes: 60, onTimeout: 'reject' } }],
    } as never, { author: 'token:alice' });
    return svc;
  }

  it('asks PagerDuty about the quiet open incidents, and the one resolved there is resolved here: its waiting fix is cancelled and can no longer be approved', async function () {
    const svc = await gatedRule();
    const lost = await gatedIncident(svc);
    const open = await gatedIncident(svc);
    // Resolved in PagerDuty; no webhook reaches us (the peer sends none unless told to).
    pd.humanUpdate(lost.id, { status: 'resolved' }, 'oncall@example.com');
    const resolvedAt = (await pd.incident(lost.id))!;
    assert.equal(resolvedAt.status, 'resolved');
    assert.equal((await incidentRow(lost.id)).status, 'triggered', 'before the sweep, still open here');

    const before = pd.requests.length;
    const result = await reconcileOpenIncidents(deps, { quietSeconds: 0 });
    assert.deepEqual(result.resolved, [lost.id]);
    assert.equal(result.failed, 0);
    // What PagerDuty saw: one authenticated read per open incident, each valid against its OpenAPI document.
    // Only the reads of incidents: the workflows write their approval notes to the peer meanwhile.
    const afterFirst = pd.requests.length;
    const asked = pd.requests.slice(before).filter((r) => r.method === 'GET' && /^\/incidents\/[^/]+$/.test(r.path));
    assert.deepEqual(asked.map((r) => `${r.method} ${r.path}`).sort(), [`GET /incidents/${lost.id}`, `GET /incidents/${open.id}`].sort());
    for (const r of asked) {
      assert.deepEqual(r.errors, [], `${r.path}: ${r.errors.join('; ')}`);
      assert.equal(r.headers['authorization'], `Token token=${PD_TOKEN}`);
    }

    const row = await eventually(async () => {
      const r = await incidentRow(lost.id);
      return r.status === 'resolved' && r;
    }, 30_000, 'the lost incident resolved here');
    assert.ok(row.resolved_at, 'its resolve time is recorded');
    const fix = await eventually(async () => (await runsOf(lost.id)).find((r) => r.id === lost.runId && r.status === 'cancelled'), 30_000, 'its waiting fix cancelled');
    assert.ok(fix.finished_at);
    const late = await stack.api(`/api/incidents/${lost.id}/approvals/${encodeURIComponent(lost.runId)}`, { method: 'POST', body: JSON.stringify({ decision: 'approve' }), headers: { authorization: `Bearer ${approver}` } });
    assert.equal(late.status, 409, 'too late to approve');
    const events = await stack.db.db.selectFrom('incident_events').select(['event_id', 'event_type']).where('incident_id', '=', lost.id).execute();
    assert.deepEqual(events.filter((e) => e.event_type === 'incident.resolved').map((e) => e.event_id), [handedId(lost.id)]);

    // The incident still open in PagerDuty is untouched: its fix still waits, and approving it still works.
    assert.equal((await incidentRow(open.id)).status, 'triggered');
    assert.equal((await runsOf(open.id)).find((r) => r.id === open.runId)?.status, 'awaiting_approval');

    // A second sweep (or a second worker) does not hand the resolve over again, and never asks about a resolved incident.
    const again = await reconcileOpenIncidents(deps, { quietSeconds: 0 });
    assert.deepEqual(again.resolved, []);
    assert.ok(!pd.requests.slice(afterFirst).some((r) => r.method === 'GET' && r.path === `/incidents/${lost.id}`), 'a resolved incident is not asked about');
    const ok = await stack.api(`/api/incidents/${open.id}/approvals/${encodeURIComponent(open.runId)}`, { method: 'POST', body: JSON.stringify({ decision: 'approve' }), headers: { authorization: `Bearer ${approver}` } });
    assert.equal(ok.status, 202);
    await eventually(async () => hook.requests.length === 1, 30_000, 'the approved fix of the open incident to run');
    assert.equal(hook.requests.length, 1, "the lost incident's fix never ran");
  });

  it('an incident heard from within the quiet period is not asked about; one asked is not asked again before it', async function () {
    const svc = await gatedRule();
    const recent = await gatedIncident(svc);
    const before = pd.requests.length;
    const quiet = await reconcileOpenIncidents(deps, { quietSeconds: 3600 });
    assert.equal(quiet.asked, 0);
    assert.deepEqual(pd.requests.slice(before).filter((r) => r.method === 'GET'), [], 'nothing asked of PagerDuty (its approval notes may still arrive)');
    // Asked once (quiet 0 s), it is not asked again within the quiet period, however often the sweep runs.
    await reconcileOpenIncidents(deps, { quietSeconds: 0 });
    assert.ok(pd.requests.slice(before).some((r) => r.path === `/incidents/${recent.id}`));
    const reads = () => pd.requests.filter((r) => r.method === 'GET').length;
    const asked = reads();
    const later = await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(Date.now() + 2 * 3600_000) });
    assert.ok(later.asked >= 1, 'two hours on, asked again');
    const soon = await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(Date.now() + 2 * 3600_000 + 60_000) });
    assert.equal(soon.asked, 0, 'a minute after being asked, not asked again');
    assert.ok(reads() > asked);
  });

  it('PagerDuty failing for one incident does not stop the others; a 429 ends the sweep; what got no answer is asked again at the next sweep (before: an hour later), a 404 only after the quiet period', async function () {
    const svc = await gatedRule();
    const [a, b, c, d] = [await gatedIncident(svc), await gatedIncident(svc), await gatedIncident(svc), await gatedIncident(svc)];
    for (const x of [a, b, c, d]) pd.humanUpdate(x.id, { status: 'resolved' }, 'oncall@example.com');
    const asksOf = (id: string) => pd.requests.filter((r) => r.method === 'GET' && r.path === `/incidents/${id}`).length;
    const future = Date.now() + 10 * 3600_000;
    // Never asked come first, oldest first: a takes the 429, and the sweep ends there.
    pd.failNext(429, 1, { method: 'GET', pathPrefix: '/incidents/' });
    const limited = await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(future) });
    assert.deepEqual([limited.asked, limited.failed, limited.resolved], [1, 1, []], 'one asked, refused, and the sweep ended');
    // The next sweep asks those never asked first (b takes a 500, c and d are resolved), then a again, behind them.
    pd.failNext(500, 1, { method: 'GET', pathPrefix: '/incidents/' });
    const partly = await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(future + 1000) });
    assert.deepEqual(partly.resolved.sort(), [a.id, c.id, d.id].sort(), 'a (its 429 no answer), c and d resolved despite the 500 before them');
    assert.deepEqual([asksOf(a.id), asksOf(b.id)], [2, 1], 'a asked once per sweep, b once');
    assert.equal((await incidentRow(b.id)).status, 'triggered');
    // The sweep after asks b again (its 500 was no answer); a 404 is an answer that will not change in ten
    // minutes: b is not asked in the sweep after that, only after the quiet period.
    pd.failNext(404, 1, { method: 'GET', pathPrefix: '/incidents/' });
    await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(future + 2000) });
    assert.equal(asksOf(b.id), 2, 'b asked at the sweep right after its 500');
    await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(future + 60_000) });
    assert.equal(asksOf(b.id), 2, 'b (404) not asked again within the quiet period');
    const retried = await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(future + 2 * 3600_000) });
    assert.ok(retried.resolved.includes(b.id), `resolved ${retried.resolved.join(', ')}`);
    for (const x of [a, b, c, d]) await eventually(async () => (await incidentRow(x.id)).status === 'resolved', 30_000, `${x.id} resolved`);
  });

  it('an incident PagerDuty never answers about waits behind the others: it does not take every sweep (a batch of such and no other was asked)', async function () {
    const svc = await gatedRule();
    const [bad, good] = [await gatedIncident(svc), await gatedIncident(svc)];
    pd.humanUpdate(good.id, { status: 'resolved' }, 'oncall@example.com');
    const asked: string[] = [];
    const failing: ReconcileDeps = {
      ...deps,
      pagerduty: {
        getIncident: async (id) => {
          asked.push(id);
          if (id === bad.id) throw new Error('an answer that is no incident');
          return deps.pagerduty.getIncident(id);
        },
      },
    };
    const future = Date.now() + 10 * 3600_000;
    // One a sweep: bad, never asked and older, first; then good, though bad got no answer.
    for (let sweep = 0; sweep < 3; sweep++) await reconcileOpenIncidents(failing, { quietSeconds: 3600, batch: 1, now: new Date(future + sweep * 60_000) });
    assert.deepEqual(asked.filter((id) => id === bad.id || id === good.id), [bad.id, good.id, bad.id], 'the one without an answer went behind the other');
    await eventually(async () => (await incidentRow(good.id)).status === 'resolved', 30_000, `${good.id} resolved`);
    await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(future + 5 * 60_000) });
  });

  it('a resolve Temporal did not take is handed over again at the next sweep (before: an hour later)', async function () {
    const svc = await gatedRule();
    const x = await gatedIncident(svc);
    pd.humanUpdate(x.id, { status: 'resolved' }, 'oncall@example.com');
    const future = Date.now() + 10 * 3600_000;
    let refused = 0;
    const refusing: ReconcileDeps = {
      ...deps,
      signal: async (id, msg, serviceId) => {
        if (id !== x.id) return deps.signal(id, msg, serviceId);
        refused += 1;
        throw new Error('deadline exceeded');
      },
    };
    const first = await reconcileOpenIncidents(refusing, { quietSeconds: 3600, now: new Date(future) });
    assert.ok(!first.resolved.includes(x.id));
    assert.equal(refused, 1, 'handed over once in the sweep, not again in the same sweep');
    const second = await reconcileOpenIncidents(deps, { quietSeconds: 3600, now: new Date(future + 60_000) });
    assert.ok(second.resolved.includes(x.id), `resolved ${second.resolved.join(', ')}`);
    await eventually(async () => (await incidentRow(x.id)).status === 'resolved', 30_000, `${x.id} resolved`);
  });

  it('an incident whose workflow was terminated is resolved by a new run of it', async function () {
    const svc = await gatedRule();
    const gone = await gatedIncident(svc);
    await stack.temporal.client.workflow.getHandle(incidentWorkflowId(gone.id)).terminate('operator');
    pd.humanUpdate(gone.id, { status: 'resolved' }, 'oncall@example.com');
    const result = await reconcileOpenIncidents(deps, { quietSeconds: 0, now: new Date(Date.now() + 20 * 3600_000) });
    assert.ok(result.resolved.includes(gone.id));
    await eventually(async () => (await incidentRow(gone.id)).status === 'resolved', 30_000, 'resolved by the new run');
  });
  // The workflow and the events table take an event id once: with one id per incident, the resolve lost
  // after a reopen was dropped as a duplicate of the first, and the incident stayed open for good.
  it('a resolve lost again after the incident was reopened is handed over too, as another event', async function () {
    const svc = await gatedRule();
    const { id } = await gatedIncident(svc);
    pd.humanUpdate(id, { status: 'resolved' }, 'oncall@example.com');
    const first = await reconcileOpenIncidents(deps, { quietSeconds: 0, now: new Date(Date.now() + 20 * 3600_000) });
    assert.ok(first.resolved.includes(id));
    await eventually(async () => (await incidentRow(id)).status === 'resolved', 30_000, 'resolved by the first reconcile');
    const firstId = handedId(id);

    // Reopened in PagerDuty, and the reopen delivered; a second later resolved there again, and that resolve lost.
    pd.humanUpdate(id, { status: 'triggered' }, 'oncall@example.com');
    const reopened = sampleFor('v3-incident.reopened-01.json', id, { occurredAt: new Date(Date.now() + 1000).toISOString(), data: { service: { id: svc, type: 'service_reference', summary: 's' } } });
    assert.equal((await stack.deliver(reopened)).status, 202);
    await eventually(async () => (await incidentRow(id)).status === 'triggered', 30_000, 'reopened here');
    await new Promise((r) => setTimeout(r, 1100 - (Date.now() % 1000))); // PagerDuty's REST times are whole seconds
    pd.humanUpdate(id, { status: 'resolved' }, 'oncall@example.com');
    const second = await reconcileOpenIncidents(deps, { quietSeconds: 0, now: new Date(Date.now() + 40 * 3600_000) });
    assert.ok(second.resolved.includes(id), 'asked again and handed the second resolve');
    await eventually(async () => (await incidentRow(id)).status === 'resolved', 30_000, 'resolved again here (before: open for good)');
    const resolves = await stack.db.db.selectFrom('incident_events').select('event_id').where('incident_id', '=', id).where('event_type', '=', 'incident.resolved').execute();
    assert.deepEqual(resolves.map((e) => e.event_id).sort(), [firstId, handedId(id)].sort());
    assert.notEqual(firstId, handedId(id));
  });

  // PagerDuty's REST times are whole seconds, its webhooks' carry milliseconds: a resolve in the same second
  // as the trigger delivered read as older than it, was kept as stale, and the incident stayed open for good.
  it('a resolve PagerDuty dates to the second, before the last event delivered (same second), still resolves the incident', async function () {
    const svc = await gatedRule();
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId: svc, title: '[db-1] replica lag' });
    // The trigger occurred at .900 of a second that PagerDuty's REST answer will give as the whole second.
    const second = Math.floor(Date.now() / 1000) * 1000 + 2000;
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date(second + 900).toISOString(), data: { title: '[db-1] replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    const run = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, 'the fix awaiting approval');
    pd.humanUpdate(id, { status: 'resolved' }, 'oncall@example.com');
    const client = createPagerDutyClient({ baseUrl: pd.url, token: PD_TOKEN, fromEmail: 'selfheal@example.com' });
    const sameSecond: ReconcileDeps['pagerduty'] = {
      getIncident: async (incidentId) => ({ ...(await client.getIncident(incidentId)), last_status_change_at: new Date(second).toISOString().replace(/\.\d+Z$/, 'Z') }),
    };
    const result = await reconcileOpenIncidents({ ...deps, pagerduty: sameSecond }, { quietSeconds: 0, now: new Date(Date.now() + 30 * 3600_000) });
    assert.ok(result.resolved.includes(id));
    await eventually(async () => (await incidentRow(id)).status === 'resolved', 30_000, 'resolved here (before: kept as stale, open for good)');
    await eventually(async () => (await runsOf(id)).find((r) => r.id === run.id)?.status === 'cancelled', 30_000, 'its fix cancelled');
  });

  it("PagerDuty's own resolve delivered after the reconciled one starts the incident.resolved rules no second time", async function () {
    const svc = newServiceId();
    const resolvedHook = `${hook.url}/hook`;
    await insertRule(stack.db.db, { name: `on-resolve-${randomUUID().slice(0, 6)}`, services: [svc], eventTypes: ['incident.resolved'], actions: [{ id: 'tell', type: 'notify.webhook', url: resolvedHook, body: '{}' }] } as never, { author: 'token:alice' });
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId: svc, title: 'disk full' });
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'disk full', service: { id: svc, type: 'service_reference', summary: 's' } } }))).status, 202);
    await eventually(async () => (await incidentRow(id).catch(() => undefined))?.status === 'triggered', 30_000, 'the incident stored');
    const hooksBefore = hook.requests.length;
    pd.humanUpdate(id, { status: 'resolved' }, 'oncall@example.com');
    const result = await reconcileOpenIncidents(deps, { quietSeconds: 0, now: new Date(Date.now() + 40 * 3600_000) });
    assert.ok(result.resolved.includes(id));
    await eventually(async () => hook.requests.length === hooksBefore + 1, 30_000, 'the incident.resolved rule ran once');
    // Now PagerDuty's own delivery arrives after all, dated to the millisecond after the reconciled one.
    const late = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: new Date(Date.now() + 1000).toISOString(), data: { service: { id: svc, type: 'service_reference', summary: 's' } } });
    assert.equal((await stack.deliver(late)).status, 202);
    await eventually(async () => (await stack.db.db.selectFrom('incident_events').select('event_id').where('event_id', '=', late.event.id).executeTakeFirst()) !== undefined, 30_000, 'the late resolve stored');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(hook.requests.length, hooksBefore + 1, 'the rule did not run a second time (before: twice)');
    const runs = await stack.db.db.selectFrom('rule_matches').select(['event_id', 'decision']).where('incident_id', '=', id).where('decision', '=', 'run').execute();
    assert.deepEqual(runs.map((r) => r.event_id), [handedId(id)]);
  });

  it('an answer about another incident than the one asked is ignored: neither is resolved', async function () {
    const svc = await gatedRule();
    const asked = await gatedIncident(svc);
    const other = await gatedIncident(svc);
    const client = createPagerDutyClient({ baseUrl: pd.url, token: PD_TOKEN, fromEmail: 'selfheal@example.com' });
    const confused: ReconcileDeps['pagerduty'] = {
      getIncident: async (incidentId) => (incidentId === asked.id ? { ...(await client.getIncident(other.id)), id: other.id, status: 'resolved' } : client.getIncident(incidentId)),
    };
    const result = await reconcileOpenIncidents({ ...deps, pagerduty: confused }, { quietSeconds: 0, now: new Date(Date.now() + 50 * 3600_000) });
    assert.ok(!result.resolved.includes(asked.id) && !result.resolved.includes(other.id), `resolved ${result.resolved.join(', ')}`);
    assert.ok(result.failed >= 1);
    await new Promise((r) => setTimeout(r, 1500));
    for (const x of [asked, other]) {
      assert.equal((await incidentRow(x.id)).status, 'triggered', `${x.id} still open (before: the other one was resolved)`);
      assert.equal((await runsOf(x.id)).find((r) => r.id === x.runId)?.status, 'awaiting_approval');
    }
  });

  it('the worker process (src/worker.ts) sweeps at start: an incident quiet for two hours and resolved in PagerDuty is resolved here', async function () {
    const svc = await gatedRule();
    const lost = await gatedIncident(svc);
    pd.humanUpdate(lost.id, { status: 'resolved' }, 'oncall@example.com');
    await stack.db.db.updateTable('incidents').set({ updated_at: new Date(Date.now() - 2 * 3600_000) }).where('id', '=', lost.id).execute();
    const worker = startChildRoot('src/worker.ts', {
      TEMPORAL_ADDRESS: stack.temporal.address,
      DATABASE_URL: stack.db.url,
      TEMPORAL_TASK_QUEUE: `reconcile-${randomUUID()}`,
      PAGERDUTY_API_URL: pd.url,
      PAGERDUTY_API_TOKEN: PD_TOKEN,
      PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
      PAGERDUTY_RECONCILE_MINUTES: '1',
    });
    try {
      await worker.waitFor(/worker started/);
      await eventually(async () => (await incidentRow(lost.id)).status === 'resolved', 60_000, 'resolved by the sweep of the worker process');
      await eventually(async () => (await runsOf(lost.id)).find((r) => r.id === lost.runId)?.status === 'cancelled', 30_000, 'its waiting fix cancelled');
      assert.match(worker.output(), /its resolve never arrived; handed to its workflow/);
      assert.ok(!worker.output().includes(PD_TOKEN), 'the token is not logged');
    } finally {
      await worker.stop();
    }
  });
});
