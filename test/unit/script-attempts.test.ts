import assert from 'node:assert/strict';
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
