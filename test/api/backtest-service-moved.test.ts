import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { RuleIndex, matchRules } from '../../src/domain/rules/rule-index.js';
import { incidentContext } from '../../src/domain/rules/incident-context.js';
import { replayEvent } from '../../src/domain/backtest/incident-replay.js';
import { parseRuleInput, type Rule } from '../../src/domain/rules/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seededIncident, storeHistory, TITLE_EXTRACTORS, type SeededIncident } from '../helpers/history.js';
import { sampleFor } from '../helpers/samples.js';

// An incident triggered on one service and moved to another later (PagerDuty's `incident.service_updated`)
// was matched live, at its trigger, by the rules of the service it was on then: the live matcher reads the
// service the event names (or the incident held when it names none). The backtest chose the events to
// replay by the incidents row's service as it is now, in the history query and in the engine, so a rule of
// the first service never saw the moved incident and reported no match where the live matcher matched.
const ADMIN = 'backtest-moved-admin-token-0123456789';
const HOUR = 3_600_000;

describe('API: a backtest replays an incident on the service each of its events names', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let moved: SeededIncident;
  let base: Date;

  before(async () => {
    db = await createTestDatabase();
    base = new Date(Math.floor(Date.now() / HOUR) * HOUR - 2 * 24 * HOUR);
    // Triggered on PSTORAGE1 ("Disk full" on web-1), moved to PWEBFRNT1 ten minutes later.
    moved = seededIncident({ id: 'RVMOVE1', host: 'web-1', environment: 'prod-eu', at: base });
    const at = new Date(base.getTime() + 10 * 60_000);
    const body = sampleFor('v3-incident.service_updated-01.json', moved.id, {
      eventId: 'ERVMOVE1-2',
      occurredAt: at.toISOString(),
      data: { title: moved.title, status: 'triggered', service: { id: 'PWEBFRNT1', type: 'service_reference', summary: 'web-frontend' } },
    });
    // A note on PSTORAGE1 before the move and one on PWEBFRNT1 after it: a note names no service, so each
    // is on the service the incident held when it came.
    const note = (eventId: string, noteAt: Date, content: string) => ({
      eventId,
      incidentId: moved.id,
      eventType: 'incident.annotated',
      at: noteAt,
      body: sampleFor('v3-incident.annotated-01.json', moved.id, { eventId, occurredAt: noteAt.toISOString(), data: { content } }),
    });
    moved.events.push(note('ERVMOVE1-N1', new Date(base.getTime() + 5 * 60_000), 'disk cleanup asked for on storage'));
    moved.events.push({ eventId: 'ERVMOVE1-2', incidentId: moved.id, eventType: 'incident.service_updated', at, body });
    moved.events.push(note('ERVMOVE1-N2', new Date(base.getTime() + 20 * 60_000), 'disk cleanup asked for on web'));
    // The incidents row as the pipeline left it: on the service it was moved to.
    moved.serviceId = 'PWEBFRNT1';
    moved.serviceName = 'web-frontend';
    await storeHistory(db.db, [moved]);
  });
  after(async () => db?.close());

  const rule = {
    name: 'disk-full-storage',
    services: ['PSTORAGE1'],
    conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' },
    actions: [{ id: 'note', type: 'pagerduty.note', content: 'cleaning {{ environment.host }}' }],
  };

  it('the live matcher matches the trigger (the incident was on PSTORAGE1 then)', () => {
    const parsed = parseRuleInput(rule);
    assert.ok(parsed.ok);
    const live = { ...parsed.value, id: 'r1', version: 1, enabled: true } as Rule;
    const ev = moved.events[0]!;
    const step = replayEvent(undefined, { seq: '1', eventId: ev.eventId, incidentId: moved.id, eventType: ev.eventType, occurredAt: ev.at, receivedAt: ev.at, event: ev.body.event, incident: { id: moved.id, number: 1, title: moved.title, description: null, status: 'triggered', urgency: 'high', priority: null, serviceId: 'PWEBFRNT1', serviceName: 'web-frontend', escalationPolicyId: null, escalationPolicyName: null, assignees: [], htmlUrl: null, incidentKey: null, environment: {}, alerts: null }, matches: [] }, TITLE_EXTRACTORS);
    const matches = matchRules(new RuleIndex([live]), incidentContext(step.incident.facts, step.event, ev.eventType), ev.at);
    assert.deepEqual(matches.map((m) => m.rule.name), ['disk-full-storage']);
  });

  it('a backtest of that rule reports the same match, though the incident is on another service now', async () => {
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    const res = await app.request('/api/rules/backtest', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rule, from: new Date(base.getTime() - HOUR).toISOString(), to: new Date(base.getTime() + HOUR).toISOString() }),
    });
    const body = (await res.json()) as { summary: { candidate: { matched: number } }; items: { eventId: string }[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.summary.candidate.matched, 1, 'the trigger on PSTORAGE1 matched live; the backtest does not replay the moved incident at all');
    assert.deepEqual(
      body.items.map((i) => i.eventId),
      ['ERVMOVE1-1'],
    );
  });

  it('a note is on the service the incident held when it came: the note before the move is replayed for the rule, the one after is not', async () => {
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    const noteRule = { ...rule, name: 'disk-note-storage', eventTypes: ['incident.annotated'], conditions: { field: 'event.data.content', op: 'contains', value: 'disk cleanup' } };
    const res = await app.request('/api/rules/backtest', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rule: noteRule, from: new Date(base.getTime() - HOUR).toISOString(), to: new Date(base.getTime() + HOUR).toISOString(), only: 'all' }),
    });
    const body = (await res.json()) as { summary: { candidate: { matched: number } }; items: { eventId: string; candidate: { applies: boolean; matched: boolean } }[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.summary.candidate.matched, 1);
    assert.deepEqual(
      body.items.filter((i) => i.candidate.applies).map((i) => ({ eventId: i.eventId, matched: i.candidate.matched })),
      [{ eventId: 'ERVMOVE1-N1', matched: true }],
    );
  });
});
