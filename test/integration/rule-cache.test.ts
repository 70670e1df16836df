// The worker keeps the enabled rules in memory and asks Postgres at every event whether they changed. The
// question used to be the newest `updated_at` and the number of rules, and the API takes that time before
// its transaction commits: a rule disabled by an API replica whose clock runs behind, by a save that
// committed after a later save of another rule, or by hand in SQL, kept matching until some other rule
// changed. These drive the worker's own triage step (persist, extract, match) against Postgres and watch
// what it plans, as the incident workflow would get it; one holds two saves open at once (a Postgres
// server only).
import assert from 'node:assert/strict';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { rulesStamp } from '../../src/db/repositories/enabled-rules.js';
import { beginBreakerTrial, saveBreaker } from '../../src/db/repositories/rule-breakers.js';
import { findRule, resetBreaker, writeRuleVersion } from '../../src/db/repositories/rules.js';
import { inTransaction } from '../../src/db/repositories/transactions.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

const logger = createLogger({ level: 'silent' });

describe('the worker sees every rule change at the next event, whatever order the changes commit in', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  /** One worker's triage step, with its own rule cache (as one worker process holds one). */
  function worker() {
    const incidents = createIncidentSteps({ db: db.db, logger, extractors: { extractors: [] } });
    const plan = createPlanActivities({ db: db.db, logger });
    const triage = createTriageActivities({ logger, incidents, plan, writeBack: false }).triageIncidentEvent;
    /** The rules a new incident of `serviceId` is planned for. */
    return async (serviceId: string): Promise<string[]> => {
      const id = newIncidentId();
      const occurredAt = new Date().toISOString();
      const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt, data: { title: 'web-1 down', service: { id: serviceId, type: 'service_reference', summary: 'Cache' } } });
      const result = await triage({ incidentId: id, message: messageFor(body), takenBy: `run-${id}` });
      return result.plans.map((p) => p.ruleId);
    };
  }

  const noteRule = (name: string, serviceId: string) => ({ name, services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note' as const, content: name }] });

  /** Save a rule's next version as the rules service does (`at` taken by the API process), disabled or as it is. */
  async function saveNext(trx: Parameters<typeof writeRuleVersion>[0], ruleId: string, at: Date, opts: { disable?: boolean } = {}): Promise<void> {
    const current = (await findRule(trx, ruleId, { forUpdate: true }))!;
    const enabled = opts.disable ? false : current.enabled;
    await writeRuleVersion(trx, current, { name: current.name, definition: { ...(current.definition as object), enabled }, enabled, change: 'update', actor: 'token:sre', at });
  }

  // Two ways a disable gets an `updated_at` older than the newest rule's while committing last: an API
  // replica whose clock runs behind, and a save that took its time (then waited on a lock, a slow disk)
  // before it committed, after a save of another rule that began later. Staged one after the other (the
  // embedded PGlite runs one transaction at a time), with the times each would have written.
  for (const [story, behindMs] of [
    ['by an API replica whose clock runs 30 s behind', 30_000],
    ['by a save that committed after a later save of another rule', 1_000],
  ] as const) {
    it(`a rule disabled ${story} stops matching at the next event`, async function () {
      const service = newServiceId();
      const runaway = await insertRule(db.db, noteRule(`cache-runaway-${behindMs}`, service));
      const other = await insertRule(db.db, noteRule(`cache-other-${behindMs}`, newServiceId()));
      const plan = worker();
      assert.deepEqual(await plan(service), [runaway]);

      // Another rule saved, at the right time; the worker handles an event and so holds that state.
      const now = new Date();
      await inTransaction(db.db, (trx) => saveNext(trx, other, now));
      assert.deepEqual(await plan(service), [runaway]);

      // The disable commits last, with the older time.
      await inTransaction(db.db, (trx) => saveNext(trx, runaway, new Date(now.getTime() - behindMs), { disable: true }));
      assert.deepEqual(await plan(service), [], 'the disabled rule matched the next event');
    });
  }

  it('two saves in flight at once: the later one cannot commit first, so a worker between them never caches the earlier one away', async function () {
    // Two open transactions at once: only on a Postgres server (CI has one); the embedded PGlite runs one
    // transaction at a time, and the staged stories above cover it there.
    if (!process.env.DATABASE_URL) this.skip();
    const service = newServiceId();
    const runaway = await insertRule(db.db, noteRule('cache-inflight-runaway', service));
    const other = await insertRule(db.db, noteRule('cache-inflight-other', newServiceId()));
    const plan = worker();
    assert.deepEqual(await plan(service), [runaway]);

    // The disable is written first, with its time, and stays uncommitted while another save goes ahead.
    const at = new Date();
    let wrote!: () => void;
    let mayCommit!: () => void;
    const written = new Promise<void>((r) => (wrote = r));
    const commit = new Promise<void>((r) => (mayCommit = r));
    const disable = inTransaction(db.db, async (trx) => {
      await saveNext(trx, runaway, at, { disable: true });
      wrote();
      await commit;
    });
    await written;
    let laterCommitted = false;
    const later = inTransaction(db.db, (trx) => saveNext(trx, other, new Date(at.getTime() + 1_000))).then(() => {
      laterCommitted = true;
    });
    let committedFirst: boolean;
    try {
      await new Promise((r) => setTimeout(r, 300));
      committedFirst = laterCommitted;
      // A worker handles an event meanwhile: the disable is not committed, the rule still runs.
      assert.deepEqual(await plan(service), [runaway]);
    } finally {
      mayCommit();
      await disable;
      await later;
    }
    assert.deepEqual(await plan(service), [], 'the disabled rule matched the next event');
    assert.equal(committedFirst, false, 'the later save waited for the earlier one (the counter row it locked)');
  });

  it('a rule disabled or deleted by hand in SQL, without touching updated_at, stops matching at the next event', async function () {
    const service = newServiceId();
    const first = await insertRule(db.db, noteRule('cache-by-hand-1', service));
    const second = await insertRule(db.db, noteRule('cache-by-hand-2', service));
    const plan = worker();
    assert.deepEqual((await plan(service)).sort(), [first, second].sort());
    await db.db.updateTable('rules').set({ enabled: false }).where('id', '=', first).execute();
    assert.deepEqual(await plan(service), [second], 'disabled by hand');
    await db.db.deleteFrom('rule_versions').where('rule_id', '=', second).execute();
    await db.db.deleteFrom('rules').where('id', '=', second).execute();
    assert.deepEqual(await plan(service), [], 'deleted by hand');
  });

  it("the breaker's own writes do not count as a change (no reload of every rule after every outcome); a new rule does", async function () {
    const service = newServiceId();
    const rule = await insertRule(db.db, noteRule('cache-breaker', service));
    const before = await rulesStamp(db.db);
    await saveBreaker(db.db, rule, { state: 'open', openedAt: new Date(), consecutiveFailures: 3 });
    await beginBreakerTrial(db.db, rule, new Date(), '1');
    await resetBreaker(db.db, rule, new Date());
    assert.equal(await rulesStamp(db.db), before, 'breaker writes left the stamp as it was');

    const added = await insertRule(db.db, noteRule('cache-breaker-new', service));
    assert.notEqual(await rulesStamp(db.db), before, 'a new rule changes the stamp');
    assert.deepEqual((await worker()(service)).sort(), [rule, added].sort());
  });
});
