import assert from 'node:assert/strict';
import { buildContext, matchRules, RuleIndex, ruleSchema, type Rule, type RuleInputDocument } from '../../src/domain/rules/index.js';

const now = new Date('2024-05-06T12:00:00Z');
let counter = 0;

function rule(doc: Partial<RuleInputDocument> & { name: string }): Rule {
  counter++;
  return ruleSchema.parse({ id: `r${counter}`, version: 1, actions: [{ type: 'pagerduty.acknowledge' }], ...doc });
}

function ctxFor(serviceId: string, eventType = 'incident.triggered', urgency = 'high') {
  return buildContext({
    incident: { id: 'P1', urgency, service: { id: serviceId } },
    event: { event_type: eventType },
  });
}

describe('rules: index and matching', () => {
  const rules = [
    rule({ name: 'zeta', services: ['PSVC1'], priority: 50 }),
    rule({ name: 'alpha', services: ['PSVC1'], priority: 50 }),
    rule({ name: 'global-first', priority: 1 }),
    rule({ name: 'global-any-event', eventTypes: ['*'], priority: 200 }),
    rule({ name: 'other-service', services: ['PSVC2'], priority: 0 }),
    rule({ name: 'resolved-only', services: ['PSVC1'], eventTypes: ['incident.resolved'], priority: 5 }),
    rule({ name: 'two-services', services: ['PSVC1', 'PSVC3'], priority: 60 }),
    rule({ name: 'disabled', services: ['PSVC1'], enabled: false, priority: 2 }),
    rule({ name: 'low-only', services: ['PSVC1'], priority: 70, conditions: { field: 'incident.urgency', op: 'equals', value: 'low' } }),
  ];
  const index = new RuleIndex(rules);

  it('returns the candidates of a service and event type ordered by priority then name', () => {
    assert.deepEqual(
      index.candidates('PSVC1', 'incident.triggered').map((r) => r.name),
      ['global-first', 'disabled', 'alpha', 'zeta', 'two-services', 'low-only', 'global-any-event'],
    );
    assert.deepEqual(index.candidates('PSVC1', 'incident.resolved').map((r) => r.name), ['resolved-only', 'global-any-event']);
    assert.deepEqual(index.candidates('PSVC3', 'incident.triggered').map((r) => r.name), ['global-first', 'two-services', 'global-any-event']);
    assert.deepEqual(index.candidates('PUNKNOWN', 'incident.acknowledged').map((r) => r.name), ['global-any-event']);
    assert.deepEqual(index.candidates(undefined, 'incident.triggered').map((r) => r.name), ['global-first', 'global-any-event']);
  });

  it('candidates are a copy: callers cannot corrupt the index', () => {
    index.candidates('PSVC1', 'incident.triggered').length = 0;
    assert.equal(index.candidates('PSVC1', 'incident.triggered').length, 7);
  });

  it('matches in priority order, skipping disabled rules and non-matching conditions', () => {
    const matches = matchRules(index, ctxFor('PSVC1'), now);
    assert.deepEqual(matches.map((m) => m.rule.name), ['global-first', 'alpha', 'zeta', 'two-services', 'global-any-event']);
    assert.equal(matches[0]?.explanation.kind, 'always');
    const low = matchRules(index, ctxFor('PSVC1', 'incident.triggered', 'low'), now).map((m) => m.rule.name);
    assert.ok(low.includes('low-only'));
  });

  it('stops after a matching rule with stopOnMatch, but not after a non-matching one', () => {
    const stopIndex = new RuleIndex([
      rule({ name: 'a-first', services: ['PSVC1'], priority: 10 }),
      rule({ name: 'b-stop-no-match', services: ['PSVC1'], priority: 20, stopOnMatch: true, conditions: { field: 'incident.urgency', op: 'equals', value: 'low' } }),
      rule({ name: 'c-stop', services: ['PSVC1'], priority: 30, stopOnMatch: true }),
      rule({ name: 'd-after', services: ['PSVC1'], priority: 40 }),
    ]);
    assert.deepEqual(matchRules(stopIndex, ctxFor('PSVC1'), now).map((m) => m.rule.name), ['a-first', 'c-stop']);
  });

  // Found in review: one team's catch-all with stopOnMatch (services "*", priority 0) silenced every other
  // team's rules on every incident, and they could not even see it.
  it("a stopOnMatch rule stops its own team's rules only: another team's still match", () => {
    const teams = new RuleIndex([
      rule({ name: 'a-shop-catch-all', team: 'shop', services: ['*'], eventTypes: ['*'], priority: 0, stopOnMatch: true }),
      rule({ name: 'b-shop-fix', team: 'shop', services: ['PSVC1'], priority: 10 }),
      rule({ name: 'c-pay-fix', team: 'pay', services: ['PSVC1'], priority: 20 }),
      rule({ name: 'd-default', services: ['PSVC1'], priority: 30, stopOnMatch: true }),
      rule({ name: 'e-default-after', services: ['PSVC1'], priority: 40 }),
      rule({ name: 'f-pay-after', team: 'pay', services: ['PSVC1'], priority: 50 }),
    ]);
    assert.deepEqual(matchRules(teams, ctxFor('PSVC1'), now).map((m) => m.rule.name), ['a-shop-catch-all', 'c-pay-fix', 'd-default', 'f-pay-after']);
  });

  it('a disabled or dry-run stopOnMatch rule does not stop the others', () => {
    const dry = new RuleIndex([
      rule({ name: 'a-dry', priority: 10, stopOnMatch: true, dryRun: true }),
      rule({ name: 'b-disabled-stop', priority: 20, stopOnMatch: true, enabled: false }),
      rule({ name: 'c-real', priority: 30 }),
    ]);
    assert.deepEqual(matchRules(dry, ctxFor('PANY'), now).map((m) => m.rule.name), ['a-dry', 'c-real']);
  });

  it('uses the service of IncidentSnapshot-shaped incidents too', () => {
    const ctx = buildContext({ incident: { id: 'P1', serviceId: 'PSVC2' }, event: { event_type: 'incident.triggered' } });
    assert.deepEqual(matchRules(index, ctx, now).map((m) => m.rule.name), ['other-service', 'global-first', 'global-any-event']);
  });
});
