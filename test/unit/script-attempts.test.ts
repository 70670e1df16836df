import assert from 'node:assert/strict';
import { leaseSeconds, type PolicyRule } from '../../src/domain/policies.js';
import { parseRule } from '../../src/domain/rules/schema.js';
import { optionsForAction, retryPauseMs, scriptAttempts } from '../../workflows/options.js';

// A rule run makes an agent script's retries itself (revision 5): the attempts and pauses must be those the
// action's Temporal retry policy (optionsForAction) gives.
describe('scriptAttempts (the attempts of a script action and the pauses between them)', () => {
  it('one attempt, three when idempotent, or what the rule says, as the activity options say', () => {
    for (const [retry, idempotent, n] of [
      [undefined, false, 1],
      [undefined, true, 3],
      [{ maximumAttempts: 5 }, true, 5],
      [{ maximumAttempts: 1 }, true, 1],
    ] as const) {
      assert.equal(scriptAttempts(retry, idempotent).maximumAttempts, n);
      assert.equal(optionsForAction('script.agent', undefined, retry, idempotent).retry?.maximumAttempts, n);
    }
  });

  it("pauses from 1 s doubling, or the rule's interval and coefficient, at most 100 times the first (Temporal's default cap)", () => {
    const defaults = scriptAttempts(undefined, true);
    assert.deepEqual([1, 2, 3].map((k) => retryPauseMs(defaults, k)), [1000, 2000, 4000]);
    const rule = scriptAttempts({ maximumAttempts: 10, initialIntervalSeconds: 5, backoffCoefficient: 3 }, true);
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((k) => retryPauseMs(rule, k)), [5000, 15_000, 45_000, 135_000, 405_000, 500_000]);
    const options = optionsForAction('script.agent', undefined, { maximumAttempts: 10, initialIntervalSeconds: 5, backoffCoefficient: 3 }, true);
    assert.equal(options.retry?.initialInterval, '5 seconds');
    assert.equal(options.retry?.backoffCoefficient, 3);
    assert.equal(options.retry?.maximumInterval, undefined, 'Temporal caps at 100 times the first pause');
  });
});

// An attempt's start-to-close timeout, what the executors give it and what a lease counts are one number.
// A script without timeoutSeconds is stopped at 300 s (activities/actions.ts, the agent's timeoutSeconds),
// and a lease counted 320 s for its attempt, while Temporal let the attempt run the preset's 10 minutes.
describe('optionsForAction: the start-to-close timeout of an attempt', () => {
  const seconds = (d: unknown): number => Number(/^(\d+) seconds$/.exec(String(d))?.[1]);
  const oneAction = (action: Record<string, unknown>): PolicyRule => {
    const parsed = parseRule({ id: 'r1', version: 1, name: 'r1', actions: [{ id: 'a', ...action }] });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return parsed.value as PolicyRule;
  };

  it('is timeoutSeconds + 20 s for a script, 300 + 20 s without one (not 10 minutes); + 5 s for any other action, the preset 60 s without', () => {
    for (const type of ['script.ssh', 'script.agent']) {
      assert.equal(optionsForAction(type, undefined).startToCloseTimeout, '320 seconds', type);
      assert.equal(optionsForAction(type, 60).startToCloseTimeout, '80 seconds', type);
    }
    assert.equal(optionsForAction('pagerduty.note', undefined).startToCloseTimeout, '60 seconds');
    assert.equal(optionsForAction('pagerduty.note', 30).startToCloseTimeout, '35 seconds');
  });

  it('is what a lease counts for the attempt, above its 300 s margin (and an agent pickup)', () => {
    const cases: [Record<string, unknown>, number][] = [
      [{ type: 'script.ssh', script: 'fix.sh' }, 0],
      [{ type: 'script.ssh', script: 'fix.sh', timeoutSeconds: 900 }, 0],
      [{ type: 'script.agent', script: 'fix.sh' }, 300],
      [{ type: 'pagerduty.note', content: 'x', retry: { maximumAttempts: 1 } }, 0],
      [{ type: 'pagerduty.note', content: 'x', timeoutSeconds: 30, retry: { maximumAttempts: 1 } }, 0],
    ];
    for (const [action, pickup] of cases) {
      const options = optionsForAction(String(action.type), action.timeoutSeconds as number | undefined);
      assert.equal(leaseSeconds(oneAction(action)), 300 + seconds(options.startToCloseTimeout) + pickup, JSON.stringify(action));
    }
  });
});
