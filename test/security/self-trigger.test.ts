import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { isOwnWrite } from '../../activities/own-writes.js';
import { recordWriteStart } from '../../src/db/repositories/pagerduty-writes.js';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import type { IncidentWorkflowState } from '../../src/contracts/index.js';
import { deliverWithRetries, serveApi } from '../helpers/fault-http.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';

// Attack: a rule whose own PagerDuty write satisfies its own trigger. PagerDuty sends a webhook for every
// note and every incident update, Self-healing's included; a rule listening to `incident.annotated` whose
// note matches its condition (or to `incident.acknowledged` that acknowledges…) would run forever. The
// PagerDuty peer here behaves like PagerDuty: each note and update it receives comes back as a signed V3
// webhook through the real API over HTTP. Nothing Self-healing wrote may match a rule again; what people do,
// the very same text or change included, still does.
describe('security: nothing Self-healing writes to PagerDuty triggers a rule again', function () {
  const PD_TOKEN = 'pd-token-self-trigger';
  const FROM = 'selfheal@example.com';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let apiUrl: string;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: FROM } });
    const api = await serveApi({ temporal: stack.temporal.client, temporalAddress: stack.temporal.address, db: stack.db.db, databaseUrl: stack.db.url, taskQueue: stack.taskQueue });
    apiUrl = api.url;
    pd.sendWebhooksTo(`${apiUrl}/webhooks/pagerduty`, WEBHOOK_SECRET);
  });

  after(async function () {
    await stack?.stop();
    await pd?.close();
  });

  const rule = (serviceId: string, doc: Partial<RuleInputDocument>): Promise<string> =>
    insertRule(stack.db.db, { name: `self-trigger-${randomUUID().slice(0, 8)}`, services: [serviceId], ...doc } as RuleInputDocument);

  /** A triggered incident on `serviceId`, delivered signed over HTTP, stored. */
  async function incident(serviceId: string): Promise<string> {
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId });
    const res = await deliverWithRetries(apiUrl, sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'svc' } } }));
    assert.equal(res.status, 202);
    await eventually(async () => (await stack.db.db.selectFrom('incidents').select('id').where('id', '=', id).executeTakeFirst()) !== undefined, 30_000, 'incident stored');
    return id;
  }

  /**
   * Wait until nothing more can happen on the incident: every webhook the peer sent was accepted and
   * stored, the workflow has no event waiting and no rule running, and no new webhook appeared meanwhile.
   * A self-triggering rule never gets there (each run writes, each write is a new webhook).
   */
  async function quiet(id: string): Promise<void> {
    const handle = stack.temporal.client.workflow.getHandle(incidentWorkflowId(id));
    const explain = async (err: Error): Promise<never> => {
      const events = await stack.db.db.selectFrom('incident_events').select(['event_id', 'event_type']).where('incident_id', '=', id).orderBy('id').execute();
      const matches = await stack.db.db.selectFrom('rule_matches').select(['event_id', 'decision']).where('incident_id', '=', id).execute();
      const runs = await stack.db.db.selectFrom('action_runs').select(['action_id', 'status', 'error']).where('incident_id', '=', id).execute();
      const writes = await stack.db.db.selectFrom('pagerduty_writes').select(['kind', 'event_type', 'value', 'state', 'agent_id', 'matched_event_id']).where('incident_id', '=', id).execute();
      const state = await handle.query<IncidentWorkflowState>('state').catch((e: Error) => e.message);
      const last = (rows: unknown[]) => `${rows.length} in all, last ${JSON.stringify(rows.slice(-8))}`;
      throw new Error(
        `${err.message}\nwebhooks: ${last(pd.deliveries.filter((d) => d.incidentId === id))}\nevents: ${last(events)}\nmatches: ${last(matches)}\nruns: ${last(runs)}\nwrites: ${last(writes)}\nstate: ${JSON.stringify(state)}`,
      );
    };
    await eventually(
      async () => {
        await pd.webhooksSent();
        const sent = pd.deliveries.filter((d) => d.incidentId === id);
        if (sent.some((d) => d.status !== 202)) return undefined;
        const stored = new Set((await stack.db.db.selectFrom('incident_events').select('event_id').where('incident_id', '=', id).execute()).map((r) => r.event_id));
        if (!sent.every((d) => stored.has(d.eventId))) return undefined;
        const state = await handle.query<IncidentWorkflowState>('state');
        if (state.pendingEvents !== 0 || state.runningRules.length !== 0 || state.eventsSeen < stored.size) return undefined;
        await pd.webhooksSent();
        return pd.deliveries.filter((d) => d.incidentId === id).length === sent.length;
      },
      90_000,
      `incident ${id} to go quiet (a rule that triggers itself never does)`,
    ).catch(explain);
  }

  const matchesOf = async (id: string, ruleId: string) =>
    (await stack.db.db.selectFrom('rule_matches').select(['event_id', 'decision']).where('incident_id', '=', id).where('rule_id', '=', ruleId).execute()).length;
  const ours = (id: string) => pd.notes(id).filter((n) => n.from === FROM);

  it('a rule on incident.annotated whose own note satisfies its condition runs once; a person writing that same note triggers it again', async function () {
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      eventTypes: ['incident.annotated'],
      conditions: { field: 'event.data.content', op: 'contains', value: 'disk' },
      actions: [{ id: 'say', type: 'pagerduty.note', content: 'disk cleanup started on {{ incident.id }}' }],
    });
    const id = await incident(svc);

    pd.humanNote(id, 'disk full on db-7');
    await quiet(id);
    assert.equal(await matchesOf(id, ruleId), 1, 'the rule ran once, for the person’s note');
    const actionNotes = ours(id).filter((n) => n.content.startsWith(`disk cleanup started on ${id}`));
    assert.equal(actionNotes.length, 1);
    // Its own note and its run summary each came back as a webhook, and neither matched.
    assert.equal(ours(id).length, 2);
    assert.equal(pd.deliveries.filter((d) => d.incidentId === id && d.agentId !== pd.notes(id)[0]!.userId).length, 2);

    // A person posts exactly the text Self-healing wrote: that is a new note by someone else, and it matches.
    pd.humanNote(id, actionNotes[0]!.content);
    await quiet(id);
    assert.equal(await matchesOf(id, ruleId), 2);
    assert.equal(ours(id).filter((n) => n.content.startsWith(`disk cleanup started on ${id}`)).length, 2);
  });

  it('a rule on acknowledged / priority_updated / escalated that acknowledges, re-prioritises and escalates runs once per human change', async function () {
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      eventTypes: ['incident.acknowledged', 'incident.priority_updated', 'incident.escalated'],
      actions: [
        { id: 'ack', type: 'pagerduty.acknowledge' },
        { id: 'prio', type: 'pagerduty.priority', priorityId: 'PHIGH01' },
        { id: 'up', type: 'pagerduty.escalate', level: 2 },
      ],
    });
    const id = await incident(svc);

    pd.humanUpdate(id, { status: 'acknowledged' });
    await quiet(id);
    assert.equal(await matchesOf(id, ruleId), 1);
    const writes = pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${id}`);
    assert.equal(writes.length, 3, 'acknowledge, priority, escalate: once each');
    const echoes = pd.deliveries.filter((d) => d.incidentId === id && d.eventType !== 'incident.annotated');
    assert.deepEqual(echoes.map((d) => d.eventType).sort(), ['incident.acknowledged', 'incident.acknowledged', 'incident.escalated', 'incident.priority_updated']);

    // The same kinds of change by a person still trigger it: an escalation, and the very priority it set.
    pd.humanUpdate(id, { escalationLevel: 3 });
    await quiet(id);
    assert.equal(await matchesOf(id, ruleId), 2);
    pd.humanUpdate(id, { priorityId: 'PHIGH01' });
    await quiet(id);
    assert.equal(await matchesOf(id, ruleId), 3);
    assert.equal(pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${id}`).length, 9);
  });

  it('a rule on incident.annotated and incident.resolved that resolves runs once (its resolve and its run note do not bring it back)', async function () {
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      eventTypes: ['incident.annotated', 'incident.resolved'],
      actions: [{ id: 'close', type: 'pagerduty.resolve', resolution: 'closed by self-healing' }],
    });
    const id = await incident(svc);
    pd.humanNote(id, 'all good, close it');
    await quiet(id);
    assert.equal(await matchesOf(id, ruleId), 1);
    assert.equal(pd.incident(id)?.status, 'resolved');
    assert.equal(pd.deliveries.filter((d) => d.incidentId === id && d.eventType === 'incident.resolved').length, 1);
  });

  it('a note whose answer was lost: its webhook arrives before Self-healing knows its id, and still does not match; the retry finds the note', async function () {
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      eventTypes: ['incident.annotated'],
      conditions: { field: 'event.data.content', op: 'contains', value: 'cache' },
      actions: [{ id: 'flush', type: 'pagerduty.note', content: 'cache flushed on {{ incident.id }}' }],
    });
    const id = await incident(svc);
    pd.loseNextAnswer('drop', { method: 'POST', pathPrefix: `/incidents/${id}/notes` });
    pd.humanNote(id, 'stale cache on web-3');
    await quiet(id);
    assert.equal(await matchesOf(id, ruleId), 1);
    assert.equal(ours(id).filter((n) => n.content.startsWith(`cache flushed on ${id}`)).length, 1, 'one note at PagerDuty');
    const run = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).where('action_id', '=', 'flush').executeTakeFirstOrThrow();
    assert.equal(run.status, 'succeeded');
    assert.match(run.output_excerpt ?? '', /found after an unanswered attempt/);
  });

  it('recognises each echo by id, or by type, value and time — once; everything else is someone else', async function () {
    const db = stack.db.db;
    const id = newIncidentId();
    const now = new Date().toISOString();
    const own = (event: Record<string, unknown>) => isOwnWrite(db, id, { occurred_at: now, ...event });
    // A note whose answer has not arrived: recognised by its text (once), and then by the id it taught us.
    await recordWriteStart(db, { incidentId: id, kind: 'note', eventType: 'incident.annotated', content: 'flushed cache' });
    assert.equal(await own({ id: 'E1', event_type: 'incident.annotated', data: { id: 'N0', content: 'flushed' } }), false, 'other text');
    assert.equal(await own({ id: 'E2', event_type: 'incident.annotated', data: { id: 'N1', content: 'flushed ca', trimmed: true } }), true, 'PagerDuty trimmed it');
    assert.equal(await own({ id: 'E2', event_type: 'incident.annotated', data: { id: 'N1', content: 'flushed ca', trimmed: true } }), true, 'the same event again');
    assert.equal(await own({ id: 'E3', event_type: 'incident.annotated', data: { id: 'N2', content: 'flushed cache' } }), false, 'a person’s note with the same text');
    // An update: its type and value, in its time window, once.
    await recordWriteStart(db, { incidentId: id, kind: 'priority', eventType: 'incident.priority_updated', value: 'P1' });
    assert.equal(await own({ id: 'E4', event_type: 'incident.priority_updated', data: { priority: { id: 'P2' } } }), false, 'another priority');
    assert.equal(await own({ id: 'E5', event_type: 'incident.priority_updated', data: { priority: { id: 'P1' } } }), true);
    assert.equal(await own({ id: 'E5', event_type: 'incident.priority_updated', data: { priority: { id: 'P1' } } }), true, 'the same event again');
    assert.equal(await own({ id: 'E6', event_type: 'incident.priority_updated', data: { priority: { id: 'P1' } } }), false, 'a second change to P1 is someone else’s');
    await recordWriteStart(db, { incidentId: id, kind: 'escalation', eventType: 'incident.escalated' });
    assert.equal(await own({ id: 'E7', event_type: 'incident.escalated', occurred_at: new Date(Date.now() - 600_000).toISOString(), data: {} }), false, 'before the write was sent');
    assert.equal(await own({ id: 'E8', event_type: 'incident.escalated', data: {} }), true);
    assert.equal(await own({ id: 'E9', event_type: 'incident.triggered', data: {} }), false, 'not an event a write causes');
  });
});
