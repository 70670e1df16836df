// A rule-directed post (notify.webhook, notify.slack) answered with any redirect (301, 302, 303, 307, 308)
// fails once, not followed, and its error names the status and where the redirect pointed as the Location's
// origin only: a sign-on gateway's Location carries a return ticket in its query, credentials in its user part,
// a token in its path or fragment, and a Slack hook's new address is a secret. Before, only a 303's error
// named the origin; a 301, 302, 307 or 308 named nothing of where it pointed. Run as the worker runs the
// action (executeAction over a real Postgres, the worker's integrations), reading back every table and every
// log line the activities wrote.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import type { PlannedAction, RunActionInput } from '../../activities/types.js';
import { createLogger } from '../../src/logger.js';
import { actionActivities } from '../helpers/action-activities.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';

const SECRET = 'redirect-ticket-5b1e07';
const STATUSES = [301, 302, 303, 307, 308] as const;
const SLACK_REF = 'SELFHEAL_SECRET_TEST_NOTIFY_REDIRECT';

describe('notify actions answered with a redirect: where it pointed, as its origin only', function () {
  let db: TestDatabase;
  let gateway: HttpPeer;
  const logLines: string[] = [];

  before(async function () {
    db = await createTestDatabase();
    // Every post is answered with the status its path names, pointing at a sign-on page whose Location holds
    // the secret in its user part, path, query and fragment.
    gateway = await startHttpPeer([
      {
        method: 'POST',
        path: /^\/(?<status>\d{3})\//,
        handle: (req) => ({ status: Number(req.params.status), headers: { location: `https://admin:${SECRET}@sso.example.test/login/${SECRET}?ticket=${SECRET}&next=%2F#${SECRET}` }, text: '' }),
      },
    ]);
  });
  after(async function () {
    await gateway?.close();
    await db?.close();
  });

  function input(action: Omit<PlannedAction, 'index' | 'when'>): RunActionInput {
    const incidentId = `Q${randomUUID().slice(0, 8).toUpperCase()}`;
    return { actionRunId: `${incidentId}:r-1:${action.id}:E${randomUUID()}`, incidentId, eventId: `E${randomUUID()}`, matchId: '1', ruleId: 'r-1', ruleVersion: 1, action: { index: 0, when: 'success', ...action }, dryRun: false, previous: [] };
  }

  it("notify.webhook and notify.slack: every redirect names its status and the Location's origin, and the secret is in no error, record or log line", async function () {
    const host = new URL(gateway.url).host;
    const failures: string[] = [];
    for (const status of STATUSES) {
      const env = { [SLACK_REF]: `${gateway.url}/${status}/services/T000/B000/hookpart` };
      const activities = actionActivities(db, env, createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }));
      for (const [action, expected] of [
        [
          { id: 'hook', type: 'notify.webhook', params: { url: `${gateway.url}/${status}/in`, body: '{"probe":true}' } },
          status === 303
            ? `webhook ${host}: HTTP 303 (redirect, not followed) to "https://sso.example.test" (path withheld): a 303 counts as delivered only when it points to the url's own origin (scheme, host and port), and this one does not, so the post is not counted as delivered; change the action's url to the address that answers (a webhook is posted once, to that address only)`
            : `webhook ${host}: HTTP ${status} (redirect, not followed) to "https://sso.example.test" (path withheld); change the action's url to the address that answers (a webhook is posted once, to that address only)`,
        ],
        [
          { id: 'chat', type: 'notify.slack', params: { webhookUrlRef: `env:${SLACK_REF}`, text: 'hi' } },
          status === 303
            ? `slack webhook: HTTP 303 (redirect, not followed) to "https://sso.example.test" (path withheld): Slack never answers a post with 303, so something in between (a proxy, a sign-on gateway) answered it and the message was not delivered (let the worker reach Slack without it); set the secret env:${SLACK_REF} (the action's webhookUrlRef) to the hook's current URL (an incoming webhook answers 200 "ok", not a redirect)`
            : `slack webhook: HTTP ${status} (redirect, not followed) to "https://sso.example.test" (path withheld); set the secret env:${SLACK_REF} (the action's webhookUrlRef) to the hook's current URL (an incoming webhook answers 200 "ok", not a redirect)`,
        ],
      ] as const) {
        const i = input(action);
        const err = await activities.executeAction(i).then(
          () => assert.fail(`${status} ${action.id}: a redirect is not a delivery`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ApplicationFailure, String(err));
        assert.equal(err.nonRetryable, true, `${status} ${action.id}: fails once`);
        assert.equal(err.message, expected, `${status} ${action.id}`);
        failures.push(err.message, JSON.stringify(err.details ?? null), String(err.stack));
        const effect = await db.db.selectFrom('side_effects').select(['state', 'last_error']).where('key', '=', i.actionRunId).executeTakeFirstOrThrow();
        assert.equal(effect.state, 'failed', `${status} ${action.id}: known not delivered`);
      }
    }
    assert.deepEqual(failures.filter((f) => f.includes(SECRET) || f.includes('hookpart')), []);
    // Everything the database holds (side effects, ...): no row carries the secret or the hook's path.
    const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db.db);
    for (const { table_name } of tables.rows) {
      const rows = await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.table(table_name)} t`.execute(db.db);
      assert.deepEqual(rows.rows.filter((r) => r.row.includes(SECRET) || r.row.includes('hookpart')).map((r) => `${table_name}: ${r.row}`), []);
    }
    const stored = await db.db.selectFrom('side_effects').select('last_error').execute();
    assert.equal(stored.filter((r) => r.last_error?.includes('"https://sso.example.test" (path withheld)')).length, STATUSES.length * 2, 'each failure is stored, naming the origin');
    // The activities' own log (they write nothing for these today; a line quoting the Location would show here).
    // The worker's log of a failed activity is its failure: the message, details and stack checked above.
    assert.deepEqual(logLines.filter((l) => l.includes(SECRET) || l.includes('hookpart')), []);
    // Nothing was sent where the redirects pointed (it is not even a host that resolves), and each post went once.
    assert.equal(gateway.requests.length, STATUSES.length * 2);
  });
});
