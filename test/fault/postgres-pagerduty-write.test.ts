import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createActionActivities } from '../../activities/actions.js';
import type { PlannedAction, RunActionInput } from '../../activities/types.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startForwardingProxy, type ForwardingProxy } from '../helpers/forward-proxy.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

// Postgres restarting (its port closed: a new connection is refused) just as PagerDuty answers one of
// our writes. The write took effect at PagerDuty; what the attempt does next must not make a second one.
// The worker reaches Postgres through a TCP proxy that stops listening for 1.5 s, from the moment the
// write reaches PagerDuty; attempts are made as Temporal makes them (the next after a failure). What is
// counted is what the PagerDuty peer holds.
describe('fault: Postgres refusing connections while PagerDuty answers a write', function () {
  this.timeout(90_000);
  const PD_TOKEN = 'pd-pg-write-token';
  let db: TestDatabase;
  let proxy: TcpProxy;
  let proxied: DatabaseHandle;
  let pd: PagerDutyPeer;
  let front: ForwardingProxy;
  /** Set by a test: the writes (method and path) during which Postgres goes away, once each. */
  let cutOn: ((method: string, path: string) => boolean) | undefined;
  /** How long Postgres stays away. */
  let outageMs = 1_500;

  before(async function () {
    db = await createTestDatabase();
    let url: string;
    ({ proxy, url } = await proxyDatabase(db.url));
    proxied = await openDatabase({ url, dataDir: '', connectTimeoutMs: 1_000 });
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    // PagerDuty's API as the worker reaches it: a write is handed to the peer (it takes effect there), and
    // Postgres stops listening before the answer comes back.
    front = await startForwardingProxy(pd.url, {
      async answered(req) {
        if (!cutOn?.(req.method, req.url)) return;
        cutOn = undefined;
        proxy.refuse();
        setTimeout(() => proxy.up(), outageMs);
        // What the worker's pool held is gone; its next query opens a connection, and is refused.
        await new Promise((r) => setTimeout(r, 100));
      },
    });
  });
  after(async function () {
    proxy?.up();
    await proxied?.close();
    await proxy?.close();
    await front?.close();
    await pd?.close();
  });

  function activities() {
    return createActionActivities({
      db: proxied.db,
      logger: createLogger({ level: 'silent' }),
      pagerduty: createPagerDutyClient({ baseUrl: front.url, token: PD_TOKEN, fromEmail: 'selfheal@example.com' }),
      env: {},
      sideEffects: { budgetMs: 20_000 },
    });
  }

  function pdAction(type: string, params: Record<string, unknown>): RunActionInput {
    const action: PlannedAction = { index: 0, id: 'write', type, when: 'always', params };
    const incidentId = `Q${randomUUID().slice(0, 8).toUpperCase()}`;
    const eventId = `E${randomUUID()}`;
    return { actionRunId: `${incidentId}:r-1:write:${eventId}`, incidentId, eventId, matchId: '1', ruleId: 'r-1', ruleVersion: 1, action, dryRun: false, previous: [] };
  }

  /** What Temporal does with the action: attempts until one succeeds, after the pause a failure asks for (else 1 s). */
  async function untilDone(i: RunActionInput): Promise<{ failures: string[] }> {
    const failures: string[] = [];
    const acts = activities();
    for (let n = 1; n <= 6; n++) {
      try {
        await acts.executeAction(i);
        return { failures };
      } catch (err) {
        failures.push((err as Error).message);
        const asked = (err as { nextRetryDelay?: unknown }).nextRetryDelay;
        await new Promise((r) => setTimeout(r, typeof asked === 'number' ? asked : 1_000));
      }
    }
    assert.fail(`no attempt succeeded: ${failures.join(' | ')}`);
  }

  it('a note PagerDuty took while Postgres restarts is on the incident once', async function () {
    const i = pdAction('pagerduty.note', { content: 'restarted db-7' });
    cutOn = (method, path) => method === 'POST' && path.endsWith('/notes');
    const { failures } = await untilDone(i);
    const notes = pd.notes(i.incidentId).filter((n) => n.content.startsWith('restarted db-7'));
    assert.equal(notes.length, 1, `notes at PagerDuty: ${notes.length}; failed attempts: ${failures.join(' | ')}`);
  });

  it('a note PagerDuty took while Postgres stays away longer than the attempt waits is found by the next attempt, not posted again', async function () {
    const i = pdAction('pagerduty.note', { content: 'restarted db-8' });
    outageMs = 8_000;
    cutOn = (method, path) => method === 'POST' && path.endsWith('/notes');
    try {
      const { failures } = await untilDone(i);
      const notes = pd.notes(i.incidentId).filter((n) => n.content.startsWith('restarted db-8'));
      assert.equal(notes.length, 1, `notes at PagerDuty: ${notes.length}; failed attempts: ${failures.join(' | ')}`);
      assert.equal(failures.length, 1, failures.join(' | '));
      assert.match(failures[0]!, /PagerDuty took the write, but its answer was not recorded/);
    } finally {
      outageMs = 1_500;
    }
  });

  it('a priority PagerDuty set while Postgres restarts is written once', async function () {
    const i = pdAction('pagerduty.priority', { priorityId: 'P1HIGH' });
    cutOn = (method, path) => method === 'PUT' && path.startsWith(`/incidents/${i.incidentId}`);
    const { failures } = await untilDone(i);
    const puts = pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${i.incidentId}`);
    assert.equal(puts.length, 1, `PUTs at PagerDuty: ${puts.length}; failed attempts: ${failures.join(' | ')}`);
    assert.equal(pd.incident(i.incidentId)?.priority?.id, 'P1HIGH');
  });
});
