import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { TestDatabase } from '../helpers/db.js';
import { createTestDatabase } from '../helpers/db.js';
import { startHttpPeer, startSlackPeer, type HttpPeer, type SlackPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { messageOf, signalIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// concurrencyPerTarget is a lease sized when the run is planned (policies.ts leaseSeconds). An approval
// that times out is announced (approval_timed_out, each channel retried like a SaaS call) before the
// approved action starts, and nothing else bounds a delay before an action (a claim held up by Postgres):
// the fix started after its lease expired, and a second incident on the host was let through while it ran
// (found in review). The lease is now held on when an action starts, for what the rest of the run may take;
// one expired and taken by another run by then stops the action instead.
//
// Real Temporal, the real main worker, fixes reaching a local peer that records any overlap (each fix is
// held there a second, the first case's slow fix until the test has seen the second incident planned).
// Each case waits out a one-minute approval (the shortest a rule may ask for), about 1.2 minutes. The
// first one's notice outlasts the lease by the clock the lease is kept by: its first attempt finds the
// lease run out (expires_at moved into the past, as the 391 s of a real lease would have after a notice
// retried for six minutes, which the case once waited out: 7.5 minutes) and fails, and the retry sends it.
describe('the target lease across a delayed approved fix', function () {
  this.timeout(5 * 60_000);
  let temporal: TestTemporal;
  let db: TestDatabase;
  let hook: HttpPeer;
  let slack: SlackPeer;
  let w: TestWorker;
  const inFlight = new Set<string>();
  const reached: string[] = [];
  const overlaps: string[] = [];
  // A fix named here is held at the peer until the promise its hold answers (made when it arrives)
  // settles, not for the usual second.
  const holds = new Map<string, () => Promise<unknown>>();
  // The approval-timeout notices of these incidents meet a provider that does not answer: the first
  // attempt gives up after noticeHangMs (as a hanging PagerDuty note would), by when the run's lease ran
  // out (expiredLease: the lease as it was then); the retry is answered.
  const slowNotices = new Set<string>();
  const noticeHangMs = 2_000;
  let expiredLease: { id: string; expires_at: Date } | undefined;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    slack = await startSlackPeer();
    process.env.SELFHEAL_SECRET_LEASE_NOTICE_SLACK = slack.webhookUrl;
    hook = await startHttpPeer([
      {
        method: 'POST',
        path: /^\/hook\/(?<name>[a-z0-9-]+)$/,
        handle: async (req) => {
          const name = req.params.name!;
          reached.push(name);
          for (const other of inFlight) overlaps.push(`${name} while ${other}`);
          inFlight.add(name);
          // The fix takes its time on the host.
          await (holds.get(name)?.() ?? new Promise((r) => setTimeout(r, 1_000)));
          inFlight.delete(name);
          return { status: 204 };
        },
      },
    ]);
    w = await startTestWorker({
      temporal,
      db,
      extractors: { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] },
      wrap: (real) => ({
        async executeAction(input) {
          if (input.actionRunId.includes(':notice:approval_timed_out:') && slowNotices.delete(input.incidentId)) {
            // The notice hangs past the lease: the lease the run holds expires (Postgres' clock, as the planner reads it).
            expiredLease = await sql<{ id: string; expires_at: Date }>`update target_leases set expires_at = now() - interval '1 second' where incident_id = ${input.incidentId} and released_at is null returning id, expires_at`
              .execute(db.db)
              .then((r) => r.rows[0]);
            await new Promise((r) => setTimeout(r, noticeHangMs));
            throw new Error('provider timed out (no answer)');
          }
          return real.executeAction(input);
        },
      }),
    });
  });
  after(async function () {
    await w?.stop();
    await hook?.close();
    await slack?.close();
  });
  beforeEach(() => {
    overlaps.length = 0;
    reached.length = 0;
  });

  const trigger = (id: string, svc: string, host: string) =>
    sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: `[${host}] is down`, service: { id: svc, type: 'service_reference', summary: 's' } } });

  /** Rule A: a gated fix approved at its one-minute timeout, then a Slack line; rule B: an ungated fix. Both concurrencyPerTarget: 1. */
  async function rules(tag: string) {
    const svcA = newServiceId();
    const svcB = newServiceId();
    await insertRule(db.db, {
      name: `lease-a-${tag}-${svcA.toLowerCase()}`,
      services: [svcA],
      policies: { concurrencyPerTarget: 1 },
      actions: [
        {
          id: 'fix',
          type: 'notify.webhook',
          url: `${hook.url}/hook/${tag}-a`,
          body: '{}',
          timeoutSeconds: 20,
          retry: { maximumAttempts: 1 },
          approval: { required: true, timeoutMinutes: 1, onTimeout: 'approve' },
        },
        { id: 'tell', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_LEASE_NOTICE_SLACK', text: 'fixed', when: 'always', timeoutSeconds: 1, retry: { maximumAttempts: 1 } },
      ],
    });
    await insertRule(db.db, {
      name: `lease-b-${tag}-${svcB.toLowerCase()}`,
      services: [svcB],
      policies: { concurrencyPerTarget: 1 },
      actions: [
        { id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/${tag}-b`, body: '{}', timeoutSeconds: 20, retry: { maximumAttempts: 1 } },
        // Then the run waits (holding the host) for a decision nobody takes in the test.
        { id: 'then', type: 'notify.webhook', url: `${hook.url}/hook/${tag}-b-then`, body: '{}', approval: { required: true, timeoutMinutes: 10, onTimeout: 'reject' } },
      ],
    });
    return { svcA, svcB, host: `web-${svcA.toLowerCase()}` };
  }

  const leaseOf = (incidentId: string) => eventually(async () => (await db.db.selectFrom('target_leases').selectAll().where('incident_id', '=', incidentId).executeTakeFirst()) ?? undefined, 60_000, `the lease of ${incidentId}`);
  const matchOf = (incidentId: string) => eventually(async () => (await db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', incidentId).executeTakeFirst()) ?? undefined, 60_000, `the match of ${incidentId}`);
  const fixOf = (incidentId: string) => db.db.selectFrom('action_runs').select(['status', 'started_at', 'error']).where('incident_id', '=', incidentId).where('action_id', '=', 'fix').executeTakeFirst();

  it('a fix approved at its timeout after a notice slower than its lease holds the host: a second incident there is skipped (concurrency) while it runs', async function () {
    const { svcA, svcB, host } = await rules('slow');
    // The fix stays on the host until the second incident is planned (12 s at most, inside its 20-s
    // attempt). It was held 8 s: the second incident's start, a workflow task and its planning had to fit
    // in them after the fix arrived, and past them the run ended, released the host, and the second fix
    // ran (decision 'run', not 'skipped').
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    holds.set('slow-a', () => Promise.race([released, new Promise((r) => setTimeout(r, 12_000).unref())]));
    const a = newIncidentId();
    slowNotices.add(a);
    await signalIncident(temporal, w.taskQueue, a, messageOf(trigger(a, svcA, host)), { lingerSeconds: 1 });
    const planned = await leaseOf(a);
    // Nobody decides; the minute passes; the notice crawls past the lease; then the fix starts on the host.
    await eventually(async () => inFlight.has('slow-a') || undefined, 3 * 60_000, 'the first fix to reach the host');
    const started = new Date();
    assert.ok(expiredLease, 'the approval-timeout notice was sent (and hung past the lease)');
    assert.equal(expiredLease.id, planned.id, 'the lease that ran out is the run\'s');
    assert.ok(started > expiredLease.expires_at, `the delay outlasted the lease as planned (expired ${expiredLease.expires_at.toISOString()}); the fix reached the host at ${started.toISOString()}`);
    const held = await leaseOf(a);
    assert.ok(held.expires_at > started && held.released_at === null, `the lease holds while the fix runs: expires ${held.expires_at.toISOString()}`);

    const b = newIncidentId();
    await signalIncident(temporal, w.taskQueue, b, messageOf(trigger(b, svcB, host)), { lingerSeconds: 1 });
    let match;
    try {
      match = await matchOf(b);
      assert.ok(inFlight.has('slow-a'), 'the second incident was planned while the first fix was on the host');
    } finally {
      release();
    }
    const fixed = await eventually(async () => {
      const r = await fixOf(a);
      return r && r.status !== 'running' ? r : undefined;
    }, 60_000, 'the first fix recorded');
    assert.equal(fixed.status, 'succeeded', `the first fix: ${fixed.status} ${fixed.error ?? ''}`);
    assert.deepEqual(overlaps, [], `two fixes on ${host} at once`);
    assert.equal(match.decision, 'skipped', `the second match was ${match.decision}: ${match.skip_reason ?? ''}`);
    assert.match(match.skip_reason ?? '', /^concurrency: 1 remediation\(s\) already running on /);
    assert.deepEqual(reached, ['slow-a']);
  });

  it('a fix whose lease expired while it waited, the host taken by another run by its approval, does not start: skipped with the concurrency reason, no overlap', async function () {
    const { svcA, svcB, host } = await rules('taken');
    const a = newIncidentId();
    await signalIncident(temporal, w.taskQueue, a, messageOf(trigger(a, svcA, host)), { lingerSeconds: 1 });
    const lease = await leaseOf(a);
    await eventually(async () => ((await fixOf(a))?.status === 'awaiting_approval') || undefined, 60_000, 'the first fix awaiting its approval');
    // The run took longer than its lease allowed for (what a slow notice or an outage would make of it).
    await sql`update target_leases set expires_at = now() - interval '1 second' where id = ${lease.id}`.execute(db.db);

    const b = newIncidentId();
    await signalIncident(temporal, w.taskQueue, b, messageOf(trigger(b, svcB, host)), { lingerSeconds: 1 });
    assert.equal((await matchOf(b)).decision, 'run', 'the host was free: the second incident runs');
    await eventually(async () => reached.includes('taken-b') || undefined, 60_000, 'the second fix on the host');
    const otherLease = await leaseOf(b);

    // The minute passes: approved by timeout, while the second fix is still in flight.
    const fix = await eventually(async () => {
      const r = await fixOf(a);
      return r && r.status !== 'awaiting_approval' ? r : undefined;
    }, 3 * 60_000, 'the first fix settled');
    assert.equal((await leaseOf(b)).released_at, null, 'settled while the second run still held the host');
    assert.ok(otherLease.expires_at > new Date());
    assert.equal(fix.status, 'skipped');
    assert.equal(fix.started_at, null);
    assert.match(fix.error ?? '', new RegExp(`^not run when approved: concurrency: this run's lease on ${host} expired at .* before the action started, and 1 other run\\(s\\) hold the host now \\(max 1\\)$`));
    await new Promise((r) => setTimeout(r, 5_000));
    assert.deepEqual(overlaps, [], `two fixes on ${host} at once`);
    assert.deepEqual(reached, ['taken-b'], 'the first fix never reached the host');
  });
});
