import assert from 'node:assert/strict';
import { Context } from '@temporalio/activity';
import { attemptBudgetMs } from '../../activities/side-effects.js';
import { claimFirstAttempt } from '../../src/db/repositories/side-effects.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { deferred, runRuleOnNewIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// An action's first attempt claims its side effect (the row `attempting`, in flight until the attempt's
// deadline) and its worker dies before the call. Temporal retries after the heartbeat timeout (10 s), well
// before that deadline. The retry must not call while the dead attempt may still be talking to the peer;
// before, it failed at once (SideEffectInFlight) and so did the next, a second later: with three attempts
// allowed, all were spent inside the in-flight time and the action was recorded failed (its `when: failure`
// actions running) though the peer could have had the request. Now the in-flight answer puts the next
// attempt after the in-flight time: one attempt spent on it, and the action succeeds with one request.
describe('side effects: a retry that finds an earlier attempt in flight waits it out', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let peer: HttpPeer;
  let worker: TestWorker;
  const received: { at: number; key: string }[] = [];
  const attempts: number[] = [];
  const inFlightUntil = new Map<string, Date>();
  const release = deferred();

  before(async function () {
    this.timeout(60_000);
    temporal = await testTemporal();
    db = await createTestDatabase();
    peer = await startHttpPeer([
      {
        method: 'POST',
        path: '/hook',
        handle: (req) => {
          received.push({ at: Date.now(), key: String(req.headers['idempotency-key'] ?? '') });
          return { status: 204 };
        },
      },
    ]);
    worker = await startTestWorker({
      temporal,
      db,
      wrap: (real) => ({
        async executeAction(input: Parameters<typeof real.executeAction>[0]) {
          const { attempt } = Context.current().info;
          attempts.push(attempt);
          if (attempt > 1) return real.executeAction(input);
          // The first attempt claims the side effect as the real one does, then its worker "dies": no call,
          // no heartbeat, no answer, until the test ends.
          const row = await claimFirstAttempt(db.db, { key: input.actionRunId, kind: 'notify.webhook', incidentId: input.incidentId, budgetMs: attemptBudgetMs() });
          inFlightUntil.set(input.actionRunId, row!.in_flight_until!);
          await release.promise;
          throw new Error('the crashed attempt, released at the end of the test');
        },
      }),
    });
  });

  after(async function () {
    this.timeout(30_000);
    release.resolve();
    await worker?.stop();
    await peer?.close();
  });

  it('three attempts allowed, the first dies after its claim: the action succeeds, one request after the in-flight time', async function () {
    this.timeout(120_000);
    const { incidentId: id, run } = await runRuleOnNewIncident({
      temporal,
      db,
      worker,
      namePrefix: 'inflight',
      // start-to-close 20 s: the claim is in flight for 15 s; Temporal retries after the 10 s heartbeat timeout.
      actions: [
        { id: 'hook', type: 'notify.webhook', url: `${peer.url}/hook`, body: '{}', timeoutSeconds: 15, retry: { maximumAttempts: 3 } },
        { id: 'on-failure', type: 'notify.webhook', url: `${peer.url}/hook`, body: '{"failed":true}', when: 'failure' },
      ],
      actionId: 'hook',
    });
    assert.equal(run.status, 'succeeded', run.error ?? '');
    assert.deepEqual(attempts, [1, 2, 3], 'the dead attempt, the one that found it in flight, the one that called');
    assert.deepEqual(received.map((r) => r.key), [run.id], 'one request at the peer');
    assert.ok(received[0]!.at >= inFlightUntil.get(run.id)!.getTime(), 'sent after the dead attempt could have been talking to the peer');
    const effect = await db.db.selectFrom('side_effects').selectAll().where('key', '=', run.id).executeTakeFirstOrThrow();
    assert.equal(effect.state, 'done');
    const onFailure = await db.db.selectFrom('action_runs').select('status').where('incident_id', '=', id).where('action_id', '=', 'on-failure').executeTakeFirst();
    assert.equal(onFailure?.status ?? 'skipped', 'skipped', 'the when: failure action did not run');
  });
});
