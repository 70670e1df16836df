import assert from 'node:assert/strict';
import {
  DEFAULT_GUARD_CONFIG,
  flappingLimit,
  flappingViolation,
  formatDuration,
  guardSpecs,
  guardViolation,
  isRemediationType,
  parseDuration,
  settleSeconds,
  type GuardConfig,
} from '../../src/domain/guards.js';
import { parseRuleInput } from '../../src/domain/rules/index.js';
import { loadConfig } from '../../src/config.js';

const config = (over: Partial<GuardConfig> = {}): GuardConfig => ({ ...DEFAULT_GUARD_CONFIG, ...over });

describe('guards: pure decisions', function () {
  it('parses and formats durations', () => {
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('10m'), 600);
    assert.equal(parseDuration('2h'), 7200);
    assert.equal(parseDuration('1d'), 86400);
    assert.equal(parseDuration('45'), 45);
    for (const bad of ['', '1w', '-5s', '5 m', '1.5h', 'ten']) assert.equal(parseDuration(bad), undefined, bad);
    assert.equal(formatDuration(600), '10m');
    assert.equal(formatDuration(3600), '1h');
    assert.equal(formatDuration(61), '61s');
  });

  it('counts scripts and PagerDuty state changes as remediation, notifications not', () => {
    for (const t of ['script.agent', 'script.ssh', 'pagerduty.resolve', 'pagerduty.acknowledge']) assert.ok(isRemediationType(t), t);
    for (const t of ['notify.slack', 'notify.email', 'notify.webhook', 'pagerduty.note', 'pagerduty.escalate', 'workitem']) assert.ok(!isRemediationType(t), t);
  });

  it('builds the specs from the operator and the rule; off when 0', () => {
    assert.deepEqual(guardSpecs(config(), undefined, 'prod'), []);
    const specs = guardSpecs(config({ maxTargets: 10, maxTargetPercent: 20, maxActionsPerMinute: 30, windowSeconds: 600 }), { maxTargets: 3, window: '5m' }, 'prod');
    assert.deepEqual(
      specs.map((s) => [s.name, s.limit, s.windowSeconds, s.scope, s.ruleOnly]),
      [
        ['fleet.maxTargets', 10, 600, 'fleet', false],
        ['environment.maxTargetPercent', 20, 600, 'environment', false],
        ['fleet.maxActionsPerMinute', 30, 60, 'fleet', false],
        ['rule.maxTargets', 3, 300, 'fleet', true],
      ],
    );
    // No environment known: the share guard cannot apply.
    assert.deepEqual(guardSpecs(config({ maxTargetPercent: 20 }), undefined, undefined), []);
  });

  it('lets the Nth distinct target through and stops the N+1st; a target already counted adds nothing', () => {
    const [spec] = guardSpecs(config({ maxTargets: 10 }), undefined, undefined);
    const run = { target: 'web-1', actions: 1, environment: undefined };
    assert.equal(guardViolation(spec!, { count: 9, targetAlreadyCounted: false, knownHosts: 0 }, run), undefined);
    const v = guardViolation(spec!, { count: 10, targetAlreadyCounted: false, knownHosts: 0 }, run);
    assert.equal(v?.guard, 'fleet.maxTargets');
    assert.equal(v?.scope, 'fleet');
    assert.match(v!.reason, /^guard fleet\.maxTargets: 10 distinct targets remediated by any rule in the last 1h \(max 10\); automation paused fleet-wide/);
    assert.equal(guardViolation(spec!, { count: 10, targetAlreadyCounted: true, knownHosts: 0 }, run), undefined);
  });

  it("stops at a share of the environment's known hosts and pauses that environment", () => {
    const [spec] = guardSpecs(config({ maxTargetPercent: 25 }), undefined, 'prod');
    const run = { target: 'h', actions: 1, environment: 'prod' };
    assert.equal(guardViolation(spec!, { count: 1, targetAlreadyCounted: false, knownHosts: 8 }, run), undefined); // 2/8 = 25 %
    const v = guardViolation(spec!, { count: 2, targetAlreadyCounted: false, knownHosts: 8 }, run); // 3/8
    assert.equal(v?.scope, 'environment');
    assert.match(v!.reason, /would make 3 of 8 known hosts of environment prod .*\(max 25 %\); automation paused for environment prod/);
  });

  it('counts remediation actions per minute', () => {
    const [spec] = guardSpecs(config({ maxActionsPerMinute: 5 }), undefined, undefined);
    assert.equal(guardViolation(spec!, { count: 3, targetAlreadyCounted: false, knownHosts: 0 }, { target: 'x', actions: 2, environment: undefined }), undefined);
    assert.match(guardViolation(spec!, { count: 4, targetAlreadyCounted: false, knownHosts: 0 }, { target: 'x', actions: 2, environment: undefined })!.reason, /^guard fleet\.maxActionsPerMinute: 4 remediation actions/);
  });

  it('flapping: K remediations within the window stop the target; a rule may override; 0 is off', () => {
    const limit = flappingLimit(config({ flapping: { max: 3, windowSeconds: 3600 } }), undefined);
    assert.equal(flappingViolation(limit, 'db-1', 2), undefined);
    assert.match(flappingViolation(limit, 'db-1', 3)!, /^flapping: db-1 was remediated 3 times in the last 1h \(max 3\)/);
    assert.equal(flappingViolation(limit, undefined, 99), undefined);
    assert.deepEqual(flappingLimit(config(), { flapping: { max: 2, window: '10m' } }), { max: 2, windowSeconds: 600 });
    assert.equal(flappingViolation({ max: 0, windowSeconds: 60 }, 'db-1', 100), undefined);
  });

  it('settle defaults to a tenth of within, within 1–60 s, never past within', () => {
    assert.equal(settleSeconds(600, undefined), 60);
    assert.equal(settleSeconds(50, undefined), 5);
    assert.equal(settleSeconds(3, undefined), 1);
    assert.equal(settleSeconds(3, 10), 3);
  });
});

