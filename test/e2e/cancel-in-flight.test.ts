// A resolve cancels a rule run (cancel-on-resolve) while its action is in flight. docs/guarantees.md: no run
// ends with an action in flight, and an action is recorded `cancelled` only if it stopped before its side
// effect; otherwise as it ended. Checked at a local HTTP peer (the webhook's receiver) on the real Temporal
// dev server with the real worker: the peer holds the call until the run's cancellation aborts it (or the
// test ends), so a run that completed while the call was held is caught by the order of the two, no timing.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Context } from '@temporalio/activity';
import { ruleRunWorkflowId, type RuleRunResult } from '../../src/contracts/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { deferred, messageOf, signalIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

/** A webhook receiver that holds every call: it answers only when released, and notes a caller hanging up. */
interface HoldingPeer {
  url: string;
  /** Calls received, by path. */
  received: string[];
  /** Resolved when the first call arrives. */
  arrived: Promise<void>;
  /** Resolved when the first call ended: answered (released) or aborted by the caller. */
  ended: Promise<'answered' | 'aborted'>;
  release(): void;
  close(): Promise<void>;
}

async function startHoldingPeer(): Promise<HoldingPeer> {
  const received: string[] = [];
  const arrived = deferred();
  const ended = deferred<'answered' | 'aborted'>();
  const released = deferred();
  const server = http.createServer((req, res) => {
    received.push(req.url ?? '');
    req.resume();
    arrived.resolve();
    let answered = false;
    res.on('close', () => ended.resolve(answered ? 'answered' : 'aborted'));
    void released.promise.then(() => {
      if (res.destroyed) return;
      answered = true;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    arrived: arrived.promise,
    ended: ended.promise,
    release: () => released.resolve(),
    close: () =>
      new Promise((resolve) => {
        released.resolve();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('a resolve while an action is in flight', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
  });
  afterEach(async function () {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A rule with one webhook action to `url`, triggered; the handle of its rule run and how to resolve. */
  async function triggered(w: TestWorker, url: string, name: string) {
    const svc = newServiceId();
    const ruleId = await insertRule(db.db, { name: `${name}-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'fix', type: 'notify.webhook', url, body: '{}' }] });
    const id = newIncidentId();
    const service = { id: svc, type: 'service_reference', summary: 's' };
    const trigger = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-07-01T10:00:00Z', data: { title: '[web-1] is down', service } });
    await signalIncident(temporal, w.taskQueue, id, messageOf(trigger), { lingerSeconds: 1 });
    return {
      ruleRun: temporal.client.workflow.getHandle(ruleRunWorkflowId(id, ruleId, trigger.event.id)),
      resolve: () => signalIncident(temporal, w.taskQueue, id, messageOf(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:05:00Z', data: { service } })), { lingerSeconds: 1 }),
      row: () => db.db.selectFrom('action_runs').select(['status', 'error']).where('incident_id', '=', id).where('action_id', '=', 'fix').executeTakeFirstOrThrow(),
    };
  }

  it('a webhook call held at the peer: the run waits until the cancel aborted it, and records it failed with its outcome unknown, not cancelled', async function () {
    const peer = await startHoldingPeer();
    cleanups.push(() => peer.close());
    const w = await startTestWorker({ temporal, db });
    cleanups.push(() => w.stop());
    const run = await triggered(w, `${peer.url}/hook/held`, 'inflight-held');
    await peer.arrived;

    await run.resolve();
    // The peer holds the call: only the run's cancellation (aborting it) ends it before the run ends.
    const first = await Promise.race([peer.ended.then((how) => `call ${how}`), run.ruleRun.result().then(() => 'run ended')]);
    const whileHeld = first === 'run ended' ? await run.row() : undefined;
    peer.release();
    const result = (await run.ruleRun.result()) as RuleRunResult;
    const row = await run.row();

    assert.equal(first, 'call aborted', `the rule run ended with the webhook call still held at the peer (the action recorded '${whileHeld?.status}': ${whileHeld?.error})`);
    assert.equal(result.ended, 'cancelled');
    assert.deepEqual(peer.received, ['/hook/held'], 'the peer received the call once');
    // The call reached the peer: it may have taken effect, so it is not recorded as stopped before it.
    assert.equal(row.status, 'failed', `recorded '${row.status}' (${row.error}) for a call the peer received`);
    assert.match(row.error ?? '', /outcome unknown.*cancelled while the call was in flight/);
  });

  it('the cancel reaches the action before its call: recorded cancelled once it stopped, and the peer never hears of it', async function () {
    const peer = await startHoldingPeer();
    cleanups.push(() => peer.close());
    const entered = deferred();
    const stopped = deferred<string>();
    const giveUp = deferred();
    cleanups.push(() => giveUp.resolve());
    // A slow step before the call (a secret lookup, say) that heartbeats, as the action does, until the
    // cancel reaches it; then the real action goes on with the activity cancelled.
    const w = await startTestWorker({
      temporal,
      db,
      wrap: (real) => ({
        async executeAction(input) {
          if (!input.actionRunId.includes(':fix:')) return real.executeAction(input);
          const ctx = Context.current();
          entered.resolve();
          const beat = setInterval(() => ctx.heartbeat(), 500);
          try {
            await Promise.race([ctx.cancelled.catch(() => undefined), giveUp.promise]);
          } finally {
            clearInterval(beat);
          }
          try {
            const r = await real.executeAction(input);
            stopped.resolve('completed');
            return r;
          } catch (err) {
            stopped.resolve(`threw ${(err as Error).name}`);
            throw err;
          }
        },
      }),
    });
    cleanups.push(() => w.stop());
    const run = await triggered(w, `${peer.url}/hook/early`, 'inflight-early');
    await entered.promise;

    await run.resolve();
    const first = await Promise.race([stopped.promise.then((how) => `action ${how}`), run.ruleRun.result().then(() => 'run ended')]);
    const whileRunning = first === 'run ended' ? await run.row() : undefined;
    giveUp.resolve();
    const result = (await run.ruleRun.result()) as RuleRunResult;
    const how = await stopped.promise;
    const row = await run.row();

    assert.equal(first, 'action threw CancelledFailure', `the rule run ended before its action stopped (the action recorded '${whileRunning?.status}': ${whileRunning?.error}; the action then ${how})`);
    assert.equal(result.ended, 'cancelled');
    assert.deepEqual(peer.received, [], 'the peer never received the call');
    assert.equal(row.status, 'cancelled', `recorded '${row.status}' (${row.error})`);
  });
});
