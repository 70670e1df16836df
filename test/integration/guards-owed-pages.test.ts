// A guard's page is how a person learns that automation stopped itself. It used to be sent once, from the
// activity that crossed the guard, and marked sent whatever happened: a Slack webhook answering 429 or not
// reachable for a minute lost the page for good (the row said "sent", with the error beside it), and an
// alert claimed by a worker that died waited for the next incident event to be planned, which a paused
// estate may not see for hours. Now a channel that failed for a reason that may pass leaves the alert
// owed: it is claimed again once its claim runs out, by the next delivery or by the worker's sweep
// (src/worker.ts keepAlertsDelivered), for 24 hours; a final refusal (a revoked hook's 404) is not
// hammered. Driven here with the real delivery against Postgres and a Slack peer; the sweep of a real
// worker process is in test/fault/owed-page-sweep.test.ts.
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { alertDelivery } from '../../activities/index.js';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { loadConfig } from '../../src/config.js';
import { insertAlert } from '../../src/db/repositories/guards.js';
import { DEFAULT_GUARD_CONFIG } from '../../src/domain/guards.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

const logger = createLogger({ level: 'silent' });

describe('guards: a page a channel could not take yet stays owed and is sent later, once', function () {
  const RECLAIM_AFTER_SECONDS = 60;
  const SLACK_REF = 'SELFHEAL_SECRET_TEST_OWED_PAGE';
  let db: TestDatabase;
  let slack: SlackPeer;
  let deliver: () => Promise<number>;

  before(async function () {
    db = await createTestDatabase();
    slack = await startSlackPeer();
    const env = { [SLACK_REF]: slack.webhookUrl };
    const integrations = createIntegrations(loadConfig({ NODE_ENV: 'test', ACTION_EGRESS_ALLOW: '127.0.0.1/32', DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' }), { env });
    deliver = alertDelivery(
      { db: db.db, logger, integrations, env, guards: { ...DEFAULT_GUARD_CONFIG, page: { slackWebhookRef: `env:${SLACK_REF}`, email: [] } } },
      // A claim of a minute, run out below by dating it back two: with a one-second claim, the Slack round
      // trip and the writes between the first delivery's claim and the next one's could outlast it on a
      // loaded machine, and the next delivery took the alert again "within its claim".
      { reclaimAfterSeconds: RECLAIM_AFTER_SECONDS },
    );
  });
  after(async function () {
    await slack?.close();
    await db?.close();
  });

  /** The alert's claim runs out: taken twice its length ago, by Postgres' clock (the one claims are read by). */
  const claimRunsOut = (incidentId: string) =>
    db.db
      .updateTable('automation_alerts')
      .set({ claimed_at: sql<Date>`now() - make_interval(secs => ${2 * RECLAIM_AFTER_SECONDS})` })
      .where('incident_id', '=', incidentId)
      .execute();
  const alertRow = (incidentId: string) =>
    db.db.selectFrom('automation_alerts').select(['sent_at', 'error', 'claimed_at']).where('incident_id', '=', incidentId).executeTakeFirstOrThrow();
  const pagesFor = (incidentId: string) => slack.messages.filter((m) => m.text.includes(incidentId));
  const attemptsFor = (incidentId: string) => slack.requests.filter((r) => r.rawBody.includes(incidentId)).length;
  const page = async (incidentId: string, at = new Date()) =>
    insertAlert(db.db, { kind: 'guard', incidentId, text: `[self-healing] automation paused: guard crossed (${incidentId})`, page: true, at });

  /** Slack refuses the alert's page once: the alert is settled with the refusal kept, and never tried again. */
  async function settledAfterOneRefusal(incidentId: string, refusal: { status: number; text: string }) {
    slack.failNext(refusal);
    assert.equal(await deliver(), 1);
    const row = await alertRow(incidentId);
    assert.ok(row.sent_at, 'settled');
    assert.match(row.error ?? '', new RegExp(`^slack: .*${refusal.status}`));
    await claimRunsOut(incidentId);
    assert.equal(await deliver(), 0);
    assert.equal(attemptsFor(incidentId), 1);
    assert.equal(pagesFor(incidentId).length, 0);
  }

  it('Slack answers 429: the alert stays owed, is not tried again before its claim runs out, then reaches Slack once', async function () {
    const incidentId = newIncidentId();
    await page(incidentId);
    slack.failNext({ status: 429, text: 'rate_limited' });
    assert.equal(await deliver(), 1);
    const owed = await alertRow(incidentId);
    assert.equal(owed.sent_at, null, 'not marked sent');
    assert.match(owed.error ?? '', /^slack: .*429/);
    assert.equal(pagesFor(incidentId).length, 0);
    assert.equal(attemptsFor(incidentId), 1);

    // Within its claim (the wait before the next try) nobody takes it again.
    assert.equal(await deliver(), 0);
    assert.equal(attemptsFor(incidentId), 1);

    await claimRunsOut(incidentId);
    assert.equal(await deliver(), 1);
    assert.equal(pagesFor(incidentId).length, 1, 'paged once');
    const sent = await alertRow(incidentId);
    assert.ok(sent.sent_at, 'marked sent');
    assert.equal(sent.error, null, 'the earlier failure is no longer its state');

    // Sent is sent: later deliveries leave it alone, its claim run out or not.
    await claimRunsOut(incidentId);
    assert.equal(await deliver(), 0);
    assert.equal(pagesFor(incidentId).length, 1);
  });

  it('a final refusal (the hook answers 404: revoked) is recorded and not tried again', async function () {
    const incidentId = newIncidentId();
    await page(incidentId);
    await settledAfterOneRefusal(incidentId, { status: 404, text: 'no_service' });
  });

  it('a page still refused 24 hours after its alert is given up, with the error kept', async function () {
    const incidentId = newIncidentId();
    await page(incidentId, new Date(Date.now() - 25 * 3_600_000));
    await settledAfterOneRefusal(incidentId, { status: 429, text: 'rate_limited' });
  });

  it("an incident event whose planning raises no alert pages nobody: alerts owed from before are the sweep's, not the triage's", async function () {
    // Before, every event's triage (a local activity on the incident's path) also claimed and sent up to 50
    // owed alerts: while a page channel was down, each triage after a claim ran out waited on its timeouts.
    const incidentId = newIncidentId();
    await page(incidentId, new Date(Date.now() - 5 * 60_000));
    const incidents = createIncidentSteps({ db: db.db, logger, extractors: { extractors: [] } });
    const plan = createPlanActivities({ db: db.db, logger, deliverAlerts: deliver });
    const triage = createTriageActivities({ logger, incidents, plan, writeBack: false }).triageIncidentEvent;
    const service = newServiceId();
    const ruleId = await insertRule(db.db, { name: 'owed-pages-ordinary', services: [service], actions: [{ id: 'note', type: 'pagerduty.note', content: 'noted' }] });
    const requestsBefore = slack.requests.length;

    const event = newIncidentId();
    const occurredAt = new Date().toISOString();
    const body = sampleFor('v3-incident.triggered-01.json', event, { occurredAt, data: { title: 'disk full', service: { id: service, type: 'service_reference', summary: 'Ordinary' } } });
    const result = await triage({ incidentId: event, message: messageFor(body), takenBy: 'run-ordinary' });
    assert.deepEqual(result.plans.map((p) => [p.ruleId, p.decision]), [[ruleId, 'run']], 'planned as usual');
    assert.equal(slack.requests.length, requestsBefore, 'the triage posted nothing to the page channel');
    assert.equal((await alertRow(incidentId)).claimed_at, null, 'the owed alert was not even claimed');

    // The sweep (here, one delivery as the worker's sweep makes it) sends it.
    assert.equal(await deliver(), 1);
    assert.equal(pagesFor(incidentId).length, 1);
  });

  it("a planning that raises a page sends that incident's alert, not the backlog of other incidents", async function () {
    // Before, the triage that crossed a guard claimed and sent every claimable owed alert (up to 50): while
    // a channel was failing, the incident that had just stopped a flapping host waited on every other
    // alert's timeouts before its own page and its plan.
    const owedFor = newIncidentId();
    await page(owedFor, new Date(Date.now() - 5 * 60_000));
    const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] };
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const plan = createPlanActivities({ db: db.db, logger, guards: { ...DEFAULT_GUARD_CONFIG, flapping: { max: 1, windowSeconds: 3600 } }, deliverAlerts: deliver });
    const triage = createTriageActivities({ logger, incidents, plan, writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    const service = newServiceId();
    const host = `web-${service.toLowerCase()}`;
    await insertRule(db.db, { name: 'owed-pages-fix', services: [service], actions: [{ id: 'fix', type: 'script.agent', script: 'restart-service.sh', args: ['nginx'], idempotent: true }] } as never);
    const planned = async () => {
      const incidentId = newIncidentId();
      const body = sampleFor('v3-incident.triggered-01.json', incidentId, { occurredAt: new Date().toISOString(), data: { title: `[${host}] nginx down`, service: { id: service, type: 'service_reference', summary: 'Fix' } } });
      const r = await triage({ incidentId, message: messageFor(body), takenBy: `run-${incidentId}` });
      return { incidentId, decision: r.plans[0]?.decision };
    };

    const first = await planned();
    assert.equal(first.decision, 'run');
    assert.equal(slack.messages.filter((m) => m.text.includes(host)).length, 0, 'no page yet');
    const second = await planned();
    assert.equal(second.decision, 'skipped', 'the second fix of the host within the hour is stopped: flapping');
    const flapping = slack.messages.filter((m) => m.text.includes(host));
    assert.equal(flapping.length, 1, 'the flapping page went out from the planning that raised it');
    assert.match(flapping[0]!.text, /flapping/);
    assert.ok((await alertRow(second.incidentId)).sent_at, 'its alert is marked sent');
    assert.equal(pagesFor(owedFor).length, 0, "the other incident's owed page was not sent from this triage");
    assert.equal((await alertRow(owedFor)).claimed_at, null, 'nor even claimed');

    assert.equal(await deliver(), 1, 'the sweep sends it');
    assert.equal(pagesFor(owedFor).length, 1);
  });

  it('a hook that takes the page and never answers holds the delivery 15 s, not the budget of what it runs in', async function () {
    // An action's calls run until its attempt's deadline (activities/side-effects.ts). Pages go out from a
    // triage (a 90-second local activity), an approved action's start and the sweep, alert after alert: a
    // page's calls would have run to that activity's deadline (45 s here, outside one), where each had
    // 15 s when every call had a timeout of its own. A page keeps 15 s a channel.
    this.timeout(90_000);
    const incidentId = newIncidentId();
    await page(incidentId);
    slack.loseNextAnswer({ delayMs: 120_000 }, { method: 'POST' });
    const started = Date.now();
    await deliver();
    const took = Date.now() - started;
    assert.ok(took >= 12_000 && took < 25_000, `the hung hook held the delivery ${took} ms`);
    const row = await alertRow(incidentId);
    assert.ok(row.sent_at, 'settled: the page may have gone out, so it is not sent again');
    assert.match(row.error ?? '', /outcome unknown/);
    assert.equal(pagesFor(incidentId).length, 1);
  });
});