describe('rule schema: verify and guards', function () {
  const base = { name: 'r', actions: [{ type: 'script.agent', script: 'fix.sh' }] };
  const issues = (doc: unknown) => {
    const r = parseRuleInput(doc);
    return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
  };

  it('accepts a verify with a script check and notifications on unverified', () => {
    const r = parseRuleInput({
      ...base,
      verify: { within: '10m', settle: '30s', check: { type: 'script.ssh', script: 'check.sh' }, onUnverified: [{ type: 'pagerduty.escalate', level: 2 }, { type: 'notify.email', to: ['oncall@example.com'], subject: 's', body: 'b' }] },
      guards: { maxTargets: 5, maxTargetPercent: 10, window: '1h', flapping: { max: 3, window: '30m' } },
    });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  });

  it('refuses bad durations, a settle past within, a non-script check, a command check and remediation on unverified', () => {
    assert.deepEqual(issues({ ...base, verify: { within: '10 minutes' } }), ['verify.within: must be a duration such as 30s, 10m or 2h']);
    assert.deepEqual(issues({ ...base, verify: { within: '2d' } }), ['verify.within: must be between 1 s and 86400 s']);
    assert.deepEqual(issues({ ...base, verify: { within: '10s', settle: '1m' } }), ['verify.settle: settle must not be longer than within']);
    assert.ok(issues({ ...base, verify: { within: '1m', check: { type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_X', text: 't' } } }).some((i) => i.startsWith('verify.check')));
    assert.ok(
      issues({ ...base, verify: { within: '1m', check: { type: 'script.ssh', command: 'true', approval: { required: true, onTimeout: 'reject' } } } }).includes(
        'verify.check.command: a check runs a script from the library, never a command',
      ),
    );
    assert.deepEqual(issues({ ...base, verify: { within: '1m', onUnverified: [{ type: 'script.agent', script: 'again.sh' }] } }), [
      'verify.onUnverified.0.type: onUnverified may only notify, page or open a work item (notify.email, notify.slack, notify.webhook, pagerduty.escalate, pagerduty.note, workitem), not script.agent',
    ]);
    assert.ok(issues({ ...base, guards: { maxTargetPercent: 101 } }).some((i) => i.startsWith('guards.maxTargetPercent')));
    assert.deepEqual(issues({ ...base, guards: { flapping: { max: 2 } } }), ['guards.flapping.window: Invalid input: expected string, received undefined']);
  });

  it("refuses a main action id the verification's own runs are keyed by (unverified-…, verify-check-<n>)", () => {
    // The review's case: a main action `unverified-u0` beside an onUnverified action without id (u0, its run
    // keyed unverified-u0): the page found the main action's finished run as its own and was never sent.
    const page = { type: 'notify.webhook', url: 'https://hooks.example.com/page', body: '{}' };
    const message = 'is kept for the verification\'s own runs (unverified-…, verify-check-<n>): name the action otherwise';
    assert.deepEqual(issues({ ...base, actions: [{ id: 'unverified-u0', type: 'script.agent', script: 'fix.sh' }], verify: { within: '1m', onUnverified: [page] } }), [`actions.0.id: "unverified-u0" ${message}`]);
    assert.deepEqual(issues({ ...base, actions: [...base.actions, { id: 'verify-check-1', ...page }], verify: { within: '1m', check: { type: 'script.agent', script: 'check.sh' } } }), [`actions.1.id: "verify-check-1" ${message}`]);
    assert.deepEqual(issues({ ...base, actions: [{ id: 'verify-check', type: 'script.agent', script: 'fix.sh' }], verify: { within: '1m', onUnverified: [page] } }), []);
  });
});

describe('config: guards', function () {
  it('reads the guard variables and names a bad one', () => {
    const c = loadConfig({ SELFHEAL_GUARD_MAX_TARGETS: '10', SELFHEAL_GUARD_WINDOW: '15m', SELFHEAL_FLAPPING_MAX: '0', SELFHEAL_GUARD_PAGE_EMAIL: 'oncall@example.com' });
    assert.equal(c.guards.maxTargets, 10);
    assert.equal(c.guards.windowSeconds, 900);
    assert.equal(c.guards.flapping.max, 0);
    assert.deepEqual(c.guards.page.email, ['oncall@example.com']);
    assert.equal(loadConfig({}).guards.flapping.max, 5);
    assert.throws(() => loadConfig({ SELFHEAL_GUARD_WINDOW: 'soon' }), /SELFHEAL_GUARD_WINDOW/);
    assert.throws(() => loadConfig({ SELFHEAL_GUARD_MAX_TARGET_PERCENT: '150' }), /SELFHEAL_GUARD_MAX_TARGET_PERCENT/);
  });
});
