import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/database.js';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import type { IncidentEventMessage } from '../../src/contracts/index.js';
import { recordWriteStart } from '../../src/db/repositories/pagerduty-writes.js';
import { parseRuleInput } from '../../src/domain/rules/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';

// The incident event's first steps in one local activity: persist, enrich (best effort), extract, match.
describe('triage activity (persist, enrich, extract, match in one step)', function () {
  const TOKEN = 'pd-triage-token';
  let db: TestDatabase;
  let pd: PagerDutyPeer;
  const logger = createLogger({ level: 'silent' });

  before(async function () {
    db = await createTestDatabase();
    pd = await startPagerDutyPeer({ token: TOKEN });
  });
  after(async function () {
    await pd?.close();
    await db?.close();
  });

  function triage(opts: { pagerduty: boolean; db?: Kysely<Database> }) {
    const pagerduty = opts.pagerduty ? createPagerDutyClient({ baseUrl: pd.url, token: TOKEN, fromEmail: 'selfheal@example.com' }) : undefined;
    const extractors = { extractors: [{ type: 'regex' as const, source: 'details' as const, pattern: 'host=(?<host>[a-z0-9-]+)' }, { type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] };
    const incidents = createIncidentSteps({ db: opts.db ?? db.db, logger, extractors, pagerduty });
    const plan = createPlanActivities({ db: opts.db ?? db.db, logger });
    return createTriageActivities({ logger, incidents, plan, writeBack: Boolean(pagerduty), enrichBackoffMs: [10, 20] }).triageIncidentEvent;
  }

  function message(sample: string, id: string, serviceId: string, occurredAt: string, title = '[web-7] is down'): IncidentEventMessage {
    const body = sampleFor(sample, id, { occurredAt, data: { title, urgency: 'high', service: { id: serviceId, type: 'service_reference', summary: 'Triage' } } });
    return { eventId: body.event.id, eventType: String(body.event.event_type), occurredAt, receivedAt: new Date().toISOString(), event: body.event };
  }

  it('stores the event once, takes the environment from the alerts and returns the matched rule; a retry repeats nothing', async function () {
    const serviceId = newServiceId();
    const ruleId = await insertRule(db.db, { name: 'triage-match', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'on {{ environment.host }}' }] });
    const id = newIncidentId();
    pd.seedAlerts(id, [{ id: 'A1', type: 'alert', summary: 'disk', body: { details: { cause: 'host=db-3 disk 97%' } } }]);
    const run = triage({ pagerduty: true });
    const msg = message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T10:00:00Z');

    const first = await run({ incidentId: id, message: msg, takenBy: 'run-A' });
    assert.equal(first.recorded.duplicate, false);
    assert.equal(first.environment.host, 'db-3', 'the alerts win over the title');
    assert.equal(first.enrichError, undefined);
    assert.deepEqual(first.plans.map((p) => [p.ruleId, p.decision, p.writeBack]), [[ruleId, 'run', true]]);

    // The local activity retried after a crash (the same run): the same answer, nothing stored twice.
    const again = await run({ incidentId: id, message: msg, takenBy: 'run-A' });
    assert.equal(again.recorded.duplicate, false);
    assert.equal(again.plans[0]?.matchId, first.plans[0]?.matchId);
    // The same event delivered to another run (a redelivery after the first run completed): a duplicate,
    // which stops at triage with nothing to do.
    const other = await run({ incidentId: id, message: msg, takenBy: 'run-B' });
    assert.equal(other.recorded.duplicate, true);
    assert.deepEqual(other.plans, []);
    assert.equal((await db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length, 1);
    assert.equal((await db.db.selectFrom('rule_matches').select('id').where('incident_id', '=', id).execute()).length, 1);
  });

  it('a retry after the rules changed keeps what the first attempt recorded: the run, its lease, the version it was decided for', async function () {
    // A crash after the matches were committed but before the workflow saw the step's result: the retry
    // meets rules that changed in between. Before, it planned from the rules as they are now, so a rule
    // disabled or edited in between left its match recorded `run`, its lease held and nothing run.
    const serviceId = newServiceId();
    const disabled = await insertRule(db.db, { name: 'triage-retry-disabled', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'disabled v1' }] });
    const edited = await insertRule(db.db, { name: 'triage-retry-edited', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'edited v1' }] });
    const id = newIncidentId();
    const run = triage({ pagerduty: false });
    const msg = message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T10:30:00Z');
    const first = await run({ incidentId: id, message: msg, takenBy: 'run-C' });
    const byRule = (r: typeof first) => new Map(r.plans.map((p) => [p.ruleId, p]));
    const firstPlans = byRule(first);
    assert.deepEqual([...firstPlans.keys()].sort(), [disabled, edited].sort());
    for (const p of firstPlans.values()) assert.ok(p.leaseId, `a lease on ${p.target} for ${p.ruleName}`);

    // In between: one rule disabled, the other edited to a version that no longer matches this service.
    const at = new Date();
    await db.db.updateTable('rules').set({ enabled: false, updated_at: at }).where('id', '=', disabled).execute();
    const parsed = parseRuleInput({ name: 'triage-retry-edited', services: ['POTHER'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'edited v2' }] });
    assert.ok(parsed.ok);
    const v2 = parsed.value;
    await db.db.updateTable('rules').set({ version: 2, definition: JSON.stringify(v2), updated_at: at }).where('id', '=', edited).execute();
    await db.db.insertInto('rule_versions').values({ rule_id: edited, version: 2, definition: JSON.stringify(v2), change: 'update', actor: 'token:t' }).execute();

    const again = byRule(await run({ incidentId: id, message: msg, takenBy: 'run-C' }));
    for (const ruleId of [disabled, edited]) {
      const before = firstPlans.get(ruleId)!;
      const after = again.get(ruleId);
      assert.ok(after, `the recorded match of ${before.ruleName} is planned again`);
      assert.deepEqual([after.matchId, after.decision, after.leaseId, after.target, after.ruleVersion], [before.matchId, 'run', before.leaseId, before.target, 1]);
      assert.deepEqual(after.actions.map((a) => a.params.content), before.actions.map((a) => a.params.content), 'the actions of the version decided');
    }
    assert.equal((await db.db.selectFrom('rule_matches').select('id').where('incident_id', '=', id).execute()).length, 2, 'nothing recorded twice');
    assert.equal((await db.db.selectFrom('target_leases').select('id').where('incident_id', '=', id).execute()).length, 2, 'no second lease');
  });

  it('a retry after one of our PagerDuty writes went out keeps the matches the first attempt recorded (the event is not taken for its echo)', async function () {
    // Whether an event is the echo of our own write was asked again at every attempt, and only a yes was
    // kept. A person sets the priority, a rule matches and its lease is taken, the step fails; meanwhile
    // another rule run of the incident sets the same priority (its write recorded before the request
    // leaves). The retry took the person's event for that write's echo and planned nothing: the match
    // stayed `run` with its lease held and its remediation counted, and no run ever came.
    const serviceId = newServiceId();
    const ruleId = await insertRule(db.db, {
      name: 'triage-retry-echo',
      services: [serviceId],
      eventTypes: ['incident.priority_updated'],
      policies: { concurrencyPerTarget: 1 },
      actions: [{ id: 'ack', type: 'pagerduty.acknowledge' }],
    } as never);
    const id = newIncidentId();
    const run = triage({ pagerduty: false });
    const msg = message('v3-incident.priority_updated-01.json', id, serviceId, new Date().toISOString(), `[echo-${serviceId.toLowerCase()}] is down`);
    const first = await run({ incidentId: id, message: msg, takenBy: 'run-E' });
    assert.deepEqual(first.plans.map((p) => [p.ruleId, p.decision, Boolean(p.leaseId)]), [[ruleId, 'run', true]]);

    const priority = ((msg.event as { data: { priority: { id: string } } }).data.priority).id;
    await recordWriteStart(db.db, { incidentId: id, kind: 'priority', eventType: 'incident.priority_updated', value: priority });

    const again = await run({ incidentId: id, message: msg, takenBy: 'run-E' });
    assert.deepEqual(
      again.plans.map((p) => [p.ruleId, p.decision, p.matchId, p.leaseId]),
      first.plans.map((p) => [p.ruleId, p.decision, p.matchId, p.leaseId]),
      'the recorded match is planned again, with its lease',
    );
    const write = await db.db.selectFrom('pagerduty_writes').select('matched_event_id').where('incident_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(write.matched_event_id, null, "our write is still there to explain its own echo, not spent on the person's event");
  });

  it('goes on from the rows it wrote: nothing read back, alerts and environment stored in one update', async function () {
    // Every statement triage sends, by kind and table, seen by a Kysely plugin on the same pool.
    const statements: string[] = [];
    const counting = db.db.withPlugin({
      transformQuery(args) {
        const node = args.node as { kind: string; from?: { froms: { table?: { identifier?: { name: string } } }[] }; table?: { table?: { identifier?: { name: string } } }; into?: { table?: { identifier?: { name: string } } } };
        const table = node.from?.froms[0]?.table?.identifier?.name ?? node.table?.table?.identifier?.name ?? node.into?.table?.identifier?.name ?? '';
        statements.push(`${node.kind.replace('QueryNode', '').replace('RawNode', 'Raw')} ${table}`.trim());
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    });
    const serviceId = newServiceId();
    const ruleId = await insertRule(db.db, { name: 'triage-reads', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'on {{ environment.host }}' }] });
    const id = newIncidentId();
    pd.seedAlerts(id, [{ id: 'A1', type: 'alert', summary: 'disk', body: { details: { cause: 'host=db-9 disk 97%' } } }]);
    const result = await triage({ pagerduty: true, db: counting })({ incidentId: id, message: message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T10:00:00Z'), takenBy: 'run-R' });

    assert.equal(result.environment.host, 'db-9');
    assert.deepEqual(result.plans.map((p) => p.ruleId), [ruleId]);
    const stored = await db.db.selectFrom('incidents').select(['environment', 'alerts']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal((stored.environment as Record<string, unknown>).host, 'db-9');
    assert.equal((stored.alerts as unknown[]).length, 1);
    // One read of the incident (locked, in the event's transaction); the event's payload is never read back.
    assert.deepEqual(statements.filter((s) => s === 'Select incidents'), ['Select incidents'], statements.join(', '));
    assert.deepEqual(statements.filter((s) => s === 'Select incident_events'), [], statements.join(', '));
    // The insert, then one update holding the fetched alerts and the environment.
    assert.deepEqual(statements.filter((s) => s.endsWith(' incidents') && s !== 'Select incidents'), ['Insert incidents', 'Update incidents'], statements.join(', '));
  });

  it('records a poison event as rejected with the reason, changing nothing else, and a retry says the same', async function () {
    const serviceId = newServiceId();
    await insertRule(db.db, { name: 'triage-poison', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'x' }] });
    const run = triage({ pagerduty: false });
    const id = newIncidentId();
    const badTime = { ...message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T10:00:00Z'), occurredAt: 'yesterday-ish' };
    const surrogate = message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T10:01:00Z', 'disk \ud800 full');
    for (const [msg, reason] of [
      [badTime, /occurred_at "yesterday-ish" is not an ISO 8601 timestamp/],
      [surrogate, /event\.data\.title holds a lone UTF-16 surrogate/],
    ] as const) {
      const r = await run({ incidentId: id, message: msg, takenBy: 'run-P' });
      assert.match(r.recorded.rejected ?? '', reason);
      assert.equal(r.recorded.duplicate, false);
      assert.deepEqual(r.plans, []);
      const retry = await run({ incidentId: id, message: msg, takenBy: 'run-P' });
      assert.match(retry.recorded.rejected ?? '', reason);
      const row = await db.db.selectFrom('incident_events').select(['disposition', 'reject_reason']).where('event_id', '=', msg.eventId).executeTakeFirstOrThrow();
      assert.equal(row.disposition, 'rejected');
      assert.match(row.reject_reason ?? '', reason);
    }
    assert.equal(await db.db.selectFrom('incidents').select('id').where('id', '=', id).executeTakeFirst(), undefined, 'no incident made from poison');
    assert.deepEqual(await db.db.selectFrom('rule_matches').select('id').where('incident_id', '=', id).execute(), []);
  });

  it('goes on from the event alone when PagerDuty keeps failing (three tries) or refuses (one try)', async function () {
    const serviceId = newServiceId();
    await insertRule(db.db, { name: 'triage-outage', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'x' }] });
    const run = triage({ pagerduty: true });

    const flaky = newIncidentId();
    pd.failNext(503, 10, { method: 'GET', pathPrefix: `/incidents/${flaky}/alerts` });
    const a = await run({ incidentId: flaky, message: message('v3-incident.triggered-01.json', flaky, serviceId, '2026-06-01T11:00:00Z') });
    assert.match(a.enrichError ?? '', /503/);
    assert.equal(a.environment.host, 'web-7', 'from the title');
    assert.equal(a.plans.length, 1);
    assert.equal(pd.requests.filter((r) => r.path === `/incidents/${flaky}/alerts`).length, 3);

    const refused = newIncidentId();
    pd.failNext(403, 10, { method: 'GET', pathPrefix: `/incidents/${refused}/alerts` });
    const b = await run({ incidentId: refused, message: message('v3-incident.triggered-01.json', refused, serviceId, '2026-06-01T11:00:00Z') });
    assert.match(b.enrichError ?? '', /403/);
    assert.equal(b.plans.length, 1);
    assert.equal(pd.requests.filter((r) => r.path === `/incidents/${refused}/alerts`).length, 1);
  });

  it('without write-back configured: no alerts fetch, and plans say there is no note to write', async function () {
    const serviceId = newServiceId();
    await insertRule(db.db, { name: 'triage-no-pd', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'x' }] });
    const id = newIncidentId();
    const before = pd.requests.length;
    const t = await triage({ pagerduty: false })({ incidentId: id, message: message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T12:00:00Z') });
    assert.equal(t.plans[0]?.writeBack, false);
    assert.equal(t.environment.host, 'web-7');
    assert.equal(pd.requests.length, before);
  });

  it('a stale event (older than what is stored) is stored but matches nothing', async function () {
    const serviceId = newServiceId();
    await insertRule(db.db, { name: 'triage-stale', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'x' }] });
    const id = newIncidentId();
    const run = triage({ pagerduty: false });
    const resolved = await run({ incidentId: id, message: message('v3-incident.resolved-01.json', id, serviceId, '2026-06-01T13:05:00Z') });
    assert.equal(resolved.recorded.incidentStatus, 'resolved');
    const late = await run({ incidentId: id, message: message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T13:00:00Z') });
    assert.equal(late.recorded.stale, true);
    assert.deepEqual(late.plans, []);
    assert.equal((await db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length, 2);
  });

  it('a resolve that occurred just before a note and arrived after it is a resolve: stored, and its rules run', async function () {
    // "Resolve with a note" in PagerDuty, the summary note Self-healing writes, a retried delivery: the note
    // (no status, no incident data) occurred after the resolve and was delivered first. Before, every
    // event moved what the incident was "as of", so the resolve was dropped as stale: the incident stayed
    // triggered, its fixes were not cancelled and its incident.resolved rules never ran.
    const serviceId = newServiceId();
    await insertRule(db.db, { name: 'triage-on-resolve', services: [serviceId], eventTypes: ['incident.resolved'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'resolved' }] });
    const id = newIncidentId();
    const run = triage({ pagerduty: false });
    await run({ incidentId: id, message: message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T13:00:00.000Z') });
    const note = sampleFor('v3-incident.annotated-01.json', id, { occurredAt: '2026-06-01T13:05:00.200Z' });
    const annotated = await run({ incidentId: id, message: { eventId: note.event.id, eventType: 'incident.annotated', occurredAt: '2026-06-01T13:05:00.200Z', receivedAt: new Date().toISOString(), event: note.event } });
    assert.equal(annotated.recorded.incidentStatus, 'triggered');
    const resolved = await run({ incidentId: id, message: message('v3-incident.resolved-01.json', id, serviceId, '2026-06-01T13:05:00.100Z') });
    assert.equal(resolved.recorded.stale, false);
    assert.equal(resolved.recorded.incidentStatus, 'resolved');
    assert.equal(resolved.plans.length, 1, 'the incident.resolved rule runs');
    const read = () => db.db.selectFrom('incidents').select(['status', 'resolved_at', 'last_event_at', 'snapshot_at']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(await read(), {
      status: 'resolved',
      resolved_at: new Date('2026-06-01T13:05:00.100Z'),
      last_event_at: new Date('2026-06-01T13:05:00.200Z'),
      snapshot_at: new Date('2026-06-01T13:05:00.100Z'),
    });
    // A trigger older than the resolve is still stale: the status it carries is older than the stored one.
    const late = await run({ incidentId: id, message: message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T13:05:00.050Z') });
    assert.equal(late.recorded.stale, true);
    assert.equal((await read()).status, 'resolved');
  });

  it('an event older than what is stored updates nothing newer: status, resolved_at, title, priority, assignees and last_event_at stay', async function () {
    const serviceId = newServiceId();
    await insertRule(db.db, { name: 'triage-stale-fields', services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'x' }] });
    const id = newIncidentId();
    const run = triage({ pagerduty: false });
    const service = { id: serviceId, type: 'service_reference', summary: 'Triage' };
    const user = (uid: string) => ({ id: uid, type: 'user_reference', summary: `user ${uid}`, self: `https://api.pagerduty.com/users/${uid}`, html_url: `https://x.pagerduty.com/users/${uid}` });
    const at = (sample: string, occurredAt: string, data: Record<string, unknown>): IncidentEventMessage => {
      const body = sampleFor(sample, id, { occurredAt, data: { service, urgency: 'high', ...data } });
      return { eventId: body.event.id, eventType: String(body.event.event_type), occurredAt, receivedAt: new Date().toISOString(), event: body.event };
    };
    const newer = at('v3-incident.resolved-01.json', '2026-06-01T13:05:00Z', {
      title: '[web-7] disk full (resolved view)',
      priority: { id: 'PPRIO1', type: 'priority_reference', summary: 'P1' },
      assignees: [user('PUSERA1')],
    });
    assert.equal((await run({ incidentId: id, message: newer })).recorded.incidentStatus, 'resolved');
    const read = () =>
      db.db
        .selectFrom('incidents')
        .select(['status', 'resolved_at', 'title', 'priority', 'assignees', 'last_event_at'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
    const stored = await read();
    assert.equal(stored.status, 'resolved');
    assert.equal(stored.title, '[web-7] disk full (resolved view)');
    assert.equal(stored.resolved_at?.toISOString(), '2026-06-01T13:05:00.000Z');
    assert.equal(stored.priority, 'P1');
    assert.deepEqual(
      (stored.assignees as { id: string }[]).map((a) => a.id),
      ['PUSERA1'],
    );
    const matchesBefore = (await db.db.selectFrom('rule_matches').select('id').where('incident_id', '=', id).execute()).length;

    // Delivered late: a trigger from 13:00 with another title, priority and assignees.
    const late = await run({
      incidentId: id,
      message: at('v3-incident.triggered-01.json', '2026-06-01T13:00:00Z', {
        title: '[web-8] something else (trigger view)',
        priority: { id: 'PPRIO2', type: 'priority_reference', summary: 'P2' },
        assignees: [user('PUSERB2')],
      }),
    });
    assert.equal(late.recorded.stale, true);
    assert.equal(late.recorded.incidentStatus, 'resolved');
    assert.deepEqual(late.plans, [], 'no rule plan');
    assert.deepEqual(await read(), stored, 'the incident row as the 13:05 event left it');
    assert.equal(stored.last_event_at?.toISOString(), '2026-06-01T13:05:00.000Z');
    assert.equal((await db.db.selectFrom('rule_matches').select('id').where('incident_id', '=', id).execute()).length, matchesBefore, 'no match recorded');
    assert.equal((await db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length, 2, 'the late event is stored');

    // Control: the same trigger, newer than what is stored, does match the rule and take its values.
    const fresh = await run({
      incidentId: id,
      message: at('v3-incident.triggered-01.json', '2026-06-01T13:10:00Z', {
        title: '[web-8] something else (trigger view)',
        priority: { id: 'PPRIO2', type: 'priority_reference', summary: 'P2' },
        assignees: [user('PUSERB2')],
      }),
    });
    assert.equal(fresh.recorded.stale, false);
    assert.equal(fresh.plans.length, 1, 'a newer trigger matches the rule');
    assert.deepEqual({ ...(await read()), assignees: undefined }, { status: 'triggered', resolved_at: null, title: '[web-8] something else (trigger view)', priority: 'P2', assignees: undefined, last_event_at: new Date('2026-06-01T13:10:00Z') });
  });
});
