// A redirect is never followed (src/pagerduty/rest-client.ts). Of the redirects, only 303 See Other says a
// write was made (its result is elsewhere); a 301, 302, 307 or 308 says the request was not handled here,
// so nothing was written. Before, every 3xx to a write counted as "outcome uncertain": the side effect was
// marked uncertain and the action retried to look for what it wrote, which behind a redirecting address
// meets the same redirect (a second request, and the failure of the lookup's GET instead of the write's
// error), an escalation was recorded "outcome unknown", and the write stayed recorded as attempting (so a
// person's later change in PagerDuty could be taken for our echo). Run as the worker runs a PagerDuty
// action: executeAction attempts, retried like Temporal does, against the OpenAPI-checked PagerDuty peer
// and a real Postgres.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { createActionActivities } from '../../activities/actions.js';
import type { PlannedAction, RunActionInput } from '../../activities/types.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';

const TOKEN = 'pd-redirect-token';

describe('PagerDuty write-back answered with a redirect', function () {
  let db: TestDatabase;
  let pd: PagerDutyPeer;

  before(async function () {
    db = await createTestDatabase();
  });
  beforeEach(async function () {
    pd = await startPagerDutyPeer({ token: TOKEN });
    logLines = [];
  });
  afterEach(async function () {
    await pd?.close();
  });
  after(async function () {
    await db?.close();
  });

  let logLines: string[] = [];
  const activities = () =>
    createActionActivities({
      db: db.db,
      logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
      pagerduty: createPagerDutyClient({ baseUrl: pd.url, token: TOKEN, fromEmail: 'selfheal@example.com' }),
      env: {},
      sideEffects: { budgetMs: 5_000, settleMs: 10_000 },
    });

  function input(action: Omit<PlannedAction, 'index' | 'when'>): RunActionInput {
    const incidentId = `Q${randomUUID().slice(0, 8).toUpperCase()}`;
    pd.seedIncident(incidentId, { serviceId: 'PSVC1' });
    const eventId = `E${randomUUID()}`;
    return { actionRunId: `${incidentId}:r-1:${action.id}:${eventId}`, incidentId, eventId, matchId: '1', ruleId: 'r-1', ruleVersion: 1, action: { index: 0, when: 'success', ...action }, dryRun: false, previous: [] };
  }

  /** What Temporal does: attempts until one succeeds or fails for good (a non-retryable failure). */
  async function untilDone(i: RunActionInput, maxAttempts = 5) {
    const run = activities().executeAction;
    const failures: string[] = [];
    for (let n = 1; n <= maxAttempts; n++) {
      try {
        return { result: await run(i), failures, error: undefined as ApplicationFailure | undefined };
      } catch (err) {
        failures.push(`${(err as ApplicationFailure).type ?? (err as Error).name}: ${(err as Error).message}`);
        if (err instanceof ApplicationFailure && err.nonRetryable) return { result: undefined, failures, error: err };
      }
    }
    throw new Error(`no outcome after ${maxAttempts} attempts: ${failures.join(' | ')}`);
  }

  const requests = (incidentId: string) => pd.requests.filter((r) => r.path.includes(incidentId)).map((r) => `${r.method} ${r.path.replace(incidentId, '{id}')} ${r.status}`);
  const sideEffect = async (key: string) => (await db.db.selectFrom('side_effects').select('state').where('key', '=', key).executeTakeFirstOrThrow()).state;
  const writes = async (incidentId: string) => (await db.db.selectFrom('pagerduty_writes').select('state').where('incident_id', '=', incidentId).execute()).map((w) => w.state);

  for (const status of [301, 302, 307, 308] as const) {
    it(`a ${status} to a note, an acknowledge or an escalation was not applied: the action fails once, naming it, with no lookup and nothing recorded uncertain`, async function () {
      // Every request to this address is redirected (PAGERDUTY_API_URL moved, or a proxy in front of it).
      pd.redirectNext(status, 100);
      for (const [action, path] of [
        [{ id: 'note', type: 'pagerduty.note', params: { content: 'restarted nginx' } }, 'POST /incidents/{id}/notes'],
        [{ id: 'ack', type: 'pagerduty.acknowledge', params: {} }, 'PUT /incidents/{id}'],
        // Before: recorded "outcome unknown, not tried again so it cannot happen twice" (an escalation is never looked for).
        [{ id: 'escalate', type: 'pagerduty.escalate', params: { level: 2 } }, 'PUT /incidents/{id}'],
      ] as const) {
        const i = input(action);
        const { error, failures } = await untilDone(i);
        assert.ok(error, `${status} ${action.id}: fails`);
        assert.equal(failures.length, 1, `${status} ${action.id}: one attempt, not retried to look: ${failures.join(' | ')}`);
        assert.match(
          error.message,
          new RegExp(`^PagerDuty API ${path.replace('{id}', i.incidentId)} answered ${status}, redirecting to "http://127\\.0\\.0\\.1:\\d+" \\(path withheld\\): redirects are not followed, so the write was not made; set PAGERDUTY_API_URL to the address that answers$`),
        );
        assert.deepEqual(requests(i.incidentId), [`${path} ${status}`], `${status} ${action.id}: one request, no lookup after it`);
        assert.equal(await sideEffect(i.actionRunId), 'failed', `${status} ${action.id}: failed, not uncertain`);
        assert.deepEqual(await writes(i.incidentId), ['failed'], `${status} ${action.id}: the write is recorded failed, not attempting`);
        assert.deepEqual(pd.notes(i.incidentId), []);
        assert.notEqual(pd.incident(i.incidentId)?.status, 'acknowledged', 'not acknowledged at PagerDuty');
      }
    });
  }

  it('a 303 See Other to a note may follow a note that was made: the next attempt looks for it and finds it, one note', async function () {
    pd.redirectNext(303, 1, { method: 'POST' });
    const i = input({ id: 'note', type: 'pagerduty.note', params: { content: 'restarted nginx' } });
    const { result, error, failures } = await untilDone(i);
    assert.equal(error, undefined, failures.join(' | '));
    assert.equal(failures.length, 1, failures.join(' | '));
    assert.match(failures[0]!, /answered 303, redirecting to "http:\/\/127\.0\.0\.1:\d+" \(path withheld\): the write may have been made \(303 See Other\); redirects are not followed; set PAGERDUTY_API_URL to the address that answers \(outcome uncertain: the next attempt looks before it acts\)$/);
    assert.match(String((result as { outputExcerpt: string }).outputExcerpt), /^note added \(\S+\) \(found after an unanswered attempt; not created again\)$/);
    assert.deepEqual(requests(i.incidentId), ['POST /incidents/{id}/notes 303', 'GET /incidents/{id}/notes 200']);
    assert.equal(pd.notes(i.incidentId).length, 1, 'one note');
    assert.equal(await sideEffect(i.actionRunId), 'done');
  });

  it('a redirect whose Location carries credentials in its user part and query is named by its origin only: the secret is in no error, record or log line', async function () {
    const SECRET = 'sso-ticket-7f3a9c';
    pd.redirectNext(302, 100, { location: `https://admin:${SECRET}@sso.example.test/login/return?token=${SECRET}&next=%2F#${SECRET}` });
    const i = input({ id: 'note', type: 'pagerduty.note', params: { content: 'restarted nginx' } });
    const { error, failures } = await untilDone(i);
    assert.ok(error, failures.join(' | '));
    // Before: ... redirecting to "https://admin:sso-ticket-7f3a9c@sso.example.test/login/return?token=sso-ticket-7f3a9c&next=%2F#sso-ticket-7f3a9c": ...
    assert.equal(
      error.message,
      `PagerDuty API POST /incidents/${i.incidentId}/notes answered 302, redirecting to "https://sso.example.test" (path withheld): redirects are not followed, so the write was not made; set PAGERDUTY_API_URL to the address that answers`,
    );
    assert.deepEqual(failures.filter((f) => f.includes(SECRET)), []);
    // Everything the database holds (side effects, write records, ...): no row carries the secret.
    const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db.db);
    for (const { table_name } of tables.rows) {
      const rows = await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.table(table_name)} t`.execute(db.db);
      assert.deepEqual(rows.rows.filter((r) => r.row.includes(SECRET)).map((r) => `${table_name}: ${r.row}`), []);
    }
    assert.deepEqual(logLines.filter((l) => l.includes(SECRET)), []);
  });
});
