import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ActionStatus, ActionWhen } from '../../src/contracts/index.js';
import { chainDecision, explainChain } from '../../src/domain/rules/chaining.js';

// `when` as the rule schema documents it: success = every earlier action that ran succeeded; failure = one
// failed; always = always. Checked on the two rules and on random action lists and outcomes.
describe('rule chaining (when: success | failure | always)', function () {
  const fail = (ids: string[]) => (id: string): ActionStatus => (ids.includes(id) ? 'failed' : 'succeeded');

  it('[fix fails, escalate when: failure, resolve when: success] escalates and does not resolve', function () {
    const steps = explainChain([{ id: 'fix' }, { id: 'escalate', when: 'failure' }, { id: 'resolve', when: 'success' }], fail(['fix']));
    assert.deepEqual(steps.map((s) => [s.actionId, s.run]), [['fix', true], ['escalate', true], ['resolve', false]]);
    assert.equal(steps[2]!.reason, 'skipped: when: success, and fix failed');
    assert.equal(steps[1]!.reason, 'when: failure, and fix failed');
  });

  it('[fix fails, note when: always, escalate when: failure] still escalates after the note', function () {
    const steps = explainChain([{ id: 'fix' }, { id: 'note', when: 'always' }, { id: 'escalate', when: 'failure' }], fail(['fix']));
    assert.deepEqual(steps.map((s) => [s.actionId, s.run]), [['fix', true], ['note', true], ['escalate', true]]);
  });

  it('skipped and cancelled actions count for neither side; a rejected approval counts as failed', function () {
    assert.equal(chainDecision('success', [{ actionId: 'a', status: 'skipped' }, { actionId: 'b', status: 'cancelled' }]).run, true);
    assert.equal(chainDecision('failure', [{ actionId: 'a', status: 'skipped' }]).run, false);
    assert.equal(chainDecision('failure', [{ actionId: 'a', status: 'rejected' }]).run, true);
    assert.equal(chainDecision('success', [{ actionId: 'a', status: 'dry_run' }]).run, true);
    assert.equal(chainDecision('success', []).reason, 'when: success, and no earlier action ran');
    assert.equal(chainDecision('failure', []).reason, 'skipped: when: failure, and no earlier action ran');
  });

  const whenArb = fc.constantFrom<ActionWhen>('success', 'failure', 'always');
  const outcomeArb = fc.constantFrom<ActionStatus>('succeeded', 'failed', 'rejected', 'dry_run');
  const ruleArb = fc.array(fc.record({ when: whenArb, outcome: outcomeArb }), { minLength: 1, maxLength: 20 });

  it('property: each action runs exactly when its `when` says, given the actions that ran before it', function () {
    fc.assert(
      fc.property(ruleArb, (rule) => {
        const actions = rule.map((a, i) => ({ id: `a${i}`, when: a.when }));
        const steps = explainChain(actions, (id) => rule[Number(id.slice(1))]!.outcome);
        for (let i = 0; i < steps.length; i++) {
          // The oracle, from the documentation's words, over the earlier steps that ran.
          const ran = steps.slice(0, i).filter((s) => s.run);
          const someFailed = ran.some((s) => s.status === 'failed' || s.status === 'rejected');
          const expected = rule[i]!.when === 'always' ? true : rule[i]!.when === 'success' ? !someFailed : someFailed;
          if (steps[i]!.run !== expected) return false;
          if (steps[i]!.run !== !steps[i]!.reason.startsWith('skipped')) return false;
          if (!steps[i]!.run && steps[i]!.status !== 'skipped') return false;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('property: a success action and a failure action at the same point never both run', function () {
    fc.assert(
      fc.property(ruleArb, (rule) => {
        const earlier = rule.map((a, i) => ({ actionId: `a${i}`, status: a.outcome }));
        return chainDecision('success', earlier).run !== chainDecision('failure', earlier).run;
      }),
      { numRuns: 2000 },
    );
  });
});
