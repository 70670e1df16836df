import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { runRuleOnNewIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// An action's `timeoutSeconds` is the time one attempt may take (workflows/options.ts: the activity's
// start-to-close timeout is 5 s more; activities/side-effects.ts: its calls share a deadline inside that).
// Every HTTP call also had a fixed 15-second timeout of its own, so a webhook allowed 60 s whose receiver
// answers in 20 s was cut at 15 s: an unanswered attempt, sent again at once (the receiver got it twice), and
// with two attempts allowed the action was recorded failed ("request failed (timed out)"). A call now runs
// until its attempt's deadline, never past it: with `timeoutSeconds: 5` the call is cut at 5 s, before
// Temporal's start-to-close timeout, so a retry never reaches the receiver while the earlier call is open.
describe("an action's HTTP call follows the action's timeoutSeconds", function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let worker: TestWorker;
  let peer: SlowPeer;

  before(async function () {
    this.timeout(60_000);
    temporal = await testTemporal();
    db = await createTestDatabase();
    peer = await startSlowPeer();
    worker = await startTestWorker({ temporal, db });
  });

  after(async function () {
    this.timeout(30_000);
    await worker?.stop();
    await peer?.close();
  });

  /** The webhook action of a new rule, run for a new incident, once it finished. */
  async function runWebhook(path: string, action: Record<string, unknown>) {
    const { run } = await runRuleOnNewIncident({ temporal, db, worker, namePrefix: 'call-timeout', actions: [{ id: 'hook', type: 'notify.webhook', url: `${peer.url}${path}`, body: '{}', ...action }], actionId: 'hook' });
    const effect = await db.db.selectFrom('side_effects').selectAll().where('key', '=', run.id).executeTakeFirstOrThrow();
    return { run, effect, requests: peer.requests.filter((r) => r.path === path) };
  }

  it('timeoutSeconds 60, the receiver answers in 20 s: one request, answered, the action succeeds', async function () {
    this.timeout(120_000);
    const { run, effect, requests } = await runWebhook('/answers-in-20s', { timeoutSeconds: 60, retry: { maximumAttempts: 2 } });
    assert.equal(run.status, 'succeeded', `recorded ${run.status}: ${run.error ?? ''}`);
    assert.equal(requests.length, 1, `one request at the receiver (got ${requests.length}, ${requests.map((r) => `held ${r.heldMs} ms`).join(', ')})`);
    assert.ok(requests[0]!.answered, 'its answer was read, not cut off');
    assert.deepEqual([effect.state, effect.attempts], ['done', 1]);
  });

  it('timeoutSeconds 5, the receiver never answers: each call is cut at the 5 s deadline, before the attempt times out, and the next comes after it', async function () {
    this.timeout(120_000);
    const { run, effect, requests } = await runWebhook('/never-answers', { timeoutSeconds: 5, retry: { maximumAttempts: 2, initialIntervalSeconds: 1 } });
    assert.equal(run.status, 'failed');
    assert.match(run.error ?? '', /timeout|timed out/i);
    assert.equal(requests.length, 2, 'one request an attempt');
    assert.equal(new Set(requests.map((r) => r.key)).size, 1, 'both carry the one Idempotency-Key');
    for (const r of requests) {
      assert.ok(r.heldMs !== undefined, 'the call was closed by the caller');
      // The attempt's deadline is 5 s after it started (start-to-close 10 s less the 5 s reserve).
      assert.ok(r.heldMs >= 4_000 && r.heldMs < 7_000, `a call held ${r.heldMs} ms: cut at the attempt's 5 s deadline, not at 15 s nor after the 10 s start-to-close`);
    }
    assert.ok(requests[1]!.at >= requests[0]!.at + requests[0]!.heldMs!, 'the retry reached the receiver only after the first call was closed');
    assert.equal(effect.attempts, 2);
    assert.notEqual(effect.state, 'done');
  });
});

interface PeerRequest {
  path: string;
  key: string;
  at: number;
  /** How long the connection stayed open before the caller closed it, if it did. */
  heldMs?: number;
  answered: boolean;
}

interface SlowPeer {
  url: string;
  requests: PeerRequest[];
  close(): Promise<void>;
}

/**
 * A webhook receiver on loopback: `/answers-in-20s` answers 204 after 20 s, `/never-answers` holds every
 * request open. Each request is recorded when it arrives, with how long the caller kept it open.
 */
async function startSlowPeer(): Promise<SlowPeer> {
  const requests: PeerRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const r: PeerRequest = { path: req.url ?? '', key: String(req.headers['idempotency-key'] ?? ''), at: Date.now(), answered: false };
    requests.push(r);
    req.resume();
    res.on('close', () => {
      if (!res.writableFinished) r.heldMs = Date.now() - r.at;
    });
    if (r.path === '/answers-in-20s') {
      const t = setTimeout(() => {
        timers.delete(t);
        if (res.destroyed) return;
        res.writeHead(204).end();
        r.answered = true;
      }, 20_000);
      timers.add(t);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
