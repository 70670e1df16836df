// SideEffectSpec.mayCall (activities/side-effects.ts): a retry's last word before its call, which a rule
// disabled during the retry's pause uses to stop a PagerDuty state change (test/e2e/pagerduty-retry-disabled.test.ts).
// It must come after what the row and the lookup already know: an earlier attempt whose write is recorded,
// or found in place, is reported done, not refused; and a refusal after an unanswered attempt that no
// lookup ruled out is an unknown outcome, never "nothing sent". Real Postgres.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ApplicationFailure } from '@temporalio/common';
import { CALL_REFUSED, createSideEffects, OUTCOME_UNKNOWN, type OnUncertain } from '../../activities/side-effects.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('a side effect whose retry is refused right before its call', function () {
  let db: TestDatabase;
  let effects: ReturnType<typeof createSideEffects>;

  before(async function () {
    db = await createTestDatabase();
    effects = createSideEffects({ db: db.db, logger: createLogger({ level: 'silent' }) });
  });

  /** A 5xx: the call may have landed (whatHappened: uncertain). */
  const unanswered = () => Object.assign(new Error('503 from the provider'), { status: 503 });
  /** A 4xx: the call provably did nothing. */
  const refused = () => Object.assign(new Error('429 from the provider'), { status: 429 });

  /** A first attempt that ends with `first`, then a retry whose mayCall refuses; what the retry did. */
  async function retryRefused(onUncertain: OnUncertain, first: () => Error, found: boolean) {
    const key = randomUUID();
    const calls = { perform: 0, find: 0, mayCall: 0 };
    const spec = (perform: () => Promise<{ externalId?: string }>) => ({
      key,
      kind: 'test.effect',
      onUncertain,
      find: async () => {
        calls.find += 1;
        return found ? { externalId: 'landed' } : null;
      },
      perform: async () => {
        calls.perform += 1;
        return perform();
      },
    });
    await assert.rejects(effects.run(spec(() => Promise.reject(first()))));
    calls.perform = 0;
    const outcome = await effects.run({
      ...spec(() => Promise.resolve({ externalId: 'sent again' })),
      mayCall: async () => {
        calls.mayCall += 1;
        return 'attempt 2 not run: its rule was disabled while the run went on';
      },
    }).then(
      (r) => ({ ok: r }),
      (err: unknown) => ({ err: err as ApplicationFailure }),
    );
    const row = await db.db.selectFrom('side_effects').select(['state', 'last_error']).where('key', '=', key).executeTakeFirstOrThrow();
    return { calls, outcome, row };
  }

  it('a refused first call (nothing sent): the retry is stopped, fails for good with the reason, and never calls', async function () {
    const { calls, outcome, row } = await retryRefused('lookup', refused, false);
    assert.equal(calls.perform, 0);
    assert.equal(calls.mayCall, 1);
    assert.ok('err' in outcome);
    assert.equal(outcome.err.type, CALL_REFUSED);
    assert.equal(outcome.err.nonRetryable, true);
    assert.equal(outcome.err.message, 'attempt 2 not run: its rule was disabled while the run went on');
    assert.equal(row.state, 'failed');
  });

  it('an unanswered first call the lookup finds landed: reported done, the refusal never asked', async function () {
    const { calls, outcome } = await retryRefused('lookup', unanswered, true);
    assert.equal(calls.mayCall, 0);
    assert.equal(calls.perform, 0);
    assert.ok('ok' in outcome, 'the write that landed was reported refused');
    assert.equal(outcome.ok.externalId, 'landed');
    assert.equal(outcome.ok.via, 'found');
  });

  it('an unanswered first call the lookup finds not landed: stopped as nothing sent', async function () {
    const { calls, outcome, row } = await retryRefused('lookup', unanswered, false);
    assert.equal(calls.find, 1);
    assert.equal(calls.perform, 0);
    assert.ok('err' in outcome);
    assert.equal(outcome.err.type, CALL_REFUSED);
    assert.equal(row.state, 'failed');
  });

  it('an unanswered first call that no lookup can rule out (resend): stopped, and recorded as an unknown outcome', async function () {
    const { calls, outcome, row } = await retryRefused('resend', unanswered, false);
    assert.equal(calls.perform, 0);
    assert.ok('err' in outcome);
    assert.equal(outcome.err.type, OUTCOME_UNKNOWN);
    assert.match(outcome.err.message, /its rule was disabled while the run went on; an earlier attempt may have taken effect \(503 from the provider\)/);
    assert.equal(row.state, 'unknown');
  });

  it('the question itself failing: the row is left as a call not made, nothing sent', async function () {
    for (const [first, state] of [
      [refused, 'failed'],
      [unanswered, 'attempting'],
    ] as const) {
      const key = randomUUID();
      let performed = 0;
      const spec = { key, kind: 'test.effect', onUncertain: 'lookup' as const, find: async () => null, perform: async () => ((performed += 1), Promise.reject(first())) };
      await assert.rejects(effects.run(spec));
      performed = 0;
      await assert.rejects(
        effects.run({ ...spec, mayCall: () => Promise.reject(new Error('the database did not answer')) }),
        /the database did not answer/,
      );
      assert.equal(performed, 0);
      const row = await db.db.selectFrom('side_effects').select(['state', 'last_error', 'in_flight_until']).where('key', '=', key).executeTakeFirstOrThrow();
      // A refused first call: failed, so the next attempt calls; an unanswered one: its claim given back
      // (no longer in flight), so the next attempt looks first, as before.
      assert.equal(row.state, state);
      if (state === 'failed') assert.match(row.last_error ?? '', /^not called: the database did not answer/);
      else assert.ok(row.in_flight_until === null || row.in_flight_until.getTime() <= Date.now() + 1000, 'the claim was kept in flight');
    }
  });

  it('a first call that was answered: the retry returns its record and asks nothing', async function () {
    const key = randomUUID();
    let mayCall = 0;
    const spec = { key, kind: 'test.effect', onUncertain: 'lookup' as const, find: async () => null, perform: async () => ({ externalId: 'first' }) };
    await effects.run(spec);
    const again = await effects.run({ ...spec, mayCall: async () => ((mayCall += 1), 'refused') });
    assert.equal(mayCall, 0);
    assert.deepEqual([again.externalId, again.via], ['first', 'recorded']);
  });
});
