import assert from 'node:assert/strict';
import { parseRuleInput } from '../../src/domain/rules/index.js';

// A `when:` that misfires: `verify.onUnverified` actions all run, once each, when the remediation is
// unverified (workflows/verify.ts never reads their `when`). The schema took `when: failure` there without a
// word, so a fallback meant to run only when the page before it failed (a Slack notice "the ticket could not
// be opened") ran every time: a second page for every unverified run. Now a save (and a rule test or
// backtest, which parse the same way) refuses it, naming the field.
describe('audit: onUnverified actions take no when: failure', () => {
  const rule = (when?: string) => ({
    name: 'audit-onunverified-when',
    services: ['PSVC001'],
    actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh' }],
    verify: {
      within: '10m',
      onUnverified: [
        { id: 'ticket', type: 'workitem', provider: 'github', repo: 'ops/incidents', title: 'unverified fix' },
        { id: 'fallback', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_OPS_SLACK', text: 'could not open the ticket', ...(when ? { when } : {}) },
      ],
    },
  });

  it('refuses when: failure on an onUnverified action, naming its path', () => {
    const r = parseRuleInput(rule('failure'));
    assert.equal(r.ok, false, 'when: failure on an onUnverified action was accepted, and would be ignored');
    if (r.ok) return;
    assert.ok(r.issues.some((i) => i.path === 'verify.onUnverified.1.when' && /each runs once/.test(i.message)), JSON.stringify(r.issues));
  });

  it('still takes onUnverified actions without when, or with when: always or success (each runs once)', () => {
    for (const when of [undefined, 'always', 'success']) assert.equal(parseRuleInput(rule(when)).ok, true, `when: ${when}`);
  });
});
